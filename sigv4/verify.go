package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Payload hash values (x-amz-content-sha256) other than a hex SHA-256.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

	// EmptySHA256 is the hex SHA-256 of an empty payload.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

const (
	// MaxClockSkew is how far a request's date may be from the server clock.
	MaxClockSkew = 15 * time.Minute
	// MaxPresignExpires is the longest X-Amz-Expires accepted (7 days).
	MaxPresignExpires = 604800 * time.Second
	// MaxSignedHeaders is the most names SignedHeaders may list.
	MaxSignedHeaders = 128
	// MaxCanonicalRequest is the largest canonical request verified: its
	// size is checked as it is built, before it is hashed. A request's
	// canonical form is at most about its own size (each signed header
	// once, the query at most 3 times as long re-escaped).
	MaxCanonicalRequest = 256 << 10
	// maxPooledBuf is the largest buffer kept for reuse; larger ones, built
	// for unusually large requests, are left to the garbage collector.
	maxPooledBuf = 16 << 10
)

// Verifier checks SigV4 signatures. Its zero value needs only Credentials;
// it is safe for concurrent use and must not be copied after first use.
type Verifier struct {
	// Credentials returns the secret key of an access key.
	Credentials func(accessKey string) (secretKey string, ok bool)

	// Region, when set, is the credential-scope region accepted besides
	// the empty region (MinIO's admin client signs with
	// "AK/date//s3/aws4_request") and us-east-1, which clients use to ask
	// a bucket's location before they know its region: a server should
	// refuse a us-east-1 scope for other operations (see
	// Auth.WrongRegion). Empty accepts any region.
	Region string

	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	keys  keyCache
	creds credCache
}

// Auth describes a verified request.
type Auth struct {
	AccessKey   string
	Region      string    // credential-scope region
	Time        time.Time // request time (x-amz-date, Date or X-Amz-Date)
	PayloadHash string    // x-amz-content-sha256 (UNSIGNED-PAYLOAD if a presigned URL names none)
	Presigned   bool      // authenticated by query parameters

	sig     [2 * sha256.Size]byte // request signature, lowercase hex
	key     []byte                // signing key
	sk      *signingKey
	amzDate [len(timeFormat)]byte // timestamp as used in the string to sign
	scope   string                // date/region/s3/aws4_request
}

// Signature returns the request signature in lowercase hex; it seeds the
// chunk signatures of a streaming body.
func (a *Auth) Signature() string { return string(a.sig[:]) }

type payloadKind uint8

const (
	payloadUnsigned payloadKind = iota
	payloadHex
	payloadStreamSigned
	payloadStreamSignedTrailer
	payloadStreamUnsignedTrailer
)

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func classifyPayload(s string) (payloadKind, *Error) {
	switch s {
	case UnsignedPayload:
		return payloadUnsigned, nil
	case StreamingPayload:
		return payloadStreamSigned, nil
	case StreamingPayloadTrailer:
		return payloadStreamSignedTrailer, nil
	case StreamingUnsignedTrailer:
		return payloadStreamUnsignedTrailer, nil
	case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
		return 0, errECDSA
	}
	if len(s) == 64 && isHex(s) {
		return payloadHex, nil
	}
	return 0, errBadSHAHeader
}

// credential is a parsed "AK/date/region/s3/aws4_request".
type credential struct {
	full                    string // the whole credential
	accessKey, date, region string
	scope                   string // everything after "AK/"
}

// parseCredential splits a credential from the right, so the access key may
// contain '/'. It returns the reason when malformed.
func parseCredential(s string) (credential, string) {
	const bad = `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`
	var parts [4]string
	rest := s
	for i := 3; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return credential{}, bad
		}
		parts[i] = rest[j+1:]
		rest = rest[:j]
	}
	c := credential{full: s, accessKey: rest, date: parts[0], region: parts[1], scope: s[len(rest)+1:]}
	if c.accessKey == "" || len(c.date) != 8 {
		return credential{}, bad
	}
	for i := 0; i < 8; i++ {
		if c.date[i] < '0' || c.date[i] > '9' {
			return credential{}, bad
		}
	}
	if parts[2] != service {
		return credential{}, `incorrect service "` + parts[2] + `". This endpoint belongs to "s3".`
	}
	if parts[3] != terminator {
		return credential{}, `incorrect terminal "` + parts[3] + `". This endpoint uses "aws4_request".`
	}
	return c, ""
}

// authHeader is a parsed Authorization header.
type authHeader struct {
	cred          credential
	signedHeaders string
	signature     string
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..."; components may come in any order, separated by "," and
// optional white space.
func parseAuthorization(s string) (authHeader, *Error) {
	var h authHeader
	s = strings.TrimLeft(s, " \t")
	alg, rest := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		alg, rest = s[:i], s[i+1:]
	}
	if alg != algorithm {
		if alg == "AWS" {
			return h, errV2
		}
		return h, newErr(CodeInvalidArgument, "Unsupported Authorization Type")
	}
	var seen [3]bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.Trim(part, " \t")
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		i := -1
		switch k {
		case "Credential":
			i = 0
		case "SignedHeaders":
			i = 1
			h.signedHeaders = v
		case "Signature":
			i = 2
			h.signature = v
		}
		if !ok || i < 0 {
			return h, malformedHeader(`the authorization component "` + part + `" is malformed.`)
		}
		if seen[i] {
			return h, malformedHeader(`the authorization component "` + k + `" appears twice.`)
		}
		seen[i] = true
		if i == 0 {
			var why string
			if h.cred, why = parseCredential(v); why != "" {
				return h, malformedHeader(why)
			}
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return h, malformedHeader("it must contain Credential, SignedHeaders and Signature.")
	}
	if why := checkSignedHeaders(h.signedHeaders); why != "" {
		return h, malformedHeader(why)
	}
	return h, nil
}

// checkSignedHeaders requires at most MaxSignedHeaders lowercase header
// names, strictly sorted (so each at most once, as every SigV4 signer
// writes them), host among them. A name listed many times would make the
// canonical request many times larger than the request.
func checkSignedHeaders(s string) string {
	host := false
	prev := ""
	n := 0
	for rest := s; ; {
		var name string
		var more bool
		name, rest, more = strings.Cut(rest, ";")
		if name == "" {
			return "SignedHeaders contains an empty header name."
		}
		if n++; n > MaxSignedHeaders {
			return "SignedHeaders lists more than " + strconv.Itoa(MaxSignedHeaders) + " headers."
		}
		for i := 0; i < len(name); i++ {
			if !headerNameByte(name[i]) {
				return "SignedHeaders must list lowercase header names."
			}
		}
		if name <= prev {
			return "SignedHeaders must list header names sorted and unique."
		}
		prev = name
		if name == "host" {
			host = true
		}
		if !more {
			break
		}
	}
	if !host {
		return "the host header must be signed."
	}
	return ""
}

// headerNameByte reports the bytes of a lowercase HTTP header name (an RFC
// 9110 token without upper case).
func headerNameByte(c byte) bool {
	if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// presignParams are the query parameters of a presigned URL.
type presignParams struct {
	algorithm, credential, date, expires, signedHeaders, signature, contentSHA string
}

const presignRequired = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."

// parsePresign extracts and decodes the X-Amz-* parameters of a presigned URL.
func parsePresign(params []queryParam) (presignParams, *Error) {
	var p presignParams
	for _, q := range params {
		var dst *string
		switch q.key {
		case "X-Amz-Algorithm":
			dst = &p.algorithm
		case "X-Amz-Credential":
			dst = &p.credential
		case "X-Amz-Date":
			dst = &p.date
		case "X-Amz-Expires":
			dst = &p.expires
		case "X-Amz-SignedHeaders":
			dst = &p.signedHeaders
		case "X-Amz-Signature":
			dst = &p.signature
		case "X-Amz-Content-Sha256":
			dst = &p.contentSHA
		default:
			continue
		}
		v, err := url.QueryUnescape(q.rawValue)
		if err != nil || v == "" {
			return p, malformedQuery(presignRequired)
		}
		if *dst != "" {
			return p, malformedQuery("Query parameter " + q.key + " appears more than once.")
		}
		*dst = v
	}
	if p.algorithm == "" || p.credential == "" || p.date == "" || p.expires == "" ||
		p.signedHeaders == "" || p.signature == "" {
		return p, malformedQuery(presignRequired)
	}
	if p.algorithm != algorithm {
		return p, malformedQuery(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	return p, nil
}

func hasParam(params []queryParam, key string) bool {
	for _, q := range params {
		if q.key == key {
			return true
		}
	}
	return false
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) regionOK(region string) bool {
	return v.Region == "" || region == v.Region || region == "" || region == "us-east-1"
}

// WrongRegion returns the error for a request verified with a credential
// scope for a region other than want, worded as AWS words it.
func (a *Auth) WrongRegion(want string) *Error {
	why := "the region '" + a.Region + "' is wrong; expecting '" + want + "'"
	if a.Presigned {
		return malformedQuery("Error parsing the X-Amz-Credential parameter; " + why)
	}
	return malformedHeader(why)
}

// Verify authenticates r by its Authorization header or presigned query.
// Errors are *Error; a request with no credentials at all gets
// ErrNoCredentials.
func (v *Verifier) Verify(r *Request) (*Auth, error) {
	a := new(Auth)
	if err := v.VerifyInto(r, a); err != nil {
		return nil, err
	}
	return a, nil
}

// VerifyInto is Verify writing the result to *a, which a server may keep
// with its per-request state. *a is undefined when it returns an error.
func (v *Verifier) VerifyInto(r *Request, a *Auth) error {
	params := parseQuery(r.RawQuery, make([]queryParam, 0, 8))
	authz := r.headerView("authorization")
	presigned := hasParam(params, "X-Amz-Algorithm") || hasParam(params, "X-Amz-Credential") ||
		hasParam(params, "X-Amz-Signature")
	var err *Error
	switch {
	case authz != "" && presigned:
		err = errTwoAuth
	case authz != "":
		err = v.verifyHeader(a, r, authz, params)
	case presigned:
		err = v.verifyPresigned(a, r, params)
	case hasParam(params, "AWSAccessKeyId") && hasParam(params, "Signature"):
		err = errV2
	case hasParam(params, "AWSAccessKeyId") || hasParam(params, "Signature"):
		err = errAccessDenied // half of a V2 signature: not anonymous either
	default:
		err = ErrNoCredentials
	}
	if err != nil {
		return err
	}
	return nil
}

// parseAmzDate parses the ISO 8601 basic format "20060102T150405Z" strictly.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(timeFormat) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	t, err := time.Parse(timeFormat, s)
	return t, err == nil
}

// parseHTTPDate parses the Date header formats HTTP allows.
func parseHTTPDate(s string) (time.Time, bool) {
	for _, layout := range [...]string{"Mon, 02 Jan 2006 15:04:05 GMT", time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// verifyHeader verifies a request signed in its Authorization header. The
// header values read here may share the request's memory (headerView):
// every string kept in *a is a constant, interned or a copy.
func (v *Verifier) verifyHeader(a *Auth, r *Request, authz string, params []queryParam) *Error {
	h, err := parseAuthorization(authz)
	if err != nil {
		return err
	}
	var t time.Time
	amzDate := r.headerView("x-amz-date")
	if amzDate != "" {
		var ok bool
		if t, ok = parseAmzDate(amzDate); !ok {
			return errNoDate
		}
	} else {
		var ok bool
		if t, ok = parseHTTPDate(r.headerView("date")); !ok {
			return errNoDate
		}
		amzDate = t.Format(timeFormat)
	}
	if h.cred.date != amzDate[:8] {
		return malformedHeader(`Invalid credential date "` + h.cred.date + `". This date is not the same as X-Amz-Date: "` + amzDate[:8] + `".`)
	}
	if !v.regionOK(h.cred.region) {
		return malformedHeader("the region '" + h.cred.region + "' is wrong; expecting '" + v.Region + "'")
	}
	payload := r.headerView("x-amz-content-sha256")
	if payload == "" {
		return errNoSHAHeader
	}
	kind, err := classifyPayload(payload)
	if err != nil {
		return err
	}
	// The credential's strings are kept in *a: those of a credential
	// that verified before, or a copy.
	cred, known := v.creds.get(h.cred.full)
	if !known {
		cred, _ = parseCredential(strings.Clone(h.cred.full))
	}
	secret, ok := v.lookup(cred.accessKey)
	if !ok {
		return errUnknownKey
	}
	now := v.now()
	if d := t.Sub(now); d > MaxClockSkew || d < -MaxClockSkew {
		return errSkewed
	}
	*a = Auth{AccessKey: cred.accessKey, Region: cred.region, Time: t, PayloadHash: ownPayload(payload, kind),
		scope: cred.scope}
	copy(a.amzDate[:], amzDate)
	if err := v.check(a, r, secret, params, "", h.signedHeaders, h.signature); err != nil {
		return err
	}
	if !known {
		v.creds.add(cred)
	}
	return nil
}

// ownPayload returns a payload hash to keep: the constant it equals, or a
// copy.
func ownPayload(s string, kind payloadKind) string {
	switch kind {
	case payloadUnsigned:
		return UnsignedPayload
	case payloadStreamSigned:
		return StreamingPayload
	case payloadStreamSignedTrailer:
		return StreamingPayloadTrailer
	case payloadStreamUnsignedTrailer:
		return StreamingUnsignedTrailer
	}
	if s == EmptySHA256 {
		return EmptySHA256
	}
	return strings.Clone(s)
}

func (v *Verifier) verifyPresigned(a *Auth, r *Request, params []queryParam) *Error {
	p, err := parsePresign(params)
	if err != nil {
		return err
	}
	t, ok := parseAmzDate(p.date)
	if !ok {
		return malformedQuery(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	expires, perr := strconv.ParseInt(p.expires, 10, 64)
	switch {
	case perr != nil && !strings.HasPrefix(p.expires, "-"):
		return malformedQuery("X-Amz-Expires should be a number")
	case perr != nil || expires < 0:
		return malformedQuery("X-Amz-Expires must be non-negative")
	case expires == 0:
		return malformedQuery("X-Amz-Expires must be at least 1 second")
	case expires > int64(MaxPresignExpires/time.Second):
		return malformedQuery("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	cred, why := parseCredential(p.credential)
	if why != "" {
		return malformedQuery("Error parsing the X-Amz-Credential parameter; " + why)
	}
	if cred.date != p.date[:8] {
		return malformedQuery(`Invalid credential date "` + cred.date + `". This date is not the same as X-Amz-Date: "` + p.date[:8] + `".`)
	}
	if !v.regionOK(cred.region) {
		return malformedQuery("Error parsing the X-Amz-Credential parameter; the region '" + cred.region + "' is wrong; expecting '" + v.Region + "'")
	}
	if why := checkSignedHeaders(p.signedHeaders); why != "" {
		return malformedQuery(why)
	}
	payload := UnsignedPayload
	if p.contentSHA != "" {
		payload = p.contentSHA
		if _, err := classifyPayload(payload); err != nil {
			return err
		}
	}
	secret, ok := v.lookup(cred.accessKey)
	if !ok {
		return errUnknownKey
	}
	now := v.now()
	if t.Sub(now) > MaxClockSkew {
		return errNotYetValid
	}
	if now.Sub(t) > time.Duration(expires)*time.Second {
		return errExpired
	}
	*a = Auth{AccessKey: cred.accessKey, Region: cred.region, Time: t, PayloadHash: payload,
		Presigned: true, scope: cred.scope}
	copy(a.amzDate[:], p.date)
	if err := v.check(a, r, secret, params, "X-Amz-Signature", p.signedHeaders, p.signature); err != nil {
		return err
	}
	return nil
}

func (v *Verifier) lookup(ak string) (string, bool) {
	if v.Credentials == nil {
		return "", false
	}
	return v.Credentials(ak)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// putBuf returns a buffer to bufPool unless it grew beyond maxPooledBuf.
func putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuf {
		bufPool.Put(bp)
	}
}

// checkHeaderSet refuses a request carrying an x-amz-* header that
// signedHeaders does not name (such headers change what a request does:
// x-amz-copy-source turns a PUT into a copy), or lacking a header that it
// names. AWS answers the first with 403 AccessDenied, "There were headers
// present in the request which were not signed" (MinIO uses the same words:
// minio/minio#16893). The names are listed in *bp.
func checkHeaderSet(bp *[]byte, r *Request, signedHeaders string) *Error {
	names, ok := r.appendNames((*bp)[:0])
	*bp = names
	if !ok {
		return errNoHeaderList
	}
	for rest := names; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		name := viewString(rest[:i])
		rest = rest[min(i+1, len(rest)):]
		if len(name) < len("x-amz-") || !strings.EqualFold(name[:len("x-amz-")], "x-amz-") {
			continue
		}
		// x-amz-content-sha256 may go unsigned, as S3 allows (noted in
		// demarche-numerique/ds_proxy#164; Alibaba OSS documents it on
		// presigned GETs): with header auth its value is the last line of
		// the canonical request, so it is signed anyway; a presigned
		// request takes its payload hash from the query, never the header.
		if strings.EqualFold(name, "x-amz-content-sha256") {
			continue
		}
		if !listHas(signedHeaders, name) {
			return errUnsignedHeaders
		}
	}
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		switch name {
		case "host":
			if r.Host == "" && r.headerView("host") == "" {
				return errSignedAbsent
			}
			continue
		case "content-length", "transfer-encoding":
			// HTTP servers hide these (fasthttp drops Content-Length from a
			// chunked request and "Transfer-Encoding: identity"), and some
			// clients sign them absent (versity/versitygw#457); an absent
			// one is signed as empty.
			continue
		}
		if !namesHave(names, name) {
			return errSignedAbsent
		}
	}
	return nil
}

// listHas reports whether the ";"-separated list holds name, ignoring case.
func listHas(list, name string) bool {
	for rest := list; rest != ""; {
		var n string
		n, rest, _ = strings.Cut(rest, ";")
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// namesHave reports whether the "\n"-terminated names hold name, ignoring
// case.
func namesHave(names []byte, name string) bool {
	for rest := names; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		if strings.EqualFold(viewString(rest[:i]), name) {
			return true
		}
		rest = rest[min(i+1, len(rest)):]
	}
	return false
}

// check computes the signature of r and compares it with sigHex in constant
// time. The canonical header values are built as botocore and minio-go
// build them (all white space collapsed); when a signed value holds a tab,
// aws-sdk-go-v2's form (tabs kept) is tried too. If the path as sent does
// not match, the path re-encoded from its decoded form is tried, for
// clients that sign a differently escaped path.
func (v *Verifier) check(a *Auth, r *Request, secret string, params []queryParam, skip, signedHeaders, sigHex string) *Error {
	var want [sha256.Size]byte
	if len(sigHex) != 2*sha256.Size {
		return errSignature
	}
	if _, err := hex.Decode(want[:], []byte(sigHex)); err != nil {
		return errSignature
	}
	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	if err := checkHeaderSet(bp, r, signedHeaders); err != nil {
		return err
	}
	a.sk = v.keys.signing(secret, a.scope[:8], a.Region)
	a.key = a.sk.key
	path := r.Path
	if path == "" {
		path = "/"
	}
	sig, ok, err := matchSignature(bp, a, r, path, params, skip, signedHeaders, &want)
	if err != nil {
		return err
	}
	if !ok {
		alt, uerr := url.PathUnescape(path)
		if uerr != nil {
			return errSignature
		}
		if alt = EncodePath(alt); alt == path {
			return errSignature
		}
		if sig, ok, err = matchSignature(bp, a, r, alt, params, skip, signedHeaders, &want); err != nil {
			return err
		}
		if !ok {
			return errSignature
		}
	}
	hex.Encode(a.sig[:], sig[:])
	return nil
}

// matchSignature computes the signature for path in each white-space form
// that can differ and reports whether one equals want.
func matchSignature(bp *[]byte, a *Auth, r *Request, path string, params []queryParam, skip, signedHeaders string, want *[sha256.Size]byte) ([sha256.Size]byte, bool, *Error) {
	sig, other, err := computeSignature(bp, a, r, path, params, skip, signedHeaders, wsAll)
	if err != nil || hmac.Equal(sig[:], want[:]) {
		return sig, err == nil, err
	}
	if !other {
		return sig, false, nil
	}
	sig, _, err = computeSignature(bp, a, r, path, params, skip, signedHeaders, wsSpaces)
	return sig, err == nil && hmac.Equal(sig[:], want[:]), err
}

// computeSignature builds the canonical request and string to sign in *bp
// and returns the HMAC with a.key; other reports a signed value whose form
// depends on ws. It stops with an error once the canonical request exceeds
// MaxCanonicalRequest.
func computeSignature(bp *[]byte, a *Auth, r *Request, path string, params []queryParam, skip, signedHeaders string, ws wsMode) (_ [sha256.Size]byte, other bool, _ *Error) {
	b := (*bp)[:0]
	defer func() { *bp = b }()
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, params, skip)
	b = append(b, '\n')
	for rest := signedHeaders; rest != ""; {
		if len(b) > MaxCanonicalRequest {
			return [sha256.Size]byte{}, false, errTooLarge(a)
		}
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		var o bool
		if name == "host" {
			host := r.Host
			if host == "" {
				host = r.headerView("host")
			}
			b, o = appendCollapsed(b, host, ws)
		} else {
			b, o = r.appendValues(b, name, ws)
		}
		other = other || o
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, signedHeaders...)
	b = append(b, '\n')
	b = append(b, a.PayloadHash...)
	if len(b) > MaxCanonicalRequest {
		return [sha256.Size]byte{}, false, errTooLarge(a)
	}
	sum := sha256.Sum256(b)

	b = b[:0]
	b = append(b, algorithm+"\n"...)
	b = append(b, a.amzDate[:]...)
	b = append(b, '\n')
	b = append(b, a.scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, sum[:])
	if a.sk != nil {
		return a.sk.sum(b), other, nil
	}
	var sig [sha256.Size]byte
	m := hmac.New(sha256.New, a.key)
	m.Write(b)
	m.Sum(sig[:0])
	return sig, other, nil
}

// errTooLarge is the error for a canonical request over MaxCanonicalRequest.
func errTooLarge(a *Auth) *Error {
	if a.Presigned {
		return errTooLargeQuery
	}
	return errTooLargeHeader
}
