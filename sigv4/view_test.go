package sigv4

import (
	"net/http"
	"strings"
	"testing"
)

// scratchHeader is a request's headers in one buffer that a server reuses
// for the next request: every Peek is a view of it.
type scratchHeader struct {
	buf   []byte
	spans map[string][][2]int // lowercase name → value spans in buf
	all   [][]byte
}

func newScratchHeader(h http.Header) *scratchHeader {
	s := &scratchHeader{spans: map[string][][2]int{}}
	for k, vs := range h {
		for _, v := range vs {
			s.spans[strings.ToLower(k)] = append(s.spans[strings.ToLower(k)], [2]int{len(s.buf), len(s.buf) + len(v)})
			s.buf = append(s.buf, v...)
		}
	}
	return s
}

func (s *scratchHeader) Peek(name string) []byte {
	if sp := s.spans[name]; len(sp) > 0 {
		return s.buf[sp[0][0]:sp[0][1]]
	}
	return nil
}

func (s *scratchHeader) AppendNames(dst []byte) []byte {
	for k := range s.spans {
		dst = append(dst, k...)
		dst = append(dst, '\n')
	}
	return dst
}

func (s *scratchHeader) PeekAll(name string) [][]byte {
	s.all = s.all[:0]
	for _, sp := range s.spans[name] {
		s.all = append(s.all, s.buf[sp[0]:sp[1]])
	}
	return s.all
}

// TestVerifyKeepsNoView checks that nothing Verify keeps in Auth shares the
// memory of the headers it read: the server reuses it for the next request.
func TestVerifyKeepsNoView(t *testing.T) {
	const payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
	m := &Message{Method: "PUT", Host: "localhost:9000", Path: "/bucket/key", Header: map[string][]string{}}
	testSigner().Sign(m, payload, testTime)
	v := testVerifier(testTime)
	want, err := v.Verify(view(m.Method, m.Host, m.Path, "", http.Header(m.Header)))
	if err != nil {
		t.Fatal(err)
	}
	// Twice: once with the credential new to a fresh verifier, once known.
	v = testVerifier(testTime)
	for i := 0; i < 2; i++ {
		h := newScratchHeader(http.Header(m.Header))
		r := &Request{Method: m.Method, Host: m.Host, Path: m.Path, Headers: h}
		var a Auth
		if err := v.VerifyInto(r, &a); err != nil {
			t.Fatal(err)
		}
		for j := range h.buf {
			h.buf[j] = 'x'
		}
		if a.AccessKey != testAK || a.Region != testRegion || a.PayloadHash != payload || !a.Time.Equal(testTime) ||
			a.Signature() != want.Signature() || string(a.amzDate[:]) != "20250102T030405Z" || a.scope != want.scope {
			t.Fatalf("pass %d: Auth changed with the header memory: %+v", i, a)
		}
	}
}

// TestVerifyHeaderSources checks that a request read through Headers and
// through the Header and Values funcs verifies alike.
func TestVerifyHeaderSources(t *testing.T) {
	m := &Message{Method: "GET", Host: "localhost:9000", Path: "/bucket/a%20b", RawQuery: "list-type=2",
		Header: map[string][]string{"X-Amz-Meta-A": {" x   y ", "z"}, "Range": {"bytes=0-9"}}}
	testSigner().Sign(m, UnsignedPayload, testTime)
	h := http.Header(m.Header)
	v := testVerifier(testTime)
	for _, r := range []*Request{view(m.Method, m.Host, m.Path, m.RawQuery, h), funcView(m.Method, m.Host, m.Path, m.RawQuery, h),
		{Method: m.Method, Host: m.Host, Path: m.Path, RawQuery: m.RawQuery, Headers: newScratchHeader(h)}} {
		a, err := v.Verify(r)
		if err != nil {
			t.Fatal(err)
		}
		if a.PayloadHash != UnsignedPayload || a.AccessKey != testAK {
			t.Fatalf("%+v", a)
		}
		r.Host = "" // read from the host header instead
		if r.Headers == nil {
			h.Set("Host", m.Host)
		} else {
			r.Headers = peekHeader(h.Clone())
			h := r.Headers.(peekHeader)
			http.Header(h).Set("Host", m.Host)
		}
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("host from header: %v", err)
		}
		h.Del("Host")
	}
}

// TestVerifyAllocs guards the read path: a header-signed GET whose headers
// are read without allocating verifies without allocating once its
// credential has verified before.
func TestVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts vary under -race")
	}
	m := &Message{Method: "GET", Host: "localhost:9000", Path: "/bucket/key", Header: map[string][]string{"Range": {"bytes=0-4095"}}}
	testSigner().Sign(m, UnsignedPayload, testTime)
	r := &Request{Method: m.Method, Host: m.Host, Path: m.Path, Headers: newScratchHeader(http.Header(m.Header))}
	v := testVerifier(testTime)
	var a Auth
	if err := v.VerifyInto(r, &a); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := v.VerifyInto(r, &a); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("VerifyInto allocates %v times per request, want 0", n)
	}
}
