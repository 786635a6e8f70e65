package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHistPercentiles(t *testing.T) {
	h := NewHist()
	for v := 1; v <= 10000; v++ {
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want float64 // µs
	}{{50, 5000}, {90, 9000}, {99, 9900}, {99.9, 9990}, {100, 10000}} {
		got := float64(h.Quantile(c.q) / time.Microsecond)
		if math.Abs(got-c.want)/c.want > 0.001 {
			t.Errorf("p%v = %vµs, want %vµs ±0.1%%", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 {
		t.Fatalf("count %d", h.Count())
	}
	if m := h.Max(); m < 9990*time.Microsecond || m > 10010*time.Microsecond {
		t.Errorf("max %v", m)
	}

	// merging two halves gives the same distribution
	a, b := NewHist(), NewHist()
	for v := 1; v <= 10000; v++ {
		if v%2 == 0 {
			a.Record(time.Duration(v) * time.Microsecond)
		} else {
			b.Record(time.Duration(v) * time.Microsecond)
		}
	}
	a.Merge(b)
	if a.Quantile(99) != h.Quantile(99) || a.Count() != h.Count() {
		t.Errorf("merged p99 %v count %d, want %v %d", a.Quantile(99), a.Count(), h.Quantile(99), h.Count())
	}

	// a long tail shows in p99.9 and max, not in p50
	tail := NewHist()
	for range 9990 {
		tail.Record(100 * time.Microsecond)
	}
	for range 10 {
		tail.Record(2 * time.Second)
	}
	if tail.Quantile(50) != 100*time.Microsecond {
		t.Errorf("p50 %v", tail.Quantile(50))
	}
	if p := tail.Quantile(99.95); p < 1990*time.Millisecond {
		t.Errorf("p99.95 %v, want ~2s", p)
	}
	// out of range values are clamped, not dropped
	tail.Record(0)
	tail.Record(time.Hour)
	if tail.Count() != 10002 {
		t.Errorf("count %d", tail.Count())
	}
	if empty := NewHist(); empty.Quantile(99) != 0 || empty.Max() != 0 {
		t.Error("empty histogram")
	}
}

func TestProfileMix(t *testing.T) {
	for _, name := range ProfileNames() {
		p := Profiles[name]
		if len(p.Actions) == 0 || p.Doc == "" {
			t.Errorf("%s: no actions or doc", name)
		}
		total := 0
		for _, a := range p.Actions {
			if a.Weight <= 0 || a.Do == nil {
				t.Errorf("%s/%s: weight %d", name, a.Name, a.Weight)
			}
			total += a.Weight
		}
		const n = 200000
		r := rand.New(rand.NewPCG(1, 2))
		counts := map[string]int{}
		for range n {
			counts[p.pick(r).Name]++
		}
		for _, a := range p.Actions {
			want := float64(a.Weight) / float64(total)
			got := float64(counts[a.Name]) / n
			if math.Abs(got-want) > 0.01 {
				t.Errorf("%s: %s drawn %.3f of the time, want %.3f", name, a.Name, got, want)
			}
		}
	}
	// the random-read mix of MILVUS.md
	want := map[string]int{"head": 20, "get-tail-64k": 20, "get-range-1m-4m": 30, "get-range-4k-256k": 20, "get-range-16m": 10}
	for _, a := range Profiles["random-read"].Actions {
		if want[a.Name] != a.Weight {
			t.Errorf("random-read %s weight %d, want %d", a.Name, a.Weight, want[a.Name])
		}
	}
	for _, n := range []string{"load", "random-read", "ingest", "list-gc", "wal", "get-range-4k", "get-range-16k",
		"get-range-64k", "get-range-1m", "get-small", "put-64k", "put-1m", "put-16m"} {
		if Profiles[n] == nil {
			t.Errorf("profile %s missing", n)
		}
	}
}

func TestParseSteps(t *testing.T) {
	steps, err := ParseSteps(StandardSuite)
	if err != nil {
		t.Fatal(err)
	}
	if !steps[0].Cold || steps[0].Profile != "get-range-4k" {
		t.Errorf("first step %v, want the cold 4 KiB read", steps[0])
	}
	for _, bad := range []string{"", "nope@8", "get-range-4k@0", "load@8:ceiling", "get-small@8:warm"} {
		if _, err := ParseSteps(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	s, err := ParseSteps("get-small@64:ceiling, wal")
	if err != nil || len(s) != 2 || s[0].Concurrency != 64 || !s[0].Ceiling || s[1].Concurrency != 8 {
		t.Errorf("%v %v", s, err)
	}
}

func TestLayout(t *testing.T) {
	const size = 600 * MiB
	l := NewLayout(7, size)
	if again := NewLayout(7, size); len(again.Objects) != len(l.Objects) || again.Objects[3] != l.Objects[3] {
		t.Fatal("layout is not deterministic")
	}
	if other := NewLayout(8, size); other.Objects[0].Key == l.Objects[0].Key {
		t.Error("another seed gives the same keys")
	}
	if b := l.Bytes(); b < size*95/100 || b > size*105/100 {
		t.Errorf("%d bytes for %d asked", b, size)
	}
	shapes := map[Kind]*regexp.Regexp{
		KindIndexSlice: regexp.MustCompile(`^files/index_files/\d+/1/\d+/\d+/HNSW_[0-7]$`),
		KindIndexMeta:  regexp.MustCompile(`^files/index_files/\d+/1/\d+/\d+/index_meta$`),
		KindParquet:    regexp.MustCompile(`^files/insert_log/\d+/\d+/\d+/(0|100|101)/\d+$`),
		KindStatsLog:   regexp.MustCompile(`^files/stats_log/\d+/\d+/\d+/10[0-3]/\d+$`),
		KindDeltaLog:   regexp.MustCompile(`^files/delta_log/\d+/\d+/\d+/\d+$`),
		KindBM25:       regexp.MustCompile(`^files/bm25_stats/\d+/\d+/\d+/102/\d+$`),
	}
	seen := map[string]bool{}
	var bytesByKind [numKinds]int64
	for _, o := range l.Objects {
		if seen[o.Key] {
			t.Fatalf("duplicate key %s", o.Key)
		}
		seen[o.Key] = true
		if !shapes[o.Kind].MatchString(o.Key) || !safeKey(o.Key) {
			t.Errorf("%s key %q", o.Kind, o.Key)
		}
		if o.Base < 0 || o.Base+o.Size > l.PoolSize {
			t.Errorf("%s: content outside the pool", o.Key)
		}
		switch o.Kind {
		case KindIndexSlice:
			if o.Size != IndexSliceSize {
				t.Errorf("slice of %d bytes", o.Size)
			}
		case KindParquet:
			if o.Size < MinParquet || o.Size > MaxParquet {
				t.Errorf("parquet of %d bytes", o.Size)
			}
		default:
			if o.Size < 200 || o.Size > MaxSmall {
				t.Errorf("%s of %d bytes", o.Kind, o.Size)
			}
		}
		if got, ok := l.Lookup(o.Key); !ok || got.Size != o.Size {
			t.Errorf("lookup %s", o.Key)
		}
		bytesByKind[o.Kind] += o.Size
	}
	if f := float64(bytesByKind[KindIndexSlice]) / float64(l.Bytes()); f < 0.45 || f > 0.55 {
		t.Errorf("index slices are %.2f of the bytes, want about half", f)
	}
	if f := float64(bytesByKind[KindParquet]) / float64(l.Bytes()); f < 0.40 || f > 0.50 {
		t.Errorf("parquet files are %.2f of the bytes, want about 45%%", f)
	}
	for k := range numKinds {
		if l.Count(k) == 0 {
			t.Errorf("no %s objects", k)
		}
	}
	// slices come in indexes of 8 sharing a directory
	dirs := map[string]int{}
	for _, o := range l.Of(1, KindIndexSlice) {
		dirs[o.Key[:strings.LastIndexByte(o.Key, '/')]]++
	}
	partial := 0
	for d, n := range dirs {
		if n != SlicesPerIndex {
			partial++
			if partial > 1 || n > SlicesPerIndex {
				t.Errorf("%s holds %d slices", d, n)
			}
		}
	}
	// the hot set is a fixed prefix of a seeded order
	all, hot := l.Of(1, KindStatsLog), l.Of(0.1, KindStatsLog)
	if want := int(math.Ceil(0.1 * float64(len(all)))); len(hot) != want {
		t.Errorf("hot set of %d, want %d", len(hot), want)
	}
	for i := range hot {
		if hot[i] != all[i] {
			t.Fatal("hot set is not a prefix of the full order")
		}
	}
	if len(l.Of(0.0001, KindIndexSlice)) != 1 {
		t.Error("a tiny hot set must keep one object")
	}
	prefixes := l.Prefixes()
	for _, p := range []string{"files/", "files/insert_log/", "files/index_files/", "files/stats_log/", "files/delta_log/"} {
		if !contains(prefixes, p) {
			t.Errorf("prefix %s missing", p)
		}
	}
	// the smallest data set still has every kind the profiles read
	tiny := NewLayout(1, 1)
	if tiny.Count(KindIndexSlice) == 0 || tiny.Count(KindParquet) == 0 || tiny.Count(KindStatsLog) == 0 {
		t.Error("the smallest layout misses a kind")
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestPoolDeterministic(t *testing.T) {
	const n = 1 << 20
	a, b := NewPool(3, n), NewPool(3, n)
	if len(a) != n || string(a) != string(b) {
		t.Fatal("pool differs for one seed")
	}
	if c := NewPool(4, n); string(a[:64]) == string(c[:64]) {
		t.Fatal("pool equal for two seeds")
	}
}

func testConfig(addr string) Config {
	return Config{Endpoint: addr, Bucket: "b", Concurrency: 4, Duration: 20 * time.Second, MaxOps: 150,
		Seed: 1, Verify: true, Cleanup: true, ServerPID: os.Getpid()}
}

// TestRunCeiling runs the read and write micro profiles and the load profile
// a few hundred requests each against the in-process ceiling server.
func TestRunCeiling(t *testing.T) {
	env := NewEnv(1, MinDataSet)
	srv, err := StartCeiling(env, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, name := range []string{"get-range-4k", "get-range-1m", "get-small", "put-64k", "load", "random-read"} {
		cfg := testConfig(srv.Addr())
		res, err := Run(context.Background(), cfg, env, Profiles[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Total.Ops != cfg.MaxOps || res.StoppedBy != "ops" {
			t.Errorf("%s: %d ops, stopped by %q; want %d by ops", name, res.Total.Ops, res.StoppedBy, cfg.MaxOps)
		}
		if res.Total.Errors != 0 {
			t.Errorf("%s: %d errors: %v", name, res.Total.Errors, res.Classes)
		}
		if res.Total.Bytes == 0 || res.Total.LatencyMs.P50 <= 0 || res.Total.LatencyMs.Max < res.Total.LatencyMs.P99 {
			t.Errorf("%s: %+v", name, res.Total)
		}
		if res.Server == nil || res.Server.RSSAfterBytes <= 0 {
			t.Errorf("%s: no server sample: %v", name, res.Warnings)
		}
	}
	// the op budget and the duration both bound a run
	cfg := testConfig(srv.Addr())
	cfg.MaxOps, cfg.Duration = 1<<40, 300*time.Millisecond
	res, err := Run(context.Background(), cfg, env, Profiles["get-range-4k"])
	if err != nil || res.StoppedBy != "duration" || res.Total.Ops == 0 {
		t.Errorf("duration bound: %v %+v", err, res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, testConfig(srv.Addr()), env, Profiles["get-small"]); err == nil {
		t.Error("a canceled run reports no error")
	}
	if _, err := Run(context.Background(), Config{Endpoint: srv.Addr(), Bucket: "b", Concurrency: 1, MaxOps: 1}, env, Profiles["get-small"]); err == nil {
		t.Error("a run without a duration bound was accepted")
	}
}

func TestRatios(t *testing.T) {
	mk := func(target string, round int, ops, p99, cpu float64) *RunResult {
		c := ClassResult{Class: "get-range-4k", OpsPerSec: ops, LatencyMs: Latency{P99: p99}}
		return &RunResult{Target: target, Round: round, Profile: "get-range-4k", Concurrency: 8,
			Classes: []ClassResult{c}, Total: ClassResult{Class: "all", OpsPerSec: ops}, Server: &ServerUsage{CPUPerOpUs: cpu}}
	}
	rs := Ratios([]*RunResult{
		mk("lsmd", 1, 1000, 1, 10), mk("minio", 1, 100, 10, 1000),
		mk("lsmd", 2, 1200, 2, 20), mk("minio", 2, 100, 10, 1000),
	}, "lsmd", "minio")
	if len(rs) != 1 {
		t.Fatalf("%d ratios", len(rs))
	}
	r := rs[0]
	if r.Ops.Median != 11 || r.Ops.Min != 10 || r.Ops.Max != 12 {
		t.Errorf("ops %+v", r.Ops)
	}
	if math.Abs(r.P99.Median-0.15) > 1e-9 || r.CPU == nil || math.Abs(r.CPU.Median-0.015) > 1e-9 {
		t.Errorf("p99 %+v cpu %+v", r.P99, r.CPU)
	}
}

func TestProcAndDisk(t *testing.T) {
	s, err := SampleProc(os.Getpid())
	if err != nil || s.RSS <= 0 || s.HWM < s.RSS {
		t.Fatalf("%+v %v", s, err)
	}
	// a command with spaces and parentheses
	line := []byte("42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 100 1000 7 18446744073709551615")
	p, err := parseProc(line, nil)
	if err != nil || p.CPU != 4*time.Second || p.RSS != 7*int64(os.Getpagesize()) {
		t.Errorf("%+v %v", p, err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := DirUsage(dir)
	if err != nil || u.Files != 1 || u.Apparent != 10000 {
		t.Errorf("%+v %v", u, err)
	}
	if err := EvictDir(dir); err != nil {
		t.Error(err)
	}
	if err := WarmDir(dir); err != nil {
		t.Error(err)
	}
	res, err := ODirectProbe(context.Background(), dir, 1*MiB, 2, 50*time.Millisecond, 1)
	if err != nil {
		t.Skipf("O_DIRECT not supported here: %v", err)
	}
	if res.Reads == 0 || res.IOPS <= 0 {
		t.Errorf("%+v", res)
	}
}
