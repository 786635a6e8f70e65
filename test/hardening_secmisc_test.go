package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lsmstore/lsmstore/engine"
)

// plainHTTP sends "METHOD /target" exactly as given (no signature) on a
// fresh connection and returns the status code and the whole response.
func plainHTTP(t testing.TB, s *server, line string, extra http.Header) (int, string) {
	t.Helper()
	out := sendRaw(t, s, line, extra)
	var code int
	fmt.Sscanf(out, "HTTP/1.1 %d", &code)
	return code, out
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

// TestMetricsAuthDefault: lsmd's metrics need the root credentials by
// default: unsigned scrapes get 403; a SigV4-signed scrape and the bearer
// token of `lsmctl prometheus generate` (mc's format) are served;
// --metrics-auth=false (MINIO_PROMETHEUS_AUTH_TYPE=public) opens them.
func TestMetricsAuthDefault(t *testing.T) {
	s := startServer(t)
	for _, p := range []string{"/metrics", "/minio/v2/metrics/cluster"} {
		if code, body := plainHTTP(t, s, "GET "+p, nil); code != 403 || strings.Contains(body, "lsm_objects") {
			t.Errorf("unsigned GET %s: %d, want 403\n%.300s", p, code, body)
		}
		if out := rawHTTP(t, s, "GET "+p, nil); !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, "lsm_objects") {
			t.Errorf("signed GET %s: %.300s", p, out)
		}
	}
	res := lsmctl(t, "prometheus", "generate", "--endpoint", s.Endpoint)
	m := regexp.MustCompile(`bearer_token: (\S+)`).FindStringSubmatch(res.stdout)
	if res.code != 0 || m == nil || !strings.Contains(res.stdout, "targets: ["+s.Addr+"]") {
		t.Fatalf("lsmctl prometheus generate: %s", res)
	}
	code, body := plainHTTP(t, s, "GET /minio/v2/metrics/cluster", http.Header{"Authorization": {"Bearer " + m[1]}})
	if code != 200 || !strings.Contains(body, "lsm_objects") {
		t.Errorf("scrape with the generated token: %d\n%.300s", code, body)
	}
	if code, _ := plainHTTP(t, s, "GET /metrics", http.Header{"Authorization": {"Bearer " + m[1][:len(m[1])-3] + "AAA"}}); code != 403 {
		t.Errorf("scrape with a tampered token: %d, want 403", code)
	}

	pub := startServer(t, "--metrics-auth=false")
	if code, body := plainHTTP(t, pub, "GET /metrics", nil); code != 200 || !strings.Contains(body, "lsm_objects") {
		t.Errorf("public metrics: %d", code)
	}
}

// TestNoCredentialsInDebugLog: with debug logging, signed, presigned and
// malformed requests (which fasthttp logs with the bytes it could not
// parse) leave no secret, signature, Authorization value, credential scope
// or bearer token in the log.
func TestNoCredentialsInDebugLog(t *testing.T) {
	s := startServer(t, "--log-level", "debug")
	ctx := context.Background()
	c := minioClient(t, s)
	if err := c.MakeBucket(ctx, "logs", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "logs", "k", strings.NewReader("v"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StatObject(ctx, "logs", "missing", minio.StatObjectOptions{}); err == nil {
		t.Fatal("stat of a missing key succeeded")
	}
	var secrets []string // strings that must not reach the log
	u, err := c.PresignedGetObject(ctx, "logs", "k", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	secrets = append(secrets, q.Get("X-Amz-Signature"), q.Get("X-Amz-Credential"))
	if resp, err := http.Get(u.String()); err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned GET: %v %v", resp, err)
	}
	tampered := strings.Replace(u.String(), q.Get("X-Amz-Signature"), strings.Repeat("0", 64), 1)
	if resp, err := http.Get(tampered); err != nil || resp.StatusCode != 403 {
		t.Fatalf("tampered presigned GET: %v %v", resp, err)
	}
	bad, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, "wrong-secret-0123456789", "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.StatObject(ctx, "logs", "k", minio.StatObjectOptions{}); err == nil {
		t.Fatal("a wrong secret was accepted")
	}

	sig := "5d1c0a0e3f4b8a6c7d2e9f1a0b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"
	cred := accessKey + "/20250101/us-east-1/s3/aws4_request"
	authz := "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig
	token := "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJsc210ZXN0YWNjZXNzIn0.c2VjcmV0LXRva2VuLXNpZ25hdHVyZQ"
	secrets = append(secrets, sig, cred, token, "sessiontoken-ABCDEF123456", "cookie-value-XYZ987")
	for _, raw := range []string{
		// Valid framing, bad signature.
		"GET /logs/k HTTP/1.1\r\nHost: " + s.Addr + "\r\nAuthorization: " + authz + "\r\nX-Amz-Date: 20250101T000000Z\r\nX-Amz-Security-Token: sessiontoken-ABCDEF123456\r\nCookie: session=cookie-value-XYZ987\r\nConnection: close\r\n\r\n",
		// A header line without a key after the credentials.
		"GET /logs/k HTTP/1.1\r\nHost: " + s.Addr + "\r\nAuthorization: " + authz + "\r\nCookie: session=cookie-value-XYZ987\r\n: no key\r\n\r\n",
		// A control byte in the Authorization value.
		"GET /logs/k HTTP/1.1\r\nHost: " + s.Addr + "\r\nAuthorization: " + authz + "\x01\r\n\r\n",
		// A control byte in a presigned URL.
		"GET /logs/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + strings.ReplaceAll(cred, "/", "%2F") + "&X-Amz-Signature=" + sig + "\x01 HTTP/1.1\r\nHost: " + s.Addr + "\r\n\r\n",
		// A bearer token on the metrics, and in a malformed request.
		"GET /metrics HTTP/1.1\r\nHost: " + s.Addr + "\r\nAuthorization: Bearer " + token + "\r\nConnection: close\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: " + s.Addr + "\r\nAuthorization: Bearer " + token + "\r\nX-Amz-Security-Token: sessiontoken-ABCDEF123456\x02\r\n\r\n",
	} {
		conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, raw)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(conn)
		conn.Close()
	}
	s.stop(t)
	log := s.logText()
	if !strings.Contains(log, "DEBUG") {
		t.Fatalf("no debug lines in the log:\n%s", log)
	}
	if !strings.Contains(log, "error when serving connection") {
		t.Errorf("fasthttp's error lines are missing (the malformed requests were not logged):\n%s", log)
	}
	secrets = append(secrets, secretKey, "wrong-secret-0123456789", authz)
	for _, sec := range secrets {
		if sec != "" && strings.Contains(log, sec) {
			t.Errorf("the log holds %q", sec)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}
}

// TestMaintenanceRateRefused: lsmctl shows the server's 400 for a verify or
// heal rate so low the job would run for years, and no job starts.
func TestMaintenanceRateRefused(t *testing.T) {
	s := startServer(t)
	for _, args := range [][]string{{"verify", "--rate", "1"}, {"heal", "--rate", "1000"}} {
		res := lsmctl(t, append([]string{"--endpoint", s.Endpoint}, args...)...)
		if res.code != 1 || !strings.Contains(res.stderr, "InvalidArgument (HTTP 400)") || !strings.Contains(res.stderr, "below the minimum") {
			t.Errorf("lsmctl %v: %s", args, res)
		}
	}
	if res := lsmctl(t, "--endpoint", s.Endpoint, "--json", "jobs"); res.code != 0 || strings.TrimSpace(res.stdout) != "[]" {
		t.Errorf("jobs after refused requests: %s", res)
	}
}
