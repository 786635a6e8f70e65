package s3

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Connections: the per-client-IP cap, the body-stall deadline and the
// lingering close. Serve wraps its listener in a connListener; every
// connection fasthttp serves is then a *conn (a *tlsConn over TLS), which
// handlers reach with ctx.Conn(). (fasthttp's own MaxConnsPerIP answers a
// plain-text 429 and hides the connection in a wrapper of its own.)

const (
	// keepAliveDrain: after an error answered before the request body was
	// read, a declared body up to this size is read and dropped so that the
	// connection serves the next request; a larger or chunked one closes the
	// connection at once instead of waiting for it. 64 KiB is what a client
	// sends in its first TCP window, so such a body has usually arrived
	// already and draining it costs one read, while reconnecting would cost
	// a handshake; a larger body may take a slow client long to send.
	keepAliveDrain = 64 << 10
	// drainWait bounds how long that drain (or the drain of a small rest
	// left after a success) may wait for bytes.
	drainWait = time.Second
	// maxDiscard bounds the rest of a body a successful handler left unread
	// (framing after the payload) that is read and dropped; a longer rest
	// closes the connection.
	maxDiscard = 32 << 20
	// lingerTime and lingerBytes bound the lingering close: after the
	// answer, the server stops writing (FIN) and reads and drops what the
	// client still sends for up to lingerTime or lingerBytes before it
	// closes. Closing with unread data would send a TCP RST, and a client
	// that is still sending could lose the answer to it.
	lingerTime  = 2 * time.Second
	lingerBytes = 64 << 20
	// maxRefusing bounds the connections being refused at once (each
	// answered with 503 and closed lingering); past it a connection over
	// the per-IP cap is closed without an answer.
	maxRefusing = 64
	// refuseTimeout bounds a refusal's TLS handshake and write.
	refuseTimeout = 2 * time.Second
)

// connListener accepts connections, refusing those over the per-IP cap.
type connListener struct {
	net.Listener
	s        *Server
	max      int // per IP; 0: no cap
	mu       sync.Mutex
	perIP    map[string]int
	refusing atomic.Int32
}

func (s *Server) newConnListener(ln net.Listener) *connListener {
	max := s.cfg.MaxConnsPerIP
	if max < 0 {
		max = 0
	}
	return &connListener{Listener: ln, s: s, max: max, perIP: map[string]int{}}
}

// Accept returns the next connection under the per-IP cap. A connection
// over it gets a 503 SlowDown and is closed, in its own goroutine.
func (l *connListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if !l.acquire(ip) {
			l.s.metrics.observe(opConnRefused, fasthttp.StatusServiceUnavailable, 0, 0, 0)
			if l.refusing.Add(1) > maxRefusing {
				l.refusing.Add(-1)
				c.Close()
				continue
			}
			go func() {
				defer l.refusing.Add(-1)
				l.s.refuseConn(c)
			}()
			continue
		}
		cc := &conn{Conn: c, l: l, ip: ip, stall: l.s.cfg.BodyStallTimeout}
		if tc, ok := c.(*tls.Conn); ok {
			return &tlsConn{cc, tc}, nil
		}
		return cc, nil
	}
}

func remoteIP(c net.Conn) string {
	a := c.RemoteAddr()
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func (l *connListener) acquire(ip string) bool {
	if l.max == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] >= l.max {
		return false
	}
	l.perIP[ip]++
	return true
}

func (l *connListener) release(ip string) {
	if l.max == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuseConn answers a connection over the per-IP cap with an S3 503
// SlowDown and closes it.
func (s *Server) refuseConn(c net.Conn) {
	c.SetDeadline(time.Now().Add(refuseTimeout))
	r := &request{}
	s.setRequestID(r)
	ae := withMessage(errSlowDown, "Too many connections from your address; please reduce your request rate.")
	body, err := xmlBytes(errorResponse{Code: ae.Code, Message: ae.Message, Resource: "/", RequestID: r.id(), HostID: r.id()})
	if err == nil {
		fmt.Fprintf(c, "HTTP/1.1 %d Service Unavailable\r\nServer: %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"+
			"Connection: close\r\nx-amz-request-id: %s\r\n\r\n%s", ae.Status, serverName, len(body), r.id(), body)
	}
	lingerClose(c)
}

// conn is a served connection. While a request is being read (between
// fasthttp's StateActive and StateIdle), each read waits at most stall for
// its bytes, within the deadline fasthttp set: a body that keeps flowing
// is never cut, one that stops is.
type conn struct {
	net.Conn
	l     *connListener
	ip    string
	stall time.Duration // 0: no stall deadline

	active   atomic.Bool
	deadline atomic.Int64 // fasthttp's read deadline, Unix ns; 0: none
	linger   atomic.Bool  // unread data may remain: close lingering
	once     sync.Once
}

// tlsConn is a conn over TLS; fasthttp sees it as TLS (ctx.IsTLS).
type tlsConn struct {
	*conn
	tc *tls.Conn
}

func (c *tlsConn) Handshake() error                     { return c.tc.Handshake() }
func (c *tlsConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

func (c *conn) setDeadline(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *conn) Read(p []byte) (int, error) {
	if c.stall > 0 && c.active.Load() {
		d := time.Now().Add(c.stall).UnixNano()
		if dl := c.deadline.Load(); dl != 0 && dl < d {
			d = dl
		}
		c.Conn.SetReadDeadline(time.Unix(0, d))
	}
	return c.Conn.Read(p)
}

// Close closes the connection, lingering if unread data may remain.
func (c *conn) Close() error {
	var err error
	c.once.Do(func() {
		if c.linger.Load() {
			err = lingerClose(c.Conn)
		} else {
			err = c.Conn.Close()
		}
		c.l.release(c.ip)
	})
	return err
}

// lingerClose stops writing, reads and drops what the peer still sends
// (bounded by lingerTime and lingerBytes), then closes c.
func lingerClose(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.SetReadDeadline(time.Now().Add(lingerTime))
		io.CopyN(io.Discard, c, lingerBytes)
	}
	return c.Close()
}

// connState tracks when a connection is reading a request.
func connState(c net.Conn, st fasthttp.ConnState) {
	var cc *conn
	switch c := c.(type) {
	case *conn:
		cc = c
	case *tlsConn:
		cc = c.conn
	default:
		return
	}
	cc.active.Store(st == fasthttp.StateActive)
}

// servedConn returns ctx's connection as a *conn, or nil.
func servedConn(ctx *fasthttp.RequestCtx) *conn {
	switch c := ctx.Conn().(type) {
	case *conn:
		return c
	case *tlsConn:
		return c.conn
	}
	return nil
}

// netConn returns the network connection under ctx's: the one net.Buffers
// can writev to (a wrapper hides that from it).
func netConn(ctx *fasthttp.RequestCtx) net.Conn {
	if c := servedConn(ctx); c != nil {
		return c.Conn
	}
	return ctx.Conn()
}

// closeLingering makes the connection close after this response, lingering
// because the client may still be sending.
func closeLingering(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
	if c := servedConn(ctx); c != nil {
		c.linger.Store(true)
	}
}

// finishBody deals with the part of the request body the handler left
// unread, before the response goes out; fasthttp does not skip it (it would
// be parsed as the next request). After an error (failed), a body over
// keepAliveDrain or of unknown length is not waited for: the connection
// closes, lingering. A smaller rest, or the rest a successful handler left
// (framing), is read and dropped for up to drainWait; if it does not end,
// the connection closes.
func finishBody(ctx *fasthttp.RequestCtx, failed bool) {
	body := ctx.RequestBodyStream()
	if body == nil {
		return
	}
	n := ctx.Request.Header.ContentLength()
	if n >= 0 {
		if _, err := body.Read(nil); err == io.EOF { // read to the end: no wait
			return
		}
	}
	limit := int64(maxDiscard)
	if failed {
		if n < 0 || n > keepAliveDrain {
			closeLingering(ctx)
			return
		}
		limit = keepAliveDrain
	}
	if c := ctx.Conn(); c != nil {
		c.SetReadDeadline(time.Now().Add(drainWait))
	}
	if _, err := io.CopyN(io.Discard, body, limit+1); err != io.EOF {
		closeLingering(ctx)
	}
}
