package s3

import (
	"bytes"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
)

// Prometheus scrapes are authenticated by default, as in MinIO
// (MINIO_PROMETHEUS_AUTH_TYPE=jwt): a scrape carries either a SigV4
// signature made with the root credentials or the bearer token that
// `mc admin prometheus generate` (or `lsmctl prometheus generate`) makes: a
// JWT signed with HMAC-SHA512 and the root secret key, whose subject is the
// root access key, issuer "prometheus", with an expiry. Config.MetricsPublic
// (MINIO_PROMETHEUS_AUTH_TYPE=public) serves them to anyone.
//
// Token checks use github.com/golang-jwt/jwt/v5, the library mc itself
// signs with (an older major version): parsing, the algorithm allow-list,
// constant-time signature comparison and the claim checks are its
// well-tested code, not ours.

// MetricsTokenIssuer is the issuer of a metrics bearer token.
const MetricsTokenIssuer = "prometheus"

// metricsTokenAlg is the one signing algorithm accepted: mc signs with
// HS512 only, so "none", RSA/ECDSA keys (which would be confused with the
// HMAC secret) and the other HMAC sizes are refused.
var metricsTokenAlg = jwt.SigningMethodHS512

// NewMetricsToken returns a bearer token for the Prometheus endpoints,
// valid for ttl, shaped as `mc admin prometheus generate` makes them.
func NewMetricsToken(accessKey, secretKey string, ttl time.Duration, now time.Time) (string, error) {
	return jwt.NewWithClaims(metricsTokenAlg, jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		Subject:   accessKey,
		Issuer:    MetricsTokenIssuer,
	}).SignedString([]byte(secretKey))
}

// errBadMetricsToken is the answer to a bearer token that does not verify;
// why it failed is not told.
var errBadMetricsToken = withMessage(errAccessDenied, "The bearer token is not valid for this server's metrics.")

// verifyMetricsToken checks a metrics bearer token against the root
// credentials.
func verifyMetricsToken(token, accessKey, secretKey string, now time.Time) error {
	if accessKey == "" || secretKey == "" {
		return errors.New("no root credentials")
	}
	_, err := jwt.ParseWithClaims(token, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) {
		return []byte(secretKey), nil
	},
		jwt.WithValidMethods([]string{metricsTokenAlg.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(MetricsTokenIssuer),
		jwt.WithSubject(accessKey),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	return err
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN"
// header, if the request has one.
func bearerToken(ctx *fasthttp.RequestCtx) (string, bool) {
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	const prefix = "bearer "
	if len(h) <= len(prefix) || !bytes.EqualFold(h[:len(prefix)], []byte(prefix)) {
		return "", false
	}
	return string(bytes.TrimSpace(h[len(prefix):])), true
}

// authorizeMetrics decides a scrape: public, a valid bearer token, or a
// valid root SigV4 signature.
func (s *Server) authorizeMetrics(r *request) error {
	if s.cfg.MetricsPublic {
		return nil
	}
	if tok, ok := bearerToken(r.ctx); ok {
		if verifyMetricsToken(tok, s.cfg.AccessKey, s.cfg.SecretKey, time.Now()) != nil {
			return errBadMetricsToken
		}
		return nil
	}
	r.sreq = signedRequest(r.ctx, string(rawRequestPath(r.ctx)))
	return s.authenticate(r)
}
