// Command lsmbench is LSMStore's load generator: Milvus-shaped workloads over
// a fasthttp client against any S3 endpoint, and the driver of make bench
// and make bench-compare, which start and stop the servers themselves.
//
//	lsmbench run      --endpoint HOST:PORT --profile NAME [flags]
//	lsmbench prepare  --endpoint HOST:PORT [flags]
//	lsmbench suite    --lsmd bin/lsmd [flags]
//	lsmbench compare  --lsmd bin/lsmd --minio PATH [flags]
//	lsmbench soak     --lsmd bin/lsmd --duration 30m [flags]
//	lsmbench odirect  --dir DIR [flags]
//	lsmbench profiles
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"

	"github.com/lsmstore/lsmstore/bench"
)

const usage = `usage: lsmbench COMMAND [flags]

commands:
  run             run one profile against an endpoint (profile "ceiling": against an in-process ceiling server)
  prepare         lay out the Milvus-shaped data set on an endpoint (idempotent)
  suite           start a fresh lsmd, prepare, run the standard suite, write bench/results/DATE.json
  compare         the same suite against lsmd and MinIO, alternating, with ratios and bytes on disk
  soak            start a fresh lsmd, run the Milvus profiles with deletes and compaction for --duration,
                  sample RSS, goroutines, open files and p99 every 10 s, fail if any keeps growing
  odirect         raw random 4 KiB read IOPS of a directory's disk with O_DIRECT
  profiles        list the workload profiles
  ceiling-server  serve the ceiling server (used by suite and compare)

Run "lsmbench COMMAND --help" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "run":
		err = cmdRun(ctx, args)
	case "prepare":
		err = cmdPrepare(ctx, args)
	case "suite":
		err = cmdSuite(ctx, args, false)
	case "compare":
		err = cmdSuite(ctx, args, true)
	case "soak":
		err = cmdSoak(ctx, args)
	case "odirect":
		err = cmdODirect(ctx, args)
	case "profiles":
		for _, n := range bench.ProfileNames() {
			fmt.Printf("%-14s %s\n", n, bench.Profiles[n].Doc)
		}
		fmt.Printf("%-14s %s\n", "ceiling", "any micro profile (--ceiling-of) against an in-process fasthttp server answering from memory")
	case "ceiling-server":
		err = cmdCeilingServer(ctx, args)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if errors.Is(err, pflag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lsmbench:", err)
		if ctx.Err() != nil {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// common holds the flags every load-generating command shares.
type common struct {
	endpoint  string
	accessKey string
	secretKey string
	region    string
	bucket    string
	conc      int
	duration  time.Duration
	warmup    time.Duration
	timeout   time.Duration
	ops       int64
	seed      uint64
	dataSize  string
	hot       float64
	pid       int
	verify    bool
	cleanup   bool
	jsonOut   string
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c *common) flags(fs *pflag.FlagSet, endpoint bool) {
	if endpoint {
		fs.StringVar(&c.endpoint, "endpoint", "127.0.0.1:9000", "S3 endpoint HOST:PORT (plain HTTP)")
		fs.StringVar(&c.accessKey, "access-key", envOr("MINIO_ROOT_USER", "minioadmin"), "access key (env MINIO_ROOT_USER)")
		fs.StringVar(&c.secretKey, "secret-key", envOr("MINIO_ROOT_PASSWORD", "minioadmin"), "secret key (env MINIO_ROOT_PASSWORD)")
		fs.IntVar(&c.pid, "server-pid", 0, "server process to sample CPU time and RSS of (/proc/PID/stat)")
		fs.IntVar(&c.conc, "concurrency", 8, "requests in flight")
	}
	fs.StringVar(&c.region, "region", "us-east-1", "SigV4 region")
	fs.StringVar(&c.bucket, "bucket", "milvus-bench", "bucket")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up per run")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "per request timeout")
	fs.Int64Var(&c.ops, "ops", 10_000_000, "measured requests per run (the run ends at whichever of --duration and --ops comes first)")
	fs.Uint64Var(&c.seed, "seed", 1, "data set and request stream seed")
	fs.StringVar(&c.dataSize, "data-size", "512MiB", "data set size")
	fs.Float64Var(&c.hot, "hot", 1, "hot-set fraction: reads touch only this fraction of each object kind (1: all, cold; small: cache-friendly)")
	fs.BoolVar(&c.verify, "verify", true, "check every byte read against the data written")
	fs.BoolVar(&c.cleanup, "cleanup", true, "delete what a run wrote when it ends (unmeasured)")
	fs.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file")
}

func (c *common) config() (bench.Config, int64, error) {
	size, err := humanize.ParseBytes(c.dataSize)
	if err != nil {
		return bench.Config{}, 0, fmt.Errorf("--data-size: %w", err)
	}
	if c.duration <= 0 || c.ops <= 0 {
		return bench.Config{}, 0, errors.New("--duration and --ops must both be > 0: every run is bounded")
	}
	sign, stream := signers(c.accessKey, c.secretKey, c.region)
	return bench.Config{
		Endpoint: c.endpoint, Bucket: c.bucket, Concurrency: c.conc, Duration: c.duration, Warmup: c.warmup,
		MaxOps: c.ops, Seed: c.seed, DataSize: int64(size), HotFraction: c.hot, ServerPID: c.pid,
		Verify: c.verify, Cleanup: c.cleanup, Timeout: c.timeout, Sign: sign, SignStreaming: stream,
	}, int64(size), nil
}

func newFlagSet(name, args string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: lsmbench %s %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

func cmdRun(ctx context.Context, args []string) error {
	var c common
	var profile, ceilingOf string
	var prepare bool
	var cpuProfile string
	fs := newFlagSet("run", "--profile NAME [flags]")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the generator (and an in-process ceiling server) to this file")
	fs.StringVar(&profile, "profile", "get-range-4k", "profile to run (see lsmbench profiles)")
	fs.StringVar(&ceilingOf, "ceiling-of", "get-range-4k", "with --profile ceiling: the micro profile to run against the in-process ceiling server")
	fs.BoolVar(&prepare, "prepare", false, "prepare the data set first")
	c.flags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, size, err := c.config()
	if err != nil {
		return err
	}
	env := bench.NewEnv(c.seed, size)
	target := c.endpoint
	if profile == "ceiling" {
		srv, err := bench.StartCeiling(env, "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		cfg.Endpoint, cfg.ServerPID, target, profile = srv.Addr(), 0, "ceiling (in-process)", ceilingOf
		prepare = false
	}
	p, ok := bench.Profiles[profile]
	if !ok {
		return fmt.Errorf("unknown profile %q (have %s, ceiling)", profile, strings.Join(bench.ProfileNames(), ", "))
	}
	if prepare {
		if _, err := runPrepare(ctx, cfg, env); err != nil {
			return err
		}
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, cfg, env, p)
	if res != nil {
		res.Target = target
		bench.WriteMarkdown(os.Stdout, []*bench.RunResult{res})
		if c.jsonOut != "" {
			if werr := writeJSON(c.jsonOut, res); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

func runPrepare(ctx context.Context, cfg bench.Config, env *bench.Env) (*bench.PrepareResult, error) {
	l := env.Layout
	fmt.Fprintf(os.Stderr, "prepare: %d objects, %s on %s/%s\n", len(l.Objects), bench.HumanBytes(l.Bytes()), cfg.Endpoint, cfg.Bucket)
	res, err := bench.Prepare(ctx, cfg, env, func(done, total int64) {
		fmt.Fprintf(os.Stderr, "prepare: %s of %s\n", bench.HumanBytes(done), bench.HumanBytes(total))
	})
	if res != nil {
		fmt.Fprintf(os.Stderr, "prepare: %d uploaded (%s), %d already there, %.1fs\n",
			res.Uploaded, bench.HumanBytes(res.UploadedBytes), res.Skipped, res.Seconds)
	}
	return res, err
}

func cmdPrepare(ctx context.Context, args []string) error {
	var c common
	fs := newFlagSet("prepare", "[flags]")
	c.flags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, size, err := c.config()
	if err != nil {
		return err
	}
	env := bench.NewEnv(c.seed, size)
	res, err := runPrepare(ctx, cfg, env)
	if err == nil && c.jsonOut != "" {
		err = writeJSON(c.jsonOut, res)
	}
	return err
}

func cmdODirect(ctx context.Context, args []string) error {
	var dir, size, out string
	var conc int
	var d time.Duration
	fs := newFlagSet("odirect", "--dir DIR [flags]")
	fs.StringVar(&dir, "dir", os.TempDir(), "directory on the disk to probe")
	fs.StringVar(&size, "file-size", "1GiB", "size of the temporary file read at random")
	fs.IntVar(&conc, "concurrency", 8, "reads in flight")
	fs.DurationVar(&d, "duration", 5*time.Second, "how long to read")
	fs.StringVar(&out, "json", "", "also write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := humanize.ParseBytes(size)
	if err != nil {
		return err
	}
	res, err := bench.ODirectProbe(ctx, dir, int64(n), conc, d, 1)
	if err != nil {
		return err
	}
	fmt.Printf("O_DIRECT 4 KiB random reads on %s (%s file, %d in flight): %.0f IOPS, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
		dir, bench.HumanBytes(res.FileBytes), conc, res.IOPS, res.LatencyMs.P50, res.LatencyMs.P99, res.LatencyMs.Max)
	if out != "" {
		return writeJSON(out, res)
	}
	return nil
}

func cmdCeilingServer(ctx context.Context, args []string) error {
	var addr, size string
	var seed uint64
	fs := newFlagSet("ceiling-server", "[flags]")
	fs.StringVar(&addr, "address", "127.0.0.1:0", "listen address (loopback)")
	fs.Uint64Var(&seed, "seed", 1, "data set seed")
	fs.StringVar(&size, "data-size", "512MiB", "data set size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := humanize.ParseBytes(size)
	if err != nil {
		return err
	}
	srv, err := bench.StartCeiling(bench.NewEnv(seed, int64(n)), addr)
	if err != nil {
		return err
	}
	fmt.Println("ceiling server on", srv.Addr())
	<-ctx.Done()
	return srv.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
