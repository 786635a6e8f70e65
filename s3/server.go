package s3

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

const serverName = "LSMStore"

// Config configures a Server.
type Config struct {
	Store *engine.Store
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Region is reported by GetBucketLocation and accepted in signatures.
	// Default: us-east-1.
	Region string
	// Domain enables virtual-host-style requests (bucket.Domain).
	Domain string
	Logger *zap.Logger
	// WriteTimeout and IdleTimeout protect against slow clients.
	// Defaults: 5 min, 2 min.
	WriteTimeout, IdleTimeout time.Duration
	// HeaderTimeout bounds the time a request's headers take to arrive
	// (from its first byte; on a new connection, from the connection).
	// Default: 10 s; negative: none.
	HeaderTimeout time.Duration
	// BodyStallTimeout bounds how long a request body may send nothing; a
	// body that keeps flowing is never cut. Default: 20 s; negative: none.
	BodyStallTimeout time.Duration
	// MaxConnsPerIP caps the connections open from one client IP; one
	// over it gets 503 SlowDown and is closed. Default: 1024; negative:
	// no cap.
	MaxConnsPerIP int
	// MaxRequests caps the S3 requests served at once (health and metrics
	// are not counted); one over it waits up to RequestWait for a slot,
	// then gets 503 SlowDown. Default: 64 per CPU (GOMAXPROCS); on 2
	// cores, 512 concurrent 4 MiB PUTs timed out clients at 512 and none
	// at 128. Negative: no cap.
	MaxRequests int
	// RequestWait: see MaxRequests. Default: 100 ms; negative: no wait.
	RequestWait time.Duration
	// CompleteKeepAlive is how long CompleteMultipartUpload may run before
	// the server answers 200 and sends whitespace while it finishes.
	// Default: 2 s.
	CompleteKeepAlive time.Duration
	// Version is reported by the admin info endpoint.
	Version string
	// MetricsPublic serves the Prometheus endpoints (/metrics,
	// /minio/v2/metrics/cluster) without authentication, like
	// MINIO_PROMETHEUS_AUTH_TYPE=public. Default: a scrape needs the root
	// credentials' SigV4 signature or bearer token (metricsauth.go).
	MetricsPublic bool
	// SlowRequest is the duration above which a request is logged at Warn
	// level. Default: 10 s; negative disables.
	SlowRequest time.Duration

	// testCompleteDelay slows CompleteMultipartUpload down (tests).
	testCompleteDelay time.Duration
}

// Server serves the S3 API over fasthttp.
type Server struct {
	cfg      Config
	store    *engine.Store
	log      *zap.Logger
	srv      *fasthttp.Server
	verifier *sigv4.Verifier
	started  time.Time
	draining atomic.Bool
	reqSeq   atomic.Uint64
	// keptAlive counts CompleteMultipartUpload answers streamed with
	// keep-alive whitespace.
	keptAlive atomic.Int64
	reqBase   string
	jobs      jobs // admin API maintenance jobs
	metrics   *metrics
	// watchOnce starts the drive error watcher; stopOnce and stop end it.
	watchOnce, stopOnce sync.Once
	stop                chan struct{}
	watchDone           chan struct{}
	driveWatch          time.Duration // how often the watcher looks
	inflight            *gate         // requests served at once
	// policies and cors keep parsed bucket documents (doccache.go).
	policies *docCache[*bucketPolicy]
	cors     *docCache[*corsConfiguration]
	// refused holds the requests headerReceived refused
	// (*fasthttp.RequestHeader to refusal); refusals counts them.
	refused  sync.Map
	refusals atomic.Int64
}

// Request-size caps.
const (
	maxSmallBody   = 1 << 20  // fasthttp's MaxRequestBodySize; streaming, it reads at most 8 KiB of any body before the handler
	maxXMLBody     = 2 << 20  // any XML request body
	maxHeaderBytes = 64 << 10 // request headers
	maxUserMeta    = 2 << 10  // x-amz-meta-* keys and values (S3's limit)
	maxDeleteKeys  = 1000     // keys in one DeleteObjects
	maxObjectSize  = engine.MaxObjectSize
)

// NewServer returns a server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cfg.limitDefaults()
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.CompleteKeepAlive == 0 {
		cfg.CompleteKeepAlive = 2 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.SlowRequest == 0 {
		cfg.SlowRequest = 10 * time.Second
	}
	base := make([]byte, 6)
	rand.Read(base)
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, started: time.Now(), reqBase: strings.ToUpper(hex.EncodeToString(base)),
		stop: make(chan struct{}), watchDone: make(chan struct{}), driveWatch: driveWatchInterval}
	s.metrics = newMetrics(s)
	s.policies, s.cors = newDocCache(configPolicy, parsePolicy), newDocCache(configCORS, parseCORSFor)
	s.verifier = &sigv4.Verifier{
		// Region is left empty: a signature for any region verifies, and
		// checkScopeRegion decides by operation which regions may sign.
		Credentials: func(ak string) (string, bool) {
			if ak == cfg.AccessKey {
				return cfg.SecretKey, true
			}
			return "", false
		},
	}
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		Name:               serverName,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		StreamRequestBody:  true,
		MaxRequestBodySize: maxSmallBody,
		ReadBufferSize:     maxHeaderBytes,
		// Headers and a body up to 64 KiB leave in one write(2); with the
		// default 4 KiB buffer a 4 KiB ranged GET took two.
		WriteBufferSize:               64 << 10,
		DisableHeaderNamesNormalizing: false,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		CloseOnShutdown:               true,
		SecureErrorLogMessage:         true, // no request bytes in error logs
		Logger:                        zapPrintf{cfg.Logger},
	}
	s.configureLimits(s.srv)
	return s
}

type zapPrintf struct{ l *zap.Logger }

// Printf logs a fasthttp message at Debug level, redacted (logredact.go).
func (z zapPrintf) Printf(format string, args ...any) {
	if ce := z.l.Check(zap.DebugLevel, ""); ce != nil {
		ce.Message = redactf(format, args...)
		ce.Write()
	}
}

// ready: not draining, and the store takes writes (a failed store serves
// reads only until it is reopened).
func (s *Server) ready() bool { return !s.draining.Load() && s.store.Failed() == nil }

// Serve serves connections from ln until Shutdown. The first call also
// starts the drive error watcher.
func (s *Server) Serve(ln net.Listener) error {
	s.watchOnce.Do(func() {
		s.warnReservedBuckets()
		go s.watchDrives(s.driveWatch)
	})
	return s.srv.Serve(s.newConnListener(ln))
}

// Shutdown stops accepting connections and waits for requests in flight.
// Running maintenance jobs are canceled.
func (s *Server) Shutdown() error {
	s.draining.Store(true)
	err := s.srv.Shutdown()
	s.jobs.stop()
	s.stopOnce.Do(func() { close(s.stop) })
	s.watchOnce.Do(func() { close(s.watchDone) }) // never started
	<-s.watchDone
	return err
}

// request is one S3 request being served. Requests are pooled (see
// handle): nothing may keep a *request, or a pointer into one, once its
// handler returns; a handler whose work outlives it copies what it needs.
type request struct {
	ctx    *fasthttp.RequestCtx
	idBuf  [requestIDLen]byte // the request ID (id returns it as a string)
	op     string
	bucket string
	key    string
	auth   *sigv4.Auth // nil, or &authv once authenticated
	authv  sigv4.Auth
	sreq   sigv4.Request
	// anonymous: the request carries no credentials; the bucket policy
	// decides it.
	anonymous bool
	admin     bool // an LSMStore admin API call: errors are JSON
	// admitOnly: serve decides whether r may proceed but runs no handler
	// (expectContinue).
	admitOnly bool
}

// requestPool recycles requests: a request (with its sigv4.Auth) would
// otherwise be the read path's largest allocation.
var requestPool = sync.Pool{New: func() any { return new(request) }}

func (r *request) header(name string) string { return string(r.ctx.Request.Header.Peek(name)) }
func (r *request) query(name string) string  { return string(r.ctx.QueryArgs().Peek(name)) }
func (r *request) hasQuery(name string) bool { return r.ctx.QueryArgs().Has(name) }

// id returns the request ID, for error bodies and log lines.
func (r *request) id() string { return string(r.idBuf[:]) }

// requestIDLen is the length of a request ID: the server's random base (6
// bytes) and a sequence number (8 bytes), in uppercase hex.
const requestIDLen = 2 * (6 + 8)

// setRequestID gives r the next request ID.
func (s *Server) setRequestID(r *request) {
	const hexDigits = "0123456789ABCDEF"
	n := copy(r.idBuf[:], s.reqBase)
	seq := s.reqSeq.Add(1)
	for i := len(r.idBuf) - 1; i >= n; i-- {
		r.idBuf[i] = hexDigits[seq&15]
		seq >>= 4
	}
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	special := s.specialPath(ctx)
	if s.serveHealth(ctx, special) || s.serveMetrics(ctx, special) {
		return
	}
	start := time.Now()
	s.forgetRefusal(&ctx.Request.Header) // its body had arrived: refused again below
	r := requestPool.Get().(*request)
	*r = request{ctx: ctx}
	s.startRequest(r)
	var err error = errSlowDown
	if s.inflight.enter() {
		err = s.serve(r)
		s.inflight.leave()
	} else {
		r.op = opOverload
	}
	if err != nil {
		s.writeError(r, err)
	}
	finishBody(ctx, err != nil)
	if r.op == "" {
		r.op = opUnknown
	}
	status, in, out, took := ctx.Response.StatusCode(), receivedBytes(ctx), sentBytes(ctx), time.Since(start)
	s.metrics.observe(r.op, status, in, out, took)
	if ce := s.log.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(requestFields(r, status, in, out, took)...)
	}
	if slow := s.cfg.SlowRequest; slow > 0 && took > slow {
		s.log.Warn("slow request", requestFields(r, status, in, out, took)...)
	}
	if err != nil {
		if ae := toAPIError(err); ae.Status >= 500 && ae.Code != errNotImplemented.Code && ae != errSlowDown {
			s.log.Warn("request failed", zap.String("id", r.id()), zap.String("op", r.op), zap.String("bucket", r.bucket), zap.String("key", r.key), zap.Error(err))
		}
	}
	*r = request{}
	requestPool.Put(r)
}

// startRequest gives r its request ID and the headers every answer has.
func (s *Server) startRequest(r *request) {
	s.setRequestID(r)
	h := &r.ctx.Response.Header
	h.SetBytesV("x-amz-request-id", r.idBuf[:])
	h.SetBytesV("x-amz-id-2", r.idBuf[:])
	h.Set("Accept-Ranges", "bytes")
}

// serve authenticates, parses the resource and dispatches. Everything it
// decides before dispatch needs only the headers: expectContinue runs it
// with r.admitOnly before sending 100 Continue.
func (s *Server) serve(r *request) error {
	ctx := r.ctx
	// The request path is the read path's one string of its own: the
	// bucket and key are parts of it (of its decoded copy when escaped),
	// and it is signed as sent.
	rawPath := string(rawRequestPath(ctx))
	r.sreq = signedRequest(ctx, rawPath)
	path, err := unescapePath(rawPath)
	if err != nil {
		return withMessage(errInvalidArgument, "The request path is not valid.")
	}
	r.bucket, r.key = s.splitResource(ctx.Host(), path)

	special := s.specialPath(ctx) // the admin APIs' paths, as sent
	if bytes.HasPrefix(special, []byte(adminPrefix)) {
		r.op = "AdminInfo"
		if err := s.authenticate(r); err != nil {
			return err
		}
		if r.admitOnly {
			return nil
		}
		return s.adminInfo(r, string(special))
	}
	if bytes.HasPrefix(special, []byte(lsmAdminPrefix)) {
		r.op, r.admin = "Admin", true
		if err := s.authenticate(r); err != nil {
			return err
		}
		if r.admitOnly {
			return nil
		}
		return s.lsmAdmin(r, string(special))
	}
	if ctx.IsOptions() {
		return s.dispatch(r, (*Server).preflight)
	}
	if origin := r.header("Origin"); origin != "" && r.bucket != "" {
		s.corsHeaders(r, origin)
	}
	if err := s.authenticate(r); err != nil {
		if !errors.Is(err, sigv4.ErrNoCredentials) {
			return err
		}
		r.anonymous = true // the bucket policy decides, once the route is known
	}
	rt, err := s.match(r)
	if err != nil {
		if r.anonymous {
			return errAccessDenied
		}
		return err
	}
	r.op = rt.name
	if err := s.checkScopeRegion(r); err != nil {
		return err
	}
	if r.anonymous {
		if err := s.authorizeAnonymous(r, rt); err != nil {
			return err
		}
	}
	if r.bucket != "" && !engine.ValidBucketName(r.bucket) && rt.level != levelService {
		if rt.name == "HeadBucket" || rt.name == "ListObjectsV1" || rt.name == "ListObjectsV2" || rt.name == "DeleteBucket" || rt.name == "HeadObject" || rt.name == "GetObject" {
			return errNoSuchBucket
		}
		return errInvalidBucketName
	}
	if err := s.checkDeclaredSize(r, rt); err != nil {
		return err
	}
	return s.dispatch(r, rt.h)
}

// rawRequestPath is the escaped path of the request target as sent.
func rawRequestPath(ctx *fasthttp.RequestCtx) []byte {
	rawPath, _, _ := bytes.Cut(ctx.Request.Header.RequestURI(), []byte("?"))
	if i := bytes.Index(rawPath, []byte("://")); i >= 0 { // absolute-form request target
		rest := rawPath[i+3:]
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			rawPath = rest[j:]
		} else {
			rawPath = []byte("/")
		}
	}
	return rawPath
}

// signedRequest is what signature verification needs of ctx; rawPath is
// the escaped request path as sent. Headers (and the host) are read from
// ctx as sigv4 needs them.
func signedRequest(ctx *fasthttp.RequestCtx, rawPath string) sigv4.Request {
	return sigv4.Request{
		Method:   methodString(ctx.Method()),
		Path:     rawPath,
		RawQuery: string(ctx.URI().QueryString()),
		Headers:  sigHeaders{ctx},
	}
}

// methodString returns a request method as a string, without allocating
// for the standard methods.
func methodString(m []byte) string {
	switch string(m) {
	case fasthttp.MethodGet:
		return fasthttp.MethodGet
	case fasthttp.MethodHead:
		return fasthttp.MethodHead
	case fasthttp.MethodPut:
		return fasthttp.MethodPut
	case fasthttp.MethodPost:
		return fasthttp.MethodPost
	case fasthttp.MethodDelete:
		return fasthttp.MethodDelete
	case fasthttp.MethodOptions:
		return fasthttp.MethodOptions
	}
	return string(m)
}

// sigHeaders is a request's headers as sigv4 reads them (sigv4.Headers).
// "host" is the host the request was addressed to, ctx.Host(): the Host
// header, or the host of an absolute-form request target.
type sigHeaders struct{ ctx *fasthttp.RequestCtx }

func (h sigHeaders) Peek(name string) []byte {
	if name == "host" {
		return h.ctx.Host()
	}
	return h.ctx.Request.Header.Peek(name)
}

// AppendNames lists the headers fasthttp parsed (RequestHeader.All): all
// x-amz-* headers; Content-Length, Content-Type, User-Agent and Host only
// when not empty; Transfer-Encoding only when chunked.
func (h sigHeaders) AppendNames(dst []byte) []byte {
	for k := range h.ctx.Request.Header.All() {
		dst = append(dst, k...)
		dst = append(dst, '\n')
	}
	return dst
}

func (h sigHeaders) PeekAll(name string) [][]byte {
	if name == "host" { // not asked by sigv4, which Peeks the host
		return [][]byte{h.ctx.Host()}
	}
	return h.ctx.Request.Header.PeekAll(name)
}

func (s *Server) authenticate(r *request) error {
	if err := s.verifier.VerifyInto(&r.sreq, &r.authv); err != nil {
		return err
	}
	r.auth = &r.authv
	if r.op != "" { // admin and metrics requests: the operation is known
		return s.checkScopeRegion(r)
	}
	return nil
}

// splitResource returns the bucket and key of a request path, taking the
// bucket from the host for virtual-host-style requests.
func (s *Server) splitResource(host []byte, path string) (string, string) {
	if d := s.cfg.Domain; d != "" {
		h := host
		if i := bytes.LastIndexByte(h, ':'); i >= 0 && bytes.IndexByte(h[i:], ']') < 0 {
			h = h[:i]
		}
		if n := len(h) - len(d) - 1; n > 0 && h[n] == '.' && string(h[n+1:]) == d { // bucket.d
			return string(h[:n]), strings.TrimPrefix(path, "/")
		}
	}
	p := strings.TrimPrefix(path, "/")
	bucket, key, _ := strings.Cut(p, "/")
	return bucket, key
}

// unescapePath percent-decodes a request path without any normalisation:
// S3 keys may hold "//", "." and ".." segments.
func unescapePath(p string) (string, error) {
	if !strings.ContainsRune(p, '%') {
		return p, nil
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(p) {
			return "", errInvalidArgument
		}
		v, err := hex.DecodeString(p[i+1 : i+3])
		if err != nil {
			return "", errInvalidArgument
		}
		b = append(b, v[0])
		i += 2
	}
	return string(b), nil
}

// writeError renders err as an S3 error response.
func (s *Server) writeError(r *request, err error) {
	ae := toAPIError(err)
	ctx := r.ctx
	ctx.Response.ResetBody()
	ctx.Response.Header.Del("ETag")
	ctx.Response.Header.Del("Last-Modified")
	if ae.Status != fasthttp.StatusRequestedRangeNotSatisfiable {
		ctx.Response.Header.Del("Content-Range") // a 416 keeps "bytes */size"
	}
	ctx.SetStatusCode(ae.Status)
	if ae.Status == fasthttp.StatusNotModified {
		return
	}
	if r.ctx.IsHead() {
		ctx.Response.Header.SetContentLength(0)
		return
	}
	if r.admin {
		writeAdminError(ctx, ae)
		return
	}
	resource := r.sreq.Path
	if resource == "" {
		resource = string(ctx.Path())
	}
	body := errorResponse{Code: ae.Code, Message: ae.Message, Key: r.key, BucketName: r.bucket, Resource: resource, RequestID: r.id(), HostID: r.id()}
	writeXML(ctx, ae.Status, body)
}

// writeXML renders v as the response body.
func writeXML(ctx *fasthttp.RequestCtx, status int, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/xml")
	ctx.SetBody(buf.Bytes())
}
