package test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsmstore/lsmstore/sigv4"
)

const unsignedMsg = "There were headers present in the request which were not signed"

// TestSigV4UnsignedHeaders: every x-amz-* header a request carries must be
// signed, and every signed header must be present (issue 12, item 1).
func TestSigV4UnsignedHeaders(t *testing.T) {
	s := startServer(t)
	c := newRaw(t, s)
	for _, b := range []string{"/src", "/dst"} {
		if r := c.send(t, "PUT", b, "", nil, nil); r.Status != 200 {
			t.Fatalf("create %s: %d %s", b, r.Status, r.Body)
		}
	}
	secret := []byte("the secret object")
	if r := c.send(t, "PUT", "/src/secret", "", secret, nil); r.Status != 200 {
		t.Fatalf("put secret: %d %s", r.Status, r.Body)
	}
	wantUnsigned := func(t *testing.T, what string, r response) {
		t.Helper()
		wantError(t, what, r, 403, "AccessDenied")
		if errMessage(r) != unsignedMsg {
			t.Fatalf("%s: message is not %q: %s", what, unsignedMsg, r.Body)
		}
	}

	t.Run("presigned PUT with unsigned copy source", func(t *testing.T) {
		req := c.request(t, "PUT", "/dst/copied", "", []byte{})
		req.URL.RawQuery = c.signer.Presign(message(req), 10*time.Minute, time.Now())
		req.Header.Set("X-Amz-Copy-Source", "/src/secret")
		wantUnsigned(t, "presigned PUT + unsigned x-amz-copy-source", c.do(t, req))
		c.wantAbsent(t, "presigned PUT + unsigned x-amz-copy-source", "/dst/copied")

		// The same URL without the extra header still uploads.
		req = c.request(t, "PUT", "/dst/copied", "", []byte("mine"))
		req.URL.RawQuery = c.signer.Presign(message(req), 10*time.Minute, time.Now())
		if r := c.do(t, req); r.Status != 200 {
			t.Fatalf("plain presigned PUT: %d %s", r.Status, r.Body)
		}
		c.wantObject(t, "plain presigned PUT", "/dst/copied", []byte("mine"))
	})

	t.Run("UploadPart with unsigned copy source", func(t *testing.T) {
		r := c.send(t, "POST", "/dst/mp", "uploads", nil, nil)
		var init struct {
			UploadID string `xml:"UploadId"`
		}
		if r.Status != 200 || xml.Unmarshal(r.Body, &init) != nil || init.UploadID == "" {
			t.Fatalf("initiate: %d %s", r.Status, r.Body)
		}
		q := "partNumber=1&uploadId=" + init.UploadID
		req := c.request(t, "PUT", "/dst/mp", q, []byte{})
		c.sign(req, nil, sigv4.EmptySHA256, time.Now())
		req.Header.Set("X-Amz-Copy-Source", "/src/secret")
		wantUnsigned(t, "UploadPart + unsigned x-amz-copy-source", c.do(t, req))
		r = c.send(t, "GET", "/dst/mp", "uploadId="+init.UploadID, nil, nil)
		if r.Status != 200 || bytes.Contains(r.Body, []byte("<Part>")) {
			t.Fatalf("ListParts after the refused copy: %d %s", r.Status, r.Body)
		}
	})

	t.Run("header-signed PUT with unsigned metadata", func(t *testing.T) {
		body := []byte("data")
		req := c.request(t, "PUT", "/dst/meta", "", body)
		c.sign(req, nil, sha256hex(body), time.Now())
		req.Header.Set("X-Amz-Meta-Evil", "1")
		wantUnsigned(t, "PUT + unsigned x-amz-meta-evil", c.do(t, req))
		c.wantAbsent(t, "PUT + unsigned x-amz-meta-evil", "/dst/meta")
	})

	t.Run("signed header absent", func(t *testing.T) {
		body := []byte("data")
		// A signed empty value that is present is fine.
		req := c.request(t, "PUT", "/dst/empty", "", body)
		req.Header["X-Amz-Meta-Empty"] = []string{""}
		c.sign(req, nil, sha256hex(body), time.Now())
		if r := c.do(t, req); r.Status != 200 {
			t.Fatalf("PUT with a signed empty header: %d %s", r.Status, r.Body)
		}
		// Signed (with the value an absent header would have) but not sent.
		req = c.request(t, "PUT", "/dst/absent", "", body)
		req.Header["X-Amz-Meta-Empty"] = []string{""}
		c.sign(req, nil, sha256hex(body), time.Now())
		req.Header.Del("X-Amz-Meta-Empty")
		wantError(t, "PUT with a signed header absent", c.do(t, req), 403, "AccessDenied")
		c.wantAbsent(t, "PUT with a signed header absent", "/dst/absent")
	})

	t.Run("unsigned x-amz-content-sha256 on a presigned GET", func(t *testing.T) {
		// Exempt, as on AWS: a presigned request's payload hash comes from
		// the query.
		req := c.request(t, "GET", "/src/secret", "", nil)
		req.URL.RawQuery = c.signer.Presign(message(req), 10*time.Minute, time.Now())
		req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
		if r := c.do(t, req); r.Status != 200 || !bytes.Equal(r.Body, secret) {
			t.Fatalf("presigned GET with x-amz-content-sha256: %d %s", r.Status, r.Body)
		}
	})
}

// errMessage is the <Message> of an S3 XML error body.
func errMessage(r response) string {
	var e struct {
		Message string `xml:"Message"`
	}
	xml.Unmarshal(r.Body, &e)
	return e.Message
}

// vmRSS returns the resident set size of a process, from /proc.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestSigV4SignedHeadersAmplification: a 60 KB request whose SignedHeaders
// names one 28,000-byte header 8,000 times is refused without building a
// 224 MB canonical request (issue 12, item 2).
func TestSigV4SignedHeadersAmplification(t *testing.T) {
	s := startServer(t)
	c := newRaw(t, s)
	if r := c.send(t, "PUT", "/amp", "", nil, nil); r.Status != 200 {
		t.Fatalf("create bucket: %d %s", r.Status, r.Body)
	}
	attack := func() *http.Request {
		req := c.request(t, "GET", "/amp/x", "", nil)
		now := time.Now().UTC()
		req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
		req.Header.Set("X-Amz-Content-Sha256", sigv4.EmptySHA256)
		req.Header.Set("X-A", strings.Repeat("a", 28000))
		signed := "host;" + strings.Repeat("x-a;", 8000) + "x-amz-content-sha256;x-amz-date"
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/"+now.Format("20060102")+
			"/us-east-1/s3/aws4_request, SignedHeaders="+signed+", Signature="+strings.Repeat("0", 64))
		return req
	}
	pid := s.cmd.Process.Pid
	before := vmRSS(t, pid)
	start := time.Now()
	r := c.do(t, attack())
	took := time.Since(start)
	after := vmRSS(t, pid)
	t.Logf("attack: %d %s in %v; lsmd RSS %d -> %d MiB", r.Status, r.Code(), took, before>>20, after>>20)
	if r.Status < 400 || r.Status >= 500 || r.Code() == "" {
		t.Fatalf("attack answered %d %q, want a 4xx S3 error; body %.200s", r.Status, r.Code(), r.Body)
	}
	if grew := after - before; grew > 64<<20 {
		t.Fatalf("lsmd RSS grew by %d MiB on one request (%d -> %d MiB), want < 64 MiB", grew>>20, before>>20, after>>20)
	}
	// The same header signed once, properly, is accepted.
	req := c.request(t, "GET", "/amp/x", "", nil)
	req.Header.Set("X-A", strings.Repeat("a", 28000))
	c.sign(req, nil, sigv4.EmptySHA256, time.Now())
	if r := c.do(t, req); r.Status != 404 || r.Code() != "NoSuchKey" {
		t.Fatalf("GET with one large signed header: %d %s", r.Status, r.Body)
	}
}

// TestSigV4Region: the credential scope names the server's region, the
// empty region (MinIO's admin client), or us-east-1 for GetBucketLocation
// and ListBuckets only (issue 12, item 7).
func TestSigV4Region(t *testing.T) {
	s := startServer(t, "--region", "eu-west-1")
	c := newRaw(t, s)
	in := func(region string) *sigv4.Signer {
		return &sigv4.Signer{AccessKey: accessKey, SecretKey: secretKey, Region: region}
	}
	send := func(region, method, path, query string) response {
		req := c.request(t, method, path, query, nil)
		c.sign(req, in(region), sigv4.EmptySHA256, time.Now())
		return c.do(t, req)
	}
	if r := send("eu-west-1", "PUT", "/regional", ""); r.Status != 200 {
		t.Fatalf("create bucket in the server's region: %d %s", r.Status, r.Body)
	}
	if r := send("", "GET", "/", ""); r.Status != 200 {
		t.Fatalf("ListBuckets with an empty region: %d %s", r.Status, r.Body)
	}
	if r := send("", "GET", "/regional", "location"); r.Status != 200 {
		t.Fatalf("GetBucketLocation with an empty region: %d %s", r.Status, r.Body)
	}
	r := send("us-west-2", "GET", "/", "")
	wantError(t, "ListBuckets in another region", r, 400, "AuthorizationHeaderMalformed")
	if !strings.Contains(errMessage(r), "the region 'us-west-2' is wrong; expecting 'eu-west-1'") {
		t.Fatalf("wrong-region message: %s", r.Body)
	}
	r = send("us-east-1", "GET", "/regional", "location")
	if r.Status != 200 || !bytes.Contains(r.Body, []byte("eu-west-1")) {
		t.Fatalf("GetBucketLocation signed for us-east-1: %d %s", r.Status, r.Body)
	}
	// ListBuckets too, as MinIO allows: minio-go signs it for us-east-1
	// when no region is configured.
	if r := send("us-east-1", "GET", "/", ""); r.Status != 200 {
		t.Fatalf("ListBuckets signed for us-east-1: %d %s", r.Status, r.Body)
	}
	for _, op := range []struct{ method, path, query string }{
		{"HEAD", "/regional", ""}, {"GET", "/regional", "list-type=2"}, {"PUT", "/regional2", ""}, {"GET", "/regional", "uploads"},
	} {
		r := send("us-east-1", op.method, op.path, op.query)
		what := op.method + " " + op.path + "?" + op.query + " signed for us-east-1"
		if op.method == "HEAD" { // no body
			if r.Status != 400 {
				t.Fatalf("%s: %d, want 400", what, r.Status)
			}
			continue
		}
		wantError(t, what, r, 400, "AuthorizationHeaderMalformed")
		if !strings.Contains(errMessage(r), "the region 'us-east-1' is wrong; expecting 'eu-west-1'") {
			t.Fatalf("%s: message %s", what, r.Body)
		}
	}
	c.signer = in("eu-west-1")
	c.wantAbsent(t, "CreateBucket signed for us-east-1", "/regional2")

	// Presigned URLs follow the same rules.
	req := c.request(t, "GET", "/", "", nil)
	req.URL.RawQuery = in("us-west-2").Presign(message(req), time.Minute, time.Now())
	wantError(t, "presigned ListBuckets in another region", c.do(t, req), 400, "AuthorizationQueryParametersError")
	req = c.request(t, "GET", "/regional", "list-type=2", nil)
	req.URL.RawQuery = in("us-east-1").Presign(message(req), time.Minute, time.Now())
	wantError(t, "presigned ListObjectsV2 for us-east-1", c.do(t, req), 400, "AuthorizationQueryParametersError")
	req = c.request(t, "GET", "/regional", "location", nil)
	req.URL.RawQuery = in("us-east-1").Presign(message(req), time.Minute, time.Now())
	if r := c.do(t, req); r.Status != 200 {
		t.Fatalf("presigned GetBucketLocation for us-east-1: %d %s", r.Status, r.Body)
	}

	// A server in us-east-1 acts as AWS's global endpoint: CreateBucket may
	// be signed for the bucket's location constraint (minio-go's MakeBucket
	// with a region); other operations only for us-east-1 or "".
	g := newRaw(t, startServer(t))
	body := []byte(`<CreateBucketConfiguration><LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>`)
	req = g.request(t, "PUT", "/central", "", body)
	g.sign(req, in("eu-central-1"), sha256hex(body), time.Now())
	if r := g.do(t, req); r.Status != 200 {
		t.Fatalf("CreateBucket signed for its location constraint: %d %s", r.Status, r.Body)
	}
	req = g.request(t, "GET", "/central", "list-type=2", nil)
	g.sign(req, in("eu-central-1"), sigv4.EmptySHA256, time.Now())
	r = g.do(t, req)
	wantError(t, "ListObjectsV2 signed for eu-central-1 on a us-east-1 server", r, 400, "AuthorizationHeaderMalformed")
	if !strings.Contains(errMessage(r), "the region 'eu-central-1' is wrong; expecting 'us-east-1'") ||
		r.Header.Get("X-Amz-Bucket-Region") != "us-east-1" {
		t.Fatalf("wrong-region answer: x-amz-bucket-region %q, %s", r.Header.Get("X-Amz-Bucket-Region"), r.Body)
	}
}
