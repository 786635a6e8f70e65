package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fuzzMemBudget bounds what decoding one fuzz input may allocate: the read
// buffer, hashers and small state, far below one maximum-size chunk.
const fuzzMemBudget = 256 << 10

func FuzzParseAuthorization(f *testing.F) {
	seed, _ := signedGet()
	genuine := seed.Header("authorization")
	f.Add(genuine)
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	f.Add("AWS4-HMAC-SHA256 Signature=00, SignedHeaders=host, Credential=a/b/c/d/e")
	f.Add("AWS4-HMAC-SHA256\tCredential=a/b/20250101/r/s3/aws4_request ,\t SignedHeaders=HOST;;x, Signature=")
	f.Add("AWS AKID:sig")
	f.Add("")
	// SignedHeaders must be lowercase, sorted and unique.
	f.Add(strings.Replace(genuine, "SignedHeaders=host;", "SignedHeaders=host;host;", 1))
	f.Add(strings.Replace(genuine, "SignedHeaders=host;", "SignedHeaders=Host;", 1))
	f.Add(strings.Replace(genuine, "SignedHeaders=host;", "SignedHeaders=x-a;host;", 1))
	f.Add(strings.Replace(genuine, "SignedHeaders=host;", "SignedHeaders=host;"+strings.Repeat("x-a;", 200), 1))
	f.Add(strings.Replace(genuine, "/us-east-1/", "//", 1))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseAuthorization(s)
		if err == nil {
			if h.cred.accessKey == "" || checkSignedHeaders(h.signedHeaders) != "" || len(h.cred.date) != 8 {
				t.Fatalf("accepted invalid header %q: %+v", s, h)
			}
			// Re-formatting a parsed header parses to the same thing.
			again := "AWS4-HMAC-SHA256 Credential=" + h.cred.accessKey + "/" + h.cred.scope +
				", SignedHeaders=" + h.signedHeaders + ", Signature=" + h.signature
			h2, err := parseAuthorization(again)
			if err != nil || h2 != h {
				t.Fatalf("reparse of %q: %+v, %v", again, h2, err)
			}
		}
		// Full verification never panics and never accepts a forged header.
		hd := http.Header{"X-Amz-Date": {"20250102T030405Z"}, "X-Amz-Content-Sha256": {EmptySHA256}, "Authorization": {s}}
		if s != genuine {
			if _, err := testVerifier(testTime).Verify(view("GET", "localhost:9000", "/bucket/a%20b", "location=&list-type=2", hd)); err == nil {
				t.Fatalf("forged header %q accepted", s)
			}
		}
	})
}

// FuzzUnsignedHeader adds a header to a genuine signed request: an
// x-amz-* header that SignedHeaders does not name never verifies.
func FuzzUnsignedHeader(f *testing.F) {
	f.Add("X-Amz-Copy-Source", "/b/k")
	f.Add("x-amz-meta-b", "")
	f.Add("X-AMZ-CONTENT-SHA256", EmptySHA256)
	f.Add("X-Amzn-Trace-Id", "x")
	f.Fuzz(func(t *testing.T, name, value string) {
		r, h := signedGet()
		signed := "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a"
		if !strings.Contains(h.Get("Authorization"), "SignedHeaders="+signed+",") {
			t.Fatalf("unexpected seed %q", h.Get("Authorization"))
		}
		h[name] = append(h[name], value)
		_, err := testVerifier(testTime).Verify(r)
		lower := strings.ToLower(name)
		if err == nil && strings.HasPrefix(lower, "x-amz-") && lower != "x-amz-content-sha256" && !listHas(signed, lower) {
			t.Fatalf("unsigned header %q accepted", name)
		}
	})
}

func FuzzPresignQuery(f *testing.F) {
	valid := presigned(time.Hour, "versionId=&x=a+b").RawQuery
	f.Add(valid, "/bucket/key")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", "/test.txt")
	f.Add("X-Amz-Algorithm&X-Amz-Credential=%zz&&=&a=%2", "/")
	f.Add("location&uploads=&a+b=c%20d&%E6%97%A5=1", "/b/%")
	canon := func(q string) string {
		return string(appendCanonicalQuery(nil, parseQuery(q, nil), "X-Amz-Signature"))
	}
	validCanon := canon(valid)
	f.Fuzz(func(t *testing.T, q, path string) {
		for _, p := range parseQuery(q, nil) {
			if !canonicalForm(p.key) || !canonicalForm(p.value) {
				t.Fatalf("non-canonical parameter %q=%q from %q", p.key, p.value, q)
			}
		}
		a, err := testVerifier(testTime).Verify(view("GET", "localhost:9000", path, q, http.Header{}))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("non-S3 error %v", err)
			}
			return
		}
		// Only the genuine URL, however re-encoded, may verify.
		dp, _ := url.PathUnescape(path)
		if !a.Presigned || a.AccessKey != testAK || canon(q) != validCanon || dp != "/bucket/key" {
			t.Fatalf("forged presign %q %q accepted: %+v", q, path, a)
		}
	})
}

// canonicalForm reports whether s is SigV4-encoded: unreserved bytes and
// %XX with upper-case hex.
func canonicalForm(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case unreserved(c):
		case c == '%' && i+2 < len(s) && strings.IndexByte(upperHex, s[i+1]) >= 0 && strings.IndexByte(upperHex, s[i+2]) >= 0:
			i += 2
		default:
			return false
		}
	}
	return true
}

var fuzzRuns atomic.Uint64

// cmpWriter compares written bytes with want without storing them.
type cmpWriter struct {
	want []byte
	n    int
	diff bool
}

func (w *cmpWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > len(w.want) || !bytes.Equal(p, w.want[w.n:w.n+len(p)]) {
		w.diff = true
	}
	w.n += len(p)
	return len(p), nil
}

// fuzzChunked encodes payload, damages the framing as told, decodes it and
// checks that decoding stays within the memory budget and that a success
// returns exactly the payload (checkData) or at least its length.
func fuzzChunked(t *testing.T, opt StreamOptions, checkData bool, payload []byte, chunk uint16, pos uint32, xor byte, insert []byte, raw bool) {
	if len(payload) > 8<<10 {
		payload = payload[:8<<10]
	}
	opt.ChunkSize = 1 + int(chunk%4096)
	r, a, framed := upload(t, payload, opt)
	switch {
	case raw:
		framed = slices.Clone(insert)
	case len(framed) > 0:
		i := int(pos % uint32(len(framed)))
		framed[i] ^= xor
		// Concat copies: fuzz arguments may share one backing array.
		framed = slices.Concat(framed[:i], insert, framed[i:])
	}
	w := &cmpWriter{want: payload}
	buf := make([]byte, 4096)
	// ReadMemStats stops the world, so only every 16th input is measured.
	measure := fuzzRuns.Add(1)%16 == 1
	var before, after runtime.MemStats
	if measure {
		runtime.ReadMemStats(&before)
	}
	b, err := NewBody(r, a, bytes.NewReader(framed), BodyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.CopyBuffer(w, b, buf)
	if measure {
		runtime.ReadMemStats(&after)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzMemBudget {
		t.Fatalf("decoding allocated %d bytes", alloc)
	}
	if err != nil {
		if _, ok := err.(*Error); !ok {
			t.Fatalf("non-S3 error %v", err)
		}
		return
	}
	// A raw unsigned body is arbitrary, so only its length is known.
	if raw && opt.Unsigned {
		checkData = false
	}
	if w.n != len(payload) || checkData && w.diff {
		t.Fatalf("accepted a damaged body: %d bytes, differs %v", w.n, w.diff)
	}
}

func addChunkSeeds(f *testing.F) {
	f.Add([]byte("hello, world"), uint16(4), uint32(0), byte(0), []byte(nil), false)
	f.Add(bytes.Repeat([]byte("a"), 3000), uint16(1023), uint32(10), byte(1), []byte(nil), false)
	f.Add(bytes.Repeat([]byte("ab"), 700), uint16(511), uint32(5), byte(0), []byte(";x=y"), false)
	f.Add([]byte{}, uint16(0), uint32(1), byte(0), []byte("\r\n"), false)
	f.Add([]byte("xyz"), uint16(7), uint32(0), byte(0), []byte("3\r\nxyz\r\n0\r\n\r\n"), true)
	f.Add([]byte("xyz"), uint16(7), uint32(0), byte(0), []byte("fffffffffffffff\r\n"), true)
}

func FuzzChunkedSigned(f *testing.F) {
	addChunkSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte, chunk uint16, pos uint32, xor byte, insert []byte, raw bool) {
		fuzzChunked(t, StreamOptions{}, true, payload, chunk, pos, xor, insert, raw)
	})
}

func FuzzChunkedSignedTrailer(f *testing.F) {
	addChunkSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte, chunk uint16, pos uint32, xor byte, insert []byte, raw bool) {
		fuzzChunked(t, StreamOptions{Trailer: CRC64NVME}, true, payload, chunk, pos, xor, insert, raw)
	})
}

func FuzzChunkedUnsignedTrailer(f *testing.F) {
	addChunkSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte, chunk uint16, pos uint32, xor byte, insert []byte, raw bool) {
		// A CRC can be forged by editing data; SHA-256 cannot.
		fuzzChunked(t, StreamOptions{Unsigned: true, Trailer: CRC32C}, false, payload, chunk, pos, xor, insert, raw)
		fuzzChunked(t, StreamOptions{Unsigned: true, Trailer: SHA256}, true, payload, chunk, pos, xor, insert, raw)
	})
}
