package sigv4

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

const (
	testAK     = "AKIAIOSFODNN7EXAMPLE"
	testSK     = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
)

var testTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func testVerifier(now time.Time) *Verifier {
	return &Verifier{
		Credentials: func(ak string) (string, bool) {
			if ak == testAK {
				return testSK, true
			}
			return "", false
		},
		Now: func() time.Time { return now },
	}
}

func testSigner() *Signer {
	return &Signer{AccessKey: testAK, SecretKey: testSK, Region: testRegion}
}

// view describes a request as the server would see it. Verify and NewBody
// read it through Headers, as the server's fasthttp headers are read;
// Header and Values describe the same headers (funcView uses only those).
func view(method, host, path, rawQuery string, h http.Header) *Request {
	return &Request{
		Method:   method,
		Path:     path,
		RawQuery: rawQuery,
		Host:     host,
		Headers:  peekHeader(h),
		Header:   h.Get,
		Values:   h.Values,
		Names:    func() []string { return namesOf(h) },
	}
}

// namesOf returns the names of h.
func namesOf(h map[string][]string) []string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	return names
}

// funcView is view read through the Header and Values funcs.
func funcView(method, host, path, rawQuery string, h http.Header) *Request {
	r := view(method, host, path, rawQuery, h)
	r.Headers = nil
	return r
}

// peekHeader reads an http.Header as byte slices, like a fasthttp
// server's headers.
type peekHeader http.Header

func (h peekHeader) Peek(name string) []byte { return []byte(http.Header(h).Get(name)) }

func (h peekHeader) AppendNames(dst []byte) []byte {
	for k := range h {
		dst = append(dst, k...)
		dst = append(dst, '\n')
	}
	return dst
}

func (h peekHeader) PeekAll(name string) [][]byte {
	var out [][]byte
	for _, v := range http.Header(h).Values(name) {
		out = append(out, []byte(v))
	}
	return out
}

// httpView describes an *http.Request as it would arrive at the server.
func httpView(r *http.Request) *Request {
	h := r.Header.Clone()
	if r.ContentLength > 0 {
		h.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	return view(r.Method, r.Host, r.URL.EscapedPath(), r.URL.RawQuery, h)
}

// signHTTP signs an *http.Request in place with this package's signer.
func signHTTP(s *Signer, r *http.Request, payload string, t time.Time) {
	h := map[string][]string(r.Header)
	if r.ContentLength > 0 {
		h["Content-Length"] = []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	s.Sign(&Message{Method: r.Method, Host: r.Host, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: h}, payload, t)
	delete(h, "Content-Length")
}

func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "non-S3 error: " + err.Error()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}
