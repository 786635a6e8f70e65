package sigv4

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// signedGet returns a header-signed GET request as the server sees it.
func signedGet() (*Request, http.Header) {
	m := &Message{Method: "GET", Host: "localhost:9000", Path: "/bucket/a%20b", RawQuery: "location=&list-type=2",
		Header: map[string][]string{"X-Amz-Meta-A": {" x   y "}}}
	testSigner().Sign(m, EmptySHA256, testTime)
	h := http.Header(m.Header)
	return view(m.Method, m.Host, m.Path, m.RawQuery, h), h
}

func TestVerifyHeaderOK(t *testing.T) {
	r, h := signedGet()
	v := testVerifier(testTime)
	a, err := v.Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKey != testAK || a.Region != testRegion || a.Presigned || a.PayloadHash != EmptySHA256 || len(a.Signature()) != 64 {
		t.Fatalf("%+v", a)
	}
	// Separators may be "," or ", " with any white space.
	auth := h.Get("Authorization")
	for _, sep := range []string{",", ", ", " ,\t ", ",,"} {
		h.Set("Authorization", strings.ReplaceAll(auth, ", ", sep))
		if _, err := v.Verify(r); err != nil {
			t.Errorf("separator %q: %v", sep, err)
		}
	}
	// Components in another order.
	parts := strings.SplitN(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ", ", 3)
	h.Set("Authorization", "AWS4-HMAC-SHA256 "+parts[2]+", "+parts[0]+", "+parts[1])
	if _, err := v.Verify(r); err != nil {
		t.Errorf("reordered: %v", err)
	}
	h.Set("Authorization", auth)
	// "location" without "=" canonicalises like "location=".
	r.RawQuery = "list-type=2&location"
	if _, err := v.Verify(r); err != nil {
		t.Errorf("?location: %v", err)
	}
	// Unsigned headers may change.
	h.Set("User-Agent", "other")
	if _, err := v.Verify(r); err != nil {
		t.Errorf("unsigned header: %v", err)
	}
	// Clock skew up to 15 minutes either way is fine.
	for _, d := range []time.Duration{-MaxClockSkew, MaxClockSkew} {
		if _, err := testVerifier(testTime.Add(d)).Verify(r); err != nil {
			t.Errorf("skew %v: %v", d, err)
		}
	}
}

func TestVerifyErrors(t *testing.T) {
	replace := func(old, new string) func(h http.Header, r *Request) {
		return func(h http.Header, r *Request) {
			h.Set("Authorization", strings.Replace(h.Get("Authorization"), old, new, 1))
		}
	}
	tests := []struct {
		name   string
		edit   func(h http.Header, r *Request)
		now    time.Time
		region string
		code   string
	}{
		{"no auth", func(h http.Header, r *Request) { h.Del("Authorization") }, testTime, "", CodeAccessDenied},
		{"wrong signature", func(h http.Header, r *Request) {
			a := h.Get("Authorization")
			h.Set("Authorization", a[:len(a)-1]+string("10"[a[len(a)-1]&1]))
		}, testTime, "", CodeSignatureDoesNotMatch},
		{"short signature", func(h http.Header, r *Request) {
			a := h.Get("Authorization")
			h.Set("Authorization", a[:len(a)-2])
		}, testTime, "", CodeSignatureDoesNotMatch},
		{"tampered signed header", func(h http.Header, r *Request) { h.Set("X-Amz-Meta-A", "z") }, testTime, "", CodeSignatureDoesNotMatch},
		{"tampered query", func(h http.Header, r *Request) { r.RawQuery = "location=&list-type=1" }, testTime, "", CodeSignatureDoesNotMatch},
		{"added query", func(h http.Header, r *Request) { r.RawQuery += "&x=" }, testTime, "", CodeSignatureDoesNotMatch},
		{"tampered path", func(h http.Header, r *Request) { r.Path = "/bucket/a%20c" }, testTime, "", CodeSignatureDoesNotMatch},
		{"tampered method", func(h http.Header, r *Request) { r.Method = "DELETE" }, testTime, "", CodeSignatureDoesNotMatch},
		{"tampered host", func(h http.Header, r *Request) { r.Host = "evil:9000" }, testTime, "", CodeSignatureDoesNotMatch},
		{"tampered payload hash", func(h http.Header, r *Request) { h.Set("X-Amz-Content-Sha256", UnsignedPayload) }, testTime, "", CodeSignatureDoesNotMatch},
		{"unknown key", replace(testAK, "AKIDUNKNOWN"), testTime, "", CodeInvalidAccessKeyID},
		{"skew ahead", nil, testTime.Add(-MaxClockSkew - time.Second), "", CodeRequestTimeTooSkewed},
		{"skew behind", nil, testTime.Add(MaxClockSkew + time.Second), "", CodeRequestTimeTooSkewed},
		{"missing date", func(h http.Header, r *Request) { h.Del("X-Amz-Date") }, testTime, "", CodeAccessDenied},
		{"bad date", func(h http.Header, r *Request) { h.Set("X-Amz-Date", "20250102T03045Z") }, testTime, "", CodeAccessDenied},
		{"scope date mismatch", func(h http.Header, r *Request) { h.Set("X-Amz-Date", "20250103T030405Z") }, testTime, "", CodeAuthorizationHeaderMalformed},
		{"us-east-1 always accepted", nil, testTime, "eu-west-1", ""},
		{"wrong region", replace("us-east-1", "ap-south-1"), testTime, "eu-west-1", CodeAuthorizationHeaderMalformed},
		{"wrong service", replace("/s3/", "/ec2/"), testTime, "", CodeAuthorizationHeaderMalformed},
		{"wrong terminator", replace("aws4_request", "aws5_request"), testTime, "", CodeAuthorizationHeaderMalformed},
		{"short credential", replace("AKIAIOSFODNN7EXAMPLE/", ""), testTime, "", CodeAuthorizationHeaderMalformed},
		{"missing signature", func(h http.Header, r *Request) {
			a := h.Get("Authorization")
			h.Set("Authorization", a[:strings.Index(a, ", Signature")])
		}, testTime, "", CodeAuthorizationHeaderMalformed},
		{"duplicate component", func(h http.Header, r *Request) { h.Set("Authorization", h.Get("Authorization")+", Signature=00") }, testTime, "", CodeAuthorizationHeaderMalformed},
		{"unknown component", func(h http.Header, r *Request) { h.Set("Authorization", h.Get("Authorization")+", Foo=1") }, testTime, "", CodeAuthorizationHeaderMalformed},
		{"host not signed", replace("SignedHeaders=host;", "SignedHeaders="), testTime, "", CodeAuthorizationHeaderMalformed},
		{"empty signed header", replace("SignedHeaders=host;", "SignedHeaders=host;;"), testTime, "", CodeAuthorizationHeaderMalformed},
		{"other algorithm", replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), testTime, "", CodeInvalidArgument},
		{"sigv2", func(h http.Header, r *Request) { h.Set("Authorization", "AWS AKID:c2ln") }, testTime, "", CodeInvalidRequest},
		{"missing content sha", func(h http.Header, r *Request) { h.Del("X-Amz-Content-Sha256") }, testTime, "", CodeInvalidRequest},
		{"bad content sha", func(h http.Header, r *Request) { h.Set("X-Amz-Content-Sha256", "abc") }, testTime, "", CodeInvalidArgument},
		{"ecdsa streaming", func(h http.Header, r *Request) {
			h.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
		}, testTime, "", CodeNotImplemented},
		{"header and query auth", func(h http.Header, r *Request) { r.RawQuery += "&X-Amz-Algorithm=AWS4-HMAC-SHA256" }, testTime, "", CodeInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, h := signedGet()
			if tc.edit != nil {
				tc.edit(h, r)
			}
			v := testVerifier(tc.now)
			v.Region = tc.region
			_, err := v.Verify(r)
			wantCode(t, err, tc.code)
		})
	}
}

func TestVerifyDateHeader(t *testing.T) {
	// A request dated only by the Date header (no x-amz-date) verifies.
	s := testSigner()
	_, scope, key := s.scope(testTime)
	h := http.Header{"Date": {testTime.Format(http.TimeFormat)}, "X-Amz-Content-Sha256": {UnsignedPayload}}
	signed, canon := canonicalHeaders("h", h)
	sig := s.sign(key, testTime.Format(timeFormat), scope, "GET", "/b/k", nil, canon, signed, UnsignedPayload)
	h.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAK+"/"+scope+", SignedHeaders="+signed+", Signature="+sig)
	if _, err := testVerifier(testTime).Verify(view("GET", "h", "/b/k", "", h)); err != nil {
		t.Fatal(err)
	}
	h.Set("Date", "yesterday")
	_, err := testVerifier(testTime).Verify(view("GET", "h", "/b/k", "", h))
	wantCode(t, err, CodeAccessDenied)
}

func TestVerifyPathFallback(t *testing.T) {
	// A client that signs the AWS-encoded path but sends "!" unescaped.
	m := &Message{Method: "GET", Host: "h", Path: "/b/a%21b", Header: map[string][]string{}}
	testSigner().Sign(m, UnsignedPayload, testTime)
	if _, err := testVerifier(testTime).Verify(view("GET", "h", "/b/a!b", "", http.Header(m.Header))); err != nil {
		t.Fatal(err)
	}
}

// presigned returns a presigned GET of /bucket/key as the server sees it.
func presigned(expires time.Duration, rawQuery string) *Request {
	m := &Message{Method: "GET", Host: "localhost:9000", Path: "/bucket/key", RawQuery: rawQuery}
	q := testSigner().Presign(m, expires, testTime)
	return view("GET", "localhost:9000", "/bucket/key", q, http.Header{})
}

func TestVerifyPresigned(t *testing.T) {
	r := presigned(time.Hour, "versionId=&x=a+b")
	a, err := testVerifier(testTime.Add(59 * time.Minute)).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Presigned || a.PayloadHash != UnsignedPayload {
		t.Fatalf("%+v", a)
	}
	edit := func(old, new string) func(r *Request) {
		return func(r *Request) { r.RawQuery = strings.Replace(r.RawQuery, old, new, 1) }
	}
	tests := []struct {
		name string
		edit func(r *Request)
		now  time.Time
		code string
	}{
		{"expired", nil, testTime.Add(time.Hour + time.Second), CodeAccessDenied},
		{"not yet valid", nil, testTime.Add(-MaxClockSkew - time.Second), CodeAccessDenied},
		{"tampered param", edit("x=a%20b", "x=a%20c"), testTime, CodeSignatureDoesNotMatch},
		{"tampered signature", edit("X-Amz-Signature=", "X-Amz-Signature=0"), testTime, CodeSignatureDoesNotMatch},
		{"tampered expiry", edit("X-Amz-Expires=3600", "X-Amz-Expires=3601"), testTime, CodeSignatureDoesNotMatch},
		{"too long", edit("X-Amz-Expires=3600", "X-Amz-Expires=604801"), testTime, CodeAuthorizationQueryParametersError},
		{"zero expiry", edit("X-Amz-Expires=3600", "X-Amz-Expires=0"), testTime, CodeAuthorizationQueryParametersError},
		{"negative expiry", edit("X-Amz-Expires=3600", "X-Amz-Expires=-1"), testTime, CodeAuthorizationQueryParametersError},
		{"bad expiry", edit("X-Amz-Expires=3600", "X-Amz-Expires=1h"), testTime, CodeAuthorizationQueryParametersError},
		{"missing signature", func(r *Request) { r.RawQuery = r.RawQuery[:strings.Index(r.RawQuery, "&X-Amz-Signature")] }, testTime, CodeAuthorizationQueryParametersError},
		{"missing date", edit("X-Amz-Date=", "X-Amz-Datum="), testTime, CodeAuthorizationQueryParametersError},
		{"duplicate param", func(r *Request) { r.RawQuery += "&X-Amz-Expires=3600" }, testTime, CodeAuthorizationQueryParametersError},
		{"bad algorithm", edit("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), testTime, CodeAuthorizationQueryParametersError},
		{"bad credential", edit("%2Fs3%2F", "%2Fs4%2F"), testTime, CodeAuthorizationQueryParametersError},
		{"bad date", edit("X-Amz-Date=20250102T030405Z", "X-Amz-Date=2025-01-02"), testTime, CodeAuthorizationQueryParametersError},
		{"date mismatch", edit("X-Amz-Date=20250102T030405Z", "X-Amz-Date=20250103T030405Z"), testTime, CodeAuthorizationQueryParametersError},
		{"unknown key", edit(testAK, "AKIDNOPE"), testTime, CodeInvalidAccessKeyID},
		{"host not signed", edit("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x"), testTime, CodeAuthorizationQueryParametersError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := presigned(time.Hour, "versionId=&x=a+b")
			if tc.edit != nil {
				tc.edit(r)
			}
			_, err := testVerifier(tc.now).Verify(r)
			wantCode(t, err, tc.code)
		})
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	for i := 0; i < keyCacheSize+10; i++ {
		k := c.get("secret", time.Unix(int64(i)*86400, 0).UTC().Format(dateFormat), "r")
		if string(k) != string(deriveKey("secret", time.Unix(int64(i)*86400, 0).UTC().Format(dateFormat), "r", "s3")) {
			t.Fatal("wrong key")
		}
	}
	if len(c.m) > keyCacheSize {
		t.Fatalf("cache holds %d keys", len(c.m))
	}
}

func TestContentEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "gzip": "gzip", "aws-chunked": "", "aws-chunked,gzip": "gzip", "gzip, AWS-Chunked": "gzip",
	} {
		if got := ContentEncoding(in); got != want {
			t.Errorf("ContentEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}
