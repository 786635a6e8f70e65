package sigv4

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// pathRunes are characters used in random object keys.
var pathRunes = []rune("abcXYZ019-_.~ !$&'()*+,;=:@%#?[]^`{|}\"<>\\é日本🙂/")

var queryKeys = []string{"location", "uploads", "delete", "prefix", "delimiter", "list-type",
	"max-keys", "continuation-token", "partNumber", "uploadId", "encoding-type", "versionId", "a b", "k+=&"}

var headerNames = []string{"Content-Type", "Content-Md5", "X-Amz-Meta-Name", "X-Amz-Meta-Other",
	"Amz-Sdk-Invocation-Id", "Amz-Sdk-Request", "If-None-Match", "Range", "X-Amz-Checksum-Crc32c",
	"X-Custom", "User-Agent", "Expect"}

func randString(r *rand.Rand, alphabet []rune, max int) string {
	n := r.Intn(max + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(alphabet[r.Intn(len(alphabet))])
	}
	return b.String()
}

// randQuery returns a raw query encoded in one of several styles, all of
// which Go's url.ParseQuery decodes.
func randQuery(r *rand.Rand) string {
	var parts []string
	for i, n := 0, r.Intn(5); i < n; i++ {
		k := queryKeys[r.Intn(len(queryKeys))]
		if r.Intn(4) == 0 {
			k = randString(r, pathRunes[:40], 6) + "k"
		}
		v := ""
		if r.Intn(3) > 0 {
			v = randString(r, pathRunes, 8)
		}
		enc := func(s string) string {
			switch r.Intn(3) {
			case 0:
				return url.QueryEscape(s) // space as '+'
			case 1:
				return EncodePath(s) // AWS style, keeps '/'
			default:
				return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
			}
		}
		switch {
		case v == "" && r.Intn(2) == 0:
			parts = append(parts, enc(k)) // "?location"
		default:
			parts = append(parts, enc(k)+"="+enc(v))
		}
	}
	return strings.Join(parts, "&")
}

var payloads = []string{EmptySHA256, UnsignedPayload, StreamingPayload, StreamingPayloadTrailer,
	StreamingUnsignedTrailer, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}

type randReq struct {
	req      *http.Request
	rawQuery string // query before the SDK rewrote it
	payload  string
	when     time.Time
}

func newRandReq(t *testing.T, r *rand.Rand) randReq {
	methods := []string{"GET", "PUT", "POST", "DELETE", "HEAD"}
	hosts := []string{"localhost:9000", "s3.example.com", "127.0.0.1:80", "[::1]:9000"}
	key := randString(r, pathRunes, 24)
	u := &url.URL{Scheme: "http", Host: hosts[r.Intn(len(hosts))], Path: "/bucket/" + key}
	if r.Intn(2) == 0 {
		u.RawPath = EncodePath(u.Path) // minio-go style escaping
	}
	u.RawQuery = randQuery(r)
	req, err := http.NewRequest(methods[r.Intn(len(methods))], u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawPath = u.RawPath
	req.URL.RawQuery = u.RawQuery
	for i, n := 0, r.Intn(6); i < n; i++ {
		name := headerNames[r.Intn(len(headerNames))]
		val := randString(r, []rune("ab  Z9-=/+,;\"é\t"), 12)
		req.Header.Add(name, val)
	}
	if r.Intn(3) == 0 {
		req.ContentLength = int64(r.Intn(1 << 20))
	}
	p := payloads[r.Intn(len(payloads))]
	req.Header.Set("X-Amz-Content-Sha256", p)
	return randReq{req: req, rawQuery: req.URL.RawQuery, payload: p,
		when: testTime.Add(time.Duration(r.Intn(1e6)) * time.Second)}
}

// TestDifferentialSDK signs random requests with aws-sdk-go-v2 and verifies
// them here, and checks that this package's signer agrees with the SDK.
func TestDifferentialSDK(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}
	sdk := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	ours := testSigner()
	for i := 0; i < 600; i++ {
		rr := newRandReq(t, r)
		desc := fmt.Sprintf("#%d %s %s ?%s %q", i, rr.req.Method, rr.req.URL.EscapedPath(), rr.rawQuery, rr.req.Header)
		mine := rr.req.Clone(context.Background())

		if err := sdk.SignHTTP(context.Background(), creds, rr.req, rr.payload, "s3", testRegion, rr.when); err != nil {
			t.Fatal(err)
		}
		v := testVerifier(rr.when.Add(time.Duration(r.Intn(1800)-900) * time.Second))
		sent := httpView(rr.req)
		a, err := v.Verify(sent)
		if err != nil {
			t.Fatalf("%s: SDK-signed request rejected: %v", desc, err)
		}
		if a.AccessKey != testAK || !a.Time.Equal(rr.when.Truncate(time.Second)) || a.PayloadHash != rr.payload {
			t.Fatalf("%s: bad auth %+v", desc, a)
		}
		// The SDK rewrites RawQuery to canonical form; the original must verify too.
		sent.RawQuery = rr.rawQuery
		if _, err := v.Verify(sent); err != nil {
			t.Fatalf("%s: original query rejected: %v", desc, err)
		}

		mine.Host = rr.req.Host // the SDK drops a default port
		signHTTP(ours, mine, rr.payload, rr.when)
		if got, want := mine.Header.Get("Authorization"), rr.req.Header.Get("Authorization"); got != want {
			t.Fatalf("%s:\nours %s\nsdk  %s", desc, got, want)
		}
	}
}

// TestDifferentialPresignSDK presigns random requests with the SDK and
// verifies them here, and compares signatures with Signer.Presign.
func TestDifferentialPresignSDK(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK}
	sdk := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	noHoist := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = true
		o.DisableHeaderHoisting = true
	})
	ours := testSigner()
	for i := 0; i < 300; i++ {
		rr := newRandReq(t, r)
		rr.req.Header.Del("X-Amz-Content-Sha256")
		expires := 1 + r.Intn(604800)
		q := rr.req.URL.Query()
		q.Set("X-Amz-Expires", strconv.Itoa(expires))
		rr.req.URL.RawQuery = q.Encode()
		desc := fmt.Sprintf("#%d %s %s ?%s %q", i, rr.req.Method, rr.req.URL.EscapedPath(), rr.req.URL.RawQuery, rr.req.Header)

		signed, _, err := sdk.PresignHTTP(context.Background(), creds, rr.req, UnsignedPayload, "s3", testRegion, rr.when)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		h := rr.req.Header.Clone()
		if rr.req.ContentLength > 0 {
			h.Set("Content-Length", strconv.FormatInt(rr.req.ContentLength, 10))
		}
		host := rr.req.Host
		if host == "127.0.0.1:80" {
			host = "127.0.0.1" // the SDK drops the default port
		}
		now := rr.when.Add(time.Duration(r.Intn(expires)) * time.Second)
		a, err := testVerifier(now).Verify(view(rr.req.Method, host, u.EscapedPath(), u.RawQuery, h))
		if err != nil {
			t.Fatalf("%s: SDK-presigned URL %s rejected: %v", desc, signed, err)
		}
		if !a.Presigned || a.PayloadHash != UnsignedPayload {
			t.Fatalf("%s: bad auth %+v", desc, a)
		}

		// Compare with our presigner; the SDK must not hoist headers here.
		signed2, _, err := noHoist.PresignHTTP(context.Background(), creds, rr.req, UnsignedPayload, "s3", testRegion, rr.when)
		if err != nil {
			t.Fatal(err)
		}
		u2, _ := url.Parse(signed2)
		mh := map[string][]string(rr.req.Header.Clone())
		if rr.req.ContentLength > 0 {
			mh["Content-Length"] = []string{strconv.FormatInt(rr.req.ContentLength, 10)}
		}
		// The expiry is passed separately to Presign.
		q.Del("X-Amz-Expires")
		got := ours.Presign(&Message{Method: rr.req.Method, Host: host, Path: u2.EscapedPath(), RawQuery: q.Encode(), Header: mh},
			time.Duration(expires)*time.Second, rr.when)
		if got != u2.RawQuery {
			t.Fatalf("%s:\nours %s\nsdk  %s", desc, got, u2.RawQuery)
		}
	}
}
