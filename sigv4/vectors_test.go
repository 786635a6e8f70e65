package sigv4

import (
	"bytes"
	"hash/crc64"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Examples from the Amazon S3 SigV4 documentation (timestamp 20130524T000000Z).
var awsDocTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func TestAWSDocHeaderExamples(t *testing.T) {
	v := testVerifier(awsDocTime.Add(time.Minute))
	cred := "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	tests := []struct {
		name, method, path, query string
		headers                   map[string]string
		signed, sig               string
	}{
		{"GetObject", "GET", "/test.txt", "",
			map[string]string{"Range": "bytes=0-9", "x-amz-content-sha256": EmptySHA256},
			"host;range;x-amz-content-sha256;x-amz-date",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
		{"PutObject", "PUT", "/test%24file.text", "",
			map[string]string{"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY",
				"x-amz-content-sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
			"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
		{"GetBucketLifecycle", "GET", "/", "lifecycle",
			map[string]string{"x-amz-content-sha256": EmptySHA256},
			"host;x-amz-content-sha256;x-amz-date",
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
		{"ListObjects", "GET", "/", "max-keys=2&prefix=J",
			map[string]string{"x-amz-content-sha256": EmptySHA256},
			"host;x-amz-content-sha256;x-amz-date",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, val := range tc.headers {
				h.Set(k, val)
			}
			h.Set("x-amz-date", "20130524T000000Z")
			// The documentation uses "," without a space between components.
			h.Set("Authorization", "AWS4-HMAC-SHA256 "+cred+",SignedHeaders="+tc.signed+",Signature="+tc.sig)
			a, err := v.Verify(view(tc.method, "examplebucket.s3.amazonaws.com", tc.path, tc.query, h))
			if err != nil {
				t.Fatal(err)
			}
			if a.Signature() != tc.sig {
				t.Fatalf("signature %s", a.Signature())
			}
			// Our signer must produce the same signature.
			mh := map[string][]string{}
			for k, val := range tc.headers {
				if k != "x-amz-content-sha256" {
					mh[k] = []string{val}
				}
			}
			s := &Signer{AccessKey: testAK, SecretKey: testSK, Region: "us-east-1"}
			got := s.Sign(&Message{Method: tc.method, Host: "examplebucket.s3.amazonaws.com", Path: tc.path, RawQuery: tc.query, Header: mh},
				tc.headers["x-amz-content-sha256"], awsDocTime)
			if got != tc.sig {
				t.Fatalf("signer produced %s", got)
			}
		})
	}
}

func TestAWSDocPresignExample(t *testing.T) {
	const sig = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	q := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig
	a, err := testVerifier(awsDocTime.Add(time.Hour)).Verify(view("GET", "examplebucket.s3.amazonaws.com", "/test.txt", q, http.Header{}))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Presigned || a.Signature() != sig {
		t.Fatalf("%+v", a)
	}
	s := &Signer{AccessKey: testAK, SecretKey: testSK, Region: "us-east-1"}
	got := s.Presign(&Message{Method: "GET", Host: "examplebucket.s3.amazonaws.com", Path: "/test.txt"}, 24*time.Hour, awsDocTime)
	if got != q {
		t.Fatalf("presign\n got %s\nwant %s", got, q)
	}
	_, err = testVerifier(awsDocTime.Add(24*time.Hour + time.Second)).Verify(view("GET", "examplebucket.s3.amazonaws.com", "/test.txt", q, http.Header{}))
	wantCode(t, err, CodeAccessDenied)
}

// TestAWSDocChunkedExample checks the documented 66560-byte chunked upload.
func TestAWSDocChunkedExample(t *testing.T) {
	const (
		seed   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
		chunk1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
		chunk2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
		final  = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
	)
	h := http.Header{}
	h.Set("x-amz-date", "20130524T000000Z")
	h.Set("x-amz-storage-class", "REDUCED_REDUNDANCY")
	h.Set("Content-Encoding", "aws-chunked")
	h.Set("x-amz-decoded-content-length", "66560")
	h.Set("Content-Length", "66824")
	h.Set("x-amz-content-sha256", StreamingPayload)
	h.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class, "+
		"Signature="+seed)
	r := view("PUT", "s3.amazonaws.com", "/examplebucket/chunkObject.txt", "", h)
	a, err := testVerifier(awsDocTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a"), 66560)
	framed := "10000;chunk-signature=" + chunk1 + "\r\n" + string(data[:65536]) + "\r\n" +
		"400;chunk-signature=" + chunk2 + "\r\n" + string(data[65536:]) + "\r\n" +
		"0;chunk-signature=" + final + "\r\n\r\n"
	if len(framed) != 66824 {
		t.Fatalf("framed length %d", len(framed))
	}
	b, err := NewBody(r, a, strings.NewReader(framed), BodyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("decode: %v (%d bytes)", err, len(got))
	}

	// Our encoder produces the same bytes.
	s := &Signer{AccessKey: testAK, SecretKey: testSK, Region: "us-east-1"}
	m := &Message{Method: "PUT", Host: "s3.amazonaws.com", Path: "/examplebucket/chunkObject.txt",
		Header: map[string][]string{"X-Amz-Storage-Class": {"REDUCED_REDUNDANCY"}, "Content-Encoding": {"aws-chunked"}}}
	enc, n := s.SignStreaming(m, bytes.NewReader(data), int64(len(data)), StreamOptions{}, awsDocTime)
	out, err := io.ReadAll(enc)
	if err != nil || n != 66824 || string(out) != framed {
		t.Fatalf("encode: %v, length %d/%d, equal %v", err, n, len(out), string(out) == framed)
	}
	if !strings.HasSuffix(m.Header["Authorization"][0], "Signature="+seed) {
		t.Fatalf("seed: %s", m.Header["Authorization"][0])
	}
}

func TestChecksumVectors(t *testing.T) {
	check := []byte("123456789")
	for alg, want := range map[Algorithm]string{
		CRC32:     "cbf43926",
		CRC32C:    "e3069283",
		CRC64NVME: "ae8b14860a799888",
		SHA1:      "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
		SHA256:    "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
	} {
		h := alg.New()
		h.Write(check)
		if got := strings.ToLower(string(hexOf(h.Sum(nil)))); got != want {
			t.Errorf("%s(123456789) = %s, want %s", alg, got, want)
		}
	}
	// The slicing-by-8 CRC64NVME matches hash/crc64 for any split of the input.
	tab := crc64.MakeTable(crc64NVMEPoly)
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 200; i++ {
		p := make([]byte, r.Intn(5000))
		r.Read(p)
		h := CRC64NVME.New()
		cut := 0
		if len(p) > 0 {
			cut = r.Intn(len(p))
		}
		h.Write(p[:cut])
		h.Write(p[cut:])
		if got, want := h.(interface{ Sum64() uint64 }).Sum64(), crc64.Checksum(p, tab); got != want {
			t.Fatalf("len %d: %x != %x", len(p), got, want)
		}
	}
	if a, ok := ParseAlgorithm("crc64nvme"); !ok || a != CRC64NVME || a.Header() != "x-amz-checksum-crc64nvme" {
		t.Fatal("ParseAlgorithm")
	}
	if _, ok := ParseAlgorithm("md4"); ok {
		t.Fatal("md4 is not a checksum algorithm")
	}
	// The 2026 algorithms; integer digests are big-endian.
	for _, v := range []struct {
		alg       Algorithm
		in, hexed string
	}{
		{MD5, "", "d41d8cd98f00b204e9800998ecf8427e"},
		{SHA512, "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
		{XXHASH64, "", "ef46db3751d8e999"},
		{XXHASH64, "abc", "44bc2cf5ad770999"},
		{XXHASH3, "", "2d06800538d394c2"},
		{XXHASH3, "abc", "78af5f94892f3950"},
		{XXHASH128, "", "99aa06d3014798d86001c324468d497f"},
		{XXHASH128, "abc", "06b05ab6733a618578af5f94892f3950"},
	} {
		h := v.alg.New()
		h.Write([]byte(v.in))
		if got := string(hexOf(h.Sum(nil))); got != v.hexed || len(got) != 2*v.alg.size() {
			t.Errorf("%s(%q) = %s, want %s", v.alg, v.in, got, v.hexed)
		}
		if a, ok := ParseAlgorithm(strings.ToLower(string(v.alg))); !ok || a != v.alg {
			t.Errorf("ParseAlgorithm(%s)", v.alg)
		}
	}
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}
