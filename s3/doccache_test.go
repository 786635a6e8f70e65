package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/minio/minio-go/v7"
	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
)

// bigPolicy is a policy of about 19 KiB for bucket: many read grants on
// data/NNN/* and s3:DeleteObject on tmp/* only.
func bigPolicy(bucket string) string {
	var sts []string
	for i := 0; len(strings.Join(sts, ",")) < 19<<10-400; i++ {
		sts = append(sts, fmt.Sprintf(`{"Sid":"read%03d","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%s/data/%03d/*"]}`, i, bucket, i))
	}
	sts = append(sts, fmt.Sprintf(`{"Sid":"tmp","Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::%s/tmp/*"}`, bucket))
	return pol(strings.Join(sts, ","))
}

// deleteKeys is a quiet DeleteObjects body for n keys under keep/ (which
// bigPolicy does not let anyone delete).
func deleteKeys(n int) []byte {
	var b strings.Builder
	b.WriteString("<Delete><Quiet>true</Quiet>")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "<Object><Key>keep/%04d</Key></Object>", i)
	}
	b.WriteString("</Delete>")
	return []byte(b.String())
}

func md5b64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// TestBucketDocumentsParsedOnce: a bucket's policy and CORS configuration
// are parsed once per change of the stored document, however many requests
// use them (a DeleteObjects of 1,000 keys included), and a change by any
// path (the s3 handlers or the engine directly) is seen by the next
// request.
func TestBucketDocumentsParsedOnce(t *testing.T) {
	c, srv := startInProcess(t, Config{})
	ctx := context.Background()
	base := c.EndpointURL().String()
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"data/000/o", "data/001/o"} {
		if _, err := c.PutObject(ctx, "bkt", k, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	policy := bigPolicy("bkt")
	if len(policy) < 18<<10 || len(policy) > maxPolicySize {
		t.Fatalf("policy of %d bytes", len(policy))
	}
	if err := c.SetBucketPolicy(ctx, "bkt", policy); err != nil {
		t.Fatal(err)
	}
	resp, body := signed(t, "PUT", base+"/bkt?cors", []byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>http://app.example</AllowedOrigin></CORSRule></CORSConfiguration>`))
	wantStatus(t, "put cors", resp, body, 200, "")

	del := deleteKeys(1000)
	get := func(key string, want int) {
		t.Helper()
		resp, body := anon(t, "GET", base+"/bkt/"+key, nil, map[string]string{"Origin": "http://app.example"})
		wantStatus(t, "anonymous GET "+key, resp, body, want, "")
		if resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
			t.Fatalf("GET %s: no CORS headers: %v", key, resp.Header)
		}
	}
	wantParses := func(what string, policies, cors int64) {
		t.Helper()
		if p, c := srv.policies.parses.Load(), srv.cors.parses.Load(); p != policies || c != cors {
			t.Fatalf("%s: %d policy and %d CORS parses, want %d and %d", what, p, c, policies, cors)
		}
	}

	resp, body = anon(t, "POST", base+"/bkt?delete", del, map[string]string{"Content-MD5": md5b64(del), "Origin": "http://app.example"})
	wantStatus(t, "anonymous DeleteObjects", resp, body, 200, "")
	if n := strings.Count(body, "<Code>AccessDenied</Code>"); n != 1000 {
		t.Fatalf("DeleteObjects: %d keys denied, want 1000", n)
	}
	for i := 0; i < 20; i++ {
		get("data/000/o", 200)
		resp, body := anon(t, "OPTIONS", base+"/bkt/data/000/o", nil, map[string]string{"Origin": "http://app.example", "Access-Control-Request-Method": "GET"})
		wantStatus(t, "preflight", resp, body, 200, "")
	}
	wantParses("first documents", 1, 1)

	// Replaced through the API: parsed once more, in effect at once.
	if err := c.SetBucketPolicy(ctx, "bkt", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/data/001/*"}`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		get("data/000/o", 403)
		get("data/001/o", 200)
	}
	wantParses("policy replaced", 2, 1)

	// Replaced in the engine, behind the handlers' back: still seen.
	if err := srv.store.PutBucketConfig("bkt", configPolicy, []byte(pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/data/000/*"}`))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		get("data/000/o", 200)
		get("data/001/o", 403)
	}
	wantParses("policy replaced in the engine", 3, 1)

	// Deleted: nothing granted, nothing parsed, nothing kept.
	if err := c.SetBucketPolicy(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	get("data/000/o", 403)
	wantParses("policy deleted", 3, 1)
	if srv.policies.len() != 0 || srv.cors.len() != 1 {
		t.Fatalf("after deleting the policy: %d policies and %d CORS configurations kept", srv.policies.len(), srv.cors.len())
	}

	// The bucket's deletion drops its documents.
	for _, k := range []string{"data/000/o", "data/001/o"} {
		if err := c.RemoveObject(ctx, "bkt", k, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	if srv.policies.len() != 0 || srv.cors.len() != 0 {
		t.Fatalf("after deleting the bucket: %d policies and %d CORS configurations kept", srv.policies.len(), srv.cors.len())
	}
}

// TestDocCacheBound: the cache holds at most maxBytes of documents, and
// what it drops is parsed again when asked for.
func TestDocCacheBound(t *testing.T) {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d"}, CacheSize: 8 << 20, IndexCacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := docCache[string]{name: "doc", maxBytes: 3000, parse: func(doc []byte, _ string) (string, error) { return string(doc), nil }}
	for i := 0; i < 10; i++ {
		b := fmt.Sprintf("bucket%d", i)
		if err := st.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
		if err := st.PutBucketConfig(b, "doc", bytes.Repeat([]byte{byte('a' + i)}, 1000)); err != nil {
			t.Fatal(err)
		}
		if v, ok := c.get(st, b); !ok || v != strings.Repeat(string(rune('a'+i)), 1000) {
			t.Fatalf("%s: %q %v", b, v, ok)
		}
		if c.size > c.maxBytes || c.len() > 3 {
			t.Fatalf("after %d documents: %d bytes in %d entries", i+1, c.size, c.len())
		}
	}
	if c.parses.Load() != 10 {
		t.Fatalf("%d parses, want 10", c.parses.Load())
	}
	// A document larger than the whole budget is parsed but not kept.
	if err := st.PutBucketConfig("bucket0", "doc", bytes.Repeat([]byte("z"), 4000)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if v, ok := c.get(st, "bucket0"); !ok || len(v) != 4000 {
			t.Fatalf("large document: %d %v", len(v), ok)
		}
	}
	if c.parses.Load() != 12 || c.size > c.maxBytes {
		t.Fatalf("large document: %d parses, %d bytes kept", c.parses.Load(), c.size)
	}
}

// TestDocCacheConcurrent: readers racing a writer only ever see a document
// that was stored, and see the last one once the writer is done.
func TestDocCacheConcurrent(t *testing.T) {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d"}, CacheSize: 8 << 20, IndexCacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	c := newDocCache("doc", func(doc []byte, _ string) (string, error) { return string(doc), nil })
	const versions = 50
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if v, ok := c.get(st, "bkt"); ok && !strings.HasPrefix(v, "version ") {
					t.Errorf("read %q", v)
					return
				}
			}
		}()
	}
	for i := 0; i < versions; i++ {
		if err := st.PutBucketConfig("bkt", "doc", fmt.Appendf(nil, "version %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if v, ok := c.get(st, "bkt"); !ok || v != fmt.Sprintf("version %d", versions-1) {
		t.Fatalf("after the writer: %q %v", v, ok)
	}
}

// BenchmarkAnonymousDeleteObjects is an unsigned DeleteObjects of 1,000
// keys, each refused by a 19 KiB policy, through Server.handle without the
// network.
func BenchmarkAnonymousDeleteObjects(b *testing.B) {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d"}, CacheSize: 8 << 20, IndexCacheSize: 8 << 20, CompactionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateBucket("bkt"); err != nil {
		b.Fatal(err)
	}
	if err := st.PutBucketConfig("bkt", configPolicy, []byte(bigPolicy("bkt"))); err != nil {
		b.Fatal(err)
	}
	srv := NewServer(Config{Store: st, AccessKey: "ak", SecretKey: "secretsecret"})
	body := deleteKeys(1000)
	sum := md5b64(body)
	var ctx fasthttp.RequestCtx
	ctx.Init2(nil, nil, false)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/bkt?delete")
		ctx.Request.Header.SetHost("127.0.0.1:9000")
		ctx.Request.Header.Set("Content-MD5", sum)
		ctx.Request.SetBodyStream(bytes.NewReader(body), len(body))
		srv.handle(&ctx)
		if sc := ctx.Response.StatusCode(); sc != 200 || !bytes.Contains(ctx.Response.Body(), []byte("keep/0999")) {
			b.Fatalf("status %d: %.300s", sc, ctx.Response.Body())
		}
	}
}
