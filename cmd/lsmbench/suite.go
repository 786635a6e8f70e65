package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// Report is the JSON a suite or comparison writes.
type Report struct {
	Kind     string               `json:"kind"` // suite or compare
	Command  []string             `json:"command"`
	Started  time.Time            `json:"started"`
	Finished time.Time            `json:"finished"`
	Machine  bench.Machine        `json:"machine"`
	Settings map[string]any       `json:"settings"`
	Steps    []bench.Step         `json:"steps"`
	Dataset  map[string][2]int64  `json:"dataset_by_kind"` // objects, bytes
	Logical  int64                `json:"dataset_bytes"`
	Targets  []*TargetInfo        `json:"targets"`
	ODirect  *bench.ODirectResult `json:"odirect,omitempty"`
	Runs     []*bench.RunResult   `json:"runs"`
	Ratios   []bench.Ratio        `json:"ratios,omitempty"`
	Ceiling  []CeilingFraction    `json:"ceiling_fractions,omitempty"`
	Cold     []ColdFraction       `json:"cold_fractions,omitempty"`
	Errors   []string             `json:"errors,omitempty"`
}

// TargetInfo describes one server under test.
type TargetInfo struct {
	Name    string               `json:"name"`
	Binary  string               `json:"binary"`
	Version string               `json:"version,omitempty"`
	Prepare *bench.PrepareResult `json:"prepare,omitempty"`
	Disk    *bench.DiskUsage     `json:"disk_after_prepare,omitempty"`
}

// CeilingFraction states a micro step as a fraction of the ceiling server.
type CeilingFraction struct {
	Target      string  `json:"target"`
	Round       int     `json:"round"`
	Profile     string  `json:"profile"`
	Concurrency int     `json:"concurrency"`
	OpsFraction float64 `json:"ops_fraction"`          // target ops/s ÷ ceiling ops/s
	CPURatio    float64 `json:"cpu_per_op_ratio"`      // target CPU/op ÷ ceiling server CPU/op
	CeilingOps  float64 `json:"ceiling_ops_per_sec"`   //
	CeilingCPU  float64 `json:"ceiling_cpu_per_op_us"` //
}

// ColdFraction states a cold step as a fraction of the raw O_DIRECT IOPS.
type ColdFraction struct {
	Target      string  `json:"target"`
	Round       int     `json:"round"`
	Profile     string  `json:"profile"`
	Concurrency int     `json:"concurrency"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	IOPS        float64 `json:"odirect_iops"`
	Fraction    float64 `json:"fraction"`
}

func cmdSuite(ctx context.Context, args []string, compare bool) error {
	var c common
	var lsmdBin, minioBin, minioVersion, workdir, outDir, stepsSpec, coldOpsFlag, odirectSize string
	var rounds int
	var keep, noCeiling, noODirect bool
	name := "suite"
	if compare {
		name = "compare"
	}
	fs := newFlagSet(name, "[flags]")
	fs.StringVar(&lsmdBin, "lsmd", "bin/lsmd", "lsmd binary")
	if compare {
		fs.StringVar(&minioBin, "minio", ".cache/minio/minio", "minio binary")
		fs.StringVar(&minioVersion, "minio-version", "", "MinIO version to record in the report")
		fs.IntVar(&rounds, "rounds", 2, "rounds: each step runs A B A B ... this many times per target")
	}
	fs.StringVar(&workdir, "workdir", os.TempDir(), "where the temporary data directories go (its disk is the one measured)")
	fs.BoolVar(&keep, "keep", false, "keep the data directories and logs")
	fs.StringVar(&outDir, "out", "bench/results", "directory for the JSON report")
	fs.StringVar(&stepsSpec, "steps", bench.StandardSuite, "PROFILE@CONC[:cold][:ceiling],...")
	fs.StringVar(&coldOpsFlag, "cold-ops", "auto", "requests of a cold step (auto: a quarter of the 64 KiB blocks of the index slices, at most 4000)")
	fs.StringVar(&odirectSize, "odirect-size", "512MiB", "file size of the O_DIRECT probe")
	fs.BoolVar(&noCeiling, "no-ceiling", false, "skip the ceiling runs")
	fs.BoolVar(&noODirect, "no-odirect", false, "skip the O_DIRECT probe")
	c.flags(fs, false)
	_ = fs.Set("duration", "4s")
	fs.Lookup("duration").DefValue = "4s"
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !compare {
		rounds = 1
	}
	steps, err := bench.ParseSteps(stepsSpec)
	if err != nil {
		return err
	}
	c.accessKey = "lsmbench"
	c.secretKey = randomHex(20)
	c.endpoint = "127.0.0.1:0" // per target
	c.conc = 1
	base, size, err := c.config()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, b := range []string{lsmdBin, minioBin} {
		if b != "" {
			if _, err := os.Stat(b); err != nil {
				return fmt.Errorf("%s: %w", b, err)
			}
		}
	}

	work, err := os.MkdirTemp(workdir, "lsmbench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "keeping", work)
	} else {
		defer os.RemoveAll(work)
	}

	env := bench.NewEnv(c.seed, size)
	rep := &Report{
		Kind: name, Command: os.Args, Started: time.Now().UTC(), Machine: bench.DescribeMachine(work),
		Steps: steps, Dataset: env.Layout.Describe(), Logical: env.Layout.Bytes(),
		Settings: map[string]any{
			"duration": c.duration.String(), "warmup": c.warmup.String(), "max_ops": c.ops, "seed": c.seed,
			"data_size": size, "hot_fraction": c.hot, "verify": c.verify, "rounds": rounds,
		},
	}

	targets := []*server{lsmdServer(lsmdBin, filepath.Join(work, "lsmd"), work, c.accessKey, c.secretKey)}
	rep.Targets = append(rep.Targets, &TargetInfo{Name: "lsmd", Binary: lsmdBin})
	if compare {
		targets = append(targets, minioServer(minioBin, filepath.Join(work, "minio"), work, c.accessKey, c.secretKey))
		rep.Targets = append(rep.Targets, &TargetInfo{Name: "minio", Binary: minioBin, Version: minioVersion})
	}
	var ceiling *server
	if !noCeiling {
		ceiling = ceilingServer(self, c.seed, size, work)
	}
	defer func() {
		for _, t := range append(targets, ceiling) {
			if t != nil {
				if err := t.stop(); err != nil {
					fmt.Fprintln(os.Stderr, "lsmbench:", err)
				}
			}
		}
	}()

	// Start each target, lay out the data set, measure the bytes on disk,
	// read the files once so warm runs start from the page cache, and pause
	// the target while the others run.
	for i, t := range targets {
		if err := os.MkdirAll(t.dir, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "== starting %s\n", t.name)
		if err := t.start(ctx); err != nil {
			return err
		}
		cfg := base
		cfg.Endpoint, cfg.Concurrency = t.addr, 16
		pr, err := runPrepare(ctx, cfg, env)
		rep.Targets[i].Prepare = pr
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if u, err := bench.DirUsage(t.dir); err == nil {
			rep.Targets[i].Disk = &u
			fmt.Fprintf(os.Stderr, "%s: %s on disk (%s apparent) for %s of objects\n", t.name,
				bench.HumanBytes(u.Allocated), bench.HumanBytes(u.Apparent), bench.HumanBytes(env.Layout.Bytes()))
		}
		_ = bench.WarmDir(t.dir)
		if err := bench.ReadAll(ctx, cfg, env); err != nil {
			return fmt.Errorf("%s: reading the data set back: %w", t.name, err)
		}
		if len(targets) > 1 {
			if err := t.pause(); err != nil {
				return err
			}
		}
	}

	coldConc := 8
	for _, st := range steps {
		if st.Cold {
			coldConc = st.Concurrency
			break
		}
	}
	if !noODirect {
		n, err := humanize.ParseBytes(odirectSize)
		if err != nil {
			return fmt.Errorf("--odirect-size: %w", err)
		}
		fmt.Fprintf(os.Stderr, "== O_DIRECT probe of %s\n", work)
		res, err := bench.ODirectProbe(ctx, work, int64(n), coldConc, 3*time.Second, c.seed)
		if err != nil {
			rep.Errors = append(rep.Errors, "odirect: "+err.Error())
			fmt.Fprintln(os.Stderr, "odirect:", err)
		} else {
			rep.ODirect = res
			fmt.Fprintf(os.Stderr, "O_DIRECT 4 KiB random reads, %d in flight: %.0f IOPS, p99 %.3f ms\n", coldConc, res.IOPS, res.LatencyMs.P99)
		}
	}
	if ceiling != nil {
		if err := ceiling.start(ctx); err != nil {
			return err
		}
		_ = ceiling.pause()
	}

	coldOps := int64(min(4000, max(200, env.Layout.Count(bench.KindIndexSlice)*bench.IndexSliceSize/(64*bench.KiB)/4)))
	if coldOpsFlag != "auto" {
		if _, err := fmt.Sscan(coldOpsFlag, &coldOps); err != nil || coldOps <= 0 {
			return fmt.Errorf("--cold-ops: want a positive number or auto")
		}
	}

	runOne := func(t *server, st bench.Step, round int) (*bench.RunResult, error) {
		if err := t.resume(ctx); err != nil {
			return nil, err
		}
		if st.Cold && t.dir != "" {
			// restart with nothing cached: neither the server's own cache
			// nor the page cache holds the data
			if err := t.stop(); err != nil {
				rep.Errors = append(rep.Errors, err.Error())
			}
			if err := bench.EvictDir(t.dir); err != nil {
				rep.Errors = append(rep.Errors, "evict: "+err.Error())
			}
			if err := t.start(ctx); err != nil {
				return nil, err
			}
		}
		cfg := base
		cfg.Endpoint, cfg.Concurrency, cfg.ServerPID = t.addr, st.Concurrency, t.pid()
		cfg.Seed = c.seed + uint64(round) - 1
		cfg.RunID = fmt.Sprintf("%s-%s-%d-r%d-%d", t.name, st.Profile, st.Concurrency, round, time.Now().UnixNano())
		if st.Cold {
			cfg.Warmup, cfg.MaxOps = 0, coldOps
		}
		res, err := bench.Run(ctx, cfg, env, bench.Profiles[st.Profile])
		if res != nil {
			res.Target, res.Round = t.name, round
			if st.Cold {
				res.Profile += "-cold"
			}
			line := fmt.Sprintf("%-8s #%d %-18s @%-3d %10.0f ops/s %8.1f MiB/s  p99 %8.3f ms  errors %d",
				t.name, round, res.Profile, res.Concurrency, res.Total.OpsPerSec, res.Total.MiBPerSec, res.Total.LatencyMs.P99, res.Total.Errors)
			if res.Server != nil {
				line += fmt.Sprintf("  server CPU %.1f µs/op", res.Server.CPUPerOpUs)
			}
			fmt.Fprintln(os.Stderr, line)
		}
		if st.Cold && t.dir != "" && err == nil {
			// back to warm for the next steps: page cache and server cache
			_ = bench.WarmDir(t.dir)
			wcfg := cfg
			wcfg.Concurrency = 16
			if werr := bench.ReadAll(ctx, wcfg, env); werr != nil {
				err = fmt.Errorf("reading the data set back: %w", werr)
			}
		}
		if len(targets) > 1 || t == ceiling {
			if perr := t.pause(); perr != nil && err == nil {
				err = perr
			}
		}
		return res, err
	}

	fmt.Fprintf(os.Stderr, "== %d steps, %d round(s), %s + %s warm-up each\n", len(steps), rounds, c.duration, c.warmup)
	for _, st := range steps {
		for round := 1; round <= rounds; round++ {
			for _, t := range targets {
				res, err := runOne(t, st, round)
				if res != nil {
					rep.Runs = append(rep.Runs, res)
				}
				if err != nil {
					return finish(rep, outDir, fmt.Errorf("%s %s: %w", t.name, st, err))
				}
			}
		}
		if st.Ceiling && ceiling != nil {
			res, err := runOne(ceiling, bench.Step{Profile: st.Profile, Concurrency: st.Concurrency}, 1)
			if res != nil {
				rep.Runs = append(rep.Runs, res)
			}
			if err != nil {
				return finish(rep, outDir, fmt.Errorf("ceiling %s: %w", st, err))
			}
		}
	}
	if compare {
		rep.Ratios = bench.Ratios(rep.Runs, "lsmd", "minio")
	}
	rep.Ceiling, rep.Cold = fractions(rep)
	return finish(rep, outDir, nil)
}

// fractions relates each micro run to the ceiling run of the same step and
// each cold run to the O_DIRECT IOPS.
func fractions(rep *Report) ([]CeilingFraction, []ColdFraction) {
	type key struct {
		profile string
		conc    int
	}
	ceil := map[key]*bench.RunResult{}
	for _, r := range rep.Runs {
		if r.Target == "ceiling" {
			ceil[key{r.Profile, r.Concurrency}] = r
		}
	}
	var cf []CeilingFraction
	var cold []ColdFraction
	for _, r := range rep.Runs {
		if r.Target == "ceiling" {
			continue
		}
		if strings.HasSuffix(r.Profile, "-cold") && rep.ODirect != nil && rep.ODirect.IOPS > 0 {
			cold = append(cold, ColdFraction{Target: r.Target, Round: r.Round, Profile: r.Profile, Concurrency: r.Concurrency,
				OpsPerSec: r.Total.OpsPerSec, IOPS: rep.ODirect.IOPS, Fraction: r.Total.OpsPerSec / rep.ODirect.IOPS})
		}
		c := ceil[key{r.Profile, r.Concurrency}]
		if c == nil || c.Total.OpsPerSec == 0 {
			continue
		}
		f := CeilingFraction{Target: r.Target, Round: r.Round, Profile: r.Profile, Concurrency: r.Concurrency,
			OpsFraction: r.Total.OpsPerSec / c.Total.OpsPerSec, CeilingOps: c.Total.OpsPerSec}
		if r.Server != nil && c.Server != nil && c.Server.CPUPerOpUs > 0 {
			f.CPURatio = r.Server.CPUPerOpUs / c.Server.CPUPerOpUs
			f.CeilingCPU = c.Server.CPUPerOpUs
		}
		cf = append(cf, f)
	}
	return cf, cold
}

// finish prints the tables and writes the report, also after a failure.
func finish(rep *Report, outDir string, runErr error) error {
	rep.Finished = time.Now().UTC()
	if runErr != nil {
		rep.Errors = append(rep.Errors, runErr.Error())
	}
	printReport(os.Stdout, rep)
	if len(rep.Runs) > 0 && outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return errors.Join(runErr, err)
		}
		name := rep.Started.Format("2006-01-02T150405Z")
		if rep.Kind == "compare" {
			name += "-compare"
		}
		p := filepath.Join(outDir, name+".json")
		if err := writeJSON(p, rep); err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintln(os.Stderr, "wrote", p)
	}
	return runErr
}

func printReport(w io.Writer, rep *Report) {
	m := rep.Machine
	fmt.Fprintf(w, "\n## lsmbench %s, %s\n\nmachine: %d CPUs (%s), %s RAM, disk %s, kernel %s, %s, load %s at start\n\n",
		rep.Kind, rep.Started.Format(time.RFC3339), m.CPUs, m.CPUModel, bench.HumanBytes(m.MemBytes), m.Disk, m.Kernel, m.GoVersion, m.Load)
	fmt.Fprintf(w, "data set: %s in %d objects (seed %v)\n\n", bench.HumanBytes(rep.Logical), countObjects(rep.Dataset), rep.Settings["seed"])
	bench.WriteMarkdown(w, rep.Runs)

	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w, "\n### LSMStore ÷ MinIO (median of the rounds, min–max in parentheses)")
		fmt.Fprintln(w, "\n| profile | conc | class | lsmd ops/s | minio ops/s | ops/s ratio | lsmd p99 ms | minio p99 ms | p99 ratio | server CPU/op ratio |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|---|---:|---:|---|---|")
		for _, r := range rep.Ratios {
			cpu := ""
			if r.CPU != nil {
				cpu = r.CPU.String()
			}
			fmt.Fprintf(w, "| %s | %d | %s | %.0f | %.0f | %s | %.3f | %.3f | %s | %s |\n", r.Profile, r.Concurrency, r.Class,
				mean(r.OpsA), mean(r.OpsB), r.Ops, mean(r.P99A), mean(r.P99B), r.P99, cpu)
		}
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintf(w, "\n### Bytes on disk after preparing the same data set (%s logical)\n\n| target | files | allocated | apparent | allocated ÷ logical |\n|---|---:|---:|---:|---:|\n", bench.HumanBytes(rep.Logical))
		for _, t := range rep.Targets {
			if t.Disk != nil {
				fmt.Fprintf(w, "| %s | %d | %s | %s | %.3f |\n", t.Name, t.Disk.Files, bench.HumanBytes(t.Disk.Allocated),
					bench.HumanBytes(t.Disk.Apparent), float64(t.Disk.Allocated)/float64(rep.Logical))
			}
		}
	}
	if len(rep.Ceiling) > 0 {
		fmt.Fprintln(w, "\n### Micro profiles as a fraction of the fasthttp ceiling (same generator, in-memory server)")
		fmt.Fprintln(w, "\n| target | round | profile | conc | ops/s ÷ ceiling | server CPU/op ÷ ceiling | ceiling ops/s | ceiling CPU µs/op |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|")
		for _, f := range rep.Ceiling {
			fmt.Fprintf(w, "| %s | %d | %s | %d | %.2f | %.2f | %.0f | %.1f |\n", f.Target, f.Round, f.Profile, f.Concurrency,
				f.OpsFraction, f.CPURatio, f.CeilingOps, f.CeilingCPU)
		}
	}
	if rep.ODirect != nil {
		o := rep.ODirect
		fmt.Fprintf(w, "\nO_DIRECT 4 KiB random reads on the data disk: %.0f IOPS at %d in flight (p50 %.3f ms, p99 %.3f ms)\n",
			o.IOPS, o.Concurrency, o.LatencyMs.P50, o.LatencyMs.P99)
		for _, c := range rep.Cold {
			fmt.Fprintf(w, "- %s #%d %s @%d: %.0f ops/s = %.2f of the raw IOPS\n", c.Target, c.Round, c.Profile, c.Concurrency, c.OpsPerSec, c.Fraction)
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintln(w, "\nerror:", e)
	}
}

func countObjects(d map[string][2]int64) int64 {
	var n int64
	for _, v := range d {
		n += v[0]
	}
	return n
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
