package test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/lsmstore/lsmstore/sigv4"
)

// exchange is one HTTP round trip an SDK client made.
type exchange struct {
	Method     string
	URL        *url.URL
	ReqHeader  http.Header
	ReqLength  int64
	Status     int
	RespHeader http.Header
}

// recorder is an http.RoundTripper that remembers every exchange, so tests
// can check what the SDK really sent and what status the server answered.
type recorder struct {
	base    http.RoundTripper
	corrupt func(*http.Request) bool // flip a byte of matching response bodies

	mu  sync.Mutex
	log []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchange{Method: req.Method, URL: req.URL, ReqHeader: req.Header.Clone(), ReqLength: req.ContentLength}
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		ex.Status, ex.RespHeader = resp.StatusCode, resp.Header.Clone()
		if r.corrupt != nil && r.corrupt(req) {
			resp.Body = &flipReader{ReadCloser: resp.Body, at: 1000}
		}
	}
	r.mu.Lock()
	r.log = append(r.log, ex)
	r.mu.Unlock()
	return resp, err
}

// find returns the last exchange matching f.
func (r *recorder) find(t testing.TB, what string, f func(exchange) bool) exchange {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.log) - 1; i >= 0; i-- {
		if f(r.log[i]) {
			return r.log[i]
		}
	}
	t.Fatalf("no recorded request %s", what)
	return exchange{}
}

// lastFor returns the last exchange with method on the object path.
func (r *recorder) lastFor(t testing.TB, method, bucket, key string) exchange {
	t.Helper()
	p := "/" + bucket + "/" + key
	return r.find(t, method+" "+p, func(e exchange) bool { return e.Method == method && e.URL.Path == p })
}

// flipReader flips one byte of a response body.
type flipReader struct {
	io.ReadCloser
	at  int64
	off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x5a
	}
	f.off += int64(n)
	return n, err
}

// testTransport dials 127.0.0.1 only. With fakeTLS, "https" URLs are served
// over a plain TCP connection: the SDK then behaves as it does over TLS
// (aws-chunked bodies with trailing checksums) against the plain-HTTP lsmd.
func testTransport(fakeTLS bool) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConnsPerHost:   64,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		DisableCompression:    true,
	}
	if fakeTLS {
		tr.DialTLSContext = d.DialContext
	}
	return tr
}

// newSDK returns an aws-sdk-go-v2 S3 client for s: path style, us-east-1,
// no retries (a retry would hide a server error).
func newSDK(t testing.TB, s *server, fakeTLS bool, optFns ...func(*s3.Options)) (*s3.Client, *recorder) {
	t.Helper()
	tr := testTransport(fakeTLS)
	t.Cleanup(tr.CloseIdleConnections)
	rec := &recorder{base: tr}
	endpoint := s.Endpoint
	if fakeTLS {
		endpoint = "https://" + s.Addr
	}
	opts := s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		HTTPClient:   &http.Client{Transport: rec},
		Retryer:      aws.NopRetryer{},
		// The SDK's defaults as config.LoadDefaultConfig sets them; a bare
		// s3.Options leaves them unset, which disables both.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	return s3.New(opts, optFns...), rec
}

// withContentMD5 makes a client send Content-MD5 on every request with a
// body, as aws-sdk-cpp does; the header is added before signing.
func withContentMD5(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Build.Add(middleware.BuildMiddlewareFunc("TestContentMD5", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok {
				return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected request type %T", in.Request)
			}
			h := md5.New()
			if st := req.GetStream(); st != nil {
				if _, err := io.Copy(h, st); err != nil {
					return middleware.BuildOutput{}, middleware.Metadata{}, err
				}
				if err := req.RewindStream(); err != nil {
					return middleware.BuildOutput{}, middleware.Metadata{}, err
				}
			}
			req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(h.Sum(nil)))
			return next.HandleBuild(ctx, in)
		}), middleware.After)
	})
}

func mkBucket(t testing.TB, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

func sdkPut(t testing.TB, c *s3.Client, bucket, key string, data []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return out
}

// sdkGet reads a whole object (or the range r) and returns its bytes and
// the output.
func sdkGet(t testing.TB, c *s3.Client, bucket, key, r string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if r != "" {
		in.Range = aws.String(r)
	}
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("get %s %s: %v", key, r, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", key, r, err)
	}
	return b, out
}

// wantAPIError checks that err is an S3 error with the code and status.
func wantAPIError(t testing.TB, what string, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %s (%d)", what, code, status)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("%s: error %v, want code %s", what, err, code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("%s: error %v, want HTTP status %d", what, err, status)
	}
}

// fastRand returns n pseudo-random bytes for seed, quickly even under -race.
func fastRand(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// multipartETag is S3's ETag of a multipart object: the MD5 of the parts'
// binary MD5s, "-", the part count.
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// checksumOf computes an S3 checksum value (base64) independently of the
// server's and the SDK's implementations.
func checksumOf(alg string, b []byte) string {
	var sum []byte
	switch alg {
	case "CRC32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b))
	case "CRC32C":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	case "CRC64NVME":
		sum = binary.BigEndian.AppendUint64(nil, crc64.Checksum(b, crc64.MakeTable(0x9a6c9329ac4bc9b5)))
	case "SHA1":
		s := sha1.Sum(b)
		sum = s[:]
	case "SHA256":
		s := sha256.Sum256(b)
		sum = s[:]
	default:
		panic(alg)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// outChecksum picks the checksum field of an output for alg.
func outChecksum(alg string, crc32v, crc32c, crc64, sha1v, sha256v *string) string {
	switch alg {
	case "CRC32":
		return str(crc32v)
	case "CRC32C":
		return str(crc32c)
	case "CRC64NVME":
		return str(crc64)
	case "SHA1":
		return str(sha1v)
	case "SHA256":
		return str(sha256v)
	}
	return "?"
}

// TestAWSSDKChecksums: the SDK's default request checksums, as headers over
// plain HTTP and as aws-chunked trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
// as it sends them over TLS, then GetObject with ChecksumMode ENABLED.
func TestAWSSDKChecksums(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	hc, hrec := newSDK(t, s, false)
	tlsc, trec := newSDK(t, s, true)
	const bucket = "checksums"
	mkBucket(t, hc, bucket)
	data := fastRand(11, 3<<20+17)

	cases := []struct {
		name    string
		c       *s3.Client
		rec     *recorder
		alg     types.ChecksumAlgorithm // "" = the SDK's default (CRC32)
		trailer bool
	}{
		{"http-default", hc, hrec, "", false},
		{"http-crc64nvme", hc, hrec, types.ChecksumAlgorithmCrc64nvme, false},
		{"http-sha256", hc, hrec, types.ChecksumAlgorithmSha256, false},
		{"trailer-default", tlsc, trec, "", true},
		{"trailer-crc64nvme", tlsc, trec, types.ChecksumAlgorithmCrc64nvme, true},
		{"trailer-crc32c", tlsc, trec, types.ChecksumAlgorithmCrc32c, true},
		{"trailer-sha1", tlsc, trec, types.ChecksumAlgorithmSha1, true},
		{"trailer-sha256", tlsc, trec, types.ChecksumAlgorithmSha256, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alg := string(tc.alg)
			if alg == "" {
				alg = "CRC32"
			}
			want := checksumOf(alg, data)
			hdr := "X-Amz-Checksum-" + strings.ToLower(alg)
			key := "obj/" + tc.name
			out, err := tc.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
				Body: bytes.NewReader(data), ChecksumAlgorithm: tc.alg, ContentType: aws.String("application/x-parquet")})
			if err != nil {
				t.Fatal(err)
			}
			ex := tc.rec.lastFor(t, "PUT", bucket, key)
			if ex.Status != 200 {
				t.Fatalf("PUT status %d", ex.Status)
			}
			if tc.trailer {
				if got := ex.ReqHeader.Get("X-Amz-Content-Sha256"); got != sigv4.StreamingUnsignedTrailer {
					t.Fatalf("SDK sent x-amz-content-sha256 %q, want %s", got, sigv4.StreamingUnsignedTrailer)
				}
				if got := ex.ReqHeader.Get("X-Amz-Trailer"); !strings.EqualFold(got, hdr) {
					t.Fatalf("SDK sent x-amz-trailer %q, want %s", got, hdr)
				}
				if got := ex.ReqHeader.Get("X-Amz-Decoded-Content-Length"); got != strconv.Itoa(len(data)) {
					t.Fatalf("x-amz-decoded-content-length %q", got)
				}
				if !strings.Contains(ex.ReqHeader.Get("Content-Encoding"), "aws-chunked") {
					t.Fatalf("Content-Encoding %q, want aws-chunked", ex.ReqHeader.Get("Content-Encoding"))
				}
			} else {
				if got := ex.ReqHeader.Get("X-Amz-Content-Sha256"); got != sha256hex(data) {
					t.Fatalf("SDK sent x-amz-content-sha256 %q, want the hex SHA-256", got)
				}
				if got := ex.ReqHeader.Get(hdr); got != want {
					t.Fatalf("SDK sent %s %q, want %q", hdr, got, want)
				}
			}
			if got := outChecksum(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256); got != want {
				t.Fatalf("PutObject echoed %s %q, want %q", alg, got, want)
			}
			if str(out.ETag) != `"`+md5hex(data)+`"` {
				t.Fatalf("PutObject ETag %s, want quoted MD5", str(out.ETag))
			}

			g, err := tc.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(g.Body)
			g.Body.Close()
			if err != nil {
				t.Fatalf("GET with checksum validation: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("GET returned %d bytes, not the object", len(got))
			}
			if v := outChecksum(alg, g.ChecksumCRC32, g.ChecksumCRC32C, g.ChecksumCRC64NVME, g.ChecksumSHA1, g.ChecksumSHA256); v != want {
				t.Fatalf("GET %s %q, want %q", alg, v, want)
			}
			if g.ContentEncoding != nil {
				t.Fatalf("GET Content-Encoding %q: aws-chunked must not be stored", *g.ContentEncoding)
			}
			if aws.ToInt64(g.ContentLength) != int64(len(data)) || aws.ToString(g.ContentType) != "application/x-parquet" {
				t.Fatalf("GET Content-Length %d Content-Type %q", aws.ToInt64(g.ContentLength), aws.ToString(g.ContentType))
			}
			h, err := tc.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			if v := outChecksum(alg, h.ChecksumCRC32, h.ChecksumCRC32C, h.ChecksumCRC64NVME, h.ChecksumSHA1, h.ChecksumSHA256); v != want {
				t.Fatalf("HEAD %s %q, want %q", alg, v, want)
			}
			if h.ContentEncoding != nil || aws.ToInt64(h.ContentLength) != int64(len(data)) {
				t.Fatalf("HEAD Content-Encoding %v Content-Length %d", h.ContentEncoding, aws.ToInt64(h.ContentLength))
			}
		})
	}

	// The SDK really validates the echoed checksum: a body corrupted in
	// transit must fail the read.
	t.Run("validation-detects-corruption", func(t *testing.T) {
		cc, crec := newSDK(t, s, false)
		crec.corrupt = func(r *http.Request) bool { return r.Method == "GET" }
		g, err := cc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("obj/http-default"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(g.Body)
		g.Body.Close()
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "checksum") {
			t.Fatalf("reading a corrupted body with ChecksumMode ENABLED: err %v, want a checksum mismatch", err)
		}
	})

	// Multipart with a checksum algorithm chosen at create: each part sent
	// with a CRC32 trailer, the object gets the composite CRC32 "-N".
	t.Run("multipart-trailer-crc32", func(t *testing.T) {
		key := "mpu/crc32"
		cu, err := tlsc.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		parts := [][]byte{fastRand(12, 5<<20), data[:1<<20]}
		var done []types.CompletedPart
		composite := crc32.NewIEEE()
		for i, p := range parts {
			n := int32(i + 1)
			up, err := tlsc.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId,
				PartNumber: aws.Int32(n), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
			if err != nil {
				t.Fatal(err)
			}
			ex := trec.find(t, "UploadPart", func(e exchange) bool {
				return e.Method == "PUT" && e.URL.Query().Get("partNumber") == strconv.Itoa(int(n)) && e.URL.Query().Get("uploadId") == *cu.UploadId
			})
			if ex.ReqHeader.Get("X-Amz-Content-Sha256") != sigv4.StreamingUnsignedTrailer || !strings.EqualFold(ex.ReqHeader.Get("X-Amz-Trailer"), "x-amz-checksum-crc32") {
				t.Fatalf("UploadPart sent %q / trailer %q", ex.ReqHeader.Get("X-Amz-Content-Sha256"), ex.ReqHeader.Get("X-Amz-Trailer"))
			}
			if str(up.ChecksumCRC32) != checksumOf("CRC32", p) {
				t.Fatalf("part %d CRC32 %s, want %s", n, str(up.ChecksumCRC32), checksumOf("CRC32", p))
			}
			raw, _ := base64.StdEncoding.DecodeString(*up.ChecksumCRC32)
			composite.Write(raw)
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(n), ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32})
		}
		co, err := tlsc.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		if err != nil {
			t.Fatal(err)
		}
		wantComposite := base64.StdEncoding.EncodeToString(composite.Sum(nil)) + "-2"
		if str(co.ChecksumCRC32) != wantComposite {
			t.Fatalf("complete CRC32 %s, want %s", str(co.ChecksumCRC32), wantComposite)
		}
		if str(co.ETag) != `"`+multipartETag(parts...)+`"` {
			t.Fatalf("complete ETag %s, want %s", str(co.ETag), multipartETag(parts...))
		}
		g, err := tlsc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(g.Body)
		g.Body.Close()
		if err != nil || !bytes.Equal(got, slices.Concat(parts...)) {
			t.Fatalf("GET multipart: %v, %d bytes", err, len(got))
		}
		if str(g.ChecksumCRC32) != wantComposite {
			t.Fatalf("GET CRC32 %s, want %s", str(g.ChecksumCRC32), wantComposite)
		}
	})
}

// cppPut sends a PUT the way aws-sdk-cpp's S3Client does: hex SHA-256
// payload hash, Content-MD5, and the SDK's signed amz-sdk-* headers.
func cppPut(t testing.TB, s *server, signer *sigv4.Signer, bucket, key string, data []byte) *http.Response {
	t.Helper()
	sum := md5.Sum(data)
	req, err := http.NewRequest("PUT", s.Endpoint+sigv4.EncodePath("/"+bucket+"/"+key), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("amz-sdk-invocation-id", "8E1A7C62-0B33-4C39-9D8C-1F4B07E5D0C1")
	req.Header.Set("amz-sdk-request", "attempt=1")
	req.Header.Set("Content-Length", strconv.Itoa(len(data)))
	req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	req.Header.Set("Content-Type", "binary/octet-stream")
	req.Header.Set("User-Agent", "aws-sdk-cpp/1.11.488 ua/2.1 api/S3 os/Linux#5.15 lang/c++#C++17 md/aws-crt#0.29.9 md/arch#x86_64")
	signer.Sign(&sigv4.Message{Method: "PUT", Host: req.URL.Host, Path: req.URL.EscapedPath(), RawQuery: req.URL.RawQuery, Header: req.Header},
		sha256hex(data), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestAWSSDKContentMD5: PUTs carrying Content-MD5 with a hex SHA-256
// payload hash (aws-sdk-cpp's form), through the Go SDK with a middleware and
// as a raw signed request; then HEAD and whole GET as aws-sdk-cpp reads.
func TestAWSSDKContentMD5(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, rec := newSDK(t, s, false, withContentMD5, func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	const bucket = "md5"
	mkBucket(t, c, bucket)

	data := fastRand(21, 1<<20+333)
	key := "files/stats_log/1/2/3/4/5"
	out := sdkPut(t, c, bucket, key, data)
	ex := rec.lastFor(t, "PUT", bucket, key)
	sum := md5.Sum(data)
	if ex.ReqHeader.Get("Content-MD5") != base64.StdEncoding.EncodeToString(sum[:]) || ex.ReqHeader.Get("X-Amz-Content-Sha256") != sha256hex(data) {
		t.Fatalf("SDK did not send Content-MD5 + hex SHA-256: %q %q", ex.ReqHeader.Get("Content-MD5"), ex.ReqHeader.Get("X-Amz-Content-Sha256"))
	}
	if !strings.Contains(ex.ReqHeader.Get("Authorization"), "content-md5") {
		t.Fatalf("Content-MD5 not signed: %s", ex.ReqHeader.Get("Authorization"))
	}
	for k := range ex.ReqHeader {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			t.Fatalf("SDK also sent %s; this case must test Content-MD5 alone", k)
		}
	}
	if ex.Status != 200 || str(out.ETag) != `"`+md5hex(data)+`"` {
		t.Fatalf("PUT status %d ETag %s", ex.Status, str(out.ETag))
	}
	got, _ := sdkGet(t, c, bucket, key, "")
	if !bytes.Equal(got, data) {
		t.Fatal("GET after Content-MD5 PUT returned other bytes")
	}

	// A 16 MiB index slice, aws-sdk-cpp style, then HEAD + whole GET.
	signer := &sigv4.Signer{AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"}
	big := fastRand(22, 16<<20)
	bkey := "files/index_files/1/2/3/4/HNSW_1"
	resp := cppPut(t, s, signer, bucket, bkey, big)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5hex(big)+`"` {
		t.Fatalf("cpp-style PUT: status %d ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(bkey)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(h.ContentLength) != int64(len(big)) || aws.ToString(h.ContentType) != "binary/octet-stream" || str(h.ETag) != `"`+md5hex(big)+`"` {
		t.Fatalf("HEAD: length %d type %q etag %s", aws.ToInt64(h.ContentLength), aws.ToString(h.ContentType), str(h.ETag))
	}
	got, g := sdkGet(t, c, bucket, bkey, "")
	if !bytes.Equal(got, big) || aws.ToInt64(g.ContentLength) != int64(len(big)) {
		t.Fatalf("GET 16 MiB: %d bytes, Content-Length %d", len(got), aws.ToInt64(g.ContentLength))
	}
	// An empty object with Content-MD5 of nothing.
	resp = cppPut(t, s, signer, bucket, "files/empty", nil)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"d41d8cd98f00b204e9800998ecf8427e"` {
		t.Fatalf("empty cpp-style PUT: status %d ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

// listModel is what S3 lists for keys (sorted) under prefix and delimiter.
func listModel(keys []string, prefix, delim, after string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e := k
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				e = k[:len(prefix)+i+len(delim)]
			}
		}
		if e <= after && after != "" {
			continue
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	sort.Strings(out)
	return out
}

func listKeys() []string {
	var keys []string
	for i := 0; i < 14; i++ {
		keys = append(keys, fmt.Sprintf("files/insert_log/1/2/%d/100/%03d", i%3, i))
	}
	keys = append(keys,
		"files/delta_log/1/2/3/9", "files/stats_log/a b/c", "files/a+b", "files/sp ace", "files/plus+and space/x",
		"files/ünï/ключ", "files/日本語/テスト", "files/~tilde", "files/pct%2Fx", "files/semi;colon&amp=1",
		"top-level", "zz/last")
	sort.Strings(keys)
	return keys
}

// TestAWSSDKList: ListObjects V1 (marker paging, delimiter) and
// ListObjectsV2 (continuation tokens, start-after, delimiter,
// encoding-type=url with awkward keys).
func TestAWSSDKList(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, _ := newSDK(t, s, false)
	const bucket = "lists"
	mkBucket(t, c, bucket)
	keys := listKeys()
	for i, k := range keys {
		sdkPut(t, c, bucket, k, []byte(fmt.Sprint(i)))
	}
	start := time.Now()

	t.Run("v1-marker-paging", func(t *testing.T) {
		var got []string
		marker := ""
		for pages := 0; ; pages++ {
			if pages > len(keys) {
				t.Fatal("V1 paging does not end")
			}
			out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket), Marker: aws.String(marker), MaxKeys: aws.Int32(4)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Contents) > 4 || aws.ToInt32(out.MaxKeys) != 4 {
				t.Fatalf("page of %d, MaxKeys %d", len(out.Contents), aws.ToInt32(out.MaxKeys))
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
				if aws.ToInt64(o.Size) <= 0 || !strings.HasPrefix(str(o.ETag), `"`) || o.LastModified == nil {
					t.Fatalf("listed %s: size %d etag %s", aws.ToString(o.Key), aws.ToInt64(o.Size), str(o.ETag))
				}
				if d := o.LastModified.Sub(start); d > 5*time.Second || d < -60*time.Second {
					t.Fatalf("LastModified %v is not the write time (now %v)", o.LastModified, start)
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			last := aws.ToString(out.Contents[len(out.Contents)-1].Key)
			if out.NextMarker != nil && *out.NextMarker != last {
				t.Fatalf("NextMarker %q, last key %q", *out.NextMarker, last)
			}
			marker = last
		}
		if !slices.Equal(got, keys) {
			t.Fatalf("V1 listing:\n got %q\nwant %q", got, keys)
		}
	})

	t.Run("v1-delimiter", func(t *testing.T) {
		for _, prefix := range []string{"", "files/", "files/insert_log/1/2/"} {
			want := listModel(keys, prefix, "/", "")
			var got []string
			marker := ""
			for pages := 0; ; pages++ {
				if pages > len(keys) {
					t.Fatal("paging does not end")
				}
				out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
					Marker: aws.String(marker), MaxKeys: aws.Int32(2)})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToString(out.Delimiter) != "/" || aws.ToString(out.Prefix) != prefix {
					t.Fatalf("echoed delimiter %q prefix %q", aws.ToString(out.Delimiter), aws.ToString(out.Prefix))
				}
				page := []string{}
				for _, o := range out.Contents {
					page = append(page, aws.ToString(o.Key))
				}
				for _, p := range out.CommonPrefixes {
					page = append(page, aws.ToString(p.Prefix))
				}
				if len(page) > 2 {
					t.Fatalf("page of %d entries with MaxKeys 2", len(page))
				}
				got = append(got, page...)
				if !aws.ToBool(out.IsTruncated) {
					break
				}
				// With a delimiter S3 must return NextMarker.
				if aws.ToString(out.NextMarker) == "" {
					t.Fatalf("truncated V1 listing with a delimiter has no NextMarker")
				}
				marker = *out.NextMarker
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Fatalf("prefix %q:\n got %q\nwant %q", prefix, got, want)
			}
		}
	})

	t.Run("v2-continuation", func(t *testing.T) {
		var got []string
		var token *string
		for pages := 0; ; pages++ {
			if pages > len(keys) {
				t.Fatal("V2 paging does not end")
			}
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), ContinuationToken: token, MaxKeys: aws.Int32(3)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt32(out.KeyCount) != int32(len(out.Contents)) || len(out.Contents) > 3 {
				t.Fatalf("KeyCount %d with %d contents", aws.ToInt32(out.KeyCount), len(out.Contents))
			}
			if aws.ToString(out.ContinuationToken) != aws.ToString(token) {
				t.Fatalf("ContinuationToken echoed %q, sent %q", aws.ToString(out.ContinuationToken), aws.ToString(token))
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
				if o.Owner != nil {
					t.Fatalf("Owner returned without fetch-owner")
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				if out.NextContinuationToken != nil {
					t.Fatalf("NextContinuationToken on the last page")
				}
				break
			}
			if aws.ToString(out.NextContinuationToken) == "" {
				t.Fatal("truncated without NextContinuationToken")
			}
			token = out.NextContinuationToken
		}
		if !slices.Equal(got, keys) {
			t.Fatalf("V2 listing:\n got %q\nwant %q", got, keys)
		}
		// The SDK's paginator with fetch-owner.
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), FetchOwner: aws.Bool(true), MaxKeys: aws.Int32(7)})
		n := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				if o.Owner == nil || aws.ToString(o.Owner.ID) == "" {
					t.Fatalf("fetch-owner: no Owner for %s", aws.ToString(o.Key))
				}
				n++
			}
		}
		if n != len(keys) {
			t.Fatalf("paginator listed %d of %d", n, len(keys))
		}
	})

	t.Run("v2-start-after-delimiter", func(t *testing.T) {
		for _, tc := range []struct{ prefix, delim, after string }{
			{"", "", "files/insert_log/1/2/1"},
			{"files/", "/", "files/delta_log/"},
			{"files/", "/", "files/sp ace"},
			{"files/insert_log/", "/", ""},
			{"", "/", "zz"},
			{"files/insert_log/1/2/", "/", "files/insert_log/1/2/1/100/004"},
		} {
			want := listModel(keys, tc.prefix, tc.delim, tc.after)
			var got []string
			var token *string
			for pages := 0; ; pages++ {
				if pages > len(keys) {
					t.Fatal("paging does not end")
				}
				out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(tc.prefix),
					Delimiter: aws.String(tc.delim), StartAfter: aws.String(tc.after), ContinuationToken: token, MaxKeys: aws.Int32(2)})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToInt32(out.KeyCount) != int32(len(out.Contents)+len(out.CommonPrefixes)) {
					t.Fatalf("KeyCount %d, %d contents + %d prefixes", aws.ToInt32(out.KeyCount), len(out.Contents), len(out.CommonPrefixes))
				}
				if tc.after != "" && aws.ToString(out.StartAfter) != tc.after {
					t.Fatalf("StartAfter echoed %q", aws.ToString(out.StartAfter))
				}
				for _, o := range out.Contents {
					got = append(got, aws.ToString(o.Key))
				}
				for _, p := range out.CommonPrefixes {
					got = append(got, aws.ToString(p.Prefix))
				}
				if !aws.ToBool(out.IsTruncated) {
					break
				}
				token = out.NextContinuationToken
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%+v:\n got %q\nwant %q", tc, got, want)
			}
		}
	})

	t.Run("v2-encoding-url", func(t *testing.T) {
		for _, tc := range []struct{ prefix, delim string }{
			{"", ""}, {"files/", "/"}, {"files/ünï/", "/"}, {"files/plus+and space/", ""}, {"files/sp", " "},
		} {
			want := listModel(keys, tc.prefix, tc.delim, "")
			var got []string
			var token *string
			for {
				out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(tc.prefix),
					Delimiter: aws.String(tc.delim), EncodingType: types.EncodingTypeUrl, ContinuationToken: token, MaxKeys: aws.Int32(5)})
				if err != nil {
					t.Fatal(err)
				}
				if out.EncodingType != types.EncodingTypeUrl {
					t.Fatalf("EncodingType %q", out.EncodingType)
				}
				dec := func(what, v string) string {
					if strings.ContainsAny(v, " +") || strings.ContainsFunc(v, func(r rune) bool { return r > 0x7e }) {
						t.Fatalf("%s %q is not URL-encoded", what, v)
					}
					d, err := url.QueryUnescape(v)
					if err != nil {
						t.Fatalf("%s %q: %v", what, v, err)
					}
					return d
				}
				if p := dec("Prefix", aws.ToString(out.Prefix)); p != tc.prefix {
					t.Fatalf("Prefix decodes to %q, want %q", p, tc.prefix)
				}
				if tc.delim != "" {
					if d := dec("Delimiter", aws.ToString(out.Delimiter)); d != tc.delim {
						t.Fatalf("Delimiter decodes to %q", d)
					}
				}
				for _, o := range out.Contents {
					got = append(got, dec("Key", aws.ToString(o.Key)))
				}
				for _, p := range out.CommonPrefixes {
					got = append(got, dec("CommonPrefix", aws.ToString(p.Prefix)))
				}
				if !aws.ToBool(out.IsTruncated) {
					break
				}
				token = out.NextContinuationToken
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%+v:\n got %q\nwant %q", tc, got, want)
			}
		}
		// V1 with encoding-type=url too (minio-go and the C++ SDK both ask).
		out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket), Prefix: aws.String("files/日本語/"), EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 1 {
			t.Fatalf("V1 url-encoded listing: %d keys", len(out.Contents))
		}
		k := aws.ToString(out.Contents[0].Key)
		if dk, err := url.QueryUnescape(k); err != nil || dk != "files/日本語/テスト" || strings.ContainsFunc(k, func(r rune) bool { return r > 0x7e }) {
			t.Fatalf("V1 url-encoded key %q decodes to %q (%v)", k, dk, err)
		}
	})

	t.Run("empty-and-missing", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("nope/")})
		if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 || aws.ToBool(out.IsTruncated) {
			t.Fatalf("empty prefix: %v %+v", err, out)
		}
		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("no-such-bucket")})
		wantAPIError(t, "list missing bucket", err, "NoSuchBucket", 404)
		_, err = c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("no-such-bucket")})
		wantAPIError(t, "list V1 missing bucket", err, "NoSuchBucket", 404)
	})
}

// TestAWSSDKMultipart: parts uploaded in parallel and out of order, a
// 0-byte last part (Arrow) and a small last part, Complete's result and
// ETag, ListParts, ListMultipartUploads, Abort and NoSuchUpload.
func TestAWSSDKMultipart(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, rec := newSDK(t, s, false)
	const bucket = "mpu"
	mkBucket(t, c, bucket)

	create := func(key string) string {
		t.Helper()
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
			ContentType: aws.String("application/x-parquet"), Metadata: map[string]string{"writer": "arrow"}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Bucket) != bucket || aws.ToString(out.Key) != key || aws.ToString(out.UploadId) == "" {
			t.Fatalf("create: %+v", out)
		}
		return *out.UploadId
	}
	// uploadParts sends parts concurrently: the part named first goes alone
	// first (so arrival is out of order), the others in parallel. It may run
	// off the test goroutine, so it reports instead of failing.
	uploadParts := func(key, id string, parts map[int32][]byte, first int32) (map[int32]string, error) {
		etags := map[int32]string{}
		var mu sync.Mutex
		put := func(n int32) error {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
				PartNumber: aws.Int32(n), Body: bytes.NewReader(parts[n])})
			if err != nil {
				return fmt.Errorf("%s part %d: %w", key, n, err)
			}
			mu.Lock()
			etags[n] = aws.ToString(out.ETag)
			mu.Unlock()
			return nil
		}
		if err := put(first); err != nil {
			return nil, err
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(parts))
		for n := range parts {
			if n == first {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- put(n)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return nil, err
			}
		}
		for n, p := range parts {
			if etags[n] != `"`+md5hex(p)+`"` {
				return nil, fmt.Errorf("%s part %d ETag %s, want quoted MD5 %s", key, n, etags[n], md5hex(p))
			}
		}
		return etags, nil
	}
	upload := func(key, id string, parts map[int32][]byte, first int32) map[int32]string {
		t.Helper()
		etags, err := uploadParts(key, id, parts, first)
		if err != nil {
			t.Fatal(err)
		}
		return etags
	}
	completed := func(etags map[int32]string, nums ...int32) *types.CompletedMultipartUpload {
		var ps []types.CompletedPart
		for _, n := range nums {
			ps = append(ps, types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etags[n])})
		}
		return &types.CompletedMultipartUpload{Parts: ps}
	}

	const mib = 1 << 20
	// A: three 5 MiB parts and a 0-byte last part, as Arrow may send.
	keyA := "files/insert_log/1/2/3/100/0.parquet"
	idA := create(keyA)
	partsA := map[int32][]byte{1: fastRand(31, 5*mib), 2: fastRand(32, 5*mib+1), 3: fastRand(33, 5*mib+7), 4: {}}
	// B: two 5 MiB parts and a small last part.
	keyB := "files/insert_log/1/2/3/101/0.parquet"
	idB := create(keyB)
	partsB := map[int32][]byte{1: fastRand(41, 5*mib), 2: fastRand(42, 5*mib), 3: fastRand(43, 123457)}
	// C: to be aborted. D: a second upload of keyA, to be listed.
	keyC := "files/insert_log/9/9/9/9/aborted"
	idC := create(keyC)
	idD := create(keyA)

	var wg sync.WaitGroup
	var etagsA, etagsB map[int32]string
	var errA, errB error
	wg.Add(2)
	go func() { defer wg.Done(); etagsA, errA = uploadParts(keyA, idA, partsA, 4) }()
	go func() { defer wg.Done(); etagsB, errB = uploadParts(keyB, idB, partsB, 3) }()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	upload(keyC, idC, map[int32][]byte{2: []byte("part two")}, 2)

	t.Run("list-parts", func(t *testing.T) {
		out, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(keyA), UploadId: aws.String(idA)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Bucket) != bucket || aws.ToString(out.Key) != keyA || aws.ToString(out.UploadId) != idA || aws.ToBool(out.IsTruncated) {
			t.Fatalf("ListParts header: %+v", out)
		}
		if len(out.Parts) != 4 {
			t.Fatalf("ListParts: %d parts", len(out.Parts))
		}
		for i, p := range out.Parts {
			n := int32(i + 1)
			if aws.ToInt32(p.PartNumber) != n || aws.ToInt64(p.Size) != int64(len(partsA[n])) || aws.ToString(p.ETag) != etagsA[n] || p.LastModified == nil {
				t.Fatalf("ListParts part %d: number %d size %d etag %s", n, aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), aws.ToString(p.ETag))
			}
		}
		// Paging by part-number-marker.
		out, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(keyA), UploadId: aws.String(idA),
			MaxParts: aws.Int32(2), PartNumberMarker: aws.String("1")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Parts) != 2 || aws.ToInt32(out.Parts[0].PartNumber) != 2 || !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextPartNumberMarker) != "3" {
			t.Fatalf("ListParts page: %d parts, truncated %v, next %q", len(out.Parts), aws.ToBool(out.IsTruncated), aws.ToString(out.NextPartNumberMarker))
		}
	})

	t.Run("list-uploads", func(t *testing.T) {
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, u := range out.Uploads {
			got[aws.ToString(u.UploadId)] = aws.ToString(u.Key)
			if u.Initiated == nil || time.Since(*u.Initiated) > time.Minute {
				t.Fatalf("upload %s Initiated %v", aws.ToString(u.UploadId), u.Initiated)
			}
		}
		want := map[string]string{idA: keyA, idB: keyB, idC: keyC, idD: keyA}
		if len(got) != len(want) {
			t.Fatalf("ListMultipartUploads: %v, want %v", got, want)
		}
		for id, k := range want {
			if got[id] != k {
				t.Fatalf("ListMultipartUploads: %v, want %v", got, want)
			}
		}
		// Sorted by key, then by initiation.
		for i := 1; i < len(out.Uploads); i++ {
			if aws.ToString(out.Uploads[i-1].Key) > aws.ToString(out.Uploads[i].Key) {
				t.Fatalf("uploads not sorted by key: %v", got)
			}
		}
		out, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String("files/insert_log/1/"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) != 0 || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "files/insert_log/1/2/" {
			t.Fatalf("ListMultipartUploads with delimiter: %d uploads, prefixes %+v", len(out.Uploads), out.CommonPrefixes)
		}
	})

	t.Run("zero-byte-middle-part", func(t *testing.T) {
		key := "files/zero-middle"
		id := create(key)
		et := upload(key, id, map[int32][]byte{1: fastRand(51, 5*mib), 2: {}, 3: fastRand(52, 1000)}, 2)
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id),
			MultipartUpload: completed(et, 1, 2, 3)})
		wantAPIError(t, "complete with a 0-byte middle part", err, "EntityTooSmall", 400)
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
			t.Fatal("object exists after a failed complete")
		}
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("complete", func(t *testing.T) {
		for _, tc := range []struct {
			key, id string
			parts   map[int32][]byte
			etags   map[int32]string
			nums    []int32
		}{
			{keyA, idA, partsA, etagsA, []int32{1, 2, 3, 4}},
			{keyB, idB, partsB, etagsB, []int32{1, 2, 3}},
		} {
			out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(tc.key),
				UploadId: aws.String(tc.id), MultipartUpload: completed(tc.etags, tc.nums...)})
			if err != nil {
				t.Fatal(err)
			}
			ex := rec.find(t, "Complete", func(e exchange) bool { return e.Method == "POST" && e.URL.Query().Get("uploadId") == tc.id })
			if ex.Status != 200 {
				t.Fatalf("complete status %d", ex.Status)
			}
			var ordered [][]byte
			for _, n := range tc.nums {
				ordered = append(ordered, tc.parts[n])
			}
			wantETag := `"` + multipartETag(ordered...) + `"`
			if aws.ToString(out.Bucket) != bucket || aws.ToString(out.Key) != tc.key || aws.ToString(out.ETag) != wantETag {
				t.Fatalf("complete result: bucket %q key %q etag %s, want %s", aws.ToString(out.Bucket), aws.ToString(out.Key), aws.ToString(out.ETag), wantETag)
			}
			whole := slices.Concat(ordered...)
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(tc.key)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(h.ContentLength) != int64(len(whole)) || aws.ToString(h.ETag) != wantETag ||
				aws.ToString(h.ContentType) != "application/x-parquet" || h.Metadata["writer"] != "arrow" {
				t.Fatalf("HEAD after complete: length %d etag %s type %q meta %v", aws.ToInt64(h.ContentLength), aws.ToString(h.ETag), aws.ToString(h.ContentType), h.Metadata)
			}
			got, _ := sdkGet(t, c, bucket, tc.key, "")
			if !bytes.Equal(got, whole) {
				t.Fatalf("GET %s: %d bytes, not the parts in order", tc.key, len(got))
			}
			// GET ?partNumber=2 returns exactly part 2.
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(tc.key), PartNumber: aws.Int32(2)})
			if err != nil {
				t.Fatal(err)
			}
			p2, err := io.ReadAll(g.Body)
			g.Body.Close()
			if err != nil || !bytes.Equal(p2, tc.parts[2]) || aws.ToInt32(g.PartsCount) != int32(len(tc.nums)) {
				t.Fatalf("GET partNumber=2: %v, %d bytes, PartsCount %d", err, len(p2), aws.ToInt32(g.PartsCount))
			}
		}
		// The upload is gone once completed.
		_, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(keyA), UploadId: aws.String(idA)})
		wantAPIError(t, "ListParts after complete", err, "NoSuchUpload", 404)
		// The second upload of keyA is independent and still there.
		if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(keyA), UploadId: aws.String(idD)}); err != nil {
			t.Fatalf("ListParts of the other upload of the same key: %v", err)
		}
	})

	t.Run("abort", func(t *testing.T) {
		_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(keyC), UploadId: aws.String(idC)})
		if err != nil {
			t.Fatal(err)
		}
		ex := rec.find(t, "Abort", func(e exchange) bool { return e.Method == "DELETE" && e.URL.Query().Get("uploadId") == idC })
		if ex.Status != 204 {
			t.Fatalf("abort status %d, want 204", ex.Status)
		}
		_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(keyC), UploadId: aws.String(idC)})
		wantAPIError(t, "ListParts after abort", err, "NoSuchUpload", 404)
		_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(keyC), UploadId: aws.String(idC),
			PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("late"))})
		wantAPIError(t, "UploadPart after abort", err, "NoSuchUpload", 404)
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(keyC), UploadId: aws.String(idC),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(2), ETag: aws.String(`"` + md5hex([]byte("part two")) + `"`)}}}})
		wantAPIError(t, "Complete after abort", err, "NoSuchUpload", 404)
		_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(keyC), UploadId: aws.String(idC)})
		wantAPIError(t, "Abort twice", err, "NoSuchUpload", 404)
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keyC)}); err == nil {
			t.Fatal("aborted upload left an object")
		}
		_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(keyA), UploadId: aws.String(idD)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil || len(out.Uploads) != 0 {
			t.Fatalf("uploads left: %v %d", err, len(out.Uploads))
		}
	})
}

// TestAWSSDKRanges: the Parquet footer pattern (HEAD, 64 KiB tail, exact
// ranges) on a multi-MiB object, with exact Content-Range/Content-Length.
func TestAWSSDKRanges(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, rec := newSDK(t, s, false)
	const bucket = "ranges"
	mkBucket(t, c, bucket)
	data := fastRand(61, 9<<20+12345)
	size := int64(len(data))
	key := "files/insert_log/1/2/3/4/data.parquet"
	put := sdkPut(t, c, bucket, key, data)

	check := func(rng string, off, n int64) {
		t.Helper()
		got, out := sdkGet(t, c, bucket, key, rng)
		wantCR := fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size)
		if !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("%s: %d bytes, not data[%d:%d]", rng, len(got), off, off+n)
		}
		if aws.ToString(out.ContentRange) != wantCR || aws.ToInt64(out.ContentLength) != n {
			t.Fatalf("%s: Content-Range %q Content-Length %d, want %q %d", rng, aws.ToString(out.ContentRange), aws.ToInt64(out.ContentLength), wantCR, n)
		}
		ex := rec.find(t, rng, func(e exchange) bool { return e.Method == "GET" && e.ReqHeader.Get("Range") == rng })
		if ex.Status != 206 || ex.RespHeader.Get("Content-Length") != strconv.FormatInt(n, 10) || ex.RespHeader.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("%s: status %d Content-Length %q Accept-Ranges %q", rng, ex.Status, ex.RespHeader.Get("Content-Length"), ex.RespHeader.Get("Accept-Ranges"))
		}
		if ex.RespHeader.Get("ETag") != aws.ToString(put.ETag) || ex.RespHeader.Get("Last-Modified") == "" {
			t.Fatalf("%s: ETag %q Last-Modified %q", rng, ex.RespHeader.Get("ETag"), ex.RespHeader.Get("Last-Modified"))
		}
	}

	// Parquet open: HEAD, 64 KiB tail, then the footer and column chunks.
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil || aws.ToInt64(h.ContentLength) != size {
		t.Fatalf("HEAD: %v %d", err, aws.ToInt64(h.ContentLength))
	}
	check("bytes=-65536", size-65536, 65536)
	check(fmt.Sprintf("bytes=%d-%d", size-65536-8000, size-65536-1), size-65536-8000, 8000)
	check("bytes=4-1048579", 4, 1<<20)
	check("bytes=0-0", 0, 1)
	check(fmt.Sprintf("bytes=%d-%d", size-1, size-1), size-1, 1)
	check("bytes=3000000-", 3000000, size-3000000)
	check(fmt.Sprintf("bytes=%d-%d", size-100, size+100000), size-100, 100) // end past the object clamps
	check("bytes=1048576-5242879", 1<<20, 4<<20)
	check("bytes=-1", size-1, 1)

	// A tail longer than a small object returns all of it, still 206.
	small := []byte("parquet footer only")
	sdkPut(t, c, bucket, "small", small)
	got, out := sdkGet(t, c, bucket, "small", "bytes=-65536")
	if !bytes.Equal(got, small) || aws.ToString(out.ContentRange) != fmt.Sprintf("bytes 0-%d/%d", len(small)-1, len(small)) {
		t.Fatalf("tail of small object: %q %q", got, aws.ToString(out.ContentRange))
	}

	// Unsatisfiable ranges.
	for _, rng := range []string{fmt.Sprintf("bytes=%d-", size), fmt.Sprintf("bytes=%d-%d", size+10, size+20)} {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(rng)})
		wantAPIError(t, rng, err, "InvalidRange", 416)
		ex := rec.find(t, rng, func(e exchange) bool { return e.ReqHeader.Get("Range") == rng })
		if ex.RespHeader.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
			t.Fatalf("416 Content-Range %q", ex.RespHeader.Get("Content-Range"))
		}
	}

	// If-Match pins the ETag of ranged reads (minio-go import readers).
	_, out = sdkGet(t, c, bucket, key, "bytes=10-19")
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String("bytes=100-199"), IfMatch: put.ETag})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(b, data[100:200]) {
		t.Fatal("If-Match ranged GET returned other bytes")
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String("bytes=100-199"), IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)})
	wantAPIError(t, "If-Match mismatch", err, "PreconditionFailed", 412)

	// Random ranged reads at 16 in flight (tiered storage).
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := fastRand(uint64(100+w), 40)
			for i := 0; i < 6; i++ {
				off := int64(binary.LittleEndian.Uint32(r[i*4:])) % size
				n := min(int64(1+int(r[i])<<12), size-off)
				g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))})
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(g.Body)
				g.Body.Close()
				if err != nil || !bytes.Equal(b, data[off:off+n]) || aws.ToInt64(g.ContentLength) != n {
					errs <- fmt.Errorf("range %d+%d: %v, %d bytes", off, n, err, len(b))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestAWSSDKHeadAndMissing: HeadObject fields, GET and HEAD of a missing key.
func TestAWSSDKHeadAndMissing(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, rec := newSDK(t, s, false)
	const bucket = "heads"
	mkBucket(t, c, bucket)
	data := fastRand(71, 300001)
	key := "files/stats_log/1/2/3/4/7"
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentType: aws.String("application/octet-stream; milvus=1"), Metadata: map[string]string{"foo": "bar", "Mixed-Case": "Value 1"},
		CacheControl: aws.String("no-cache"), ContentDisposition: aws.String(`attachment; filename="x"`)})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(h.ContentLength) != int64(len(data)) || aws.ToString(h.ETag) != `"`+md5hex(data)+`"` ||
		aws.ToString(h.ContentType) != "application/octet-stream; milvus=1" || aws.ToString(h.CacheControl) != "no-cache" ||
		aws.ToString(h.ContentDisposition) != `attachment; filename="x"` {
		t.Fatalf("HEAD: %+v", h)
	}
	if h.LastModified == nil || h.LastModified.Before(before) || h.LastModified.After(after) {
		t.Fatalf("HEAD Last-Modified %v, want between %v and %v", h.LastModified, before, after)
	}
	if h.Metadata["foo"] != "bar" || h.Metadata["mixed-case"] != "Value 1" || len(h.Metadata) != 2 {
		t.Fatalf("HEAD metadata %v", h.Metadata)
	}
	ex := rec.lastFor(t, "HEAD", bucket, key)
	for _, name := range []string{"Content-Length", "Last-Modified", "ETag", "Content-Type", "Accept-Ranges", "X-Amz-Request-Id"} {
		if ex.RespHeader.Get(name) == "" {
			t.Fatalf("HEAD response lacks %s: %v", name, ex.RespHeader)
		}
	}
	if _, err := http.ParseTime(ex.RespHeader.Get("Last-Modified")); err != nil {
		t.Fatalf("Last-Modified %q is not an HTTP date", ex.RespHeader.Get("Last-Modified"))
	}
	if ex.Status != 200 || ex.RespHeader.Get("Transfer-Encoding") != "" {
		t.Fatalf("HEAD status %d Transfer-Encoding %q", ex.Status, ex.RespHeader.Get("Transfer-Encoding"))
	}
	// GET returns the same headers and metadata.
	got, g := sdkGet(t, c, bucket, key, "")
	if !bytes.Equal(got, data) || g.Metadata["foo"] != "bar" || aws.ToString(g.ETag) != aws.ToString(h.ETag) || !g.LastModified.Equal(*h.LastModified) {
		t.Fatalf("GET: %d bytes meta %v etag %s lm %v", len(got), g.Metadata, aws.ToString(g.ETag), g.LastModified)
	}

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("files/missing")})
	wantAPIError(t, "GET missing key", err, "NoSuchKey", 404)
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Fatalf("GET missing key: %T, want *types.NoSuchKey", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("files/missing")})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 404 {
		t.Fatalf("HEAD missing key: %v, want 404", err)
	}
	ex = rec.lastFor(t, "HEAD", bucket, "files/missing")
	if cl := ex.RespHeader.Get("Content-Length"); cl != "" && cl != "0" {
		t.Fatalf("HEAD 404 announces a body: Content-Length %s", cl)
	}
	// A raw HEAD: no body bytes at all on the wire.
	raw := rawHTTP(t, s, "HEAD /"+bucket+"/files/missing", nil)
	if !strings.HasPrefix(raw, "HTTP/1.1 404") {
		t.Fatalf("raw HEAD: %q", raw)
	}
	if _, body, _ := strings.Cut(raw, "\r\n\r\n"); body != "" {
		t.Fatalf("HEAD 404 has a body: %q", body)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
	wantAPIError(t, "GET in missing bucket", err, "NoSuchBucket", 404)
	// DeleteObject is 204, also for a missing key.
	for _, k := range []string{key, "files/missing"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
		if ex := rec.lastFor(t, "DELETE", bucket, k); ex.Status != 204 {
			t.Fatalf("DELETE %s: %d, want 204", k, ex.Status)
		}
	}
}

// rawHTTP sends a signed request with no body on a fresh connection and
// returns everything the server wrote until it closed or went quiet.
// line is "METHOD /path" (already escaped).
func rawHTTP(t testing.TB, s *server, line string, extra http.Header) string {
	t.Helper()
	method, path, _ := strings.Cut(line, " ")
	h := http.Header{}
	for k, v := range extra {
		h[k] = v
	}
	signer := &sigv4.Signer{AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"}
	p, q, _ := strings.Cut(path, "?")
	signer.Sign(&sigv4.Message{Method: method, Host: s.Addr, Path: p, RawQuery: q, Header: h}, sigv4.EmptySHA256, time.Now())
	return sendRaw(t, s, method+" "+path, h)
}

// sendRaw sends the request line and headers h exactly as given on a fresh
// connection and returns the whole response.
func sendRaw(t testing.TB, s *server, line string, h http.Header) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", line, s.Addr)
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(conn)
	return string(out)
}

// TestAWSSDKDeleteObjects: 1000 keys verbose and quiet, with the SDK's
// checksum and with Content-MD5.
func TestAWSSDKDeleteObjects(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, rec := newSDK(t, s, false)
	cm, mrec := newSDK(t, s, false, withContentMD5)
	const bucket = "deletes"
	mkBucket(t, c, bucket)
	keys := make([]string, 1100)
	for i := range keys {
		keys[i] = fmt.Sprintf("files/delta_log/1/2/%d/%05d", i%7, i)
	}
	// 16 writers.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(keys); i += 16 {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i]), Body: strings.NewReader(keys[i])}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := func(ks []string) []types.ObjectIdentifier {
		out := make([]types.ObjectIdentifier, len(ks))
		for i, k := range ks {
			out[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		return out
	}
	count := func() int {
		n := 0
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.Contents)
		}
		return n
	}

	// Verbose, 1000 keys, including 10 that do not exist: S3 reports those
	// as deleted too.
	batch := append(slices.Clone(keys[:990]), "files/nope/0", "files/nope/1", "files/nope/2", "files/nope/3", "files/nope/4",
		"files/nope/5", "files/nope/6", "files/nope/7", "files/nope/8", "files/nope/9")
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids(batch)}})
	if err != nil {
		t.Fatal(err)
	}
	ex := rec.find(t, "DeleteObjects", func(e exchange) bool { return e.Method == "POST" && e.URL.Query().Has("delete") })
	if ex.Status != 200 {
		t.Fatalf("DeleteObjects status %d", ex.Status)
	}
	hasSum := false
	for k := range ex.ReqHeader {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") || k == "Content-Md5" {
			hasSum = true
		}
	}
	if !hasSum {
		t.Fatalf("SDK sent DeleteObjects without a checksum: %v", ex.ReqHeader)
	}
	if len(out.Errors) != 0 || len(out.Deleted) != len(batch) {
		t.Fatalf("verbose delete: %d deleted, %d errors (first %+v)", len(out.Deleted), len(out.Errors), out.Errors)
	}
	deleted := map[string]bool{}
	for _, d := range out.Deleted {
		deleted[aws.ToString(d.Key)] = true
	}
	for _, k := range batch {
		if !deleted[k] {
			t.Fatalf("%s not reported deleted", k)
		}
	}
	if n := count(); n != len(keys)-990 {
		t.Fatalf("%d objects left, want %d", n, len(keys)-990)
	}

	// Quiet, with Content-MD5 as well as the SDK's checksum.
	out, err = cm.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids(keys[990:1090]), Quiet: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	ex = mrec.find(t, "DeleteObjects", func(e exchange) bool { return e.Method == "POST" && e.URL.Query().Has("delete") })
	if ex.ReqHeader.Get("Content-MD5") == "" || ex.Status != 200 {
		t.Fatalf("DeleteObjects with Content-MD5: header %q status %d", ex.ReqHeader.Get("Content-MD5"), ex.Status)
	}
	if len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Fatalf("quiet delete: %d deleted, %d errors", len(out.Deleted), len(out.Errors))
	}
	if n := count(); n != 10 {
		t.Fatalf("%d objects left, want 10", n)
	}
	for _, k := range keys[1090:] {
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Fatalf("%s was not in a delete batch but is gone: %v", k, err)
		}
	}
}

// TestAWSSDKCopy: CopyObject with metadata directive COPY and REPLACE, and
// UploadPartCopy with source ranges.
func TestAWSSDKCopy(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, _ := newSDK(t, s, false)
	const bucket = "copies"
	mkBucket(t, c, bucket)
	mkBucket(t, c, "copies-dst")
	src := fastRand(81, 10<<20+99)
	srcKey := "files/src obj+1"
	copySrc := bucket + "/" + url.PathEscape(srcKey)
	sput, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(srcKey), Body: bytes.NewReader(src),
		ContentType: aws.String("application/x-src"), Metadata: map[string]string{"origin": "src", "n": "1"}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("copy-directive", func(t *testing.T) {
		out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copies-dst"), Key: aws.String("dst/copy"), CopySource: aws.String(copySrc)})
		if err != nil {
			t.Fatal(err)
		}
		if out.CopyObjectResult == nil || aws.ToString(out.CopyObjectResult.ETag) != aws.ToString(sput.ETag) || out.CopyObjectResult.LastModified == nil {
			t.Fatalf("copy result %+v", out.CopyObjectResult)
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("copies-dst"), Key: aws.String("dst/copy")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(h.ContentType) != "application/x-src" || h.Metadata["origin"] != "src" || h.Metadata["n"] != "1" || len(h.Metadata) != 2 ||
			aws.ToInt64(h.ContentLength) != int64(len(src)) || aws.ToString(h.ETag) != aws.ToString(sput.ETag) {
			t.Fatalf("COPY directive: %+v", h)
		}
		got, _ := sdkGet(t, c, "copies-dst", "dst/copy", "")
		if !bytes.Equal(got, src) {
			t.Fatal("copied bytes differ")
		}
	})

	t.Run("replace-directive", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst/replaced"), CopySource: aws.String(copySrc),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-new"), Metadata: map[string]string{"fresh": "yes"}})
		if err != nil {
			t.Fatal(err)
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst/replaced")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(h.ContentType) != "text/x-new" || h.Metadata["fresh"] != "yes" || len(h.Metadata) != 1 {
			t.Fatalf("REPLACE directive: type %q meta %v", aws.ToString(h.ContentType), h.Metadata)
		}
		// Copying onto itself with REPLACE is how metadata is changed.
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst/replaced"), CopySource: aws.String(bucket + "/dst/replaced"),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"fresh": "again"}})
		if err != nil {
			t.Fatal(err)
		}
		got, h2 := sdkGet(t, c, bucket, "dst/replaced", "")
		if !bytes.Equal(got, src) || h2.Metadata["fresh"] != "again" {
			t.Fatalf("self copy: %d bytes meta %v", len(got), h2.Metadata)
		}
		// ... but onto itself without REPLACE is an error.
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst/replaced"), CopySource: aws.String(bucket + "/dst/replaced")})
		wantAPIError(t, "self copy with COPY", err, "InvalidRequest", 400)
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("dst/x"), CopySource: aws.String(bucket + "/no-such-source")})
		wantAPIError(t, "copy of a missing source", err, "NoSuchKey", 404)
	})

	t.Run("upload-part-copy", func(t *testing.T) {
		key := "dst/assembled"
		cu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		const first = 5<<20 + 3
		r1, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId, PartNumber: aws.Int32(1),
			CopySource: aws.String(copySrc), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", first-1))})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId, PartNumber: aws.Int32(2),
			CopySource: aws.String(copySrc), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, len(src)-1))})
		if err != nil {
			t.Fatal(err)
		}
		tail := []byte("and a normal last part")
		r3, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId, PartNumber: aws.Int32(3), Body: bytes.NewReader(tail)})
		if err != nil {
			t.Fatal(err)
		}
		p1, p2 := src[:first], src[first:]
		if aws.ToString(r1.CopyPartResult.ETag) != `"`+md5hex(p1)+`"` || aws.ToString(r2.CopyPartResult.ETag) != `"`+md5hex(p2)+`"` {
			t.Fatalf("copy part ETags %s %s", aws.ToString(r1.CopyPartResult.ETag), aws.ToString(r2.CopyPartResult.ETag))
		}
		out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
				{PartNumber: aws.Int32(1), ETag: r1.CopyPartResult.ETag},
				{PartNumber: aws.Int32(2), ETag: r2.CopyPartResult.ETag},
				{PartNumber: aws.Int32(3), ETag: r3.ETag}}}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ETag) != `"`+multipartETag(p1, p2, tail)+`"` {
			t.Fatalf("assembled ETag %s", aws.ToString(out.ETag))
		}
		got, _ := sdkGet(t, c, bucket, key, "")
		if !bytes.Equal(got, slices.Concat(src, tail)) {
			t.Fatal("assembled object differs")
		}
		// A source range past the end is rejected.
		cu2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("dst/bad-range")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String("dst/bad-range"), UploadId: cu2.UploadId, PartNumber: aws.Int32(1),
			CopySource: aws.String(copySrc), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", len(src), len(src)+10))})
		wantAPIError(t, "UploadPartCopy past the end", err, "InvalidRange", 416)
	})
}

// TestAWSSDKConditionalPut: If-None-Match: * on PUT (woodpecker) and on
// CompleteMultipartUpload.
func TestAWSSDKConditionalPut(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, rec := newSDK(t, s, false)
	const bucket = "wal"
	mkBucket(t, c, bucket)
	key := "files/wp/log-1/segment-0"
	first := fastRand(91, 200<<10)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(first), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatalf("conditional PUT of a new key: %v", err)
	}
	if ex := rec.lastFor(t, "PUT", bucket, key); ex.Status != 200 || ex.ReqHeader.Get("If-None-Match") != "*" {
		t.Fatalf("status %d If-None-Match %q", ex.Status, ex.ReqHeader.Get("If-None-Match"))
	}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(fastRand(92, 100<<10)), IfNoneMatch: aws.String("*")})
	wantAPIError(t, "conditional PUT of an existing key", err, "PreconditionFailed", 412)
	got, _ := sdkGet(t, c, bucket, key, "")
	if !bytes.Equal(got, first) {
		t.Fatal("a failed conditional PUT changed the object")
	}
	// After a delete the key is free again.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	second := fastRand(93, 1<<20)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(second), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatalf("conditional PUT after delete: %v", err)
	}
	// Racing conditional PUTs of one key: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, fails := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("files/wp/race"), Body: bytes.NewReader(fastRand(uint64(200+i), 100<<10)), IfNoneMatch: aws.String("*")})
			mu.Lock()
			defer mu.Unlock()
			var ae smithy.APIError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict"):
				fails++
			default:
				t.Errorf("racing conditional PUT: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || fails != 7 {
		t.Fatalf("racing conditional PUTs: %d won, %d failed; want 1 and 7", wins, fails)
	}
	// Complete with If-None-Match: *.
	cu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("manifest")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cu.UploadId, IfNoneMatch: aws.String("*"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag}}}})
	wantAPIError(t, "conditional complete onto an existing key", err, "PreconditionFailed", 412)
	got, _ = sdkGet(t, c, bucket, key, "")
	if !bytes.Equal(got, second) {
		t.Fatal("a failed conditional complete changed the object")
	}
}

// TestAWSSDKRestart: objects, metadata, listings and an open multipart
// upload survive a restart.
func TestAWSSDKRestart(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c, _ := newSDK(t, s, false)
	const bucket = "persist"
	mkBucket(t, c, bucket)
	objs := map[string][]byte{}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("files/insert_log/1/2/3/%d", i)
		objs[k] = fastRand(uint64(300+i), 1000*i+1)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(objs[k]),
			Metadata: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	big := fastRand(320, 6<<20)
	objs["files/big"] = big
	sdkPut(t, c, bucket, "files/big", big)
	// A completed multipart object and an open upload.
	p1, p2 := fastRand(321, 5<<20), fastRand(322, 777)
	cu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("files/mpu")})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("files/mpu"), UploadId: cu.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: up.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("files/mpu"), UploadId: cu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	objs["files/mpu"] = slices.Concat(p1, p2)
	open, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("files/open")})
	if err != nil {
		t.Fatal(err)
	}
	op1 := fastRand(323, 5<<20)
	up1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("files/open"), UploadId: open.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(op1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("files/insert_log/1/2/3/7")}); err != nil {
		t.Fatal(err)
	}
	delete(objs, "files/insert_log/1/2/3/7")
	headBefore, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("files/insert_log/1/2/3/5")})
	if err != nil {
		t.Fatal(err)
	}

	s.restart(t)
	c, _ = newSDK(t, s, false)

	for k, v := range objs {
		got, _ := sdkGet(t, c, bucket, k, "")
		if !bytes.Equal(got, v) {
			t.Fatalf("%s after restart: %d bytes, want %d", k, len(got), len(v))
		}
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("files/insert_log/1/2/3/5")})
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["i"] != "5" || aws.ToString(h.ETag) != aws.ToString(headBefore.ETag) || !h.LastModified.Equal(*headBefore.LastModified) {
		t.Fatalf("HEAD after restart: meta %v etag %s lm %v; before etag %s lm %v", h.Metadata, aws.ToString(h.ETag), h.LastModified, aws.ToString(headBefore.ETag), headBefore.LastModified)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("files/insert_log/1/2/3/7")})
	if err == nil {
		t.Fatal("deleted object is back after restart")
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range out.Contents {
		listed = append(listed, aws.ToString(o.Key))
	}
	var want []string
	for k := range objs {
		want = append(want, k)
	}
	sort.Strings(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("listing after restart:\n got %q\nwant %q", listed, want)
	}
	// The open upload continues.
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("files/open"), UploadId: open.UploadId})
	if err != nil || len(lp.Parts) != 1 || aws.ToString(lp.Parts[0].ETag) != aws.ToString(up1.ETag) {
		t.Fatalf("ListParts after restart: %v %+v", err, lp)
	}
	op2 := []byte("last")
	up2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("files/open"), UploadId: open.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(op2)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("files/open"), UploadId: open.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up1.ETag}, {PartNumber: aws.Int32(2), ETag: up2.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	got, _ := sdkGet(t, c, bucket, "files/open", "")
	if !bytes.Equal(got, slices.Concat(op1, op2)) {
		t.Fatal("upload continued across a restart has other bytes")
	}
	// And once more: the completed upload is durable too.
	s.restart(t)
	c, _ = newSDK(t, s, false)
	got, _ = sdkGet(t, c, bucket, "files/open", "")
	if !bytes.Equal(got, slices.Concat(op1, op2)) {
		t.Fatal("completed upload lost on the second restart")
	}
}
