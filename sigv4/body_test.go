package sigv4

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// upload signs a streaming PUT of data and returns the server's view of it,
// its verified Auth and the framed body.
func upload(t testing.TB, data []byte, opt StreamOptions) (*Request, *Auth, []byte) {
	t.Helper()
	m := &Message{Method: "PUT", Host: "localhost:9000", Path: "/bucket/obj", Header: map[string][]string{}}
	enc, n := testSigner().SignStreaming(m, bytes.NewReader(data), int64(len(data)), opt, testTime)
	framed, err := io.ReadAll(enc)
	if err != nil || int64(len(framed)) != n {
		t.Fatalf("encode: %v, %d bytes, announced %d", err, len(framed), n)
	}
	r := view("PUT", m.Host, m.Path, "", http.Header(m.Header))
	a, err := testVerifier(testTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	return r, a, framed
}

func readBody(r *Request, a *Auth, body []byte, opt BodyOptions) ([]byte, *Body, error) {
	b, err := NewBody(r, a, bytes.NewReader(body), opt)
	if err != nil {
		return nil, nil, err
	}
	out, err := io.ReadAll(b)
	return out, b, err
}

func randBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func checksumOf(alg Algorithm, data []byte) string {
	h := alg.New()
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

var streamModes = []StreamOptions{
	{ChunkSize: 1024},
	{ChunkSize: 1024, Trailer: CRC32},
	{ChunkSize: 1024, Trailer: CRC32C},
	{ChunkSize: 1024, Trailer: CRC64NVME},
	{ChunkSize: 1024, Trailer: SHA1},
	{ChunkSize: 1024, Trailer: SHA256},
	{ChunkSize: 1024, Unsigned: true},
	{ChunkSize: 1024, Unsigned: true, Trailer: CRC32C},
	{ChunkSize: 1024, Unsigned: true, Trailer: CRC64NVME},
}

func modeName(o StreamOptions) string {
	return fmt.Sprintf("unsigned=%v,trailer=%s", o.Unsigned, o.Trailer)
}

func TestStreamingRoundTrip(t *testing.T) {
	for _, opt := range streamModes {
		for _, size := range []int{0, 1, 1023, 1024, 1025, 3*1024 + 7} {
			t.Run(fmt.Sprintf("%s/%d", modeName(opt), size), func(t *testing.T) {
				data := randBytes(int64(size), size)
				r, a, framed := upload(t, data, opt)
				if want := map[bool]string{false: StreamingPayload, true: StreamingUnsignedTrailer}[opt.Unsigned]; !opt.Unsigned && opt.Trailer != "" {
					want = StreamingPayloadTrailer
					if a.PayloadHash != want {
						t.Fatalf("payload %s", a.PayloadHash)
					}
				} else if a.PayloadHash != want {
					t.Fatalf("payload %s", a.PayloadHash)
				}
				out, b, err := readBody(r, a, framed, BodyOptions{MD5: true, Checksum: CRC32})
				if err != nil || !bytes.Equal(out, data) {
					t.Fatalf("decode: %v, %d bytes", err, len(out))
				}
				alg, sum := b.Checksum()
				wantAlg := opt.Trailer
				if wantAlg == "" {
					wantAlg = CRC32 // from BodyOptions
				}
				if alg != wantAlg || sum != checksumOf(alg, data) {
					t.Fatalf("checksum %s %s", alg, sum)
				}
				if m := md5.Sum(data); !bytes.Equal(b.MD5(), m[:]) {
					t.Fatal("md5")
				}
				// Anonymous requests may send unsigned streams only.
				if opt.Unsigned {
					if out, _, err := readBody(r, nil, framed, BodyOptions{}); err != nil || !bytes.Equal(out, data) {
						t.Fatalf("anonymous: %v", err)
					}
				} else if _, err := NewBody(r, nil, bytes.NewReader(framed), BodyOptions{}); errCode(err) != CodeAccessDenied {
					t.Fatalf("anonymous signed stream: %v", err)
				}
			})
		}
	}
}

// TestStreamingTruncation: no strict prefix of a body decodes to less data.
func TestStreamingTruncation(t *testing.T) {
	for _, opt := range streamModes {
		data := randBytes(7, 2500)
		r, a, framed := upload(t, data, opt)
		for n := 0; n < len(framed); n++ {
			out, _, err := readBody(r, a, framed[:n], BodyOptions{})
			if err == nil {
				// Only a missing final CRLF is tolerated, never missing data.
				if n < len(framed)-2 || !bytes.Equal(out, data) {
					t.Fatalf("%s: prefix %d/%d accepted", modeName(opt), n, len(framed))
				}
				continue
			}
			if c := errCode(err); c != CodeIncompleteBody && c != CodeMalformedTrailerError && c != CodeSignatureDoesNotMatch {
				t.Fatalf("%s: prefix %d/%d: %v", modeName(opt), n, len(framed), err)
			}
		}
	}
}

// TestStreamingTamper: flipping any byte either fails or changes nothing.
func TestStreamingTamper(t *testing.T) {
	for _, opt := range []StreamOptions{{ChunkSize: 512}, {ChunkSize: 512, Trailer: CRC64NVME}, {ChunkSize: 512, Unsigned: true, Trailer: SHA256}} {
		data := randBytes(8, 1100)
		r, a, framed := upload(t, data, opt)
		for i := range framed {
			for _, x := range []byte{0x01, 0x20, 0x80} {
				bad := bytes.Clone(framed)
				bad[i] ^= x
				out, _, err := readBody(r, a, bad, BodyOptions{})
				if err == nil && !bytes.Equal(out, data) {
					t.Fatalf("%s: flip %#x at %d accepted with different data", modeName(opt), x, i)
				}
			}
		}
	}
}

func TestStreamingErrors(t *testing.T) {
	data := randBytes(9, 3000)
	sub := func(old, new string) func([]byte) []byte {
		return func(b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) }
	}
	flipAt := func(marker string, off int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Clone(b)
			b[bytes.Index(b, []byte(marker))+off] ^= 1
			return b
		}
	}
	signed := StreamOptions{ChunkSize: 1024}
	signedTr := StreamOptions{ChunkSize: 1024, Trailer: CRC32C}
	unsignedTr := StreamOptions{ChunkSize: 1024, Unsigned: true, Trailer: CRC64NVME}
	tests := []struct {
		name   string
		opt    StreamOptions
		body   func([]byte) []byte
		header func(http.Header)
		bopt   BodyOptions
		code   string
	}{
		{"tampered chunk signature", signed, flipAt("chunk-signature=", 20), nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"tampered final signature", signed, flipAt("0;chunk-signature=", 20), nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"tampered data", signed, flipAt("\r\n", 100), nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"missing chunk signature", signed, sub(";chunk-signature=", ";chunk-signaturX="), nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"reordered chunks", signed, func(b []byte) []byte {
			i := bytes.Index(b, []byte("400;"))
			j := bytes.Index(b[i+1:], []byte("400;")) + i + 1
			k := bytes.Index(b[j+1:], []byte("3b8;")) + j + 1
			return append(append(append(bytes.Clone(b[:i]), b[j:k]...), b[i:j]...), b[k:]...)
		}, nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"truncated", signed, func(b []byte) []byte { return b[:len(b)/2] }, nil, BodyOptions{}, CodeIncompleteBody},
		{"truncated at chunk boundary", signed, func(b []byte) []byte { return b[:bytes.Index(b, []byte("3b8;"))] }, nil, BodyOptions{}, CodeIncompleteBody},
		{"oversized chunk line", unsignedTr, sub("400\r\n", "400;"+strings.Repeat("x", MaxChunkLine)+"\r\n"), nil, BodyOptions{}, CodeInvalidArgument},
		{"endless chunk line", unsignedTr, func(b []byte) []byte { return []byte(strings.Repeat("4", 100<<10)) }, nil, BodyOptions{}, CodeInvalidArgument},
		{"oversized chunk", signed, nil, nil, BodyOptions{MaxChunkSize: 1023}, CodeInvalidArgument},
		{"huge chunk size", unsignedTr, sub("400\r\n", "fffffffffffff\r\n"), nil, BodyOptions{}, CodeInvalidArgument},
		{"chunk beyond declared length", unsignedTr, nil, func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "2999") }, BodyOptions{}, CodeIncompleteBody},
		{"declared length too big", unsignedTr, nil, func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "3001") }, BodyOptions{}, CodeIncompleteBody},
		{"missing declared length", unsignedTr, nil, func(h http.Header) { h.Del("X-Amz-Decoded-Content-Length") }, BodyOptions{}, CodeMissingContentLength},
		{"bad declared length", unsignedTr, nil, func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "-1") }, BodyOptions{}, CodeInvalidArgument},
		{"bad hex size", unsignedTr, sub("400\r\n", "40g\r\n"), nil, BodyOptions{}, CodeInvalidArgument},
		{"bare LF", unsignedTr, sub("400\r\n", "400\n"), nil, BodyOptions{}, CodeInvalidArgument},
		{"no CRLF after data", unsignedTr, func(b []byte) []byte {
			i := bytes.Index(b, []byte("400\r\n")) + 5 + 1024
			return append(bytes.Clone(b[:i]), b[i+2:]...)
		}, nil, BodyOptions{}, CodeInvalidArgument},
		{"unterminated extra data", signed, func(b []byte) []byte { return append(bytes.Clone(b), 'x') }, nil, BodyOptions{}, CodeIncompleteBody},
		{"extra line", signed, func(b []byte) []byte { return append(bytes.Clone(b), "x\r\n"...) }, nil, BodyOptions{}, CodeMalformedTrailerError},
		{"extra empty lines", signed, func(b []byte) []byte { return append(bytes.Clone(b), "\r\n\n"...) }, nil, BodyOptions{}, ""},
		{"minio-go signed trailer framing", signedTr, sub("\r\nx-amz-trailer-signature", "\n\r\nx-amz-trailer-signature"), nil, BodyOptions{}, ""},
		{"minio-go unsigned trailer framing", unsignedTr, func(b []byte) []byte { return append(b[:len(b)-4], "\n\r\n\r\n"...) }, nil, BodyOptions{}, ""},
		{"LF-only trailer", unsignedTr, func(b []byte) []byte { return append(b[:len(b)-4], "\n\n"...) }, nil, BodyOptions{}, ""},
		{"bad trailer checksum", unsignedTr, func(b []byte) []byte {
			i := bytes.Index(b, []byte("crc64nvme:")) + 10
			b = bytes.Clone(b)
			b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
			return b
		}, nil, BodyOptions{}, CodeBadDigest},
		{"invalid trailer checksum", unsignedTr, func(b []byte) []byte {
			i := bytes.Index(b, []byte("crc64nvme:")) + 10
			return append(append(bytes.Clone(b[:i]), "!!"...), b[i+12:]...)
		}, nil, BodyOptions{}, CodeInvalidArgument},
		{"missing trailer", unsignedTr, func(b []byte) []byte {
			return append(bytes.Clone(b[:bytes.LastIndex(b, []byte("0\r\n"))+3]), "\r\n"...)
		}, nil, BodyOptions{}, CodeMalformedTrailerError},
		{"other trailer", unsignedTr, sub("x-amz-checksum-crc64nvme:", "x-amz-checksum-crc32:"), nil, BodyOptions{}, CodeMalformedTrailerError},
		{"duplicate trailer", unsignedTr, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-checksum"))
			return append(bytes.Clone(b[:i]), append(bytes.Clone(b[i:len(b)-2]), b[i:]...)...)
		}, nil, BodyOptions{}, CodeMalformedTrailerError},
		{"malformed trailer line", unsignedTr, sub("x-amz-checksum-crc64nvme:", "x-amz-checksum-crc64nvme="), nil, BodyOptions{}, CodeMalformedTrailerError},
		{"oversized trailer", unsignedTr, sub("x-amz-checksum", "x-a:"+strings.Repeat("b", MaxTrailerSize)+"\r\nx-amz-checksum"), nil, BodyOptions{}, CodeMalformedTrailerError},
		{"trailer in unsigned-trailer body without header", unsignedTr, nil, func(h http.Header) { h.Del("X-Amz-Trailer") }, BodyOptions{}, ""},
		{"unknown x-amz-trailer", unsignedTr, nil, func(h http.Header) { h.Set("X-Amz-Trailer", "x-amz-meta-a") }, BodyOptions{}, CodeInvalidArgument},
		{"trailer plus checksum header", unsignedTr, nil, func(h http.Header) { h.Set("X-Amz-Checksum-Crc32", "AAAAAA==") }, BodyOptions{}, CodeInvalidRequest},
		{"tampered trailer signature", signedTr, flipAt("x-amz-trailer-signature:", 30), nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"tampered signed trailer", signedTr, flipAt("x-amz-checksum-crc32c:", 23), nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"missing trailer signature", signedTr, func(b []byte) []byte {
			return append(bytes.Clone(b[:bytes.Index(b, []byte("x-amz-trailer-signature"))]), "\r\n"...)
		}, nil, BodyOptions{}, CodeSignatureDoesNotMatch},
		{"trailer after signature", signedTr, sub("\r\n\r\n", "\r\nx-a:b\r\n\r\n"), nil, BodyOptions{}, CodeMalformedTrailerError},
		{"trailer in non-trailer stream", signed, sub("\r\n\r\n", "\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), nil, BodyOptions{}, CodeMalformedTrailerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, a, framed := upload(t, data, tc.opt)
			if tc.header != nil {
				m := http.Header{}
				for _, k := range []string{"X-Amz-Decoded-Content-Length", "X-Amz-Trailer", "X-Amz-Content-Sha256"} {
					if v := r.Header(k); v != "" {
						m.Set(k, v)
					}
				}
				tc.header(m)
				r = view(r.Method, r.Host, r.Path, r.RawQuery, m)
			}
			if tc.body != nil {
				framed = tc.body(framed)
			}
			out, _, err := readBody(r, a, framed, tc.bopt)
			wantCode(t, err, tc.code)
			if err == nil && !bytes.Equal(out, data) {
				t.Fatal("wrong data")
			}
		})
	}
}

func TestBodyChecks(t *testing.T) {
	data := []byte("Welcome to Amazon S3.")
	md5sum := md5.Sum(data)
	goodMD5 := base64.StdEncoding.EncodeToString(md5sum[:])
	tests := []struct {
		name    string
		headers map[string]string
		code    string
	}{
		{"unsigned", map[string]string{"x-amz-content-sha256": UnsignedPayload}, ""},
		{"hex sha256", map[string]string{"x-amz-content-sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"}, ""},
		{"hex sha256 upper", map[string]string{"x-amz-content-sha256": "44CE7DD67C959E0D3524FFAC1771DFBBA87D2B6B4B4E99E42034A8B803F8B072"}, ""},
		{"hex sha256 mismatch", map[string]string{"x-amz-content-sha256": EmptySHA256}, CodeXAmzContentSHA256Mismatch},
		{"content-md5", map[string]string{"content-md5": goodMD5}, ""},
		{"content-md5 mismatch", map[string]string{"content-md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, CodeBadDigest},
		{"content-md5 invalid", map[string]string{"content-md5": "abc"}, CodeInvalidDigest},
		{"content-md5 wrong length", map[string]string{"content-md5": "AAAA"}, CodeInvalidDigest},
		{"two checksums", map[string]string{"x-amz-checksum-crc32": checksumOf(CRC32, data), "x-amz-checksum-sha1": checksumOf(SHA1, data)}, CodeInvalidRequest},
	}
	for _, alg := range Algorithms {
		h := alg.Header()
		tests = append(tests,
			struct {
				name    string
				headers map[string]string
				code    string
			}{string(alg), map[string]string{h: checksumOf(alg, data)}, ""},
			struct {
				name    string
				headers map[string]string
				code    string
			}{string(alg) + " mismatch", map[string]string{h: checksumOf(alg, data[1:])}, CodeBadDigest},
			struct {
				name    string
				headers map[string]string
				code    string
			}{string(alg) + " invalid", map[string]string{h: "%%%"}, CodeInvalidArgument},
			struct {
				name    string
				headers map[string]string
				code    string
			}{string(alg) + " wrong length", map[string]string{h: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, CodeInvalidArgument},
		)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			r := view("PUT", "h", "/b/k", "", h)
			out, b, err := readBody(r, nil, data, BodyOptions{})
			wantCode(t, err, tc.code)
			if err != nil {
				return
			}
			if !bytes.Equal(out, data) {
				t.Fatal("data")
			}
			if v := h.Get("content-md5"); v != "" && base64.StdEncoding.EncodeToString(b.MD5()) != v {
				t.Fatal("MD5()")
			}
			for _, alg := range Algorithms {
				if v := h.Get(alg.Header()); v != "" {
					if a, s := b.Checksum(); a != alg || s != v {
						t.Fatalf("Checksum() = %s %s", a, s)
					}
				}
			}
		})
	}
}

// TestBodyErrorBeforeEOF: a failing body never reports io.EOF.
func TestBodyErrorBeforeEOF(t *testing.T) {
	h := http.Header{"X-Amz-Content-Sha256": {EmptySHA256}}
	b, err := NewBody(view("PUT", "h", "/b/k", "", h), nil, strings.NewReader("data"), BodyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for {
		_, err := b.Read(buf)
		if err == io.EOF {
			t.Fatal("io.EOF before the mismatch")
		}
		if err != nil {
			wantCode(t, err, CodeXAmzContentSHA256Mismatch)
			if _, err2 := b.Read(buf); err2 != err {
				t.Fatal("error is not sticky")
			}
			return
		}
	}
}

// TestChunkedMemory: decoding 16 MiB allocates far less than one chunk.
func TestChunkedMemory(t *testing.T) {
	data := randBytes(10, 16<<20)
	r, a, framed := upload(t, data, StreamOptions{ChunkSize: 1 << 20, Trailer: CRC32C})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := NewBody(r, a, bytes.NewReader(framed), BodyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, b, make([]byte, 64<<10))
	runtime.ReadMemStats(&after)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("%v, %d bytes", err, n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
		t.Fatalf("decoding allocated %d bytes", alloc)
	}
}
