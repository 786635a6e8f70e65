package sigv4

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// bothViews returns r read through Headers and through the Header, Values
// and Names funcs.
func bothViews(r *Request) map[string]*Request {
	f := *r
	f.Headers = nil
	return map[string]*Request{"Headers": r, "funcs": &f}
}

func wantMessage(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok || e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("%s: %v, want %s containing %q", what, err, code, msg)
	}
}

func TestVerifyUnsignedAmzHeaders(t *testing.T) {
	const unsigned = "There were headers present in the request which were not signed"
	v := testVerifier(testTime)
	r, h := signedGet()
	for _, name := range []string{"X-Amz-Copy-Source", "x-amz-meta-b", "X-AMZ-TAGGING", "X-Amz-Date2"} {
		h.Set(name, "v")
		for view, r := range bothViews(r) {
			_, err := v.Verify(r)
			wantMessage(t, "header auth, unsigned "+name+" via "+view, err, CodeAccessDenied, unsigned)
		}
		h.Del(name)
	}
	// Headers other than x-amz-* may go unsigned, and x-amz-content-sha256
	// (its value is the canonical request's last line).
	h.Set("X-Amzn-Trace-Id", "Root=1")
	h.Set("Amz-Sdk-Request", "attempt=1")
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("unsigned non-x-amz headers: %v", err)
	}
	m := &Message{Method: "GET", Host: "localhost:9000", Path: "/b/k", Header: map[string][]string{}}
	testSigner().Sign(m, EmptySHA256, testTime)
	m.Header["Authorization"] = []string{strings.Replace(m.Header["Authorization"][0], ";x-amz-content-sha256", "", 1)}
	_, err := v.Verify(view(m.Method, m.Host, m.Path, "", m.Header))
	wantCode(t, err, CodeSignatureDoesNotMatch) // the payload hash is signed all the same

	// Presigned: only host is signed here.
	p := presigned(time.Hour, "")
	ph := http.Header{}
	p = view(p.Method, p.Host, p.Path, p.RawQuery, ph)
	if _, err := v.Verify(p); err != nil {
		t.Fatal(err)
	}
	ph.Set("X-Amz-Content-Sha256", UnsignedPayload) // exempt
	if _, err := v.Verify(p); err != nil {
		t.Fatalf("presigned with x-amz-content-sha256: %v", err)
	}
	for _, name := range []string{"X-Amz-Copy-Source", "X-Amz-Meta-A", "X-Amz-Date", "X-Amz-Decoded-Content-Length"} {
		ph.Set(name, "1")
		for view, p := range bothViews(p) {
			_, err := v.Verify(p)
			wantMessage(t, "presigned, unsigned "+name+" via "+view, err, CodeAccessDenied, unsigned)
		}
		ph.Del(name)
	}
	// A request whose headers cannot be listed is refused.
	r2, _ := signedGet()
	r2.Headers, r2.Names = nil, nil
	_, err = v.Verify(r2)
	wantCode(t, err, CodeAccessDenied)
}

func TestVerifySignedHeaderAbsent(t *testing.T) {
	v := testVerifier(testTime)
	m := &Message{Method: "PUT", Host: "localhost:9000", Path: "/b/k",
		Header: map[string][]string{"X-Amz-Meta-Empty": {""}, "Content-Length": {"0"}, "Content-Type": {""}}}
	testSigner().Sign(m, EmptySHA256, testTime)
	h := http.Header(m.Header)
	r := view(m.Method, m.Host, m.Path, "", h)
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("signed empty headers, present: %v", err)
	}
	// Content-Length may be hidden by the HTTP server: it is signed as empty.
	// (Here it was signed as "0", so the signature no longer matches.)
	h.Del("Content-Length")
	_, err := v.Verify(r)
	wantCode(t, err, CodeSignatureDoesNotMatch)
	h.Set("Content-Length", "0")
	for _, name := range []string{"X-Amz-Meta-Empty", "Content-Type"} {
		old := h.Values(name)
		h.Del(name)
		for view, r := range bothViews(r) {
			_, err := v.Verify(r)
			wantMessage(t, name+" signed, absent, via "+view, err, CodeAccessDenied, "not present")
		}
		h[name] = old
	}
	// host is read from Request.Host or the host header.
	r.Host = ""
	_, err = v.Verify(r)
	wantMessage(t, "no host", err, CodeAccessDenied, "not present")
	h.Set("Host", "localhost:9000")
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("host from the header: %v", err)
	}
}

func TestSignedHeadersList(t *testing.T) {
	ok := []string{"host", "host;x-amz-date", "content-type;host;x-amz-content-sha256;x-amz-date",
		"host;x-amz-meta-a!#$%&'*+.^_`|~"}
	for _, s := range ok {
		if why := checkSignedHeaders(s); why != "" {
			t.Errorf("%q refused: %s", s, why)
		}
	}
	var many []string
	for i := 0; i < MaxSignedHeaders; i++ {
		many = append(many, "x-"+string(rune('a'+i/26/26%26))+string(rune('a'+i/26%26))+string(rune('a'+i%26)))
	}
	many[0] = "host"
	if why := checkSignedHeaders(strings.Join(many, ";")); why != "" {
		t.Errorf("%d headers refused: %s", MaxSignedHeaders, why)
	}
	bad := map[string]string{
		"host;host":                      "sorted and unique",
		"x-amz-date;host":                "sorted and unique",
		"host;x-a;x-a":                   "sorted and unique",
		"Host":                           "lowercase",
		"host;X-Amz-Date":                "lowercase",
		"host;x a":                       "lowercase",
		"host;":                          "empty",
		"x-amz-date":                     "host header must be signed",
		strings.Join(many, ";") + ";zzz": "more than",
	}
	for s, want := range bad {
		if why := checkSignedHeaders(s); !strings.Contains(why, want) {
			t.Errorf("%.40q: %q, want %q", s, why, want)
		}
	}
	// Both auth forms refuse them with their malformed-auth code.
	r, h := signedGet()
	h.Set("Authorization", strings.Replace(h.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=host;host;", 1))
	_, err := testVerifier(testTime).Verify(r)
	wantMessage(t, "header auth", err, CodeAuthorizationHeaderMalformed, "sorted and unique")
	p := presigned(time.Hour, "")
	p.RawQuery = strings.Replace(p.RawQuery, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-a%3Bhost", 1)
	_, err = testVerifier(testTime).Verify(p)
	wantMessage(t, "presigned", err, CodeAuthorizationQueryParametersError, "sorted and unique")
}

// TestCanonicalRequestCap: a canonical request over MaxCanonicalRequest is
// refused before it is hashed, and its buffer is not pooled.
func TestCanonicalRequestCap(t *testing.T) {
	v := testVerifier(testTime)
	big := strings.Repeat("v", 40<<10)
	hdr := map[string][]string{}
	for i := 0; i < 8; i++ { // 320 KiB of signed values
		hdr["X-Amz-Meta-"+string(rune('A'+i))] = []string{big}
	}
	m := &Message{Method: "GET", Host: "localhost:9000", Path: "/b/k", Header: hdr}
	testSigner().Sign(m, EmptySHA256, testTime)
	_, err := v.Verify(view(m.Method, m.Host, m.Path, "", m.Header))
	wantMessage(t, "320 KiB canonical request", err, CodeAuthorizationHeaderMalformed, "exceed")

	// Under the cap it verifies; the large buffer is then not kept.
	for k := range hdr {
		if k >= "X-Amz-Meta-F" {
			delete(hdr, k)
		}
	}
	testSigner().Sign(m, EmptySHA256, testTime)
	if _, err := v.Verify(view(m.Method, m.Host, m.Path, "", m.Header)); err != nil {
		t.Fatalf("200 KiB canonical request: %v", err)
	}
	for i := 0; i < 4; i++ {
		bp := bufPool.Get().(*[]byte)
		if cap(*bp) > maxPooledBuf {
			t.Fatalf("bufPool kept a %d-byte buffer", cap(*bp))
		}
	}
}

func TestVerifyRegion(t *testing.T) {
	v := testVerifier(testTime)
	v.Region = "eu-west-1"
	for _, region := range []string{"eu-west-1", "", "us-east-1"} {
		s := &Signer{AccessKey: testAK, SecretKey: testSK, Region: region}
		m := &Message{Method: "GET", Host: "h", Path: "/"}
		s.Sign(m, EmptySHA256, testTime)
		a, err := v.Verify(view(m.Method, m.Host, m.Path, "", m.Header))
		if err != nil || a.Region != region {
			t.Fatalf("region %q: %+v, %v", region, a, err)
		}
		q := s.Presign(&Message{Method: "GET", Host: "h", Path: "/"}, time.Minute, testTime)
		a, err = v.Verify(view("GET", "h", "/", q, http.Header{}))
		if err != nil || a.Region != region || !a.Presigned {
			t.Fatalf("presigned, region %q: %+v, %v", region, a, err)
		}
		if region == "us-east-1" {
			wantMessage(t, "WrongRegion", a.WrongRegion("eu-west-1"), CodeAuthorizationQueryParametersError,
				"Error parsing the X-Amz-Credential parameter; the region 'us-east-1' is wrong; expecting 'eu-west-1'")
		}
	}
	s := &Signer{AccessKey: testAK, SecretKey: testSK, Region: "us-west-2"}
	m := &Message{Method: "GET", Host: "h", Path: "/"}
	s.Sign(m, EmptySHA256, testTime)
	_, err := v.Verify(view(m.Method, m.Host, m.Path, "", m.Header))
	wantMessage(t, "us-west-2", err, CodeAuthorizationHeaderMalformed, "the region 'us-west-2' is wrong; expecting 'eu-west-1'")
	a := &Auth{Region: "us-east-1"}
	wantMessage(t, "WrongRegion", a.WrongRegion("eu-west-1"), CodeAuthorizationHeaderMalformed,
		"The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'")
}

// TestVerifyBotocoreWhitespace: botocore signs header values with every run
// of white space, tabs included, collapsed to one space; aws-sdk-go-v2
// keeps tabs (see TestDifferentialSDK). Both verify, and nothing else does.
func TestVerifyBotocoreWhitespace(t *testing.T) {
	v := testVerifier(testTime)
	for _, tc := range []struct{ sent, botocore string }{
		{"a\tb", "a b"},
		{"a \t\t b\t", "a b"},
		{"\tx\t\ty  z ", "x y z"},
	} {
		// Sign the value botocore's canonical form gives, send the raw one.
		m := &Message{Method: "GET", Host: "h", Path: "/b/k", Header: map[string][]string{"X-Amz-Meta-A": {tc.botocore}}}
		testSigner().Sign(m, EmptySHA256, testTime)
		m.Header["X-Amz-Meta-A"] = []string{tc.sent}
		for view, r := range bothViews(view(m.Method, m.Host, m.Path, "", m.Header)) {
			if _, err := v.Verify(r); err != nil {
				t.Errorf("botocore-signed %q via %s: %v", tc.sent, view, err)
			}
		}
		// Signed as aws-sdk-go-v2 signs it (tabs kept).
		m.Header = map[string][]string{"X-Amz-Meta-A": {tc.sent}}
		testSigner().Sign(m, EmptySHA256, testTime)
		if _, err := v.Verify(view(m.Method, m.Host, m.Path, "", m.Header)); err != nil {
			t.Errorf("SDK-signed %q: %v", tc.sent, err)
		}
		// A different value does not verify in either form.
		m.Header["X-Amz-Meta-A"] = []string{tc.sent + "\tc"}
		_, err := v.Verify(view(m.Method, m.Host, m.Path, "", m.Header))
		wantCode(t, err, CodeSignatureDoesNotMatch)
	}
}
