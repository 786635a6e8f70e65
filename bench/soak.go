package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// A soak drives a server for a long time with a steady, rate-bounded mix of
// the Milvus profiles, deletes and periodic compaction, samples the server
// every interval (RSS, goroutines, open files, and the p99 latency of the
// interval's requests) and then judges whether any of them keeps growing
// once the warm-up is over (see Growth).

// SoakLane is one workload of a soak: a profile, its requests in flight, and
// how many of its actions per second may start (0: as fast as they finish).
type SoakLane struct {
	Profile     string  `json:"profile"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"actions_per_sec"`
}

func (l SoakLane) String() string {
	return l.Profile + "@" + strconv.Itoa(l.Concurrency) + "/" + strconv.FormatFloat(l.Rate, 'g', -1, 64)
}

// DefaultSoakMix is make soak's workload: reads (random-read, load), ingest
// (PUTs, multipart, 16 MiB index files), list-gc (listings and deletes), and
// wal-churn (WAL PUTs with the oldest entries deleted), each rate-bounded so
// the run is steady on a 2-core machine.
const DefaultSoakMix = "random-read@2/20,load@1/1,ingest@1/2,list-gc@1/1,wal-churn@1/5"

// ParseSoakMix parses a comma-separated list of PROFILE@CONC/RATE (RATE in
// actions per second; 0 unpaced).
func ParseSoakMix(spec string) ([]SoakLane, error) {
	var lanes []SoakLane
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, rest, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("soak lane %q: want PROFILE@CONC/RATE", item)
		}
		conc, rate, ok := strings.Cut(rest, "/")
		if !ok {
			return nil, fmt.Errorf("soak lane %q: want PROFILE@CONC/RATE", item)
		}
		l := SoakLane{Profile: name}
		n, err := strconv.Atoi(conc)
		if err != nil || n <= 0 || n > 1024 {
			return nil, fmt.Errorf("soak lane %q: bad concurrency", item)
		}
		l.Concurrency = n
		if l.Rate, err = strconv.ParseFloat(rate, 64); err != nil || l.Rate < 0 || math.IsInf(l.Rate, 0) || math.IsNaN(l.Rate) {
			return nil, fmt.Errorf("soak lane %q: bad rate", item)
		}
		if _, ok := Profiles[name]; !ok {
			return nil, fmt.Errorf("soak lane %q: unknown profile (have %s)", item, strings.Join(ProfileNames(), ", "))
		}
		lanes = append(lanes, l)
	}
	if len(lanes) == 0 {
		return nil, errors.New("soak: empty mix")
	}
	return lanes, nil
}

// SoakConfig says how to soak a server. Config holds the endpoint, bucket,
// signer, seed and checks; its Duration is the whole run, its Concurrency and
// MaxOps are set by Soak.
type SoakConfig struct {
	Config
	Lanes        []SoakLane
	Interval     time.Duration // sampling interval
	SoakWarmup   time.Duration // samples up to here are not judged
	CompactEvery time.Duration // manual compaction through the admin API (0: none)
	DataDir      string        // server's data directory, for its size ("" skips it)
	MetricsPath  string        // Prometheus endpoint with go_goroutines
	AdminPrefix  string        // the LSMStore admin API ("" skips compaction)
}

// minJudged is the fewest samples after the warm-up Growth judges: two per
// third.
const minJudged = 6

func (sc *SoakConfig) check() error {
	switch {
	case sc.Interval <= 0:
		return errors.New("soak: interval must be > 0")
	case sc.SoakWarmup < 0 || sc.SoakWarmup >= sc.Duration:
		return errors.New("soak: the warm-up must be shorter than the run")
	case int((sc.Duration-sc.SoakWarmup)/sc.Interval) < minJudged:
		return fmt.Errorf("soak: %s after a %s warm-up gives fewer than %d samples of %s to judge", sc.Duration, sc.SoakWarmup, minJudged, sc.Interval)
	case sc.ServerPID <= 0:
		return errors.New("soak: no server process to sample")
	case len(sc.Lanes) == 0:
		return errors.New("soak: no lanes")
	}
	for _, l := range sc.Lanes {
		if Profiles[l.Profile] == nil || l.Concurrency <= 0 {
			return fmt.Errorf("soak: bad lane %s", l)
		}
	}
	return nil
}

// SoakSample is one interval of a soak.
type SoakSample struct {
	Seconds    float64 `json:"seconds"` // since the start, at the interval's end
	Warmup     bool    `json:"warmup"`
	RSSBytes   int64   `json:"rss_bytes"`
	Goroutines int64   `json:"goroutines"` // -1: the scrape failed
	OpenFiles  int64   `json:"open_files"` // -1: unreadable
	P99Ms      float64 `json:"p99_ms"`     // of the interval's requests (0: none)
	Ops        int64   `json:"ops"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	Errors     int64   `json:"errors"`
	CPUPercent float64 `json:"server_cpu_percent"`
	DiskBytes  int64   `json:"disk_bytes"` // allocated under DataDir (-1: unknown)
	Compacted  int     `json:"compactions"`
	Note       string  `json:"note,omitempty"` // sampling problems
}

// SoakCompaction is one manual compaction job.
type SoakCompaction struct {
	Started        float64 `json:"started_s"`
	Seconds        float64 `json:"seconds"`
	State          string  `json:"state"`
	Error          string  `json:"error,omitempty"`
	BytesCopied    int64   `json:"bytes_copied"`
	BytesReclaimed int64   `json:"bytes_reclaimed"`
	Segments       int     `json:"segments_deleted"`
}

// SoakResult is a soak's samples, its whole-run statistics and the verdict.
type SoakResult struct {
	Lanes       []SoakLane       `json:"lanes"`
	Interval    float64          `json:"interval_s"`
	Warmup      float64          `json:"warmup_s"`
	Samples     []SoakSample     `json:"samples"`
	Compactions []SoakCompaction `json:"compactions"`
	Run         *RunResult       `json:"run"`
	Trends      []Trend          `json:"trends"`
	// Failures name each metric that keeps growing, and an error rate over
	// MaxSoakErrorRate.
	Failures []string `json:"failures,omitempty"`
}

// MaxSoakErrorRate is the fraction of failed requests a soak tolerates
// (timeouts on a shared machine); any more fails it.
const MaxSoakErrorRate = 0.001

// window collects the latencies of one sampling interval.
type window struct {
	mu   sync.Mutex
	h    *Hist
	ops  int64
	errs int64
}

func (w *window) record(lat time.Duration, failed bool) {
	w.mu.Lock()
	w.h.Record(lat)
	w.ops++
	if failed {
		w.errs++
	}
	w.mu.Unlock()
}

func (w *window) take() (*Hist, int64, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ops, errs := w.h, w.ops, w.errs
	w.h, w.ops, w.errs = NewHist(), 0, 0
	return h, ops, errs
}

// pacer spaces the starts of a lane's actions 1/rate apart across its
// workers; a lane that falls behind does not burst to catch up.
type pacer struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

// wait blocks until the next slot; false when the run stops first.
func (p *pacer) wait(s *session) bool {
	if p == nil {
		return !s.stop.Load()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	for {
		if s.stop.Load() {
			return false
		}
		d := time.Until(at)
		if d <= 0 {
			return true
		}
		time.Sleep(min(d, 100*time.Millisecond))
	}
}

// Soak runs sc.Lanes against the server for sc.Duration, calling onSample
// after each interval, and judges the samples. It returns the result also
// when ctx is canceled (with ctx's error).
func Soak(ctx context.Context, sc SoakConfig, env *Env, onSample func(SoakSample)) (*SoakResult, error) {
	cfg := sc.Config
	cfg.Concurrency, cfg.MaxOps = 0, math.MaxInt64
	for _, l := range sc.Lanes {
		cfg.Concurrency += l.Concurrency
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := sc.check(); err != nil {
		return nil, err
	}
	if cfg.RunID == "" {
		cfg.RunID = "soak-" + time.Now().UTC().Format("20060102T150405.000000000")
	}
	s := newSession(ctx, cfg, env)
	defer s.client.CloseIdleConnections()
	win := &window{h: NewHist()}
	s.observe = win.record
	s.gcBatches = gcBatchesFor(sc)

	// Set up each profile once, list-gc first: its state is the session's
	// shared state and also holds the read profiles' object sets.
	var setups []*Profile
	seen := map[string]bool{}
	for _, l := range sc.Lanes {
		p := Profiles[l.Profile]
		if !seen[p.Name] && p.Setup != nil {
			seen[p.Name] = true
			setups = append(setups, p)
		}
	}
	sort.SliceStable(setups, func(i, j int) bool { return setups[i].Name == "list-gc" && setups[j].Name != "list-gc" })
	for _, p := range setups {
		if err := p.Setup(s); err != nil {
			return nil, fmt.Errorf("soak: setting up %s: %w", p.Name, err)
		}
	}
	s.stop.Store(false)

	res := &SoakResult{Lanes: sc.Lanes, Interval: sc.Interval.Seconds(), Warmup: sc.SoakWarmup.Seconds()}
	first, err := SampleProc(sc.ServerPID)
	if err != nil {
		return nil, fmt.Errorf("soak: sampling the server: %w", err)
	}
	prev, clientBefore := first, SelfCPU()
	var all []*Worker
	var wg sync.WaitGroup
	start := time.Now()
	s.measuring.Store(true)
	for li, l := range sc.Lanes {
		p := Profiles[l.Profile]
		var pc *pacer
		if l.Rate > 0 {
			pc = &pacer{every: time.Duration(float64(time.Second) / l.Rate)}
		}
		for k := range l.Concurrency {
			w := newWorker(s, li*1000+k, cfg.Seed^uint64(li+1)*0x9e3779b97f4a7c15, true)
			all = append(all, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pc.wait(s) {
					if err := p.pick(w.Rng).Do(w); errors.Is(err, errStop) {
						return
					}
				}
			}()
		}
	}

	aux := NewClient(cfg.Endpoint, 2, 30*time.Second)
	defer aux.CloseIdleConnections()
	var compMu sync.Mutex
	done := make(chan struct{})
	var auxWG sync.WaitGroup
	if sc.CompactEvery > 0 && sc.AdminPrefix != "" {
		auxWG.Add(1)
		go func() {
			defer auxWG.Done()
			t := time.NewTicker(sc.CompactEvery)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
				}
				c := compact(aux, &cfg, sc.AdminPrefix, start, done)
				compMu.Lock()
				res.Compactions = append(res.Compactions, c)
				compMu.Unlock()
			}
		}()
	}

	stopAll := func() {
		s.stop.Store(true)
	}
	timer := time.AfterFunc(sc.Duration, stopAll)
	defer timer.Stop()
	cancelWatch := context.AfterFunc(ctx, stopAll)
	defer cancelWatch()

	prevAt, lastTick := start, start
	tick := time.NewTicker(sc.Interval)
	for !s.stop.Load() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			stopAll()
			continue
		}
		if s.stop.Load() {
			break // a last, partial interval is not a sample
		}
		now := time.Now()
		h, ops, errs := win.take()
		smp := SoakSample{Seconds: now.Sub(start).Seconds(), Ops: ops, Errors: errs, Goroutines: -1, OpenFiles: -1, DiskBytes: -1}
		smp.Warmup = now.Sub(start) <= sc.SoakWarmup
		if ops > 0 {
			smp.P99Ms = ms(h.Quantile(99))
			smp.OpsPerSec = float64(ops) / now.Sub(lastTick).Seconds()
		}
		lastTick = now
		var notes []string
		if ps, err := SampleProc(sc.ServerPID); err == nil {
			smp.RSSBytes = ps.RSS
			smp.CPUPercent = 100 * (ps.CPU - prev.CPU).Seconds() / now.Sub(prevAt).Seconds()
			prev, prevAt = ps, now
		} else {
			notes = append(notes, "proc: "+err.Error())
		}
		if n, err := OpenFiles(sc.ServerPID); err == nil {
			smp.OpenFiles = int64(n)
		} else {
			notes = append(notes, "fds: "+err.Error())
		}
		if g, err := scrapeGoroutines(aux, &cfg, sc.MetricsPath); err == nil {
			smp.Goroutines = g
		} else {
			notes = append(notes, "goroutines: "+err.Error())
		}
		if sc.DataDir != "" {
			if u, err := DirUsage(sc.DataDir); err == nil {
				smp.DiskBytes = u.Allocated
			}
		}
		compMu.Lock()
		smp.Compacted = len(res.Compactions)
		compMu.Unlock()
		smp.Note = strings.Join(notes, "; ")
		res.Samples = append(res.Samples, smp)
		if onSample != nil {
			onSample(smp)
		}
	}
	tick.Stop()
	end := time.Now()
	wg.Wait()
	close(done)
	auxWG.Wait()

	res.Run = &RunResult{Target: "lsmd", Profile: "soak", Concurrency: cfg.Concurrency, Started: start, Seconds: end.Sub(start).Seconds()}
	if ctx.Err() != nil {
		res.Run.StoppedBy = *stopCanceled
	} else {
		res.Run.StoppedBy = *stopDuration
	}
	res.Run.ClientCPUSeconds = (SelfCPU() - clientBefore).Seconds()
	if last, err := SampleProc(sc.ServerPID); err == nil {
		res.Run.Server = &ServerUsage{PID: sc.ServerPID, CPUSeconds: (last.CPU - first.CPU).Seconds(),
			RSSBeforeBytes: first.RSS, RSSAfterBytes: last.RSS, RSSPeakBytes: last.HWM}
	}
	res.Run.finish(all)
	res.Trends = Trends(res.Samples, sc.SoakWarmup)
	for _, t := range res.Trends {
		if t.Growing || !t.Judged {
			res.Failures = append(res.Failures, t.Verdict)
		}
	}
	if tot := res.Run.Total; tot.Ops > 0 && float64(tot.Errors) > MaxSoakErrorRate*float64(tot.Ops) {
		res.Failures = append(res.Failures, fmt.Sprintf("errors: %d of %d requests failed (more than %.1f%%)", tot.Errors, tot.Ops, 100*MaxSoakErrorRate))
	}
	return res, ctx.Err()
}

// walKeep is how many of its newest WAL entries a wal-churn worker keeps;
// each PUT past that deletes the oldest, as woodpecker truncates its log.
const walKeep = 16

type walChurnState struct {
	seq  int
	keys []string
}

func init() {
	register(&Profile{
		Name:   "wal-churn",
		Doc:    fmt.Sprintf("woodpecker WAL with truncation: streaming-signed 0.1-2 MiB PUTs of new keys with If-None-Match: * (each deleting the oldest entry once %d are kept), and 5%% repeats of a written key (412)", walKeep),
		Writes: true,
		Actions: []Action{
			{Name: "wal-put", Weight: 95, Do: walChurnPut},
			{Name: "wal-conflict", Weight: 5, Do: func(w *Worker) error {
				st, _ := w.state.(*walChurnState)
				if st == nil || len(st.keys) == 0 {
					return walChurnPut(w)
				}
				return w.put("wal-conflict", st.keys[len(st.keys)-1], w.streamBody(4*KiB), payloadStreaming, true, 412)
			}},
		},
	})
}

func walChurnPut(w *Worker) error {
	st, _ := w.state.(*walChurnState)
	if st == nil {
		st = &walChurnState{}
		w.state = st
	}
	st.seq++
	key := w.key("wal", "log"+strconv.Itoa(w.ID), fmt.Sprintf("%08d", st.seq))
	if err := w.put("wal-put", key, w.streamBody(100*KiB+w.Rng.Int64N(1948*KiB)), payloadStreaming, true, 200); err != nil {
		return err
	}
	st.keys = append(st.keys, key)
	if len(st.keys) <= walKeep {
		return nil
	}
	if err := w.del("wal-delete", st.keys[0]); err != nil {
		return err
	}
	st.keys = st.keys[1:]
	return nil
}

// gcBatchesFor is how many batches list-gc needs so that its paced lanes
// keep deleting until the end (with a fifth to spare); 0 (the default
// GCBatches) when a list-gc lane is unpaced.
func gcBatchesFor(sc SoakConfig) int {
	n := 0
	for _, l := range sc.Lanes {
		p := Profiles[l.Profile]
		if p.Name != "list-gc" {
			continue
		}
		if l.Rate <= 0 {
			return 0
		}
		total, del := 0, 0
		for _, a := range p.Actions {
			total += a.Weight
			if a.Name == "delete-10" {
				del += a.Weight
			}
		}
		n += int(1.2*l.Rate*sc.Duration.Seconds()*float64(del)/float64(total)) + 1
	}
	return n
}

// OpenFiles counts the open file descriptors of a process (/proc/PID/fd).
func OpenFiles(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// signedCall sends a signed request with an empty body on c and returns the
// status and body.
func signedCall(c *fasthttp.HostClient, cfg *Config, method, uri string) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.SetHost(cfg.Endpoint)
	if cfg.Sign != nil {
		cfg.Sign(req, EmptySHA256)
	}
	if err := c.DoTimeout(req, resp, 30*time.Second); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// scrapeGoroutines reads go_goroutines from a signed Prometheus scrape: a
// signature with the root credentials is accepted whether or not the
// endpoint requires one.
func scrapeGoroutines(c *fasthttp.HostClient, cfg *Config, path string) (int64, error) {
	st, body, err := signedCall(c, cfg, fasthttp.MethodGet, path)
	if err != nil {
		return -1, err
	}
	if st != 200 {
		return -1, statusError(st, body)
	}
	return parseGoroutines(body)
}

// parseGoroutines finds the go_goroutines gauge in a Prometheus text
// exposition.
func parseGoroutines(b []byte) (int64, error) {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		v, ok := bytes.CutPrefix(line, []byte("go_goroutines "))
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
		if err != nil {
			return -1, fmt.Errorf("go_goroutines %q: %w", v, err)
		}
		return int64(f), nil
	}
	return -1, errors.New("no go_goroutines in the metrics")
}

// compact starts a compaction job through the admin API and waits for it
// (or for done).
func compact(c *fasthttp.HostClient, cfg *Config, prefix string, start time.Time, done <-chan struct{}) SoakCompaction {
	t0 := time.Now()
	rec := SoakCompaction{Started: t0.Sub(start).Seconds()}
	finish := func(state, msg string) SoakCompaction {
		rec.State, rec.Error, rec.Seconds = state, msg, time.Since(t0).Seconds()
		return rec
	}
	type job struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Error  string `json:"error"`
		Result *struct {
			Deleted        []uint64
			BytesCopied    int64
			BytesReclaimed int64
		} `json:"result"`
	}
	st, body, err := signedCall(c, cfg, fasthttp.MethodPost, prefix+"compact")
	if err != nil {
		return finish("error", err.Error())
	}
	if st == 409 {
		return finish("skipped", "a compaction job is already running")
	}
	var j job
	if st != 202 || json.Unmarshal(body, &j) != nil || j.ID == "" {
		return finish("error", fmt.Sprintf("POST compact: status %d: %.200s", st, body))
	}
	for j.State == "running" {
		select {
		case <-done:
			return finish("running", "still running when the soak ended")
		case <-time.After(time.Second):
		}
		st, body, err = signedCall(c, cfg, fasthttp.MethodGet, prefix+"jobs/"+j.ID)
		if err != nil {
			return finish("error", err.Error())
		}
		j = job{}
		if st != 200 || json.Unmarshal(body, &j) != nil {
			return finish("error", fmt.Sprintf("GET job: status %d: %.200s", st, body))
		}
	}
	if j.Result != nil {
		rec.BytesCopied, rec.BytesReclaimed, rec.Segments = j.Result.BytesCopied, j.Result.BytesReclaimed, len(j.Result.Deleted)
	}
	return finish(j.State, j.Error)
}

// ---- the growth detector ----

// Tolerance is how much a level may rise between two thirds of a soak
// without counting as growth: Abs (in the metric's unit) plus Rel times the
// earlier level.
type Tolerance struct {
	Abs float64 `json:"abs"`
	Rel float64 `json:"rel"`
}

func (t Tolerance) of(level float64) float64 { return t.Abs + t.Rel*math.Abs(level) }

// SoakMetric is a sampled quantity the soak judges.
type SoakMetric struct {
	Name  string
	Unit  string
	Tol   Tolerance
	Value func(SoakSample) (float64, bool) // false: not sampled this time
}

// SoakMetrics are the judged metrics and their tolerances. RSS: the Go heap
// and the block cache settle during the warm-up; 16 MiB + 5% per third
// catches a leak of ~3 MiB/min at 200 MiB over the 25 judged minutes of a
// 30-minute soak. Goroutines and
// open files: idle keep-alive connections and fasthttp's worker pool come and
// go, hence a few units of slack (5 goroutines + 5% still catches one
// leaked a minute). p99: latency on a shared machine is noisy,
// so a level must rise by 15% + 5 ms, from third to third.
var SoakMetrics = []SoakMetric{
	{Name: "rss", Unit: "MiB", Tol: Tolerance{Abs: 16, Rel: 0.05}, Value: func(s SoakSample) (float64, bool) {
		return mib(s.RSSBytes), s.RSSBytes > 0
	}},
	{Name: "goroutines", Unit: "", Tol: Tolerance{Abs: 5, Rel: 0.05}, Value: func(s SoakSample) (float64, bool) {
		return float64(s.Goroutines), s.Goroutines >= 0
	}},
	{Name: "open_files", Unit: "", Tol: Tolerance{Abs: 8, Rel: 0.05}, Value: func(s SoakSample) (float64, bool) {
		return float64(s.OpenFiles), s.OpenFiles >= 0
	}},
	{Name: "p99", Unit: "ms", Tol: Tolerance{Abs: 5, Rel: 0.15}, Value: func(s SoakSample) (float64, bool) {
		return s.P99Ms, s.Ops > 0
	}},
}

// Trend is the verdict on one metric.
type Trend struct {
	Metric  string     `json:"metric"`
	Unit    string     `json:"unit,omitempty"`
	Samples int        `json:"samples"` // judged: after the warm-up
	Medians [3]float64 `json:"thirds_medians"`
	P90s    [3]float64 `json:"thirds_p90s"`
	// SlopePerMin is the least-squares slope over the judged samples, for
	// the reader; the verdict does not use it.
	SlopePerMin float64   `json:"slope_per_min"`
	Tol         Tolerance `json:"tolerance"`
	Judged      bool      `json:"judged"`
	Growing     bool      `json:"growing"`
	Verdict     string    `json:"verdict"`
}

// Trends judges every SoakMetric over the samples taken after warmup.
func Trends(samples []SoakSample, warmup time.Duration) []Trend {
	var out []Trend
	for _, m := range SoakMetrics {
		var xs, ts []float64
		for _, s := range samples {
			if s.Seconds <= warmup.Seconds() {
				continue
			}
			if v, ok := m.Value(s); ok {
				xs = append(xs, v)
				ts = append(ts, s.Seconds)
			}
		}
		t := Growth(m.Name, xs, m.Tol)
		t.Unit = m.Unit
		t.SlopePerMin = slope(ts, xs) * 60
		out = append(out, t)
	}
	return out
}

// Growth judges whether xs, the samples of one metric after the warm-up in
// time order, keeps growing. The samples are split into three consecutive
// thirds A, B and C, each summarised by its median and its 90th percentile,
// which single spikes (a GC cycle, a slow request, a compaction's files) do
// not move. The metric keeps growing when all of these rise by more than the
// tolerance: the median from A to B, the median from B to C, and the 90th
// percentile from B to C. A steady leak raises every one of them by the same
// amount, so it fails as soon as that amount exceeds the tolerance. Noise
// within the tolerance passes. A level that rises once and stays (the block
// cache filling, more segments) passes wherever the step falls: within the
// warm-up it is not judged; within A the medians of B and C agree; within B
// the 90th percentiles of B and C agree (unless it falls in B's last tenth,
// when the medians of A and B agree); within C the medians of A and B agree.
// Fewer than six samples are not judged.
func Growth(metric string, xs []float64, tol Tolerance) Trend {
	t := Trend{Metric: metric, Samples: len(xs), Tol: tol}
	if len(xs) < minJudged {
		t.Verdict = fmt.Sprintf("%s: only %d samples after the warm-up, fewer than the %d needed to judge it", metric, len(xs), minJudged)
		return t
	}
	t.Judged = true
	n := len(xs)
	cuts := [4]int{0, n / 3, 2 * n / 3, n}
	for i := range 3 {
		part := xs[cuts[i]:cuts[i+1]]
		t.Medians[i] = quantile(part, 0.5)
		t.P90s[i] = quantile(part, 0.9)
	}
	m, p := t.Medians, t.P90s
	t.Growing = m[1]-m[0] > tol.of(m[0]) && m[2]-m[1] > tol.of(m[1]) && p[2]-p[1] > tol.of(p[1])
	levels := fmt.Sprintf("medians of the three thirds after the warm-up %s → %s → %s, 90th percentiles %s → %s → %s%s",
		g4(m[0]), g4(m[1]), g4(m[2]), g4(p[0]), g4(p[1]), g4(p[2]), unitSuffix(metric))
	if t.Growing {
		t.Verdict = fmt.Sprintf("%s keeps growing after the warm-up: %s (each rise above the tolerance of %s + %.0f%%)", metric, levels, g4(tol.Abs), 100*tol.Rel)
	} else {
		t.Verdict = fmt.Sprintf("%s steady: %s", metric, levels)
	}
	return t
}

func unitSuffix(metric string) string {
	for _, m := range SoakMetrics {
		if m.Name == metric && m.Unit != "" {
			return " " + m.Unit
		}
	}
	return ""
}

func g4(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// quantile is the q-quantile of xs, interpolated between order statistics.
func quantile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// slope is the least-squares slope of ys over xs (0 when undefined).
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
