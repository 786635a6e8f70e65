package test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsmstore/lsmstore/sigv4"
)

// Issue 12 items 6 and 12, item 2's oversized headers and item 7's TLS
// suites: slow, unauthenticated and excessive connections and requests.

// rawConn dials s and bounds the whole exchange by d.
func rawConn(t *testing.T, s *server, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(d))
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response and its body from br.
func readResponse(t *testing.T, br *bufio.Reader, method string) response {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// signedHead returns the request line and headers of a header-signed
// request (UNSIGNED-PAYLOAD) declaring a body of n bytes, plus extra
// headers (signed too).
func signedHead(t *testing.T, rc *rawClient, method, path string, n int, extra map[string]string) string {
	t.Helper()
	req := rc.request(t, method, path, "", nil)
	req.Header.Set("Content-Length", strconv.Itoa(n))
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	rc.sign(req, nil, sigv4.UnsignedPayload, time.Now())
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, req.URL.RequestURI(), req.URL.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func makeBucket(t *testing.T, rc *rawClient, bucket string) {
	t.Helper()
	req := rc.request(t, "PUT", "/"+bucket, "", nil)
	rc.sign(req, nil, sigv4.EmptySHA256, time.Now())
	if r := rc.do(t, req); r.Status != 200 {
		t.Fatalf("create bucket: %d %s", r.Status, r.Body)
	}
}

// An unsigned PUT declaring 32 MiB gets its 403 at once, whether it sends
// no body at all or keeps sending one (the response must not be lost to a
// TCP reset when the server closes with unread data). A small unsigned
// body is drained and the connection kept.
func TestConnUnsignedLargePutAnsweredAtOnce(t *testing.T) {
	s := startServer(t)
	rc := newRaw(t, s)
	makeBucket(t, rc, "conn-put")
	head := "PUT /conn-put/k HTTP/1.1\r\nHost: " + s.Addr + "\r\nContent-Length: 33554432\r\n\r\n"

	t.Run("no body", func(t *testing.T) {
		c := rawConn(t, s, 10*time.Second) // the old server waited 5 minutes
		start := time.Now()
		io.WriteString(c, head)
		br := bufio.NewReader(c)
		r := readResponse(t, br, "PUT")
		if r.Status != 403 || r.Code() != "AccessDenied" {
			t.Fatalf("got %d %s, want 403 AccessDenied", r.Status, r.Body)
		}
		t.Logf("403 after %v", time.Since(start))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after the 403: %v, want EOF (a large unread body closes the connection)", err)
		}
	})

	t.Run("body streaming", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			c := rawConn(t, s, 20*time.Second)
			io.WriteString(c, head)
			go func() { // keeps writing until the server goes away
				buf := make([]byte, 256<<10)
				for n := 0; n < 32<<20; n += len(buf) {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			r := readResponse(t, bufio.NewReader(c), "PUT")
			if r.Status != 403 || r.Code() != "AccessDenied" {
				t.Fatalf("round %d: got %d %s, want 403 AccessDenied", i, r.Status, r.Body)
			}
		}
	})

	t.Run("small body keeps the connection", func(t *testing.T) {
		c := rawConn(t, s, 10*time.Second)
		br := bufio.NewReader(c)
		for i := 0; i < 2; i++ {
			io.WriteString(c, "PUT /conn-put/k HTTP/1.1\r\nHost: "+s.Addr+"\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 1000))
			if r := readResponse(t, br, "PUT"); r.Status != 403 {
				t.Fatalf("request %d on one connection: got %d %s, want 403", i, r.Status, r.Body)
			}
		}
	})
}

// Expect: 100-continue: the server decides before it sends 100. An
// anonymous PUT (no policy) and a badly signed one get their S3 error and
// never a 100; a correctly signed one gets 100 and then its 200.
func TestConnExpectContinueDecidedFirst(t *testing.T) {
	s := startServer(t)
	rc := newRaw(t, s)
	makeBucket(t, rc, "conn-expect")
	const n = 1 << 20

	refused := func(t *testing.T, head, code string, status int) {
		c := rawConn(t, s, 10*time.Second)
		io.WriteString(c, head)
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the status line: %v", err)
		}
		if !strings.HasPrefix(line, "HTTP/1.1 "+strconv.Itoa(status)+" ") {
			t.Fatalf("first status line %q, want %d (no 100 Continue)", strings.TrimSpace(line), status)
		}
		r := readResponse(t, bufio.NewReader(io.MultiReader(strings.NewReader(line), br)), "PUT")
		if r.Code() != code {
			t.Fatalf("got %d %s, want %s", r.Status, r.Body, code)
		}
	}
	t.Run("anonymous", func(t *testing.T) {
		refused(t, "PUT /conn-expect/k HTTP/1.1\r\nHost: "+s.Addr+"\r\nContent-Length: "+strconv.Itoa(n)+"\r\nExpect: 100-continue\r\n\r\n", "AccessDenied", 403)
	})
	t.Run("bad signature", func(t *testing.T) {
		head := signedHead(t, rc, "PUT", "/conn-expect/k", n, map[string]string{"Expect": "100-continue"})
		head = strings.Replace(head, "Signature=", "Signature=0", 1)
		refused(t, head, "SignatureDoesNotMatch", 403)
	})
	t.Run("over the size cap", func(t *testing.T) {
		head := signedHead(t, rc, "PUT", "/conn-expect/k", 6<<40, map[string]string{"Expect": "100-continue"})
		refused(t, head, "EntityTooLarge", 400)
	})
	t.Run("signed", func(t *testing.T) {
		c := rawConn(t, s, 20*time.Second)
		io.WriteString(c, signedHead(t, rc, "PUT", "/conn-expect/k", n, map[string]string{"Expect": "100-continue"}))
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("first line %q, %v: want 100 Continue", line, err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("after 100: %q", blank)
		}
		c.Write(bytes.Repeat([]byte("e"), n))
		if r := readResponse(t, br, "PUT"); r.Status != 200 {
			t.Fatalf("signed PUT after 100: %d %s", r.Status, r.Body)
		}
	})
}

// Headers that trickle in are cut after --header-timeout; a body that
// stalls is cut after --body-stall-timeout; a body that keeps flowing is
// never cut, however long it takes in all.
func TestConnSlowClientsCut(t *testing.T) {
	s := startServer(t, "--header-timeout", "2s", "--body-stall-timeout", "1s")
	rc := newRaw(t, s)
	makeBucket(t, rc, "conn-slow")

	t.Run("trickled headers", func(t *testing.T) {
		c := rawConn(t, s, 15*time.Second) // the old server waited 5 minutes
		start := time.Now()
		io.WriteString(c, "GET /conn-slow HTTP/1.1\r\nHost: "+s.Addr+"\r\n")
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(300 * time.Millisecond):
				}
				if _, err := io.WriteString(c, "X"); err != nil {
					return
				}
			}
		}()
		r := readResponse(t, bufio.NewReader(c), "GET")
		if r.Status != 400 || r.Code() != "RequestTimeout" {
			t.Fatalf("got %d %s, want 400 RequestTimeout", r.Status, r.Body)
		}
		t.Logf("cut after %v", time.Since(start))
	})

	t.Run("stalled body", func(t *testing.T) {
		c := rawConn(t, s, 15*time.Second)
		io.WriteString(c, signedHead(t, rc, "PUT", "/conn-slow/stalled", 1<<20, nil))
		c.Write(make([]byte, 100<<10))
		r := readResponse(t, bufio.NewReader(c), "PUT")
		if r.Status != 400 || r.Code() != "RequestTimeout" {
			t.Fatalf("got %d %s, want 400 RequestTimeout", r.Status, r.Body)
		}
	})

	t.Run("slow body that flows", func(t *testing.T) {
		const n, piece = 1 << 20, 64 << 10
		c := rawConn(t, s, 30*time.Second)
		io.WriteString(c, signedHead(t, rc, "PUT", "/conn-slow/flowing", n, nil))
		start := time.Now()
		for sent := 0; sent < n; sent += piece { // 16 pieces, 4.8 s: beyond both timeouts
			time.Sleep(300 * time.Millisecond)
			if _, err := c.Write(bytes.Repeat([]byte("f"), piece)); err != nil {
				t.Fatalf("after %d bytes: %v", sent, err)
			}
		}
		r := readResponse(t, bufio.NewReader(c), "PUT")
		if r.Status != 200 {
			t.Fatalf("slow PUT: %d %s", r.Status, r.Body)
		}
		t.Logf("slow body took %v", time.Since(start))
	})
}

// --max-conns-per-ip: a connection over the cap gets an S3 503 SlowDown and
// is closed; the others go on.
func TestConnPerIPCap(t *testing.T) {
	s := startServer(t, "--max-conns-per-ip", "4")
	http.DefaultClient.CloseIdleConnections() // the harness's health check
	time.Sleep(200 * time.Millisecond)
	get := "GET /minio/health/live HTTP/1.1\r\nHost: " + s.Addr + "\r\n\r\n"
	var conns []*bufio.Reader
	var cs []net.Conn
	for i := 0; i < 4; i++ {
		c := rawConn(t, s, 10*time.Second)
		io.WriteString(c, get)
		br := bufio.NewReader(c)
		if r := readResponse(t, br, "GET"); r.Status != 200 {
			t.Fatalf("connection %d: %d", i, r.Status)
		}
		conns, cs = append(conns, br), append(cs, c)
	}
	c := rawConn(t, s, 10*time.Second)
	io.WriteString(c, get)
	r := readResponse(t, bufio.NewReader(c), "GET")
	if r.Status != 503 || r.Code() != "SlowDown" {
		t.Fatalf("fifth connection: %d %s, want 503 SlowDown", r.Status, r.Body)
	}
	for i, br := range conns { // the first four still work
		io.WriteString(cs[i], get)
		if r := readResponse(t, br, "GET"); r.Status != 200 {
			t.Fatalf("connection %d after the refusal: %d", i, r.Status)
		}
	}
	cs[0].Close()
	time.Sleep(200 * time.Millisecond) // the server sees the close
	c = rawConn(t, s, 10*time.Second)
	io.WriteString(c, get)
	if r := readResponse(t, bufio.NewReader(c), "GET"); r.Status != 200 {
		t.Fatalf("a connection after one closed: %d %s", r.Status, r.Body)
	}
}

// Overload: a burst of PUTs far over --max-requests gets only 200s and 503
// SlowDowns, promptly (no client timeout), and the server's peak RSS stays
// bounded (each PUT holds at most --put-buffer of its body).
func TestConnOverloadBurst(t *testing.T) {
	s := startServer(t, "--max-requests", "4", "--request-wait", "20ms", "--put-buffer", "256KiB")
	rc := newRaw(t, s)
	makeBucket(t, rc, "conn-burst")
	const clients, each, size = 48, 4, 1 << 20
	body := bytes.Repeat([]byte("b"), size)
	tr := testTransport(false)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < each; j++ {
				req := rc.request(t, "PUT", fmt.Sprintf("/conn-burst/k%d-%d", i, j), "", body)
				rc.sign(req, nil, sigv4.UnsignedPayload, time.Now())
				resp, err := hc.Do(req)
				key := ""
				if err != nil {
					key = "error: " + err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var e struct {
						Code string `xml:"Code"`
					}
					xml.Unmarshal(b, &e)
					key = strconv.Itoa(resp.StatusCode) + " " + e.Code
				}
				mu.Lock()
				counts[key]++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	hwm := peakRSS(t, s)
	t.Logf("burst of %d PUTs of %d bytes in %v: %v; lsmd peak RSS %d MiB", clients*each, size, took, counts, hwm>>20)
	for k, n := range counts {
		if k != "200 " && k != "503 SlowDown" {
			t.Errorf("%d answers %q: want only 200 and 503 SlowDown", n, k)
		}
	}
	if counts["503 SlowDown"] == 0 || counts["200 "] == 0 {
		t.Errorf("counts %v: want both 200s and 503 SlowDowns", counts)
	}
	// The race detector's shadow memory multiplies the heap several times;
	// without -race this server peaks far lower.
	if hwm > 768<<20 {
		t.Errorf("peak RSS %d MiB: want at most 768 MiB", hwm>>20)
	}
}

// peakRSS reads VmHWM of the lsmd process.
func peakRSS(t *testing.T, s *server) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// Request headers over the 64 KiB limit get 431 with an S3 XML error, not a
// reset, even while the client is still sending them.
func TestConnOversizedHeaders(t *testing.T) {
	s := startServer(t)
	for i := 0; i < 3; i++ {
		c := rawConn(t, s, 10*time.Second)
		go io.WriteString(c, "GET /b/k HTTP/1.1\r\nHost: "+s.Addr+"\r\nX-Big: "+strings.Repeat("a", 200<<10)+"\r\n\r\n")
		r := readResponse(t, bufio.NewReader(c), "GET")
		if r.Status != 431 || r.Code() != "RequestHeaderSectionTooLarge" {
			t.Fatalf("round %d: got %d %q, want 431 RequestHeaderSectionTooLarge", i, r.Status, r.Body)
		}
	}
}

// TLS 1.2 offers AEAD suites only: a client that offers only a CBC suite
// fails the handshake; TLS 1.2 with AES-GCM and TLS 1.3 work.
func TestConnTLSSuites(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	s := &server{Dir: t.TempDir(), tls: true, HTTPClient: &http.Client{Transport: tr}}
	s.start(t, "--tls-cert", certPath, "--tls-key", keyPath)
	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		cfg.RootCAs = pool
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", s.Addr, cfg)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}
	for _, cbc := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA} {
		if c, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{cbc}}); err == nil {
			t.Errorf("a client offering only %s completed the handshake (%s)", tls.CipherSuiteName(cbc), tls.CipherSuiteName(c.ConnectionState().CipherSuite))
		}
	}
	c, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 client: %v", err)
	}
	if cs := c.ConnectionState().CipherSuite; !strings.Contains(tls.CipherSuiteName(cs), "GCM") && !strings.Contains(tls.CipherSuiteName(cs), "CHACHA20") {
		t.Errorf("TLS 1.2 suite %s is not AEAD", tls.CipherSuiteName(cs))
	}
	if _, err := dial(&tls.Config{MinVersion: tls.VersionTLS13}); err != nil {
		t.Fatalf("TLS 1.3 client: %v", err)
	}
	if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
		t.Errorf("a TLS 1.1 client completed the handshake")
	}
}
