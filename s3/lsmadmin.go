package s3

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
)

// The LSMStore admin API: JSON over SigV4-signed requests made with the
// root credentials, under lsmAdminPrefix.
//
//	GET    stats            AdminStats
//	GET    drives           []engine.DriveStatus
//	POST   compact          start a compaction job (?segment=ID&threshold=F&dry-run=true)
//	POST   verify           start a scrub job (?rate=BYTES/s)
//	POST   heal             start a heal job (?rate=BYTES/s)
//	GET    jobs             []JobStatus, newest first
//	GET    jobs/ID          JobStatus
//	DELETE jobs/ID          cancel the job; JobStatus (state canceling while
//	                        it unwinds, after at most a second)
const lsmAdminPrefix = "/lsm/admin/v1/"

// AdminStats is what `lsmctl stats` shows.
type AdminStats struct {
	Version       string  `json:"version,omitempty"`
	UptimeSeconds float64 `json:"uptime_seconds,omitempty"`

	Objects      int64   `json:"objects"`
	LogicalBytes int64   `json:"logical_bytes"`
	DiskBytes    int64   `json:"disk_bytes"`
	DiskRatio    float64 `json:"disk_ratio"` // disk ÷ logical (0 when empty)

	Erasure  ErasureStats     `json:"erasure"`
	Segments SegmentStats     `json:"segments"`
	Drives   []DriveStats     `json:"drives"`
	Cache    CacheStats       `json:"cache"`
	Index    IndexStats       `json:"index"`
	Reads    ReadStats        `json:"reads"`
	Writes   WriteStats       `json:"writes"`
	Compact  CompactStats     `json:"compaction"`
	Requests map[string]int64 `json:"requests,omitempty"` // by S3 operation, since start
}

// ErasureStats is the erasure layout.
type ErasureStats struct {
	Drives       int `json:"drives"`
	DataShards   int `json:"data_shards"`
	ParityShards int `json:"parity_shards"`
}

// SegmentStats sums the segments; Top lists the ones with most garbage.
type SegmentStats struct {
	Open         int              `json:"open"`
	Sealed       int              `json:"sealed"`
	Encoded      int              `json:"encoded"`
	LiveBytes    int64            `json:"live_bytes"`
	GarbageBytes int64            `json:"garbage_bytes"`
	Top          []SegmentGarbage `json:"top_garbage,omitempty"`
}

// SegmentGarbage is one segment in the top-by-garbage list.
type SegmentGarbage struct {
	ID           string  `json:"id"`
	Size         int64   `json:"size"`
	LiveBytes    int64   `json:"live_bytes"`
	GarbageBytes int64   `json:"garbage_bytes"`
	GarbageRatio float64 `json:"garbage_ratio"`
	Encoded      bool    `json:"encoded"`
}

// DriveStats is one drive.
type DriveStats struct {
	Path       string `json:"path"`
	State      string `json:"state"`            // ok, failed or damaged (engine.DriveOK...)
	Reason     string `json:"reason,omitempty"` // what is wrong, when not ok
	IndexCopy  bool   `json:"index_copy"`
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
}

// CacheStats is the block read cache.
type CacheStats struct {
	MaxBytes  int64   `json:"max_bytes"`
	Bytes     int64   `json:"bytes"`
	Hits      uint64  `json:"hits"`
	Misses    uint64  `json:"misses"`
	Evictions uint64  `json:"evictions"`
	HitRatio  float64 `json:"hit_ratio"`
}

// IndexStats is the Pebble index: one entry per object (plus buckets,
// uploads, parts and segments), stored on Copies drives.
type IndexStats struct {
	ObjectEntries int64 `json:"object_entries"`
	Bytes         int64 `json:"bytes"`
	Copies        int   `json:"copies"`
}

// ReadStats covers object reads since start.
type ReadStats struct {
	Gets            int64   `json:"gets"`
	DiskReads       int64   `json:"disk_reads"`
	DiskBytesRead   int64   `json:"disk_bytes_read"`
	DiskBytesPerGet float64 `json:"disk_bytes_per_get"`
	DegradedReads   int64   `json:"degraded_reads"`
	DriveErrors     int64   `json:"drive_errors"`
}

// WriteStats covers writes since start.
type WriteStats struct {
	Puts         int64   `json:"puts"`
	Fsyncs       int64   `json:"fsyncs"`
	GroupCommits int64   `json:"group_commits"`
	MeanBatch    float64 `json:"mean_batch"`
}

// CompactStats is background compaction since start.
type CompactStats struct {
	Running     bool  `json:"running"`
	Passes      int64 `json:"passes"`
	BytesCopied int64 `json:"bytes_copied"`
}

// topGarbage is how many segments AdminStats lists by garbage.
const topGarbage = 5

// StoreStats reports a store's state (the server adds its own counters).
func StoreStats(st *engine.Store) AdminStats {
	m := st.Metrics()
	a := AdminStats{
		Objects: m.Objects, LogicalBytes: m.LogicalBytes, DiskBytes: m.DiskBytes,
		Erasure: ErasureStats{Drives: m.Drives, DataShards: m.DataShards, ParityShards: m.ParityShards},
		Cache:   CacheStats{MaxBytes: m.Cache.MaxBytes, Bytes: m.Cache.Bytes, Hits: m.Cache.Hits, Misses: m.Cache.Misses, Evictions: m.Cache.Evictions},
		Index:   IndexStats{ObjectEntries: m.Objects, Bytes: m.IndexBytes, Copies: m.IndexCopies},
		Reads:   ReadStats{Gets: m.Gets, DiskReads: m.DiskReads, DiskBytesRead: m.DiskBytesRead, DegradedReads: m.DegradedReads, DriveErrors: m.DriveErrors},
		Writes:  WriteStats{Puts: m.Puts, Fsyncs: m.Fsyncs, GroupCommits: m.GroupCommits},
		Compact: CompactStats{Running: m.Compacting, Passes: m.CompactionPasses, BytesCopied: m.CompactionBytesCopied},
	}
	if m.LogicalBytes > 0 {
		a.DiskRatio = float64(m.DiskBytes) / float64(m.LogicalBytes)
	}
	if n := m.Cache.Hits + m.Cache.Misses; n > 0 {
		a.Cache.HitRatio = float64(m.Cache.Hits) / float64(n)
	}
	if m.Gets > 0 {
		a.Reads.DiskBytesPerGet = float64(m.DiskBytesRead) / float64(m.Gets)
	}
	if m.GroupCommits > 0 {
		a.Writes.MeanBatch = float64(m.GroupOps) / float64(m.GroupCommits)
	}
	var sealed []engine.SegmentMetrics
	for _, sg := range m.Segments {
		switch {
		case sg.Encoded:
			a.Segments.Encoded++
			a.Segments.Sealed++
		case sg.Sealed:
			a.Segments.Sealed++
		default:
			a.Segments.Open++
		}
		a.Segments.LiveBytes += sg.Live
		a.Segments.GarbageBytes += sg.Garbage
		if sg.Sealed && sg.Garbage > 0 {
			sealed = append(sealed, sg)
		}
	}
	sort.Slice(sealed, func(i, j int) bool { return sealed[i].Garbage > sealed[j].Garbage })
	for _, sg := range sealed[:min(len(sealed), topGarbage)] {
		g := SegmentGarbage{ID: strconv.FormatUint(sg.ID, 10), Size: sg.Size, LiveBytes: sg.Live, GarbageBytes: sg.Garbage, Encoded: sg.Encoded}
		if sg.Size > 0 {
			g.GarbageRatio = float64(sg.Garbage) / float64(sg.Size)
		}
		a.Segments.Top = append(a.Segments.Top, g)
	}
	for _, d := range st.Drives() {
		a.Drives = append(a.Drives, DriveStats{Path: d.Path, State: d.State, Reason: d.Reason, IndexCopy: d.IndexCopy, FreeBytes: d.FreeBytes, TotalBytes: d.TotalBytes})
	}
	return a
}

// adminError is an admin API error body.
type adminError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// lsmAdmin serves the admin API; the request is already authenticated.
// fullPath is the request path as sent.
func (s *Server) lsmAdmin(r *request, fullPath string) error {
	path := strings.TrimPrefix(fullPath, lsmAdminPrefix)
	method := string(r.ctx.Method())
	q := r.ctx.QueryArgs()
	switch {
	case path == "stats" && method == fasthttp.MethodGet:
		r.op = "AdminStats"
		a := StoreStats(s.store)
		a.Version = s.cfg.Version
		a.UptimeSeconds = time.Since(s.started).Seconds()
		a.Requests = requestCounts(s.metrics.reg)
		return writeJSON(r.ctx, fasthttp.StatusOK, a)

	case path == "drives" && method == fasthttp.MethodGet:
		r.op = "AdminDrives"
		return writeJSON(r.ctx, fasthttp.StatusOK, s.store.Drives())

	case path == "compact" && method == fasthttp.MethodPost:
		r.op = "AdminCompact"
		var o engine.CompactOptions
		if v := q.Peek("segment"); len(v) > 0 {
			id, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil || id == 0 {
				return withMessage(errInvalidArgument, "segment must be a segment id (a positive integer).")
			}
			o.Segment = id
		}
		if v := q.Peek("threshold"); len(v) > 0 {
			t, err := strconv.ParseFloat(string(v), 64)
			if err != nil || !(t > 0 && t <= 1) {
				return withMessage(errInvalidArgument, "threshold must be a garbage ratio in (0, 1].")
			}
			o.Threshold = t
		}
		o.DryRun = string(q.Peek("dry-run")) == "true"
		return s.startJob(r, JobCompact, func(ctx context.Context, report func(done, total int64)) (any, error) {
			o.Progress = func(p engine.CompactProgress) { report(p.BytesDone, p.BytesLive) }
			return s.store.Compact(ctx, o)
		})

	case (path == "verify" || path == "heal") && method == fasthttp.MethodPost:
		var o engine.MaintenanceOptions
		if v := q.Peek("rate"); len(v) > 0 {
			rate, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || rate < -1 {
				return withMessage(errInvalidArgument, "rate must be bytes per second (-1: unlimited).")
			}
			if err := s.store.CheckMaintenanceRate(rate); err != nil {
				return withMessage(errInvalidArgument, strings.TrimPrefix(err.Error(), "engine: ")+".")
			}
			o.Rate = rate
		}
		if path == "verify" {
			r.op = "AdminVerify"
			return s.startJob(r, JobVerify, func(ctx context.Context, report func(done, total int64)) (any, error) {
				o.Progress = func(p engine.MaintenanceProgress) { report(p.BytesDone, p.BytesTotal) }
				return s.store.Scrub(ctx, o)
			})
		}
		r.op = "AdminHeal"
		return s.startJob(r, JobHeal, func(ctx context.Context, report func(done, total int64)) (any, error) {
			o.Progress = func(p engine.MaintenanceProgress) { report(p.BytesDone, p.BytesTotal) }
			return s.store.Heal(ctx, o)
		})

	case path == "jobs" && method == fasthttp.MethodGet:
		r.op = "AdminJobs"
		return writeJSON(r.ctx, fasthttp.StatusOK, s.jobs.list())

	case strings.HasPrefix(path, "jobs/") && (method == fasthttp.MethodGet || method == fasthttp.MethodDelete):
		r.op = "AdminJob"
		j, ok := s.jobs.get(strings.TrimPrefix(path, "jobs/"))
		if !ok {
			return &apiError{"NoSuchJob", "The job does not exist (or was forgotten).", 404}
		}
		if method == fasthttp.MethodDelete {
			r.op = "AdminCancelJob"
			j.requestCancel(cancelWait)
		}
		return writeJSON(r.ctx, fasthttp.StatusOK, j.status())
	}
	r.op = "Admin"
	return &apiError{"NotFound", "No such admin API call: " + method + " " + lsmAdminPrefix + path, 404}
}

func (s *Server) startJob(r *request, kind string, fn func(ctx context.Context, report func(done, total int64)) (any, error)) error {
	st, err := s.jobs.start(kind, fn)
	if err != nil {
		return err
	}
	return writeJSON(r.ctx, fasthttp.StatusAccepted, st)
}

// writeAdminError renders an admin API error as JSON.
func writeAdminError(ctx *fasthttp.RequestCtx, ae *apiError) {
	writeJSON(ctx, ae.Status, adminError{Code: ae.Code, Message: ae.Message})
}

// EnvCredentials returns the root credentials from the environment: the
// first complete pair of LSMD_ACCESS_KEY/LSMD_SECRET_KEY, MinIO's
// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, then MinIO's legacy
// MINIO_ACCESS_KEY/MINIO_SECRET_KEY; else MinIO's well-known default
// (isDefault true).
func EnvCredentials() (accessKey, secretKey string, isDefault bool) {
	for _, p := range [][2]string{
		{"LSMD_ACCESS_KEY", "LSMD_SECRET_KEY"},
		{"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
		{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"},
	} {
		if a, s := os.Getenv(p[0]), os.Getenv(p[1]); a != "" && s != "" {
			return a, s, false
		}
	}
	return "minioadmin", "minioadmin", true
}

// requestCounts sums lsm_s3_requests_total by operation.
func requestCounts(g prometheus.Gatherer) map[string]int64 {
	if g == nil {
		return nil
	}
	mfs, err := g.Gather()
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, mf := range mfs {
		if mf.GetName() != "lsm_s3_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" {
					out[l.GetValue()] += int64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}
