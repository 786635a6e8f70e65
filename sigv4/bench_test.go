package sigv4

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// BenchmarkVerifyHeader verifies a typical aws-sdk-cpp PUT.
func BenchmarkVerifyHeader(b *testing.B) {
	m := &Message{Method: "PUT", Host: "localhost:9000", Path: "/a-bucket/files/index_files/1/2/3/4/HNSW_1", Header: map[string][]string{
		"Content-Type":          {"binary/octet-stream"},
		"Content-Md5":           {"1B2M2Y8AsgTpgAmY7PhCfg=="},
		"Content-Length":        {"16777216"},
		"Amz-Sdk-Invocation-Id": {"1f3a6c0e-5d0a-4c7e-9d55-6a1f3b2e9c11"},
		"Amz-Sdk-Request":       {"attempt=1"},
	}}
	testSigner().Sign(m, EmptySHA256, testTime)
	r := lowerView(m.Method, m.Host, m.Path, "", m.Header)
	v := testVerifier(testTime)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPresigned verifies a presigned GET with a query.
func BenchmarkVerifyPresigned(b *testing.B) {
	r := presigned(3600e9, "versionId=abc&response-content-type=text%2Fplain")
	r = lowerView(r.Method, r.Host, r.Path, r.RawQuery, nil)
	v := testVerifier(testTime)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// lowerView is a view whose header lookups do not allocate, like a server's.
func lowerView(method, host, path, rawQuery string, h map[string][]string) *Request {
	lower := map[string][]string{}
	for k, v := range h {
		lower[strings.ToLower(k)] = v
	}
	names := namesOf(h)
	return &Request{Method: method, Host: host, Path: path, RawQuery: rawQuery,
		Header: func(name string) string {
			if v := lower[name]; len(v) > 0 {
				return v[0]
			}
			return ""
		},
		Values: func(name string) []string { return lower[name] },
		Names:  func() []string { return names },
	}
}

func benchmarkDecode(b *testing.B, opt StreamOptions) {
	data := randBytes(11, 16<<20)
	r, a, framed := upload(b, data, opt)
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		body, err := NewBody(r, a, bytes.NewReader(framed), BodyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, body, buf); err != nil || n != int64(len(data)) {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkDecodeSigned decodes a 16 MiB minio-go style body (64 KiB chunks).
func BenchmarkDecodeSigned(b *testing.B) { benchmarkDecode(b, StreamOptions{}) }

// BenchmarkDecodeSignedTrailer adds a CRC64NVME trailer.
func BenchmarkDecodeSignedTrailer(b *testing.B) {
	benchmarkDecode(b, StreamOptions{Trailer: CRC64NVME})
}

// BenchmarkDecodeUnsignedTrailer decodes an aws-sdk style CRC32C body.
func BenchmarkDecodeUnsignedTrailer(b *testing.B) {
	benchmarkDecode(b, StreamOptions{Unsigned: true, Trailer: CRC32C})
}

func BenchmarkChecksums(b *testing.B) {
	data := randBytes(12, 1<<20)
	for _, alg := range Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			h := alg.New()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				h.Write(data)
			}
		})
	}
}
