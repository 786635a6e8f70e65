package bench

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// soakSeries builds the samples of a 30-minute soak sampled every 10 s
// (180 samples) whose metric values come from f(i, rng) for sample i.
func soakSeries(seed uint64, f func(i int, r *rand.Rand) float64) []SoakSample {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]SoakSample, 180)
	for i := range out {
		v := f(i, r)
		out[i] = SoakSample{Seconds: float64(10 * (i + 1)), RSSBytes: int64(v * MiB), Goroutines: int64(v),
			OpenFiles: int64(v), P99Ms: v, Ops: 1000}
	}
	return out
}

const soakWarmup = 5 * time.Minute

// noisy is a level with ±10% uniform noise, and one spike of 3× in 50.
func noisy(level float64) func(int, *rand.Rand) float64 { return noisyBy(level, 0.1) }

// noisyBy is a level with ±amp uniform noise, and one spike of 3× in 50.
func noisyBy(level, amp float64) func(int, *rand.Rand) float64 {
	return func(_ int, r *rand.Rand) float64 {
		v := level * (1 - amp + 2*amp*r.Float64())
		if r.IntN(50) == 0 {
			v *= 3
		}
		return v
	}
}

func judge(t *testing.T, samples []SoakSample) map[string]Trend {
	t.Helper()
	out := map[string]Trend{}
	for _, tr := range Trends(samples, soakWarmup) {
		if !tr.Judged {
			t.Fatalf("%s not judged: %s", tr.Metric, tr.Verdict)
		}
		out[tr.Metric] = tr
	}
	if len(out) != 4 {
		t.Fatalf("judged %d metrics, want rss, goroutines, open_files and p99", len(out))
	}
	return out
}

// A flat series with noise and spikes passes, for many seeds and levels.
func TestSoakFlatNoisyPasses(t *testing.T) {
	for seed := range uint64(200) {
		for _, level := range []float64{40, 150, 600} {
			for name, tr := range judge(t, soakSeries(seed, noisy(level))) {
				if tr.Growing {
					t.Fatalf("seed %d level %v: %s judged growing: %s", seed, level, name, tr.Verdict)
				}
			}
		}
	}
}

// A steady leak fails: every metric grows by a fixed step per sample on top
// of the same noise.
func TestSoakSteadyLeakFails(t *testing.T) {
	for seed := range uint64(200) {
		// 150 + 1 per 10 s: for rss 6 MiB/min, 150 MiB over the judged
		// 25 minutes, the same numbers read as goroutines and open files;
		// p99's tolerance is wider (15% + 5 ms): it gets 2 ms per 10 s,
		// from 150 to ~450 ms.
		for _, perSample := range []float64{1, 2} {
			leak := func(i int, r *rand.Rand) float64 { return noisy(150)(i, r) + perSample*float64(i) }
			for name, tr := range judge(t, soakSeries(seed, leak)) {
				if name == "p99" && perSample < 2 {
					continue
				}
				if !tr.Growing {
					t.Fatalf("seed %d: %s leak of %v per sample not detected: %s", seed, name, perSample, tr.Verdict)
				}
				if !strings.Contains(tr.Verdict, name+" keeps growing") || tr.SlopePerMin <= 0 {
					t.Fatalf("seed %d: verdict %q, slope %v", seed, tr.Verdict, tr.SlopePerMin)
				}
			}
		}
	}
	// a goroutine leak of one per minute, from a small base
	leak := soakSeries(1, func(i int, r *rand.Rand) float64 { return 30 + float64(i/6) + float64(r.IntN(3)) })
	if tr := judge(t, leak)["goroutines"]; !tr.Growing {
		t.Fatalf("goroutine leak not detected: %s", tr.Verdict)
	}
}

// A step during the warm-up passes, and so does a single step anywhere
// after it (a level that rises once and stays: the cache filling, more
// segments) when the noise is within the tolerance: ±3% here, with spikes.
func TestSoakStepPasses(t *testing.T) {
	step := func(at int, lo, hi float64) func(int, *rand.Rand) float64 {
		return func(i int, r *rand.Rand) float64 {
			if i < at {
				return noisyBy(lo, 0.03)(i, r)
			}
			return noisyBy(hi, 0.03)(i, r)
		}
	}
	for seed := range uint64(20) {
		// during the warm-up: from 50 to 300 after 200 s, with ±10% noise
		warm := func(i int, r *rand.Rand) float64 {
			if i < 20 {
				return noisy(50)(i, r)
			}
			return noisy(300)(i, r)
		}
		for name, tr := range judge(t, soakSeries(seed, warm)) {
			if tr.Growing {
				t.Fatalf("seed %d: %s judged growing after a step in the warm-up: %s", seed, name, tr.Verdict)
			}
		}
		// after it, from 200 to 300, at every position
		for at := 30; at < 180; at += 3 {
			for name, tr := range judge(t, soakSeries(seed, step(at, 200, 300))) {
				if tr.Growing {
					t.Fatalf("seed %d, step at sample %d: %s judged growing: %s", seed, at, name, tr.Verdict)
				}
			}
		}
	}
	// the same step judged with no warm-up at all still passes
	for _, tr := range Trends(soakSeries(1, step(20, 50, 300)), 0) {
		if tr.Growing {
			t.Fatalf("%s: %s", tr.Metric, tr.Verdict)
		}
	}
}

// Too few samples after the warm-up are not judged (and so fail the soak);
// unsampled values (a failed scrape) are left out.
func TestSoakTooFewSamples(t *testing.T) {
	s := soakSeries(1, noisy(100))[:33] // 5.5 minutes: 3 samples after the warm-up
	for _, tr := range Trends(s, soakWarmup) {
		if tr.Judged || tr.Growing || !strings.Contains(tr.Verdict, "fewer than") {
			t.Fatalf("%s: %+v", tr.Metric, tr)
		}
	}
	s = soakSeries(1, noisy(100))
	for i := range s {
		if i%2 == 0 {
			s[i].Goroutines = -1
		}
	}
	for _, tr := range Trends(s, soakWarmup) {
		if tr.Metric == "goroutines" && tr.Samples != 75 {
			t.Fatalf("goroutines judged on %d samples, want the 75 scraped after the warm-up", tr.Samples)
		}
	}
}

func TestParseSoakMix(t *testing.T) {
	lanes, err := ParseSoakMix(DefaultSoakMix)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"random-read": true, "load": true, "ingest": true, "list-gc": true, "wal-churn": true}
	for _, l := range lanes {
		if !want[l.Profile] || l.Concurrency <= 0 || l.Rate <= 0 {
			t.Errorf("lane %v", l)
		}
		delete(want, l.Profile)
	}
	if len(want) != 0 {
		t.Errorf("default mix lacks %v", want)
	}
	if l, err := ParseSoakMix(" load@3/0.5 "); err != nil || len(l) != 1 || l[0] != (SoakLane{"load", 3, 0.5}) {
		t.Errorf("%v %v", l, err)
	}
	for _, bad := range []string{"", "load", "load@2", "nope@1/1", "load@0/1", "load@1/-1", "load@1/NaN", "load@x/1"} {
		if _, err := ParseSoakMix(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseGoroutines(t *testing.T) {
	b := []byte("# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines 137\ngo_threads 9\n")
	if n, err := parseGoroutines(b); err != nil || n != 137 {
		t.Fatalf("%d %v", n, err)
	}
	if _, err := parseGoroutines([]byte("go_goroutines_x 1\n")); err == nil {
		t.Fatal("found go_goroutines where there is none")
	}
}

func TestOpenFiles(t *testing.T) {
	before, err := OpenFiles(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after, _ := OpenFiles(os.Getpid()); after != before+1 {
		t.Fatalf("open files %d, then %d after opening one", before, after)
	}
}
