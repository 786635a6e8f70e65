package s3

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Limits: the requests served at once, the deadline for a request's
// headers, Expect: 100-continue decided before 100 is sent, and the S3
// answers to requests fasthttp could not read.

const (
	// opConnRefused labels, in metrics, connections refused over the
	// per-IP cap.
	opConnRefused = "ConnectionRefused"
	// opOverload labels requests refused over MaxRequests (not logged:
	// under overload a line per refusal would add to it).
	opOverload = "Overload"
	// noBodyDeadline is the read deadline fasthttp gets once a request's
	// headers are in: none in practice. The body-stall deadline (conn)
	// bounds a body instead, so that one that keeps flowing is never cut.
	noBodyDeadline = 100 * 365 * 24 * time.Hour
	// maxSmallRequest is the largest body a handler that reads its whole
	// body accepts (CompleteMultipartUpload's list of parts); a request
	// declaring more, other than PutObject and UploadPart, is refused from
	// its headers.
	maxSmallRequest = 4 << 20
)

// gate bounds the requests served at once. A nil gate admits everything.
type gate struct {
	slots chan struct{}
	wait  time.Duration
}

func newGate(max int, wait time.Duration) *gate {
	if max <= 0 {
		return nil
	}
	return &gate{slots: make(chan struct{}, max), wait: wait}
}

// enter takes a slot, waiting up to g.wait for one; false: none came.
func (g *gate) enter() bool {
	if g == nil {
		return true
	}
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if g.wait <= 0 {
		return false
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (g *gate) leave() {
	if g != nil {
		<-g.slots
	}
}

// full reports whether no slot is free now.
func (g *gate) full() bool { return g != nil && len(g.slots) == cap(g.slots) }

// limitDefaults fills in the defaults of the connection and request limits.
func (cfg *Config) limitDefaults() {
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = 10 * time.Second
	}
	if cfg.BodyStallTimeout == 0 {
		cfg.BodyStallTimeout = 20 * time.Second
	}
	if cfg.BodyStallTimeout < 0 {
		cfg.BodyStallTimeout = 0
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = 1024
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = 64 * runtime.GOMAXPROCS(0)
	}
	if cfg.RequestWait == 0 {
		cfg.RequestWait = 100 * time.Millisecond
	}
}

// configureLimits sets the fasthttp hooks of the limits on srv.
func (s *Server) configureLimits(srv *fasthttp.Server) {
	s.inflight = newGate(s.cfg.MaxRequests, s.cfg.RequestWait)
	srv.ReadTimeout = s.cfg.HeaderTimeout
	if s.cfg.HeaderTimeout < 0 {
		srv.ReadTimeout = 0
	}
	srv.HeaderReceived = s.headerReceived
	srv.ConnState = connState
	srv.ExpectHandler = s.expectContinue
	srv.ErrorHandler = s.readError
}

// refusal is a request refused from its headers by headerReceived, kept
// for readError to answer.
type refusal struct {
	err                   error
	op, bucket, key, path string
	admin                 bool
}

// scratchCtx holds a copy of a request's headers for headerReceived.
var scratchCtx = sync.Pool{New: func() any { return new(fasthttp.RequestCtx) }}

// headerReceived runs once a request's headers are in, before fasthttp
// reads the first bytes of its body (up to 8 KiB) and calls the handler.
// A request with a body is decided here, from a copy of its headers
// (serve with admitOnly, the normal path's own code): otherwise a refused
// request that sends no body would get its answer only when its body
// stalls. A refused request's body read is made to fail at once; readError
// then answers with the refusal. A request whose first body bytes had
// already arrived goes on to the handler, which refuses it again.
// Expect: 100-continue requests are decided by expectContinue.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	cfg := fasthttp.RequestConfig{ReadTimeout: noBodyDeadline}
	s.forgetRefusal(h)
	if n := h.ContentLength(); n == 0 || n == -2 || bytes.EqualFold(h.Peek("Expect"), []byte("100-continue")) {
		return cfg
	}
	ctx := scratchCtx.Get().(*fasthttp.RequestCtx)
	defer func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		scratchCtx.Put(ctx)
	}()
	h.CopyTo(&ctx.Request.Header)
	if s.beforeS3(ctx) {
		return cfg
	}
	r := requestPool.Get().(*request)
	*r = request{ctx: ctx, admitOnly: true}
	if err := s.serve(r); err != nil {
		s.refused.Store(h, refusal{err, r.op, r.bucket, r.key, r.sreq.Path, r.admin})
		s.refusals.Add(1)
		cfg.ReadTimeout = time.Nanosecond // fail the body read now
	}
	*r = request{}
	requestPool.Put(r)
	return cfg
}

// forgetRefusal drops the refusal kept for h, if any.
func (s *Server) forgetRefusal(h *fasthttp.RequestHeader) (refusal, bool) {
	if s.refusals.Load() == 0 {
		return refusal{}, false
	}
	v, ok := s.refused.LoadAndDelete(h)
	if !ok {
		return refusal{}, false
	}
	s.refusals.Add(-1)
	return v.(refusal), true
}

// beforeS3 reports whether ctx is for an endpoint served before any S3
// decision (health, metrics), matched as handle matches them: on the path
// as sent.
func (s *Server) beforeS3(ctx *fasthttp.RequestCtx) bool {
	switch string(s.specialPath(ctx)) {
	case pathHealthLive, pathHealthReady, pathMetrics, pathMetricsCluster:
		return true
	}
	return false
}

// expectContinue decides an Expect: 100-continue request from its headers
// before 100 is sent: overload, authentication, the bucket policy of an
// anonymous request and the declared size (serve with admitOnly: the
// normal path's own code). A refused request gets its S3 error and the connection closes
// (fasthttp closes it: the client may be sending the body already).
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	if s.beforeS3(ctx) {
		return fasthttp.StatusContinue
	}
	r := requestPool.Get().(*request)
	*r = request{ctx: ctx}
	defer func() {
		*r = request{}
		requestPool.Put(r)
	}()
	var saved fasthttp.ResponseHeader
	ctx.Response.Header.CopyTo(&saved) // admit may set CORS headers
	var err error
	if s.inflight.full() {
		err = errSlowDown
	} else {
		r.admitOnly = true
		err = s.serve(r)
	}
	if err == nil {
		saved.CopyTo(&ctx.Response.Header)
		return fasthttp.StatusContinue
	}
	s.startRequest(r)
	s.writeError(r, err)
	closeLingering(ctx)
	if r.op == "" {
		r.op = opUnknown
	}
	status := ctx.Response.StatusCode()
	s.metrics.observe(r.op, status, 0, sentBytes(ctx), 0)
	return status
}

// readError answers a request fasthttp could not read (headers over
// maxHeaderBytes, a header deadline passed, a malformed request) with an
// S3 error. fasthttp then closes the connection; it lingers, since the
// client may still be sending.
func (s *Server) readError(ctx *fasthttp.RequestCtx, err error) {
	r := &request{ctx: ctx}
	s.startRequest(r)
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	rf, refused := s.forgetRefusal(&ctx.Request.Header)
	switch {
	case refused: // by headerReceived; the body read was made to fail
		r.op, r.bucket, r.key, r.admin = rf.op, rf.bucket, rf.key, rf.admin
		r.sreq.Path = rf.path
		s.writeError(r, rf.err)
	case errors.As(err, &small):
		s.writeError(r, errHeaderTooLarge)
	case errors.As(err, &ne) && ne.Timeout():
		s.writeError(r, errRequestTimeout)
	default:
		s.writeError(r, withMessage(errInvalidRequest, "The request could not be parsed."))
	}
	closeLingering(ctx)
	if r.op == "" {
		r.op = opUnknown
	}
	s.metrics.observe(r.op, ctx.Response.StatusCode(), 0, sentBytes(ctx), 0)
}

// checkDeclaredSize refuses, from its headers, a request declaring a body
// larger than its route accepts.
func (s *Server) checkDeclaredSize(r *request, rt *route) error {
	if r.ctx.Request.Header.ContentLength() <= 0 && r.header("x-amz-decoded-content-length") == "" {
		return nil
	}
	n, err := s.bodySize(r)
	if rt.name == "PutObject" || rt.name == "UploadPart" {
		if errors.Is(err, errEntityTooLarge) {
			return err
		}
		return nil // other errors are the handler's to report
	}
	if err == nil && n > maxSmallRequest || errors.Is(err, errEntityTooLarge) {
		return errMaxMessageLength
	}
	return nil
}

// dispatch runs h for r, unless r is only being admitted.
func (s *Server) dispatch(r *request, h handler) error {
	if r.admitOnly {
		return nil
	}
	return h(s, r)
}

// xmlBytes renders v as an XML document.
func xmlBytes(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
