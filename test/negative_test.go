package test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lsmstore/lsmstore/sigv4"
)

// rawClient sends hand-built, SigV4-signed requests with net/http.
type rawClient struct {
	s      *server
	signer *sigv4.Signer
	hc     *http.Client
}

func newRaw(t testing.TB, s *server) *rawClient {
	tr := testTransport(false)
	t.Cleanup(tr.CloseIdleConnections)
	return &rawClient{
		s:      s,
		signer: &sigv4.Signer{AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"},
		hc:     &http.Client{Transport: tr, Timeout: 60 * time.Second},
	}
}

// request builds an unsigned request; path is unescaped ("/bucket/key").
func (c *rawClient) request(t testing.TB, method, path, query string, body []byte) *http.Request {
	t.Helper()
	u := c.s.Endpoint + sigv4.EncodePath(path)
	if query != "" {
		u += "?" + query
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func message(req *http.Request) *sigv4.Message {
	return &sigv4.Message{Method: req.Method, Host: req.URL.Host, Path: req.URL.EscapedPath(), RawQuery: req.URL.RawQuery, Header: req.Header}
}

// sign signs req with signer (c.signer if nil) at time at.
func (c *rawClient) sign(req *http.Request, signer *sigv4.Signer, payload string, at time.Time) {
	if signer == nil {
		signer = c.signer
	}
	signer.Sign(message(req), payload, at)
}

// response is a received response with its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Code is the <Code> of an S3 XML error body, "" if there is none.
func (r response) Code() string {
	var e struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
	}
	if xml.Unmarshal(r.Body, &e) != nil {
		return ""
	}
	return e.Code
}

func (c *rawClient) do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// send signs (hex SHA-256 payload hash) and sends a request.
func (c *rawClient) send(t testing.TB, method, path, query string, body []byte, hdr http.Header) response {
	t.Helper()
	req := c.request(t, method, path, query, body)
	for k, v := range hdr {
		req.Header[k] = v
	}
	c.sign(req, nil, sha256hex(body), time.Now())
	return c.do(t, req)
}

// wantError checks an S3 error response: status, XML <Code>, and that the
// body is XML naming the request id.
func wantError(t testing.TB, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Fatalf("%s: %d %q, want %d %s; body %s", what, r.Status, r.Code(), status, code, r.Body)
	}
	if !strings.Contains(r.Header.Get("Content-Type"), "xml") || r.Header.Get("X-Amz-Request-Id") == "" {
		t.Fatalf("%s: Content-Type %q request id %q", what, r.Header.Get("Content-Type"), r.Header.Get("X-Amz-Request-Id"))
	}
	if !bytes.Contains(r.Body, []byte("<RequestId>"+r.Header.Get("X-Amz-Request-Id")+"</RequestId>")) {
		t.Fatalf("%s: error body does not carry the request id: %s", what, r.Body)
	}
}

// head returns the status and ETag of a signed HEAD.
func (c *rawClient) head(t testing.TB, path string) (int, string) {
	t.Helper()
	r := c.send(t, "HEAD", path, "", nil, nil)
	return r.Status, r.Header.Get("ETag")
}

// wantAbsent checks that nothing is stored at path.
func (c *rawClient) wantAbsent(t testing.TB, what, path string) {
	t.Helper()
	if st, _ := c.head(t, path); st != 404 {
		t.Fatalf("%s: HEAD %s = %d after a rejected write, want 404", what, path, st)
	}
}

// wantObject checks that path holds exactly data.
func (c *rawClient) wantObject(t testing.TB, what, path string, data []byte) {
	t.Helper()
	r := c.send(t, "GET", path, "", nil, nil)
	if r.Status != 200 || !bytes.Equal(r.Body, data) || r.Header.Get("ETag") != `"`+md5hex(data)+`"` {
		t.Fatalf("%s: GET %s = %d, %d bytes, ETag %s: the earlier object changed", what, path, r.Status, len(r.Body), r.Header.Get("ETag"))
	}
}

func b64md5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// streamBody signs req for an aws-chunked upload of data and returns the
// framed body, for tampering.
func (c *rawClient) streamBody(t testing.TB, req *http.Request, data []byte, opt sigv4.StreamOptions) []byte {
	t.Helper()
	rd, n := c.signer.SignStreaming(message(req), bytes.NewReader(data), int64(len(data)), opt, time.Now())
	framed, err := io.ReadAll(rd)
	if err != nil || int64(len(framed)) != n {
		t.Fatalf("framing: %v, %d of %d bytes", err, len(framed), n)
	}
	req.Header.Del("Content-Length")
	return framed
}

func (c *rawClient) sendFramed(t testing.TB, req *http.Request, framed []byte) response {
	t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(framed))
	req.ContentLength = int64(len(framed))
	req.GetBody = nil
	return c.do(t, req)
}

// rawExchange writes raw bytes on a fresh connection, optionally half-closes
// it, and returns what the server answered until it closed the connection or
// went quiet for 5 s. A reset connection counts as closed.
func rawExchange(t testing.TB, addr string, data []byte, halfClose bool) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		conn.(*net.TCPConn).CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(conn)
	return string(out)
}

// requestBytes serialises a request (headers as given, no Go defaults).
func requestBytes(req *http.Request, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.URL.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}

func TestNegative(t *testing.T) {
	s := startServer(t)
	c := newRaw(t, s)
	const bucket = "negative"
	if r := c.send(t, "PUT", "/"+bucket, "", nil, nil); r.Status != 200 {
		t.Fatalf("create bucket: %d %s", r.Status, r.Body)
	}
	data := fastRand(501, 200<<10+3)
	// existing is an object every overwrite attempt below must leave intact.
	existing := "/" + bucket + "/files/existing"
	if r := c.send(t, "PUT", existing, "", data, nil); r.Status != 200 {
		t.Fatalf("put: %d %s", r.Status, r.Body)
	}
	other := fastRand(502, 100<<10)

	t.Run("wrong-signature", func(t *testing.T) {
		for _, path := range []string{"/" + bucket + "/files/badsig", existing} {
			req := c.request(t, "PUT", path, "", other)
			c.sign(req, nil, sha256hex(other), time.Now())
			a := req.Header.Get("Authorization")
			last := a[len(a)-1]
			flip := byte('0')
			if last == '0' {
				flip = '1'
			}
			req.Header.Set("Authorization", a[:len(a)-1]+string(flip))
			wantError(t, "tampered signature", c.do(t, req), 403, "SignatureDoesNotMatch")
			// Signed with the wrong secret.
			req = c.request(t, "PUT", path, "", other)
			c.sign(req, &sigv4.Signer{AccessKey: accessKey, SecretKey: "not-the-secret", Region: "us-east-1"}, sha256hex(other), time.Now())
			wantError(t, "wrong secret", c.do(t, req), 403, "SignatureDoesNotMatch")
			// A signed header changed after signing.
			req = c.request(t, "PUT", path, "", other)
			req.Header.Set("X-Amz-Meta-Owner", "alice")
			c.sign(req, nil, sha256hex(other), time.Now())
			req.Header.Set("X-Amz-Meta-Owner", "mallory")
			wantError(t, "changed signed header", c.do(t, req), 403, "SignatureDoesNotMatch")
		}
		c.wantAbsent(t, "wrong signature", "/"+bucket+"/files/badsig")
		c.wantObject(t, "wrong signature", existing, data)
	})

	t.Run("unknown-access-key", func(t *testing.T) {
		req := c.request(t, "PUT", "/"+bucket+"/files/unknown-ak", "", other)
		c.sign(req, &sigv4.Signer{AccessKey: "AKIANOSUCHKEY", SecretKey: secretKey, Region: "us-east-1"}, sha256hex(other), time.Now())
		wantError(t, "unknown access key", c.do(t, req), 403, "InvalidAccessKeyId")
		c.wantAbsent(t, "unknown access key", "/"+bucket+"/files/unknown-ak")
		req = c.request(t, "GET", existing, "", nil)
		c.sign(req, &sigv4.Signer{AccessKey: "AKIANOSUCHKEY", SecretKey: secretKey, Region: "us-east-1"}, sigv4.EmptySHA256, time.Now())
		wantError(t, "unknown access key GET", c.do(t, req), 403, "InvalidAccessKeyId")
	})

	t.Run("presigned", func(t *testing.T) {
		// Valid presigned GET works, without any header auth.
		req := c.request(t, "GET", existing, "", nil)
		req.URL.RawQuery = c.signer.Presign(message(req), 10*time.Minute, time.Now())
		r := c.do(t, req)
		if r.Status != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("presigned GET: %d, %d bytes", r.Status, len(r.Body))
		}
		// Expired.
		req = c.request(t, "GET", existing, "", nil)
		req.URL.RawQuery = c.signer.Presign(message(req), time.Hour, time.Now().Add(-2*time.Hour))
		wantError(t, "expired presigned GET", c.do(t, req), 403, "AccessDenied")
		req = c.request(t, "PUT", "/"+bucket+"/files/presigned-expired", "", other)
		req.URL.RawQuery = c.signer.Presign(message(req), time.Minute, time.Now().Add(-10*time.Minute))
		wantError(t, "expired presigned PUT", c.do(t, req), 403, "AccessDenied")
		c.wantAbsent(t, "expired presigned PUT", "/"+bucket+"/files/presigned-expired")
		req = c.request(t, "PUT", existing, "", other)
		req.URL.RawQuery = c.signer.Presign(message(req), time.Minute, time.Now().Add(-10*time.Minute))
		wantError(t, "expired presigned overwrite", c.do(t, req), 403, "AccessDenied")
		c.wantObject(t, "expired presigned overwrite", existing, data)
		// Tampered presigned signature.
		req = c.request(t, "GET", existing, "", nil)
		q := c.signer.Presign(message(req), 10*time.Minute, time.Now())
		req.URL.RawQuery = q[:len(q)-4] + "0000"
		if strings.HasSuffix(q, "0000") {
			req.URL.RawQuery = q[:len(q)-4] + "1111"
		}
		wantError(t, "tampered presigned GET", c.do(t, req), 403, "SignatureDoesNotMatch")
		// A valid presigned PUT stores the object.
		req = c.request(t, "PUT", "/"+bucket+"/files/presigned-ok", "", other)
		req.URL.RawQuery = c.signer.Presign(message(req), 10*time.Minute, time.Now())
		if r := c.do(t, req); r.Status != 200 {
			t.Fatalf("presigned PUT: %d %s", r.Status, r.Body)
		}
		c.wantObject(t, "presigned PUT", "/"+bucket+"/files/presigned-ok", other)
	})

	t.Run("clock-skew", func(t *testing.T) {
		for _, off := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
			req := c.request(t, "PUT", "/"+bucket+"/files/skewed", "", other)
			c.sign(req, nil, sha256hex(other), time.Now().Add(off))
			wantError(t, fmt.Sprintf("request dated %v off", off), c.do(t, req), 403, "RequestTimeTooSkewed")
			req = c.request(t, "PUT", existing, "", other)
			c.sign(req, nil, sha256hex(other), time.Now().Add(off))
			wantError(t, fmt.Sprintf("overwrite dated %v off", off), c.do(t, req), 403, "RequestTimeTooSkewed")
		}
		c.wantAbsent(t, "skewed", "/"+bucket+"/files/skewed")
		c.wantObject(t, "skewed", existing, data)
		// 5 minutes off is within S3's 15 minute window.
		req := c.request(t, "GET", existing, "", nil)
		c.sign(req, nil, sigv4.EmptySHA256, time.Now().Add(-5*time.Minute))
		if r := c.do(t, req); r.Status != 200 {
			t.Fatalf("request 5 minutes old: %d %s", r.Status, r.Body)
		}
	})

	t.Run("tampered-chunk-signature", func(t *testing.T) {
		for _, path := range []string{"/" + bucket + "/files/chunk-tampered", existing} {
			// Flip one hex digit of the second chunk's signature.
			req := c.request(t, "PUT", path, "", nil)
			framed := c.streamBody(t, req, other, sigv4.StreamOptions{})
			idx := bytes.Index(framed, []byte(";chunk-signature="))
			idx = bytes.Index(framed[idx+1:], []byte(";chunk-signature=")) + idx + 1
			pos := idx + len(";chunk-signature=") + 10
			framed[pos] = "01"[b2i(framed[pos] == '0')]
			wantError(t, "tampered chunk signature", c.sendFramed(t, req, framed), 403, "SignatureDoesNotMatch")
			// Change a data byte of the last data chunk, signatures intact.
			req = c.request(t, "PUT", path, "", nil)
			framed = c.streamBody(t, req, other, sigv4.StreamOptions{})
			framed[len(framed)-200] ^= 1
			wantError(t, "tampered chunk data", c.sendFramed(t, req, framed), 403, "SignatureDoesNotMatch")
			// Tamper the final (0-size) chunk's signature.
			req = c.request(t, "PUT", path, "", nil)
			framed = c.streamBody(t, req, other, sigv4.StreamOptions{})
			last := bytes.LastIndex(framed, []byte("0;chunk-signature=")) + len("0;chunk-signature=")
			framed[last] = "01"[b2i(framed[last] == '0')]
			wantError(t, "tampered final chunk signature", c.sendFramed(t, req, framed), 403, "SignatureDoesNotMatch")
		}
		c.wantAbsent(t, "tampered chunks", "/"+bucket+"/files/chunk-tampered")
		c.wantObject(t, "tampered chunks", existing, data)
		// The untampered framing is accepted.
		req := c.request(t, "PUT", "/"+bucket+"/files/chunk-ok", "", nil)
		framed := c.streamBody(t, req, other, sigv4.StreamOptions{})
		if r := c.sendFramed(t, req, framed); r.Status != 200 {
			t.Fatalf("valid streaming PUT: %d %s", r.Status, r.Body)
		}
		c.wantObject(t, "streaming PUT", "/"+bucket+"/files/chunk-ok", other)
	})

	t.Run("truncated-chunked-body", func(t *testing.T) {
		for _, path := range []string{"/" + bucket + "/files/truncated", existing} {
			req := c.request(t, "PUT", path, "", nil)
			framed := c.streamBody(t, req, other, sigv4.StreamOptions{})
			req.Header.Set("Connection", "close")
			// Headers announce the full framed length; half the body arrives,
			// then the client closes its side.
			raw := requestBytes(req, framed)
			raw = raw[:len(raw)-len(framed)/2]
			out := rawExchange(t, s.Addr, raw, true)
			if out != "" {
				status, _, _ := strings.Cut(out, "\r\n")
				if !strings.HasPrefix(status, "HTTP/1.1 400") || !strings.Contains(out, "<Code>IncompleteBody</Code>") {
					t.Fatalf("truncated chunked body answered %q", out)
				}
			}
			// A plain (unsigned-payload) body cut short.
			req = c.request(t, "PUT", path, "", nil)
			req.Header.Set("Connection", "close")
			c.sign(req, nil, sigv4.UnsignedPayload, time.Now())
			raw = requestBytes(req, other)
			raw = raw[:len(raw)-1000]
			out = rawExchange(t, s.Addr, raw, true)
			if out != "" {
				if !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, "<Code>IncompleteBody</Code>") {
					t.Fatalf("truncated plain body answered %q", out)
				}
			}
		}
		c.wantAbsent(t, "truncated body", "/"+bucket+"/files/truncated")
		c.wantObject(t, "truncated body", existing, data)
	})

	t.Run("chunk-framing", func(t *testing.T) {
		// A chunk-size line longer than any real one.
		for _, tc := range []struct {
			name, line string
		}{
			{"long-line", "400;" + strings.Repeat("x", 8<<10)},
			{"huge-size", "fffffffffff"},
			{"not-hex", "zz"},
		} {
			req := c.request(t, "PUT", "/"+bucket+"/files/framing-"+tc.name, "", nil)
			req.Header.Set("X-Amz-Decoded-Content-Length", "1024")
			c.sign(req, nil, sigv4.StreamingUnsignedTrailer, time.Now())
			body := []byte(tc.line + "\r\n" + strings.Repeat("a", 1024) + "\r\n0\r\n\r\n")
			r := c.sendFramed(t, req, body)
			wantError(t, tc.name, r, 400, "InvalidArgument")
			c.wantAbsent(t, tc.name, "/"+bucket+"/files/framing-"+tc.name)
		}
		// Chunks adding up to more, or less, than X-Amz-Decoded-Content-Length.
		for _, declared := range []string{"1000", "2000"} {
			path := "/" + bucket + "/files/framing-declared-" + declared
			req := c.request(t, "PUT", path, "", nil)
			req.Header.Set("X-Amz-Decoded-Content-Length", declared)
			c.sign(req, nil, sigv4.StreamingUnsignedTrailer, time.Now())
			body := []byte("400\r\n" + strings.Repeat("a", 1024) + "\r\n0\r\n\r\n")
			wantError(t, "1024 framed bytes declared as "+declared, c.sendFramed(t, req, body), 400, "IncompleteBody")
			c.wantAbsent(t, "declared length mismatch", path)
		}
	})

	t.Run("bad-content-md5", func(t *testing.T) {
		for _, path := range []string{"/" + bucket + "/files/badmd5", existing} {
			r := c.send(t, "PUT", path, "", other, http.Header{"Content-Md5": {b64md5(data)}})
			wantError(t, "wrong Content-MD5", r, 400, "BadDigest")
			r = c.send(t, "PUT", path, "", other, http.Header{"Content-Md5": {"not-base64!"}})
			wantError(t, "malformed Content-MD5", r, 400, "InvalidDigest")
		}
		c.wantAbsent(t, "bad Content-MD5", "/"+bucket+"/files/badmd5")
		c.wantObject(t, "bad Content-MD5", existing, data)
		// Wrong Content-MD5 on an UploadPart, on a streaming PUT.
		req := c.request(t, "PUT", "/"+bucket+"/files/badmd5-stream", "", nil)
		req.Header.Set("Content-Md5", b64md5(data))
		framed := c.streamBody(t, req, other, sigv4.StreamOptions{})
		wantError(t, "streaming PUT with wrong Content-MD5", c.sendFramed(t, req, framed), 400, "BadDigest")
		c.wantAbsent(t, "streaming bad Content-MD5", "/"+bucket+"/files/badmd5-stream")
	})

	t.Run("payload-hash-mismatch", func(t *testing.T) {
		for _, path := range []string{"/" + bucket + "/files/badsha", existing} {
			req := c.request(t, "PUT", path, "", other)
			c.sign(req, nil, sha256hex(data), time.Now())
			wantError(t, "x-amz-content-sha256 of other bytes", c.do(t, req), 400, "XAmzContentSHA256Mismatch")
		}
		c.wantAbsent(t, "payload hash mismatch", "/"+bucket+"/files/badsha")
		c.wantObject(t, "payload hash mismatch", existing, data)
	})

	t.Run("bad-checksum", func(t *testing.T) {
		for _, path := range []string{"/" + bucket + "/files/badtrailer", existing} {
			// Unsigned trailer with a wrong CRC32 value.
			req := c.request(t, "PUT", path, "", nil)
			framed := c.streamBody(t, req, other, sigv4.StreamOptions{Unsigned: true, Trailer: sigv4.CRC32})
			good := checksumOf("CRC32", other)
			bad := checksumOf("CRC32", data)
			framed = bytes.Replace(framed, []byte("x-amz-checksum-crc32:"+good), []byte("x-amz-checksum-crc32:"+bad), 1)
			wantError(t, "wrong CRC32 trailer", c.sendFramed(t, req, framed), 400, "BadDigest")
			// CRC64NVME trailer.
			req = c.request(t, "PUT", path, "", nil)
			framed = c.streamBody(t, req, other, sigv4.StreamOptions{Unsigned: true, Trailer: sigv4.CRC64NVME})
			framed = bytes.Replace(framed, []byte(checksumOf("CRC64NVME", other)), []byte(checksumOf("CRC64NVME", data)), 1)
			wantError(t, "wrong CRC64NVME trailer", c.sendFramed(t, req, framed), 400, "BadDigest")
			// Signed trailer: changing the value breaks the trailer signature.
			req = c.request(t, "PUT", path, "", nil)
			framed = c.streamBody(t, req, other, sigv4.StreamOptions{Trailer: sigv4.CRC32C})
			framed = bytes.Replace(framed, []byte(checksumOf("CRC32C", other)), []byte(checksumOf("CRC32C", data)), 1)
			wantError(t, "signed trailer with a changed value", c.sendFramed(t, req, framed), 403, "SignatureDoesNotMatch")
			// A checksum header that does not match.
			r := c.send(t, "PUT", path, "", other, http.Header{"X-Amz-Checksum-Crc32": {bad}})
			wantError(t, "wrong x-amz-checksum-crc32 header", r, 400, "BadDigest")
			r = c.send(t, "PUT", path, "", other, http.Header{"X-Amz-Checksum-Sha256": {checksumOf("SHA256", data)}})
			wantError(t, "wrong x-amz-checksum-sha256 header", r, 400, "BadDigest")
		}
		c.wantAbsent(t, "bad checksum", "/"+bucket+"/files/badtrailer")
		c.wantObject(t, "bad checksum", existing, data)
	})

	t.Run("malformed-complete", func(t *testing.T) {
		key := "/" + bucket + "/files/mpu-malformed"
		r := c.send(t, "POST", key, "uploads=", nil, nil)
		var init struct {
			UploadID string `xml:"UploadId"`
		}
		if r.Status != 200 || xml.Unmarshal(r.Body, &init) != nil || init.UploadID == "" {
			t.Fatalf("create upload: %d %s", r.Status, r.Body)
		}
		q := "uploadId=" + init.UploadID
		part := []byte("the only part")
		r = c.send(t, "PUT", key, "partNumber=1&"+q, part, nil)
		if r.Status != 200 {
			t.Fatalf("upload part: %d %s", r.Status, r.Body)
		}
		etag := r.Header.Get("ETag")
		for _, body := range []string{
			"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
			"not xml at all",
			"<CompleteMultipartUpload></CompleteMultipartUpload>",
			"<Delete><Object><Key>x</Key></Object></Delete>",
		} {
			r = c.send(t, "POST", key, q, []byte(body), nil)
			wantError(t, "complete with "+body, r, 400, "MalformedXML")
		}
		c.wantAbsent(t, "malformed complete", key)
		// The upload is still usable.
		good := "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + etag + "</ETag></Part></CompleteMultipartUpload>"
		r = c.send(t, "POST", key, q, []byte(good), nil)
		if r.Status != 200 || !bytes.Contains(r.Body, []byte("<Bucket>"+bucket+"</Bucket>")) {
			t.Fatalf("complete after malformed attempts: %d %s", r.Status, r.Body)
		}
		r = c.send(t, "GET", key, "", nil, nil)
		if r.Status != 200 || !bytes.Equal(r.Body, part) || r.Header.Get("ETag") != `"`+multipartETag(part)+`"` {
			t.Fatalf("GET after complete: %d %q ETag %s", r.Status, r.Body, r.Header.Get("ETag"))
		}
	})

	t.Run("malformed-delete-objects", func(t *testing.T) {
		victims := []string{"files/del/a", "files/del/b"}
		for _, k := range victims {
			if r := c.send(t, "PUT", "/"+bucket+"/"+k, "", []byte(k), nil); r.Status != 200 {
				t.Fatalf("put: %d", r.Status)
			}
		}
		for _, body := range []string{
			"<Delete><Object><Key>files/del/a</Key></Object>",
			"<Delete><Object><Key>files/del/a</Key></Object><Object><Key>files/del/b</Key></Object></Delete>trailing<",
			"<Delete></Delete>",
			"garbage",
		} {
			r := c.send(t, "POST", "/"+bucket, "delete=", []byte(body), http.Header{"Content-Md5": {b64md5([]byte(body))}})
			wantError(t, "DeleteObjects with "+body, r, 400, "MalformedXML")
		}
		// 1001 keys, including the victims.
		var b strings.Builder
		b.WriteString("<Delete><Quiet>true</Quiet>")
		for i := 0; i < 1001; i++ {
			k := fmt.Sprintf("files/del/x%04d", i)
			if i < len(victims) {
				k = victims[i]
			}
			fmt.Fprintf(&b, "<Object><Key>%s</Key></Object>", k)
		}
		b.WriteString("</Delete>")
		r := c.send(t, "POST", "/"+bucket, "delete=", []byte(b.String()), http.Header{"Content-Md5": {b64md5([]byte(b.String()))}})
		wantError(t, "DeleteObjects with 1001 keys", r, 400, "MalformedXML")
		for _, k := range victims {
			c.wantObject(t, "rejected DeleteObjects", "/"+bucket+"/"+k, []byte(k))
		}
		// Wrong Content-MD5 on a valid delete: nothing deleted.
		body := "<Delete><Object><Key>files/del/a</Key></Object></Delete>"
		r = c.send(t, "POST", "/"+bucket, "delete=", []byte(body), http.Header{"Content-Md5": {b64md5([]byte("other"))}})
		wantError(t, "DeleteObjects with a wrong Content-MD5", r, 400, "BadDigest")
		c.wantObject(t, "DeleteObjects with a wrong Content-MD5", "/"+bucket+"/files/del/a", []byte("files/del/a"))
	})

	t.Run("key-too-long", func(t *testing.T) {
		long := "files/" + strings.Repeat("k", 1025-len("files/"))
		r := c.send(t, "PUT", "/"+bucket+"/"+long, "", other, nil)
		wantError(t, "1025-byte key", r, 400, "KeyTooLongError")
		r = c.send(t, "GET", "/"+bucket, "list-type=2&prefix=files/kkk", nil, nil)
		if r.Status != 200 || bytes.Contains(r.Body, []byte("<Key>")) {
			t.Fatalf("listing after a rejected long key: %d %s", r.Status, r.Body)
		}
		// 1024 bytes is the limit and allowed.
		ok := long[:1024]
		if r := c.send(t, "PUT", "/"+bucket+"/"+ok, "", other, nil); r.Status != 200 {
			t.Fatalf("1024-byte key: %d %s", r.Status, r.Body)
		}
		c.wantObject(t, "1024-byte key", "/"+bucket+"/"+ok, other)
		// Multi-byte: 342 three-byte runes = 1026 bytes.
		r = c.send(t, "PUT", "/"+bucket+"/"+strings.Repeat("語", 342), "", other, nil)
		wantError(t, "1026-byte UTF-8 key", r, 400, "KeyTooLongError")
	})

	t.Run("metadata-too-large", func(t *testing.T) {
		for _, path := range []string{"/" + bucket + "/files/bigmeta", existing} {
			h := http.Header{}
			for i := 0; i < 3; i++ {
				h.Set(fmt.Sprintf("X-Amz-Meta-Field%d", i), strings.Repeat("v", 1000))
			}
			r := c.send(t, "PUT", path, "", other, h)
			wantError(t, "3 KB of user metadata", r, 400, "MetadataTooLarge")
		}
		c.wantAbsent(t, "metadata too large", "/"+bucket+"/files/bigmeta")
		c.wantObject(t, "metadata too large", existing, data)
		r := c.send(t, "POST", "/"+bucket+"/files/bigmeta-mpu", "uploads=", nil, http.Header{"X-Amz-Meta-Big": {strings.Repeat("v", 3000)}})
		wantError(t, "CreateMultipartUpload with 3 KB of metadata", r, 400, "MetadataTooLarge")
		h := http.Header{"X-Amz-Meta-Small": {strings.Repeat("v", 1500)}}
		if r := c.send(t, "PUT", "/"+bucket+"/files/okmeta", "", other, h); r.Status != 200 {
			t.Fatalf("1.5 KB of metadata: %d %s", r.Status, r.Body)
		}
	})

	t.Run("not-implemented", func(t *testing.T) {
		for _, tc := range []struct{ method, path, query string }{
			{"GET", existing, "tagging="},
			{"PUT", existing, "tagging="},
			{"DELETE", existing, "tagging="},
			{"GET", "/" + bucket, "versioning="},
			{"PUT", "/" + bucket, "versioning="},
			{"GET", "/" + bucket, "versions="},
			{"GET", "/" + bucket, "lifecycle="},
			{"PUT", "/" + bucket, "website="},
			{"PUT", existing, "acl="},
			{"PUT", "/" + bucket, "replication="},
			{"GET", existing, "versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY"},
		} {
			var body []byte
			if tc.method == "PUT" {
				body = []byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`)
			}
			r := c.send(t, tc.method, tc.path, tc.query, body, nil)
			wantError(t, tc.method+" "+tc.path+"?"+tc.query, r, 501, "NotImplemented")
		}
		c.wantObject(t, "tagging/versioning requests", existing, data)
		if st, _ := c.head(t, "/"+bucket); st != 200 {
			t.Fatalf("bucket gone: %d", st)
		}
	})

	t.Run("bucket-config", func(t *testing.T) {
		for _, tc := range []struct {
			query, body, code string
			status            int
		}{
			{"policy=", `<Tagging/>`, "MalformedPolicy", 400},
			{"policy=", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}`, "MalformedPolicy", 400},
			{"policy=", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`, "NotImplemented", 501},
			{"policy=", `{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("s", 21<<10) + `"}]}`, "PolicyTooLarge", 400},
			{"cors=", `<CORSConfiguration><CORSRule>`, "MalformedXML", 400},
			{"cors=", `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>`, "InvalidRequest", 400},
		} {
			r := c.send(t, "PUT", "/"+bucket, tc.query, []byte(tc.body), nil)
			wantError(t, "PUT ?"+tc.query+" "+tc.body[:min(len(tc.body), 40)], r, tc.status, tc.code)
		}
		if r := c.send(t, "GET", "/"+bucket, "policy=", nil, nil); r.Status != 404 {
			t.Fatalf("a refused policy was stored: %d %s", r.Status, r.Body)
		}
		if r := c.send(t, "GET", "/"+bucket, "cors=", nil, nil); r.Status != 404 {
			t.Fatalf("a refused CORS configuration was stored: %d %s", r.Status, r.Body)
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			body         []byte
		}{
			{"GET", existing, nil},
			{"PUT", "/" + bucket + "/files/anon", other},
			{"PUT", existing, other},
			{"DELETE", existing, nil},
			{"GET", "/" + bucket, nil},
			{"GET", "/", nil},
			{"PUT", "/anon-bucket", nil},
			{"GET", "/minio/admin/v3/info", nil},
		} {
			req := c.request(t, tc.method, tc.path, "", tc.body)
			wantError(t, "anonymous "+tc.method+" "+tc.path, c.do(t, req), 403, "AccessDenied")
		}
		// Anonymous HEAD: 403 with no body.
		req := c.request(t, "HEAD", existing, "", nil)
		if r := c.do(t, req); r.Status != 403 || len(r.Body) != 0 {
			t.Fatalf("anonymous HEAD: %d %q", r.Status, r.Body)
		}
		c.wantAbsent(t, "anonymous PUT", "/"+bucket+"/files/anon")
		c.wantObject(t, "anonymous overwrite/delete", existing, data)
		if st, _ := c.head(t, "/anon-bucket"); st != 404 {
			t.Fatalf("anonymous CreateBucket created it: %d", st)
		}
	})

	t.Run("invalid-part-number", func(t *testing.T) {
		key := "/" + bucket + "/files/mpu-partnum"
		r := c.send(t, "POST", key, "uploads=", nil, nil)
		var init struct {
			UploadID string `xml:"UploadId"`
		}
		if r.Status != 200 || xml.Unmarshal(r.Body, &init) != nil {
			t.Fatalf("create upload: %d %s", r.Status, r.Body)
		}
		for _, pn := range []string{"0", "10001", "-1", "abc", "1.5", ""} {
			r := c.send(t, "PUT", key, "partNumber="+pn+"&uploadId="+init.UploadID, []byte("part"), nil)
			wantError(t, "partNumber="+pn, r, 400, "InvalidArgument")
		}
		r = c.send(t, "GET", key, "uploadId="+init.UploadID, nil, nil)
		if r.Status != 200 || bytes.Contains(r.Body, []byte("<Part>")) {
			t.Fatalf("ListParts after rejected parts: %d %s", r.Status, r.Body)
		}
		// GET ?partNumber out of range.
		r = c.send(t, "GET", existing, "partNumber=0", nil, nil)
		wantError(t, "GET partNumber=0", r, 400, "InvalidArgument")
		// A bogus upload id.
		r = c.send(t, "PUT", key, "partNumber=1&uploadId=bogus", []byte("part"), nil)
		wantError(t, "UploadPart with a bogus upload id", r, 404, "NoSuchUpload")
	})

	t.Run("connection-reuse-after-errors", func(t *testing.T) {
		// An error answered before the body was read must not leave the rest
		// of that body on the connection to be parsed as the next request.
		get := c.request(t, "GET", existing, "", nil)
		c.sign(get, nil, sigv4.EmptySHA256, time.Now())
		getRaw := requestBytes(get, nil)
		cases := map[string]func() []byte{
			"412-if-none-match": func() []byte {
				req := c.request(t, "PUT", existing, "", other)
				req.Header.Set("If-None-Match", "*")
				c.sign(req, nil, sha256hex(other), time.Now())
				return requestBytes(req, other)
			},
			"403-bad-signature": func() []byte {
				req := c.request(t, "PUT", existing, "", other)
				c.sign(req, &sigv4.Signer{AccessKey: accessKey, SecretKey: "wrong", Region: "us-east-1"}, sha256hex(other), time.Now())
				return requestBytes(req, other)
			},
			"400-metadata": func() []byte {
				req := c.request(t, "PUT", existing, "", other)
				req.Header.Set("X-Amz-Meta-Big", strings.Repeat("v", 3000))
				c.sign(req, nil, sha256hex(other), time.Now())
				return requestBytes(req, other)
			},
			"404-no-such-upload": func() []byte {
				req := c.request(t, "PUT", existing, "partNumber=1&uploadId=bogus", other)
				c.sign(req, nil, sha256hex(other), time.Now())
				return requestBytes(req, other)
			},
			"501-tagging": func() []byte {
				req := c.request(t, "PUT", existing, "tagging=", other)
				c.sign(req, nil, sha256hex(other), time.Now())
				return requestBytes(req, other)
			},
		}
		for name, mk := range cases {
			conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := conn.Write(append(mk(), getRaw...)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			br := bufio.NewReader(conn)
			first, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: first response: %v", name, err)
			}
			io.Copy(io.Discard, first.Body)
			first.Body.Close()
			if first.StatusCode < 400 {
				t.Fatalf("%s: first request answered %d", name, first.StatusCode)
			}
			if first.Close {
				// The server may close instead of draining; then the second
				// request must not have been answered at all.
				rest, _ := io.ReadAll(br)
				if len(rest) != 0 {
					t.Fatalf("%s: data after Connection: close: %q", name, rest)
				}
				conn.Close()
				continue
			}
			second, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: second response on a kept-alive connection: %v", name, err)
			}
			body, err := io.ReadAll(second.Body)
			second.Body.Close()
			conn.Close()
			if err != nil || second.StatusCode != 200 || !bytes.Equal(body, data) {
				t.Fatalf("%s: the next request on the connection got %d %q (%v)", name, second.StatusCode, trim(body), err)
			}
		}
		c.wantObject(t, "connection reuse", existing, data)
	})
}

func trim(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestHealthAndAdmin(t *testing.T) {
	s := startServer(t)
	c := newRaw(t, s)
	for _, p := range []string{"/minio/health/live", "/minio/health/ready"} {
		for _, m := range []string{"GET", "HEAD"} {
			req := c.request(t, m, p, "", nil)
			r := c.do(t, req)
			if r.Status != 200 {
				t.Fatalf("%s %s without auth: %d %s", m, p, r.Status, r.Body)
			}
		}
	}
	r := c.send(t, "GET", "/minio/admin/v3/info", "", nil, nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("admin info: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var info struct {
		Mode    string `json:"mode"`
		Servers []struct {
			State    string `json:"state"`
			Endpoint string `json:"endpoint"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(r.Body, &info); err != nil {
		t.Fatalf("admin info is not JSON: %v: %s", err, r.Body)
	}
	if len(info.Servers) == 0 || info.Servers[0].State != "online" {
		t.Fatalf("admin info servers: %+v", info.Servers)
	}
	// Signed with a wrong key, the admin API refuses.
	req := c.request(t, "GET", "/minio/admin/v3/info", "", nil)
	c.sign(req, &sigv4.Signer{AccessKey: accessKey, SecretKey: "wrong", Region: "us-east-1"}, sigv4.EmptySHA256, time.Now())
	wantError(t, "admin info with a wrong signature", c.do(t, req), 403, "SignatureDoesNotMatch")
}
