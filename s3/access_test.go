package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lsmstore/lsmstore/sigv4"
)

// anon sends an unsigned request.
func anon(t *testing.T, method, url string, body []byte, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	return send(t, method, url, body, func(req *http.Request) {
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
	})
}

// signed sends a request signed with the test server's credentials.
func signed(t *testing.T, method, rawURL string, body []byte) (*http.Response, string) {
	t.Helper()
	return send(t, method, rawURL, body, func(req *http.Request) {
		sum := sha256.Sum256(body)
		sg := &sigv4.Signer{AccessKey: "ak", SecretKey: "secretsecret", Region: "us-east-1"}
		sg.Sign(&sigv4.Message{Method: method, Host: req.URL.Host, Path: req.URL.EscapedPath(), RawQuery: req.URL.RawQuery, Header: req.Header},
			hex.EncodeToString(sum[:]), time.Now())
	})
}

// send makes a request, lets prepare adjust it, and returns the response
// with its body read.
func send(t *testing.T, method, url string, body []byte, prepare func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	prepare(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func wantStatus(t *testing.T, what string, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || code != "" && !strings.Contains(body, "<Code>"+code+"</Code>") {
		t.Fatalf("%s: status %d body %q, want %d %s", what, resp.StatusCode, body, status, code)
	}
}

// TestBucketPolicyAnonymous: a policy opens exactly what it names to
// unsigned requests, a Deny wins, and deleting the policy (or the bucket)
// closes everything again.
func TestBucketPolicyAnonymous(t *testing.T) {
	c, _ := startInProcess(t, Config{})
	ctx := context.Background()
	base := c.EndpointURL().String()
	if err := c.MakeBucket(ctx, "pub", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"public/a", "public/secret", "private/b"} {
		if _, err := c.PutObject(ctx, "pub", k, strings.NewReader("data of "+k), -1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := anon(t, "GET", base+"/pub/public/a", nil, nil)
	wantStatus(t, "anonymous get without policy", resp, body, 403, "AccessDenied")

	// A malformed policy is refused and nothing is stored.
	if err := c.SetBucketPolicy(ctx, "pub", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`); err == nil || minio.ToErrorResponse(err).Code != "MalformedPolicy" {
		t.Fatalf("bad policy: %v", err)
	}
	if p, err := c.GetBucketPolicy(ctx, "pub"); err != nil || p != "" {
		t.Fatalf("policy after refusal: %q %v", p, err)
	}

	policy := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::pub/public/*"]},` +
		`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::pub"},` +
		`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::pub/public/secret"}]}`
	if err := c.SetBucketPolicy(ctx, "pub", policy); err != nil {
		t.Fatal(err)
	}
	if p, err := c.GetBucketPolicy(ctx, "pub"); err != nil || p != policy {
		t.Fatalf("get policy: %q %v", p, err)
	}
	resp, body = anon(t, "GET", base+"/pub/public/a", nil, nil)
	wantStatus(t, "anonymous get", resp, body, 200, "")
	if body != "data of public/a" {
		t.Fatalf("anonymous get body %q", body)
	}
	resp, body = anon(t, "HEAD", base+"/pub/public/a", nil, nil)
	wantStatus(t, "anonymous head", resp, body, 200, "")
	resp, body = anon(t, "GET", base+"/pub/public/secret", nil, nil)
	wantStatus(t, "denied key", resp, body, 403, "AccessDenied")
	resp, body = anon(t, "GET", base+"/pub/private/b", nil, nil)
	wantStatus(t, "key outside the policy", resp, body, 403, "AccessDenied")
	resp, body = anon(t, "DELETE", base+"/pub/public/a", nil, nil)
	wantStatus(t, "action outside the policy", resp, body, 403, "AccessDenied")
	resp, body = anon(t, "GET", base+"/", nil, nil)
	wantStatus(t, "list buckets", resp, body, 403, "AccessDenied")
	resp, body = anon(t, "GET", base+"/pub?list-type=2", nil, nil)
	wantStatus(t, "anonymous list", resp, body, 200, "")
	if !strings.Contains(body, "<Key>private/b</Key>") {
		t.Fatalf("anonymous list: %s", body)
	}
	resp, body = anon(t, "GET", base+"/pub?policy", nil, nil)
	wantStatus(t, "anonymous get policy", resp, body, 403, "AccessDenied")
	resp, body = anon(t, "PUT", base+"/pub/public/new", []byte("anonymous"), nil)
	wantStatus(t, "anonymous put", resp, body, 200, "")
	resp, body = anon(t, "PUT", base+"/pub/private/new", []byte("anonymous"), nil)
	wantStatus(t, "anonymous put outside the policy", resp, body, 403, "AccessDenied")
	if _, err := c.StatObject(ctx, "pub", "private/new", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("refused anonymous put stored something: %v", err)
	}
	// A signed request with a bad signature is never treated as anonymous.
	resp, body = anon(t, "GET", base+"/pub/public/a?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ak%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00", nil, nil)
	if resp.StatusCode != 403 || strings.Contains(body, "data of") {
		t.Fatalf("bad presign: %d %s", resp.StatusCode, body)
	}

	if err := c.SetBucketPolicy(ctx, "pub", ""); err != nil { // DeleteBucketPolicy
		t.Fatal(err)
	}
	resp, body = anon(t, "GET", base+"/pub/public/a", nil, nil)
	wantStatus(t, "after delete policy", resp, body, 403, "AccessDenied")

	// The policy goes with its bucket.
	if err := c.SetBucketPolicy(ctx, "pub", policy); err != nil {
		t.Fatal(err)
	}
	for o := range c.ListObjects(ctx, "pub", minio.ListObjectsOptions{Recursive: true}) {
		if err := c.RemoveObject(ctx, "pub", o.Key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveBucket(ctx, "pub"); err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, "pub", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.GetBucketPolicy(ctx, "pub"); err != nil || p != "" {
		t.Fatalf("policy survived its bucket: %q %v", p, err)
	}
	resp, body = anon(t, "GET", base+"/pub?list-type=2", nil, nil)
	wantStatus(t, "recreated bucket", resp, body, 403, "AccessDenied")
}

// TestBucketCORS: configuration round trip, preflights answered from the
// rules, CORS headers on actual requests, and DELETE ?cors.
func TestBucketCORS(t *testing.T) {
	c, _ := startInProcess(t, Config{})
	ctx := context.Background()
	base := c.EndpointURL().String()
	if err := c.MakeBucket(ctx, "web", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "web", "o", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	preflight := map[string]string{"Origin": "http://app.example", "Access-Control-Request-Method": "GET"}
	resp, body := anon(t, "OPTIONS", base+"/web/o", nil, preflight)
	wantStatus(t, "preflight without configuration", resp, body, 403, "AccessForbidden")

	resp, body = signed(t, "GET", base+"/web?cors", nil)
	wantStatus(t, "get cors before any", resp, body, 404, "NoSuchCORSConfiguration")
	resp, body = signed(t, "PUT", base+"/web?cors", []byte(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod></CORSRule></CORSConfiguration>`))
	wantStatus(t, "put invalid cors", resp, body, 400, "InvalidRequest")
	cfg := `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<CORSRule><AllowedHeader>x-amz-*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>` +
		`<AllowedOrigin>http://app.example</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>` +
		`<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>`
	resp, body = signed(t, "PUT", base+"/web?cors", []byte(cfg))
	wantStatus(t, "put cors", resp, body, 200, "")
	resp, body = signed(t, "GET", base+"/web?cors", nil)
	wantStatus(t, "get cors", resp, body, 200, "")
	if !strings.HasSuffix(body, cfg) {
		t.Fatalf("get cors returned %s, want %s", body, cfg)
	}

	preflight["Access-Control-Request-Headers"] = "X-Amz-Date, x-amz-content-sha256"
	resp, body = anon(t, "OPTIONS", base+"/web/o", nil, preflight)
	wantStatus(t, "preflight", resp, body, 200, "")
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin": "http://app.example", "Access-Control-Allow-Methods": "GET",
		"Access-Control-Allow-Headers": "x-amz-date,x-amz-content-sha256", "Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age": "600",
	} {
		if resp.Header.Get(k) != v {
			t.Errorf("preflight %s = %q, want %q", k, resp.Header.Get(k), v)
		}
	}
	preflight["Access-Control-Request-Headers"] = "authorization"
	resp, body = anon(t, "OPTIONS", base+"/web/o", nil, preflight)
	wantStatus(t, "preflight with a header no rule allows", resp, body, 403, "AccessForbidden")
	resp, body = anon(t, "OPTIONS", base+"/web/o", nil, map[string]string{"Origin": "http://other", "Access-Control-Request-Method": "GET"})
	wantStatus(t, "preflight matching the wildcard rule", resp, body, 200, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("wildcard preflight headers: %v", resp.Header)
	}
	resp, body = anon(t, "OPTIONS", base+"/web/o", nil, map[string]string{"Origin": "http://other", "Access-Control-Request-Method": "PUT"})
	wantStatus(t, "preflight with a method no rule allows", resp, body, 403, "AccessForbidden")
	resp, body = anon(t, "OPTIONS", base+"/web/o", nil, nil)
	wantStatus(t, "OPTIONS without Origin", resp, body, 400, "BadRequest")

	// An actual request gets the matching rule's headers, and CORS never
	// grants access: this unsigned GET is still refused.
	resp, body = anon(t, "GET", base+"/web/o", nil, map[string]string{"Origin": "http://app.example"})
	wantStatus(t, "unsigned GET", resp, body, 403, "AccessDenied")
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" || resp.Header.Get("Access-Control-Expose-Headers") != "ETag" {
		t.Fatalf("actual request CORS headers: %v", resp.Header)
	}

	resp, body = signed(t, "DELETE", base+"/web?cors", nil)
	wantStatus(t, "delete cors", resp, body, 204, "")
	resp, body = signed(t, "GET", base+"/web?cors", nil)
	wantStatus(t, "get cors after delete", resp, body, 404, "NoSuchCORSConfiguration")
	resp, body = anon(t, "OPTIONS", base+"/web/o", nil, map[string]string{"Origin": "http://other", "Access-Control-Request-Method": "GET"})
	wantStatus(t, "preflight after delete", resp, body, 403, "AccessForbidden")
}

// TestAnonymousOwnerOnly: with a policy granting everything to everyone,
// no unsigned request may perform an owner-only action (every route
// naming one is tried), and nothing changes.
func TestAnonymousOwnerOnly(t *testing.T) {
	c, _ := startInProcess(t, Config{})
	ctx := context.Background()
	base := c.EndpointURL().String()
	for _, b := range []string{"own", "spare"} {
		if err := c.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutObject(ctx, "own", "o", strings.NewReader("data"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	policy := pol(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`)
	if err := c.SetBucketPolicy(ctx, "own", policy); err != nil {
		t.Fatal(err)
	}
	for a := range ownerOnly {
		if !slices.Contains(s3Actions, a) {
			t.Errorf("owner-only action %s is not an S3 action policies name", a)
		}
	}
	tried := 0
	for _, rt := range routes {
		if !ownerOnly[rt.action] {
			continue
		}
		url := base
		switch rt.level {
		case levelBucket:
			url += "/own"
		case levelObject:
			url += "/own/o"
		}
		if len(rt.query) > 0 {
			url += "?" + strings.Join(rt.query, "&")
		}
		var body []byte
		if rt.name == "PutBucketPolicy" {
			body = []byte(pol(`{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}`))
		}
		resp, b := anon(t, rt.method, url, body, nil)
		wantStatus(t, "unsigned "+rt.name, resp, b, 403, "AccessDenied")
		tried++
	}
	if tried < 10 {
		t.Fatalf("only %d owner-only routes", tried)
	}
	resp, body := anon(t, "DELETE", base+"/spare", nil, nil)
	wantStatus(t, "unsigned DeleteBucket of a bucket without policy", resp, body, 403, "AccessDenied")
	if p, err := c.GetBucketPolicy(ctx, "own"); err != nil || p != policy {
		t.Fatalf("policy after the unsigned requests: %q %v", p, err)
	}
	for _, b := range []string{"own", "spare"} {
		if ok, err := c.BucketExists(ctx, b); err != nil || !ok {
			t.Fatalf("bucket %s after the unsigned requests: %v %v", b, ok, err)
		}
	}
	resp, body = anon(t, "GET", base+"/own/o", nil, nil)
	wantStatus(t, "unsigned GetObject the policy grants", resp, body, 200, "")
}

// TestAnonymousObjectLimits: GetObjectAttributes needs s3:GetObject too,
// response-* overrides are refused to anonymous requests, and a
// DeleteObjects a policy cannot grant is refused whole.
func TestAnonymousObjectLimits(t *testing.T) {
	c, _ := startInProcess(t, Config{})
	ctx := context.Background()
	base := c.EndpointURL().String()
	if err := c.MakeBucket(ctx, "lim", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "lim", "o", strings.NewReader("data"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{"x-amz-object-attributes": "ETag"}
	if err := c.SetBucketPolicy(ctx, "lim", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObjectAttributes","Resource":"arn:aws:s3:::lim/*"}`)); err != nil {
		t.Fatal(err)
	}
	resp, body := anon(t, "GET", base+"/lim/o?attributes", nil, attrs)
	wantStatus(t, "attributes without GetObject", resp, body, 403, "AccessDenied")
	if err := c.SetBucketPolicy(ctx, "lim", pol(`{"Effect":"Allow","Principal":"*","Action":["s3:GetObjectAttributes","s3:GetObject"],"Resource":"arn:aws:s3:::lim/*"}`)); err != nil {
		t.Fatal(err)
	}
	resp, body = anon(t, "GET", base+"/lim/o?attributes", nil, attrs)
	wantStatus(t, "attributes with GetObject", resp, body, 200, "")

	resp, body = anon(t, "GET", base+"/lim/o?response-content-type=text/html", nil, nil)
	wantStatus(t, "anonymous override", resp, body, 400, "InvalidRequest")
	if !strings.Contains(body, "cannot be used for anonymous GET requests") {
		t.Fatalf("anonymous override: %s", body)
	}
	resp, body = signed(t, "GET", base+"/lim/o?response-content-type=text%2Fhtml", nil)
	wantStatus(t, "signed override", resp, body, 200, "")
	if resp.Header.Get("Content-Type") != "text/html" {
		t.Fatalf("signed override: Content-Type %q", resp.Header.Get("Content-Type"))
	}

	del := []byte("<Delete><Object><Key>o</Key></Object></Delete>")
	for _, b := range []string{"lim", "nosuchbucket"} {
		resp, body = anon(t, "POST", base+"/"+b+"?delete", del, map[string]string{"Content-MD5": md5b64(del)})
		wantStatus(t, "anonymous DeleteObjects on "+b, resp, body, 403, "AccessDenied")
	}
	if _, err := c.StatObject(ctx, "lim", "o", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("after the refused DeleteObjects: %v", err)
	}
}
