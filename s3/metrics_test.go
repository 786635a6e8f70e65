package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/golang-jwt/jwt/v5"
	"github.com/minio/minio-go/v7"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/lsmstore/lsmstore/engine"
)

// families are the metric families lsmd must expose.
var families = []string{
	"lsm_s3_requests_total", "lsm_s3_request_duration_seconds", "lsm_s3_received_bytes_total", "lsm_s3_sent_bytes_total",
	"lsm_objects", "lsm_logical_bytes", "lsm_disk_bytes", "lsm_index_bytes", "lsm_index_copies",
	"lsm_segments", "lsm_live_bytes", "lsm_garbage_bytes",
	"lsm_cache_hits_total", "lsm_cache_misses_total", "lsm_cache_evictions_total",
	"lsm_disk_reads_total", "lsm_disk_read_bytes_total", "lsm_fsyncs_total",
	"lsm_group_commits_total", "lsm_group_commit_ops_total", "lsm_gets_total", "lsm_puts_total",
	"lsm_degraded_reads_total", "lsm_drive_errors_total",
	"lsm_erasure_data_shards", "lsm_erasure_parity_shards",
	"lsm_compaction_running", "lsm_compaction_passes_total", "lsm_compaction_copied_bytes_total",
	"lsm_drive_free_bytes", "lsm_drive_total_bytes", "lsm_drive_ok",
	"lsm_job_running", "lsm_job_bytes_done", "lsm_job_bytes_total",
	"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes",
}

// scrapeResult is one parsed scrape.
type scrapeResult map[string]*dto.MetricFamily

func parseScrape(t *testing.T, body []byte) scrapeResult {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return mfs
}

func scrape(t *testing.T, url string) scrapeResult {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: content type %q", url, ct)
	}
	return parseScrape(t, body)
}

// value returns the value of the sample of family name whose labels
// include labels (a counter's or gauge's value, a histogram's count).
func (sr scrapeResult) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mf, ok := sr[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

func (sr scrapeResult) wantType(t *testing.T, name string, typ dto.MetricType) {
	t.Helper()
	if mf, ok := sr[name]; !ok || mf.GetType() != typ {
		t.Fatalf("family %s: %v, want type %v", name, mf.GetType(), typ)
	}
}

// TestMetrics: every family is exposed, request counters match the traffic
// made, engine values match the store, and values move between scrapes.
func TestMetrics(t *testing.T) {
	c, _ := startInProcess(t, Config{MetricsPublic: true})
	ctx := context.Background()
	base := c.EndpointURL().String()
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, size int) {
		t.Helper()
		data := make([]byte, size)
		rand.Read(data)
		if _, err := c.PutObject(ctx, "bkt", key, bytes.NewReader(data), int64(size), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string) int {
		t.Helper()
		o, err := c.GetObject(ctx, "bkt", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		b, err := io.ReadAll(o)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	// Objects above the inline threshold live in segments: GETs go
	// through the block cache and the disk.
	const puts, size = 5, 20000
	for i := range puts {
		put(fmt.Sprintf("k%d", i), size)
	}
	got := 0
	for i := range 3 {
		got += get(fmt.Sprintf("k%d", i))
	}
	o, _ := c.GetObject(ctx, "bkt", "missing", minio.GetObjectOptions{})
	if _, err := io.ReadAll(o); minio.ToErrorResponse(err).StatusCode != 404 {
		t.Fatalf("get missing: %v", err)
	}

	m1 := scrape(t, base+"/metrics")
	for _, f := range families {
		if _, ok := m1[f]; !ok {
			t.Errorf("family %s missing", f)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	m1.wantType(t, "lsm_s3_requests_total", dto.MetricType_COUNTER)
	m1.wantType(t, "lsm_s3_request_duration_seconds", dto.MetricType_HISTOGRAM)
	m1.wantType(t, "lsm_cache_hits_total", dto.MetricType_COUNTER)
	m1.wantType(t, "lsm_puts_total", dto.MetricType_COUNTER)
	m1.wantType(t, "lsm_objects", dto.MetricType_GAUGE)

	if v := m1.value(t, "lsm_s3_requests_total", "op", "PutObject", "status", "200"); v != puts {
		t.Errorf("PutObject 200: %v, want %d", v, puts)
	}
	if v := m1.value(t, "lsm_s3_requests_total", "op", "GetObject", "status", "200"); v != 3 {
		t.Errorf("GetObject 200: %v, want 3", v)
	}
	if v := m1.value(t, "lsm_s3_requests_total", "op", "GetObject", "status", "404"); v != 1 {
		t.Errorf("GetObject 404: %v, want 1", v)
	}
	if v := m1.value(t, "lsm_s3_request_duration_seconds", "op", "PutObject"); v != puts {
		t.Errorf("PutObject duration count: %v, want %d", v, puts)
	}
	if v := m1.value(t, "lsm_s3_received_bytes_total", "op", "PutObject"); v < puts*size {
		t.Errorf("PutObject received bytes: %v, want >= %d", v, puts*size)
	}
	if v := m1.value(t, "lsm_s3_sent_bytes_total", "op", "GetObject"); v < float64(got) {
		t.Errorf("GetObject sent bytes: %v, want >= %d", v, got)
	}
	if v := m1.value(t, "lsm_objects"); v != puts {
		t.Errorf("lsm_objects %v, want %d", v, puts)
	}
	if v := m1.value(t, "lsm_logical_bytes"); v != puts*size {
		t.Errorf("lsm_logical_bytes %v, want %d", v, puts*size)
	}
	if v := m1.value(t, "lsm_puts_total"); v < puts {
		t.Errorf("lsm_puts_total %v, want >= %d", v, puts)
	}
	if v := m1.value(t, "lsm_cache_hits_total") + m1.value(t, "lsm_cache_misses_total") + m1.value(t, "lsm_disk_reads_total"); v == 0 {
		t.Errorf("cache lookups and disk reads are all 0 after 3 GETs")
	}
	if v := m1.value(t, "lsm_segments", "state", "open"); v < 1 {
		t.Errorf("open segments %v", v)
	}
	if v := m1.value(t, "lsm_drive_ok", "drive", "d"); v != 1 {
		t.Errorf("lsm_drive_ok{drive=d} %v", v)
	}
	for _, kind := range []string{JobCompact, JobVerify, JobHeal} {
		if v := m1.value(t, "lsm_job_running", "kind", kind); v != 0 {
			t.Errorf("lsm_job_running{kind=%s} %v", kind, v)
		}
	}
	if v := m1.value(t, "go_goroutines"); v < 1 {
		t.Errorf("go_goroutines %v", v)
	}

	// More traffic moves the values.
	for i := puts; i < puts+3; i++ {
		put(fmt.Sprintf("k%d", i), size)
	}
	get("k4")
	get("k4")
	m2 := scrape(t, base+"/metrics")
	for _, tc := range []struct {
		name   string
		labels []string
		delta  float64 // exact growth; 0: any growth
	}{
		{"lsm_s3_requests_total", []string{"op", "PutObject", "status", "200"}, 3},
		{"lsm_s3_requests_total", []string{"op", "GetObject", "status", "200"}, 2},
		{"lsm_s3_request_duration_seconds", []string{"op", "GetObject"}, 2},
		{"lsm_s3_received_bytes_total", []string{"op", "PutObject"}, 0},
		{"lsm_s3_sent_bytes_total", []string{"op", "GetObject"}, 0},
		{"lsm_objects", nil, 3},
		{"lsm_logical_bytes", nil, 3 * size},
		{"lsm_puts_total", nil, 0},
		{"lsm_cache_misses_total", nil, 0},
		{"lsm_disk_reads_total", nil, 0},
		{"lsm_disk_read_bytes_total", nil, 0},
		{"lsm_group_commits_total", nil, 0},
		{"lsm_group_commit_ops_total", nil, 0},
	} {
		v1, v2 := m1.value(t, tc.name, tc.labels...), m2.value(t, tc.name, tc.labels...)
		if tc.delta != 0 && v2-v1 != tc.delta || tc.delta == 0 && v2 <= v1 {
			t.Errorf("%s%v: %v then %v, want growth %v", tc.name, tc.labels, v1, v2, tc.delta)
		}
	}

	// MinIO's path serves the same registry.
	m3 := scrape(t, base+"/minio/v2/metrics/cluster")
	for _, f := range families {
		if _, ok := m3[f]; !ok {
			t.Errorf("/minio/v2/metrics/cluster: family %s missing", f)
		}
	}
	if v := m3.value(t, "lsm_s3_requests_total", "op", "PutObject", "status", "200"); v != puts+3 {
		t.Errorf("/minio/v2/metrics/cluster: PutObject 200 %v, want %d", v, puts+3)
	}
	// Scrapes are not S3 requests.
	if _, ok := m3["lsm_s3_requests_total"]; ok {
		for _, m := range m3["lsm_s3_requests_total"].Metric {
			for _, lp := range m.Label {
				if lp.GetName() == "op" && lp.GetValue() == "Metrics" {
					t.Errorf("scrapes counted as S3 requests")
				}
			}
		}
	}
}

// TestMetricsBucketNamedMetrics: the name "metrics" is reserved, but a
// bucket of that name made before still works through the S3 API; only a
// bare GET /metrics is the scrape.
func TestMetricsBucketNamedMetrics(t *testing.T) {
	c, srv := startInProcess(t, Config{MetricsPublic: true})
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "metrics", minio.MakeBucketOptions{}); minio.ToErrorResponse(err).Code != "InvalidBucketName" {
		t.Fatalf("MakeBucket metrics: %v, want InvalidBucketName", err)
	}
	if err := srv.store.CreateBucket("metrics"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "metrics", "a", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for o := range c.ListObjects(ctx, "metrics", minio.ListObjectsOptions{}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("listed %d objects in bucket metrics", n)
	}
	if ok, err := c.BucketExists(ctx, "metrics"); err != nil || !ok {
		t.Fatalf("bucket metrics exists: %v %v", ok, err)
	}
	scrape(t, c.EndpointURL().String()+"/metrics")
}

// TestMetricsAuth: by default, scrapes need a root signature or a bearer
// token as mc makes them (HS512 with the root secret, subject the root
// access key, issuer prometheus, an expiry); other tokens are refused.
func TestMetricsAuth(t *testing.T) {
	c, _ := startInProcess(t, Config{})
	base := c.EndpointURL().String()
	for _, p := range []string{"/metrics", "/minio/v2/metrics/cluster"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantStatus(t, "unsigned scrape of "+p, resp, string(body), http.StatusForbidden, "AccessDenied")

		resp, body2 := signed(t, "GET", base+p, nil)
		wantStatus(t, "signed scrape of "+p, resp, body2, http.StatusOK, "")
		mfs := parseScrape(t, []byte(body2))
		if _, ok := mfs["lsm_objects"]; !ok {
			t.Fatalf("signed scrape of %s: no lsm_objects", p)
		}
	}
	// A wrong secret is refused too.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=ak/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("badly signed scrape: %d", resp.StatusCode)
	}

	now := time.Now()
	good, err := NewMetricsToken("ak", "secretsecret", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(sub, iss string, exp time.Duration) jwt.RegisteredClaims {
		c := jwt.RegisteredClaims{Subject: sub, Issuer: iss}
		if exp != 0 {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(exp))
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.RegisteredClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("secretsecret")
	ok := claims("ak", "prometheus", time.Hour)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"valid", good, 200},
		{"valid, lowercase scheme", good, 200},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, ok), 403},
		{"HS256", sign(jwt.SigningMethodHS256, secret, ok), 403},
		{"HS384", sign(jwt.SigningMethodHS384, secret, ok), 403},
		{"RS512", sign(jwt.SigningMethodRS512, rsaKey, ok), 403},
		{"expired", sign(jwt.SigningMethodHS512, secret, claims("ak", "prometheus", -time.Minute)), 403},
		{"no expiry", sign(jwt.SigningMethodHS512, secret, claims("ak", "prometheus", 0)), 403},
		{"other subject", sign(jwt.SigningMethodHS512, secret, claims("someone", "prometheus", time.Hour)), 403},
		{"other issuer", sign(jwt.SigningMethodHS512, secret, claims("ak", "console", time.Hour)), 403},
		{"other secret", sign(jwt.SigningMethodHS512, []byte("not the secret"), ok), 403},
		{"tampered", good[:len(good)-2] + "AA", 403},
		{"garbage", "abc.def.ghi", 403},
	} {
		for _, p := range []string{"/metrics", "/minio/v2/metrics/cluster"} {
			req, _ := http.NewRequest("GET", base+p, nil)
			scheme := "Bearer "
			if strings.Contains(tc.name, "lowercase") {
				scheme = "bearer "
			}
			req.Header.Set("Authorization", scheme+tc.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || (tc.want == 200) != strings.Contains(string(body), "lsm_objects") {
				t.Errorf("%s token on %s: %d, want %d\n%.200s", tc.name, p, resp.StatusCode, tc.want, body)
			}
		}
	}
}

// TestRequestLogs: the debug line and the slow-request warning carry the
// request's id, operation, bucket, key, status, bytes and duration.
func TestRequestLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	c, _ := startInProcess(t, Config{Logger: zap.New(core), SlowRequest: time.Nanosecond})
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "bkt", "dir/obj", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := c.GetObject(ctx, "bkt", "dir/obj", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(o); err != nil || string(b) != "hello" {
		t.Fatalf("get: %q %v", b, err)
	}
	o.Close()
	for _, msg := range []string{"request", "slow request"} {
		var found bool
		for _, e := range logs.FilterMessage(msg).All() {
			f := e.ContextMap()
			if f["op"] != "GetObject" {
				continue
			}
			found = true
			if f["bucket"] != "bkt" || f["key"] != "dir/obj" || f["status"] != int64(200) || f["bytes_out"] != int64(5) || f["id"] == "" {
				t.Errorf("%q line: %v", msg, f)
			}
			for _, k := range []string{"bytes_in", "duration"} {
				if _, ok := f[k]; !ok {
					t.Errorf("%q line has no %s: %v", msg, k, f)
				}
			}
			if want := zapcore.WarnLevel; msg == "slow request" && e.Level != want {
				t.Errorf("slow request logged at %v", e.Level)
			}
		}
		if !found {
			t.Errorf("no %q line for GetObject", msg)
		}
	}
}

// TestDriveErrorWatcher: a growing drive error counter is logged.
func TestDriveErrorWatcher(t *testing.T) {
	fs := vfs.NewMem()
	st, err := engine.Open(engine.Options{FS: fs, Dirs: []string{"d0", "d1"}, CacheSize: -1, IndexCacheSize: 8 << 20, MinPartSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	c, _ := serveInProcess(t, st, Config{Logger: zap.New(core)}, func(srv *Server) { srv.driveWatch = 20 * time.Millisecond })
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64<<10)
	rand.Read(data)
	if _, err := c.PutObject(ctx, "bkt", "k", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// Overwrite the object's bytes in both replicas.
	corrupted := 0
	var walk func(dir string)
	walk = func(dir string) {
		names, _ := fs.List(dir)
		for _, n := range names {
			p := path.Join(dir, n)
			fi, err := fs.Stat(p)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				walk(p)
				continue
			}
			if fi.Size() < int64(len(data)) {
				continue
			}
			f, err := fs.OpenReadWrite(p, vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, fi.Size())
			f.ReadAt(buf, 0)
			if i := bytes.Index(buf, data[:4096]); i >= 0 {
				f.WriteAt(bytes.Repeat([]byte{0xff}, 4096), int64(i))
				corrupted++
			}
			f.Close()
		}
	}
	walk("d0")
	walk("d1")
	if corrupted == 0 {
		t.Fatal("object bytes not found in the drives' files")
	}
	// One read (minio-go would retry the failure with backoff).
	if resp, body := signed(t, "GET", c.EndpointURL().String()+"/bkt/k", nil); resp.StatusCode == http.StatusOK && body == string(data) {
		t.Fatal("corrupted object read back intact")
	}
	if n := st.Metrics().DriveErrors; n == 0 {
		t.Fatal("corruption not counted as a drive error")
	}
	deadline := time.Now().Add(2 * time.Second)
	for logs.FilterMessage("drive errors").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no drive errors warning")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e := logs.FilterMessage("drive errors").All()[0]
	t.Logf("%s %v", e.Message, e.ContextMap())
	if f := e.ContextMap(); f["new"].(int64) < 1 {
		t.Fatalf("drive errors line: %v", f)
	}
}

// BenchmarkObserve is the per-request cost the metrics add to Server.handle.
func BenchmarkObserve(b *testing.B) {
	srv := NewServer(Config{})
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/bkt/key")
	ctx.Response.SetBody(make([]byte, 4096))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		srv.metrics.observe("GetObject", ctx.Response.StatusCode(), receivedBytes(ctx), sentBytes(ctx), 300*time.Microsecond)
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	srv := NewServer(Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			srv.metrics.observe("GetObject", 200, 0, 4096, 300*time.Microsecond)
		}
	})
}

// BenchmarkHandle is a whole (anonymous, refused) request through
// Server.handle, metrics included, for scale.
func BenchmarkHandle(b *testing.B) {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d"}, CacheSize: 8 << 20, IndexCacheSize: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := NewServer(Config{Store: st, AccessKey: "ak", SecretKey: "secretsecret"})
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("GET")
		ctx.Request.SetRequestURI("/bkt/key")
		ctx.Request.Header.SetHost("127.0.0.1")
		srv.handle(&ctx)
	}
}
