package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lsmstore/lsmstore/engine"
)

// plainHTTP sends "METHOD /target" exactly as given (no signature) on a
// fresh connection and returns the status code and the whole response.
func plainHTTP(t testing.TB, s *server, line string, extra http.Header) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", line, s.Addr)
	for k, vs := range extra {
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
	var code int
	fmt.Sscanf(string(out), "HTTP/1.1 %d", &code)
	return code, string(out)
}

// TestReservedBucketNames: the bucket names the server's own routes use
// are refused at CreateBucket with InvalidBucketName; a bucket of such a
// name made before (here through the engine) still lists and serves the
// requests no other route takes, and the server warns about it.
func TestReservedBucketNames(t *testing.T) {
	dir := t.TempDir()
	st, err := engine.Open(engine.Options{Dirs: []string{dir}, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket("metrics"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put("metrics", "old", 3, strings.NewReader("old"), engine.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	s := (&server{Dir: dir}).start(t)
	c := minioClient(t, s)
	ctx := context.Background()
	for _, name := range []string{"minio", "lsm", "metrics"} {
		err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{})
		if er := minio.ToErrorResponse(err); er.Code != "InvalidBucketName" || er.StatusCode != 400 || !strings.Contains(er.Message, "reserved") {
			t.Errorf("create bucket %s: %v (%+v), want 400 InvalidBucketName", name, err, er)
		}
	}
	if err := c.MakeBucket(ctx, "metricsx", minio.MakeBucketOptions{}); err != nil {
		t.Errorf("create bucket metricsx: %v", err)
	}
	buckets, err := c.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range buckets {
		names = append(names, b.Name)
	}
	if strings.Join(names, ",") != "metrics,metricsx" {
		t.Errorf("buckets %v, want the old metrics bucket listed", names)
	}
	var keys []string
	for o := range c.ListObjects(ctx, "metrics", minio.ListObjectsOptions{}) { // ListObjectsV2: has a query
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "old" {
		t.Errorf("keys of the old bucket: %v", keys)
	}
	o, err := c.GetObject(ctx, "metrics", "old", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(o); err != nil || string(b) != "old" {
		t.Errorf("get metrics/old: %q %v", b, err)
	}
	s.stop(t)
	if log := s.logText(); !strings.Contains(log, "reserves") || !strings.Contains(log, `"metrics"`) {
		t.Errorf("no warning about the reserved bucket in the log:\n%s", log)
	}
}

// TestSpecialRoutesRawPath: the health, metrics and admin routes match the
// request path as sent; a path with dot segments, escapes or empty
// segments is an S3 path (a key), never one of those routes.
func TestSpecialRoutesRawPath(t *testing.T) {
	s := startServer(t, "--metrics-auth=false")
	c := minioClient(t, s)
	if err := c.MakeBucket(context.Background(), "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	isMetrics := func(body string) bool { return strings.Contains(body, "lsm_objects") }
	if code, body := plainHTTP(t, s, "GET /metrics", nil); code != 200 || !isMetrics(body) {
		t.Fatalf("GET /metrics: %d\n%.300s", code, body)
	}
	for _, target := range []string{
		"/bkt/../metrics", "/bkt/%2e%2e/metrics", "/bkt/%2E%2E/metrics", "/./metrics", "//metrics", "/bkt/./../metrics",
		"/bkt/../minio/v2/metrics/cluster", "/minio/v2/metrics/../metrics/cluster", "/minio//v2/metrics/cluster", "/minio/v2/metrics/%63luster",
	} {
		code, body := plainHTTP(t, s, "GET "+target, nil)
		if code == 200 || isMetrics(body) {
			t.Errorf("GET %s served the metrics (%d)", target, code)
		}
	}
	for _, target := range []string{"/bkt/../minio/health/live", "/minio/health/./live", "/minio/health/%6Cive", "//minio/health/live"} {
		code, body := plainHTTP(t, s, "GET "+target, nil)
		if code == 200 {
			t.Errorf("GET %s answered as a health probe: %.300s", target, body)
		}
	}
	// Signed admin calls: the plain path works, a dot-segment one is an S3
	// path (bucket lsm does not exist).
	if out := rawHTTP(t, s, "GET /lsm/admin/v1/stats", nil); !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("admin stats: %.300s", out)
	}
	for _, target := range []string{"/lsm/admin/v1/../v1/stats", "/lsm/admin/v1/./stats", "/lsm/admin/v1//stats", "/lsm/admin/v1/%73tats", "/minio/admin/v3/../v3/info"} {
		out := rawHTTP(t, s, "GET "+target, nil)
		if strings.HasPrefix(out, "HTTP/1.1 200") || strings.Contains(out, `"objects"`) {
			t.Errorf("GET %s reached the admin API: %.300s", target, out)
		}
	}
	// Signed, /bkt/../metrics is the key "../metrics" of bucket bkt.
	if out := rawHTTP(t, s, "GET /bkt/../metrics", nil); !strings.Contains(out, "NoSuchKey") {
		t.Errorf("signed GET /bkt/../metrics: want NoSuchKey for the key ../metrics, got %.300s", out)
	}
}
