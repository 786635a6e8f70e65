package s3

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"go.uber.org/zap"

	"github.com/lsmstore/lsmstore/engine"
)

// Prometheus metrics. Each Server owns a registry (none is global, so
// several servers in one process, as in tests, keep separate counts) and
// serves it itself at /metrics and at MinIO's cluster metrics path, where
// the ServiceMonitors of existing MinIO deployments look for it.
//
// Request metrics are recorded by Server.handle once the handler returns;
// the engine, drive, job and process metrics are read at scrape time.

const (
	pathMetrics        = "/metrics"
	pathMetricsCluster = "/minio/v2/metrics/cluster"

	// opUnknown labels requests that never matched a route (bad
	// signatures, malformed paths, unknown operations).
	opUnknown = "Unknown"

	// driveWatchInterval is how often the drive error counter is checked.
	driveWatchInterval = 5 * time.Second
)

// requestDurationBuckets span 50 µs to 30 s exponentially.
var requestDurationBuckets = prometheus.ExponentialBucketsRange(50e-6, 30, 18)

// metrics is a server's registry and its request instruments.
type metrics struct {
	reg      *prometheus.Registry
	handler  fasthttp.RequestHandler
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	received *prometheus.CounterVec
	sent     *prometheus.CounterVec

	// ops maps an operation name to its instruments; operation names are
	// a small fixed set.
	ops cowMap[string, *opMetrics]
}

// opMetrics are one operation's instruments.
type opMetrics struct {
	duration prometheus.Observer
	received prometheus.Counter
	sent     prometheus.Counter
	requests *prometheus.CounterVec

	name     string
	byStatus cowMap[int, prometheus.Counter] // request counter by HTTP status
}

// cowMap is a map copied on write (under mu), so that readers on the
// request path neither lock nor allocate. For small sets of keys.
type cowMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// get returns the value of k, made by create (once) if missing.
func (c *cowMap[K, V]) get(k K, create func() V) V {
	if p := c.m.Load(); p != nil {
		if v, ok := (*p)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v
	}
	v := create()
	next := make(map[K]V, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	next[k] = v
	c.m.Store(&next)
	return v
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsm_s3_requests_total",
			Help: "S3 requests served, by operation and HTTP status.",
		}, []string{"op", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lsm_s3_request_duration_seconds",
			Help:    "Time from reading the request to the handler's return (streamed response bodies are sent after it), by operation.",
			Buckets: requestDurationBuckets,
		}, []string{"op"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsm_s3_received_bytes_total",
			Help: "Request body bytes received (the Content-Length of each request), by operation.",
		}, []string{"op"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsm_s3_sent_bytes_total",
			Help: "Response body bytes sent (the Content-Length of streamed bodies), by operation.",
		}, []string{"op"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.received, m.sent,
		newEngineCollector(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// No Timeout: promhttp would derive a context from the request's,
	// which the adaptor makes the fasthttp RequestCtx, whose Done races
	// with Server.Shutdown.
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            zapPrintln{s.log},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
	}))
	return m
}

type zapPrintln struct{ l *zap.Logger }

func (z zapPrintln) Println(v ...any) { z.l.Sugar().Warnln(v...) }

// op returns the instruments of an operation, creating them on first use.
func (m *metrics) op(name string) *opMetrics {
	return m.ops.get(name, func() *opMetrics {
		return &opMetrics{
			name:     name,
			duration: m.duration.WithLabelValues(name),
			received: m.received.WithLabelValues(name),
			sent:     m.sent.WithLabelValues(name),
			requests: m.requests,
		}
	})
}

// status returns the request counter of an HTTP status.
func (om *opMetrics) status(code int) prometheus.Counter {
	return om.byStatus.get(code, func() prometheus.Counter {
		return om.requests.WithLabelValues(om.name, strconv.Itoa(code))
	})
}

// observe records one served request.
func (m *metrics) observe(op string, status int, in, out int64, took time.Duration) {
	om := m.op(op)
	om.status(status).Inc()
	om.duration.Observe(took.Seconds())
	if in > 0 {
		om.received.Add(float64(in))
	}
	if out > 0 {
		om.sent.Add(float64(out))
	}
}

// receivedBytes is the request body size as declared by Content-Length;
// 0 for chunked bodies, whose size is not known up front.
func receivedBytes(ctx *fasthttp.RequestCtx) int64 {
	if n := ctx.Request.Header.ContentLength(); n > 0 {
		return int64(n)
	}
	return 0
}

// sentBytes is the response body size: the buffered body, or the
// Content-Length of a streamed one (0 when streamed without one). A HEAD
// response sends no body.
func sentBytes(ctx *fasthttp.RequestCtx) int64 {
	if ctx.IsHead() {
		return 0
	}
	if ctx.Response.IsBodyStream() {
		if n := ctx.Response.Header.ContentLength(); n > 0 {
			return int64(n)
		}
		return 0
	}
	return int64(len(ctx.Response.Body()))
}

// requestFields are the fields of a request's log lines.
func requestFields(r *request, status int, in, out int64, took time.Duration) []zap.Field {
	return []zap.Field{
		zap.String("id", r.id()), zap.String("op", r.op), zap.String("bucket", r.bucket), zap.String("key", r.key),
		zap.Int("status", status), zap.Int64("bytes_in", in), zap.Int64("bytes_out", out), zap.Duration("duration", took),
	}
}

// serveMetrics answers a Prometheus scrape; it reports false for other
// requests. /minio/v2/metrics/cluster is always the metrics endpoint, as in
// MinIO. /metrics is only when addressed path-style with no query (or only
// a presigned URL's X-Amz-* parameters): otherwise it goes to the S3 API
// (where bucket "metrics" is reserved).
// path is the request's specialPath.
func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx, path []byte) bool {
	if !ctx.IsGet() {
		return false
	}
	switch string(path) {
	case pathMetricsCluster:
	case pathMetrics:
		if !presignOnlyQuery(string(ctx.URI().QueryString())) {
			return false
		}
	default:
		return false
	}
	if !s.cfg.MetricsPublic {
		r := &request{ctx: ctx, op: "Metrics"}
		s.setRequestID(r)
		ctx.Response.Header.SetBytesV("x-amz-request-id", r.idBuf[:])
		if err := s.authorizeMetrics(r); err != nil {
			s.writeError(r, err)
			finishBody(ctx, true)
			ctx.Response.Header.Set("Server", serverName)
			return true
		}
	}
	s.metrics.handler(ctx)
	ctx.Response.Header.Set("Server", serverName)
	return true
}

// presignOnlyQuery reports whether a query string is empty or holds only
// presigned-URL parameters.
func presignOnlyQuery(q string) bool {
	for q != "" {
		var p string
		p, q, _ = strings.Cut(q, "&")
		if p != "" && !strings.HasPrefix(p, "X-Amz-") {
			return false
		}
	}
	return true
}

// engineCollector reads the engine's state, the drives and the maintenance
// jobs at scrape time.
type engineCollector struct {
	s       *Server
	scalars []scalarMetric

	segments, driveFree, driveTotal, driveOK, driveState *prometheus.Desc
	jobRunning, jobDone, jobTotal                        *prometheus.Desc
}

// scalarMetric is one unlabelled value of engine.Metrics.
type scalarMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*engine.Metrics) float64
}

func newEngineCollector(s *Server) *engineCollector {
	c := &engineCollector{s: s}
	gauge := func(name, help string, v func(*engine.Metrics) float64) {
		c.scalars = append(c.scalars, scalarMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, v})
	}
	counter := func(name, help string, v func(*engine.Metrics) float64) {
		c.scalars = append(c.scalars, scalarMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, v})
	}
	gauge("lsm_objects", "Objects stored.", func(m *engine.Metrics) float64 { return float64(m.Objects) })
	gauge("lsm_logical_bytes", "Bytes of object data stored, as clients see them.", func(m *engine.Metrics) float64 { return float64(m.LogicalBytes) })
	gauge("lsm_disk_bytes", "Bytes on the drives: every segment replica or shard plus every index copy.", func(m *engine.Metrics) float64 { return float64(m.DiskBytes) })
	gauge("lsm_index_bytes", "Size of one copy of the index.", func(m *engine.Metrics) float64 { return float64(m.IndexBytes) })
	gauge("lsm_index_copies", "Drives holding a copy of the index.", func(m *engine.Metrics) float64 { return float64(m.IndexCopies) })
	gauge("lsm_drives", "Drives in the set.", func(m *engine.Metrics) float64 { return float64(m.Drives) })
	gauge("lsm_replicas", "Replicas of an open segment.", func(m *engine.Metrics) float64 { return float64(m.Replicas) })
	gauge("lsm_live_bytes", "Segment bytes still referenced by the index.", func(m *engine.Metrics) float64 { return float64(m.LiveBytes) })
	gauge("lsm_garbage_bytes", "Segment bytes no longer referenced (reclaimed by compaction).", func(m *engine.Metrics) float64 { return float64(m.Garbage) })
	counter("lsm_cache_hits_total", "Block cache lookups that found the block.", func(m *engine.Metrics) float64 { return float64(m.Cache.Hits) })
	counter("lsm_cache_misses_total", "Block cache lookups that did not.", func(m *engine.Metrics) float64 { return float64(m.Cache.Misses) })
	counter("lsm_cache_evictions_total", "Blocks evicted from the block cache to make room.", func(m *engine.Metrics) float64 { return float64(m.Cache.Evictions) })
	counter("lsm_cache_admitted_total", "Blocks admitted into the block cache.", func(m *engine.Metrics) float64 { return float64(m.Cache.Admitted) })
	counter("lsm_cache_rejected_total", "Blocks not admitted into the block cache.", func(m *engine.Metrics) float64 { return float64(m.Cache.Rejected) })
	gauge("lsm_cache_bytes", "Bytes of block data in the block cache.", func(m *engine.Metrics) float64 { return float64(m.Cache.Bytes) })
	gauge("lsm_cache_max_bytes", "Block cache capacity.", func(m *engine.Metrics) float64 { return float64(m.Cache.MaxBytes) })
	counter("lsm_disk_reads_total", "Segment reads made for object data.", func(m *engine.Metrics) float64 { return float64(m.DiskReads) })
	counter("lsm_disk_read_bytes_total", "Bytes read from segments for object data.", func(m *engine.Metrics) float64 { return float64(m.DiskBytesRead) })
	counter("lsm_fsyncs_total", "Fsyncs.", func(m *engine.Metrics) float64 { return float64(m.Fsyncs) })
	counter("lsm_group_commits_total", "Group commits (batches of writes made durable together).", func(m *engine.Metrics) float64 { return float64(m.GroupCommits) })
	counter("lsm_group_commit_ops_total", "Operations applied by group commits; divided by lsm_group_commits_total, the mean batch size.", func(m *engine.Metrics) float64 { return float64(m.GroupOps) })
	counter("lsm_gets_total", "Object reads served by the engine.", func(m *engine.Metrics) float64 { return float64(m.Gets) })
	counter("lsm_puts_total", "Object writes served by the engine.", func(m *engine.Metrics) float64 { return float64(m.Puts) })
	counter("lsm_degraded_reads_total", "Blocks rebuilt from parity on read.", func(m *engine.Metrics) float64 { return float64(m.DegradedReads) })
	counter("lsm_drive_errors_total", "Replica or shard reads that failed or returned corrupt bytes, and writes that failed.", func(m *engine.Metrics) float64 { return float64(m.DriveErrors) })
	counter("lsm_encoded_bytes_total", "Bytes of sealed segments erasure-coded.", func(m *engine.Metrics) float64 { return float64(m.EncodedBytes) })
	counter("lsm_encode_seconds_total", "Time spent erasure-coding sealed segments.", func(m *engine.Metrics) float64 { return m.EncodeSeconds })
	gauge("lsm_erasure_data_shards", "Data shards of a sealed segment (k of k+m).", func(m *engine.Metrics) float64 { return float64(m.DataShards) })
	gauge("lsm_erasure_parity_shards", "Parity shards of a sealed segment (m of k+m).", func(m *engine.Metrics) float64 { return float64(m.ParityShards) })
	gauge("lsm_compaction_running", "1 while a compaction pass runs.", func(m *engine.Metrics) float64 { return b2f(m.Compacting) })
	counter("lsm_compaction_passes_total", "Compaction passes since the store opened.", func(m *engine.Metrics) float64 { return float64(m.CompactionPasses) })
	counter("lsm_compaction_copied_bytes_total", "Live bytes copied by compaction since the store opened.", func(m *engine.Metrics) float64 { return float64(m.CompactionBytesCopied) })

	c.segments = prometheus.NewDesc("lsm_segments", "Segments by state: open (appended to), sealed, encoded (erasure-coded).", []string{"state"}, nil)
	c.driveFree = prometheus.NewDesc("lsm_drive_free_bytes", "Bytes available on the drive's file system.", []string{"drive"}, nil)
	c.driveTotal = prometheus.NewDesc("lsm_drive_total_bytes", "Size of the drive's file system.", []string{"drive"}, nil)
	c.driveOK = prometheus.NewDesc("lsm_drive_ok", "1 when the drive is in service with nothing wrong known: its layout marker and segment directory read back, no damage awaits heal.", []string{"drive"}, nil)
	c.driveState = prometheus.NewDesc("lsm_drive_state", "1 for the drive's state: ok, failed (found unusable at start: not used until healed) or damaged (files awaiting heal).", []string{"drive", "state"}, nil)
	c.jobRunning = prometheus.NewDesc("lsm_job_running", "1 while the newest maintenance job of the kind runs.", []string{"kind"}, nil)
	c.jobDone = prometheus.NewDesc("lsm_job_bytes_done", "Bytes processed by the newest maintenance job of the kind.", []string{"kind"}, nil)
	c.jobTotal = prometheus.NewDesc("lsm_job_bytes_total", "Bytes to process by the newest maintenance job of the kind.", []string{"kind"}, nil)
	return c
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Describe implements prometheus.Collector.
func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, sm := range c.scalars {
		ch <- sm.desc
	}
	for _, d := range []*prometheus.Desc{c.segments, c.driveFree, c.driveTotal, c.driveOK, c.driveState, c.jobRunning, c.jobDone, c.jobTotal} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	if st := c.s.store; st != nil {
		m := st.Metrics()
		for _, sm := range c.scalars {
			ch <- prometheus.MustNewConstMetric(sm.desc, sm.typ, sm.value(&m))
		}
		var open, sealed, encoded int
		for _, sg := range m.Segments {
			switch {
			case sg.Encoded:
				encoded++
			case sg.Sealed:
				sealed++
			default:
				open++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.segments, prometheus.GaugeValue, float64(open), "open")
		ch <- prometheus.MustNewConstMetric(c.segments, prometheus.GaugeValue, float64(sealed), "sealed")
		ch <- prometheus.MustNewConstMetric(c.segments, prometheus.GaugeValue, float64(encoded), "encoded")
		for _, d := range st.Drives() {
			ch <- prometheus.MustNewConstMetric(c.driveFree, prometheus.GaugeValue, float64(d.FreeBytes), d.Path)
			ch <- prometheus.MustNewConstMetric(c.driveTotal, prometheus.GaugeValue, float64(d.TotalBytes), d.Path)
			ch <- prometheus.MustNewConstMetric(c.driveOK, prometheus.GaugeValue, b2f(d.State == engine.DriveOK), d.Path)
			for _, state := range []string{engine.DriveOK, engine.DriveFailed, engine.DriveDamaged} {
				ch <- prometheus.MustNewConstMetric(c.driveState, prometheus.GaugeValue, b2f(d.State == state), d.Path, state)
			}
		}
	}
	// The newest job of each kind; zeros for a kind that never ran.
	newest := map[string]JobStatus{}
	for _, j := range c.s.jobStatuses() { // newest first
		if _, ok := newest[j.Kind]; !ok {
			newest[j.Kind] = j
		}
	}
	for _, kind := range []string{JobCompact, JobVerify, JobHeal} {
		j := newest[kind]
		ch <- prometheus.MustNewConstMetric(c.jobRunning, prometheus.GaugeValue, b2f(j.State == JobRunning || j.State == JobCanceling), kind)
		ch <- prometheus.MustNewConstMetric(c.jobDone, prometheus.GaugeValue, float64(j.BytesDone), kind)
		ch <- prometheus.MustNewConstMetric(c.jobTotal, prometheus.GaugeValue, float64(j.BytesTotal), kind)
	}
}

// watchDrives logs a warning whenever the engine's drive error counter
// grows, naming the drives that are not ok, until Shutdown.
func (s *Server) watchDrives(every time.Duration) {
	defer close(s.watchDone)
	if s.store == nil {
		return
	}
	last := s.store.Metrics().DriveErrors
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		n := s.store.Metrics().DriveErrors
		if n > last {
			var bad []string
			for _, d := range s.store.Drives() {
				if d.State != engine.DriveOK {
					bad = append(bad, d.Path+": "+d.State+": "+d.Reason)
				}
			}
			s.log.Warn("drive errors", zap.Int64("new", n-last), zap.Int64("total", n), zap.Strings("drives_not_ok", bad))
		}
		last = n
	}
}
