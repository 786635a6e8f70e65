package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/lsmstore/lsmstore/bench"
)

// SoakReport is the JSON a soak writes.
type SoakReport struct {
	Kind     string               `json:"kind"` // soak
	Command  []string             `json:"command"`
	Started  time.Time            `json:"started"`
	Finished time.Time            `json:"finished"`
	Machine  bench.Machine        `json:"machine"`
	Settings map[string]any       `json:"settings"`
	Logical  int64                `json:"dataset_bytes"`
	Prepare  *bench.PrepareResult `json:"prepare,omitempty"`
	Result   *bench.SoakResult    `json:"result,omitempty"`
	Passed   bool                 `json:"passed"`
	Errors   []string             `json:"errors,omitempty"`
}

func cmdSoak(ctx context.Context, args []string) error {
	var lsmdBin, workdir, outDir, mix, dataSize, cacheSize, segSize, region, bucket string
	var duration, warmup, interval, compactEvery, timeout time.Duration
	var seed uint64
	var hot float64
	var verify, keep bool
	var lsmdFlags []string
	fs := newFlagSet("soak", "--lsmd bin/lsmd [flags]")
	fs.StringVar(&lsmdBin, "lsmd", "bin/lsmd", "lsmd binary")
	fs.StringArrayVar(&lsmdFlags, "lsmd-flag", nil, "one more lsmd flag, repeatable (e.g. --lsmd-flag=--metrics-auth)")
	fs.DurationVar(&duration, "duration", 30*time.Minute, "length of the soak")
	fs.DurationVar(&warmup, "warmup", 0, "samples up to here are not judged (0: a fifth of --duration, at most 5m)")
	fs.DurationVar(&interval, "interval", 10*time.Second, "sampling interval")
	fs.StringVar(&mix, "mix", bench.DefaultSoakMix, "lanes PROFILE@CONC/RATE,... (RATE: actions per second per lane, 0 unpaced)")
	fs.DurationVar(&compactEvery, "compact-every", 2*time.Minute, "start a compaction job through the admin API this often (0: none; lsmd's background compaction runs anyway)")
	fs.StringVar(&dataSize, "data-size", "256MiB", "data set size")
	fs.StringVar(&cacheSize, "cache-size", "128MiB", "lsmd --cache-size: smaller than the data set, so the cache fills during the warm-up and then evicts")
	fs.StringVar(&segSize, "segment-size", "64MiB", "lsmd --segment-size: small, so segments seal and compaction has work")
	fs.Float64Var(&hot, "hot", 1, "hot-set fraction of the reads (1: all objects)")
	fs.Uint64Var(&seed, "seed", 1, "data set and request stream seed")
	fs.BoolVar(&verify, "verify", true, "check every byte read against the data written")
	fs.DurationVar(&timeout, "timeout", 2*time.Minute, "per request timeout")
	fs.StringVar(&region, "region", "us-east-1", "SigV4 region")
	fs.StringVar(&bucket, "bucket", "milvus-bench", "bucket")
	fs.StringVar(&workdir, "workdir", os.TempDir(), "where the temporary data directory goes")
	fs.BoolVar(&keep, "keep", false, "keep the data directory and the lsmd log")
	fs.StringVar(&outDir, "out", "bench/results", "directory for the JSON and markdown reports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if warmup == 0 {
		warmup = min(duration/5, 5*time.Minute)
	}
	lanes, err := bench.ParseSoakMix(mix)
	if err != nil {
		return err
	}
	size, err := humanize.ParseBytes(dataSize)
	if err != nil {
		return fmt.Errorf("--data-size: %w", err)
	}
	if _, err := os.Stat(lsmdBin); err != nil {
		return err
	}
	access, secret := "lsmbench", randomHex(20)
	sign, stream := signers(access, secret, region)
	sc := bench.SoakConfig{
		Config: bench.Config{Bucket: bucket, Duration: duration, Seed: seed, DataSize: int64(size), HotFraction: hot,
			Verify: verify, Timeout: timeout, Sign: sign, SignStreaming: stream},
		Lanes: lanes, Interval: interval, SoakWarmup: warmup, CompactEvery: compactEvery,
		MetricsPath: "/minio/v2/metrics/cluster", AdminPrefix: "/lsm/admin/v1/",
	}
	// the soak's own checks, before anything starts
	if warmup >= duration || int((duration-warmup)/interval) < 6 {
		return fmt.Errorf("--duration %s with a %s warm-up leaves fewer than 6 samples of %s to judge", duration, warmup, interval)
	}

	work, err := os.MkdirTemp(workdir, "lsmbench-soak-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "keeping", work)
	} else {
		defer os.RemoveAll(work)
	}
	srv := lsmdServer(lsmdBin, filepath.Join(work, "lsmd"), work, access, secret)
	base := srv.args
	srv.args = func(addr string) []string {
		return append(append([]string{"--cache-size", cacheSize, "--segment-size", segSize}, lsmdFlags...), base(addr)...)
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "lsmbench:", err)
		}
	}()
	if err := os.MkdirAll(srv.dir, 0o755); err != nil {
		return err
	}

	env := bench.NewEnv(seed, int64(size))
	rep := &SoakReport{Kind: "soak", Command: os.Args, Started: time.Now().UTC(), Machine: bench.DescribeMachine(work),
		Logical: env.Layout.Bytes(), Settings: map[string]any{
			"duration": duration.String(), "warmup": warmup.String(), "interval": interval.String(), "mix": mix,
			"compact_every": compactEvery.String(), "data_size": int64(size), "cache_size": cacheSize,
			"segment_size": segSize, "lsmd_flags": lsmdFlags, "hot_fraction": hot, "seed": seed, "verify": verify, "lsmd": lsmdBin,
		}}

	fmt.Fprintln(os.Stderr, "== starting lsmd")
	if err := srv.start(ctx); err != nil {
		return err
	}
	pcfg := sc.Config
	pcfg.Endpoint, pcfg.Concurrency = srv.addr, 4
	pr, err := runPrepare(ctx, pcfg, env)
	rep.Prepare = pr
	if err != nil {
		return err
	}
	if err := bench.ReadAll(ctx, pcfg, env); err != nil {
		return fmt.Errorf("reading the data set back: %w", err)
	}

	sc.Endpoint, sc.ServerPID, sc.DataDir = srv.addr, srv.pid(), srv.dir
	fmt.Fprintf(os.Stderr, "== soak: %s (%s warm-up not judged), a sample every %s, lanes %s, compaction every %s\n",
		duration, warmup, interval, mix, compactEvery)
	// a server that dies ends the soak at once, saying so
	soakCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errExited := errors.New("lsmd exited during the soak (the end of its log, if any, is kept beside the report)")
	go func() {
		select {
		case <-srv.exited:
			cancel(errExited)
		case <-soakCtx.Done():
		}
	}()
	out := os.Stdout
	writeSoakHeader(out)
	res, err := bench.Soak(soakCtx, sc, env, func(s bench.SoakSample) { writeSoakRow(out, s) })
	if err != nil && errors.Is(context.Cause(soakCtx), errExited) {
		err = errExited
	}
	rep.Result = res
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	err = finishSoak(rep, outDir, err)
	if err != nil && outDir != "" {
		// keep the end of lsmd's log (warnings and errors) beside the report
		if tail, terr := fileTail(srv.logPath, 1<<20); terr == nil && len(tail) > 0 {
			p := filepath.Join(outDir, rep.Started.Format("2006-01-02T150405Z")+"-soak-lsmd.log")
			if os.WriteFile(p, tail, 0o644) == nil {
				fmt.Fprintln(os.Stderr, "wrote", p)
			}
		}
	}
	return err
}

// fileTail returns the last n bytes of a file.
func fileTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, st.Size()-n)
	b := make([]byte, st.Size()-off)
	_, err = f.ReadAt(b, off)
	if err == io.EOF {
		err = nil
	}
	return b, err
}

func writeSoakHeader(w io.Writer) {
	fmt.Fprintln(w, "\n| time | RSS MiB | goroutines | open files | p99 ms | ops/s | errors | server CPU % | disk MiB | compactions | |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
}

func writeSoakRow(w io.Writer, s bench.SoakSample) {
	phase := ""
	if s.Warmup {
		phase = "warm-up"
	}
	if s.Note != "" {
		phase = strings.TrimSpace(phase + " " + s.Note)
	}
	intOrDash := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprint(v)
	}
	disk := "-"
	if s.DiskBytes >= 0 {
		disk = fmt.Sprintf("%.0f", float64(s.DiskBytes)/bench.MiB)
	}
	fmt.Fprintf(w, "| %s | %.1f | %s | %s | %.2f | %.1f | %d | %.0f | %s | %d | %s |\n",
		(time.Duration(s.Seconds) * time.Second).String(), float64(s.RSSBytes)/bench.MiB, intOrDash(s.Goroutines), intOrDash(s.OpenFiles),
		s.P99Ms, s.OpsPerSec, s.Errors, s.CPUPercent, disk, s.Compacted, phase)
}

// finishSoak prints the verdict and the whole-run table, writes the JSON and
// markdown reports, and fails when a metric keeps growing.
func finishSoak(rep *SoakReport, outDir string, runErr error) error {
	rep.Finished = time.Now().UTC()
	res := rep.Result
	rep.Passed = runErr == nil && res != nil && len(res.Failures) == 0
	var md strings.Builder
	m := rep.Machine
	fmt.Fprintf(&md, "## lsmbench soak, %s\n\nmachine: %d CPUs (%s), %s RAM, disk %s, kernel %s, %s, load %s at start\n\n",
		rep.Started.Format(time.RFC3339), m.CPUs, m.CPUModel, bench.HumanBytes(m.MemBytes), m.Disk, m.Kernel, m.GoVersion, m.Load)
	fmt.Fprintf(&md, "settings: %v\n", rep.Settings)
	if res != nil {
		writeSoakHeader(&md)
		for _, s := range res.Samples {
			writeSoakRow(&md, s)
		}
		fmt.Fprintln(&md, "\n### Whole run")
		fmt.Fprintln(&md)
		bench.WriteMarkdown(&md, []*bench.RunResult{res.Run})
		if len(res.Compactions) > 0 {
			fmt.Fprintln(&md, "\n### Compaction jobs\n\n| started | seconds | state | segments deleted | copied | reclaimed | error |\n|---:|---:|---|---:|---:|---:|---|")
			for _, c := range res.Compactions {
				fmt.Fprintf(&md, "| %.0fs | %.1f | %s | %d | %s | %s | %s |\n", c.Started, c.Seconds, c.State, c.Segments,
					bench.HumanBytes(c.BytesCopied), bench.HumanBytes(c.BytesReclaimed), c.Error)
			}
		}
		fmt.Fprintln(&md, "\n### Verdict (after the warm-up)")
		fmt.Fprintln(&md)
		for _, t := range res.Trends {
			fmt.Fprintf(&md, "- %s; least-squares slope %.2f/min\n", t.Verdict, t.SlopePerMin)
		}
		for _, f := range res.Failures {
			if strings.HasPrefix(f, "errors:") {
				fmt.Fprintf(&md, "- %s\n", f)
			}
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(&md, "\nerror: %s\n", e)
	}
	switch {
	case rep.Passed:
		fmt.Fprintln(&md, "\nPASS: no metric keeps growing after the warm-up.")
	case runErr != nil:
		fmt.Fprintf(&md, "\nINCOMPLETE: %v\n", runErr)
	case res != nil && len(res.Failures) > 0:
		fmt.Fprintf(&md, "\nFAIL: %s\n", strings.Join(res.Failures, "; "))
	}
	// the samples were printed as they came; print the rest
	full := md.String()
	if i := strings.Index(full, "\n### Whole run"); i >= 0 {
		fmt.Print(full[i:])
	} else {
		fmt.Print(full)
	}

	var werr error
	if res != nil && outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return errors.Join(runErr, err)
		}
		name := filepath.Join(outDir, rep.Started.Format("2006-01-02T150405Z")+"-soak")
		werr = errors.Join(writeJSON(name+".json", rep), os.WriteFile(name+".md", []byte(full), 0o644))
		if werr == nil {
			fmt.Fprintf(os.Stderr, "wrote %s.json and %s.md\n", name, name)
		}
	}
	if runErr != nil {
		return errors.Join(runErr, werr)
	}
	if res != nil && len(res.Failures) > 0 {
		return errors.Join(fmt.Errorf("soak failed: %s", strings.Join(res.Failures, "; ")), werr)
	}
	return werr
}
