// Command lsmctl lets operators see and steer an LSMStore: stats, compaction,
// verification (scrub) and healing, through lsmd's admin API or, with
// --data and the server stopped, on the data directories directly.
//
// Exit status: 0 success, 1 error, 2 verify or heal found problems that
// remain.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/s3"
)

// errProblems marks a verify or heal that left problems: exit status 2.
var errProblems = errors.New("problems remain")

type globals struct {
	endpoint, accessKey, secretKey, region string
	data                                   []string
	jsonOut                                bool
	timeout                                time.Duration
	out, errOut                            io.Writer
}

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		if errors.Is(err, errProblems) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "lsmctl:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newRoot(out, errOut io.Writer) *cobra.Command {
	g := &globals{out: out, errOut: errOut}
	ak, sk, _ := s3.EnvCredentials()
	root := &cobra.Command{
		Use:   "lsmctl",
		Short: "Operate an LSMStore: stats, compaction, verify, heal",
		Long: "lsmctl talks to lsmd's admin API (--endpoint, signed with the root credentials: --access-key/--secret-key or\n" +
			"the variables lsmd reads, LSMD_ACCESS_KEY/LSMD_SECRET_KEY, MINIO_ROOT_USER/MINIO_ROOT_PASSWORD,\n" +
			"MINIO_ACCESS_KEY/MINIO_SECRET_KEY). With --data DIR... it opens stopped data directories directly (stats, verify).",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&g.endpoint, "endpoint", envOr("LSMCTL_ENDPOINT", "http://127.0.0.1:9000"), "lsmd address (env LSMCTL_ENDPOINT)")
	pf.StringVar(&g.accessKey, "access-key", ak, "root access key (default from the environment)")
	pf.StringVar(&g.secretKey, "secret-key", sk, "root secret key (default from the environment)")
	pf.StringVar(&g.region, "region", envOr("MINIO_REGION", "us-east-1"), "region the server signs in")
	pf.StringSliceVar(&g.data, "data", nil, "offline mode: the data directories (drives) of a stopped lsmd, in order")
	pf.BoolVar(&g.jsonOut, "json", false, "print JSON instead of tables")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "timeout of each request to the server")

	root.AddCommand(statsCmd(g), compactCmd(g), verifyCmd(g), healCmd(g), jobsCmd(g), cancelCmd(g), prometheusCmd(g))
	return root
}

func (g *globals) client() (*client, error) {
	return newClient(g.endpoint, g.accessKey, g.secretKey, g.region, g.timeout)
}

func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// openOffline opens the data directories of a stopped server. The engine
// locks every drive, so a running lsmd makes this fail.
func (g *globals) openOffline() (*engine.Store, error) {
	st, err := engine.Open(engine.Options{Dirs: g.data, CompactionInterval: -1, CacheSize: 16 << 20})
	if err != nil {
		return nil, fmt.Errorf("open %v (is lsmd still running on it?): %w", g.data, err)
	}
	return st, nil
}

// server returns a client of the running lsmd that command what needs;
// offline mode (--data) only serves stats and verify.
func (g *globals) server(what string) (*client, error) {
	if len(g.data) > 0 {
		return nil, fmt.Errorf("%s needs a running lsmd; offline mode (--data) supports stats and verify", what)
	}
	return g.client()
}

// rateQuery is the query of a verify or heal job.
func rateQuery(rate int64) url.Values {
	q := url.Values{}
	if rate != 0 {
		q.Set("rate", strconv.FormatInt(rate, 10))
	}
	return q
}

func statsCmd(g *globals) *cobra.Command {
	var watch time.Duration
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Objects, bytes on disk, segments, drives, cache, index and requests",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var get func() (s3.AdminStats, error)
			if len(g.data) > 0 {
				st, err := g.openOffline()
				if err != nil {
					return err
				}
				defer st.Close()
				get = func() (s3.AdminStats, error) { return s3.StoreStats(st), nil }
			} else {
				c, err := g.client()
				if err != nil {
					return err
				}
				get = func() (s3.AdminStats, error) {
					var a s3.AdminStats
					return a, c.call("GET", "stats", nil, &a)
				}
			}
			for {
				a, err := get()
				if err != nil {
					return err
				}
				if watch > 0 && !g.jsonOut {
					fmt.Fprint(g.out, clearScreen)
				}
				if g.jsonOut {
					err = g.printJSON(a)
				} else {
					err = renderStats(g.out, a)
				}
				if err != nil || watch <= 0 {
					return err
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(watch):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&watch, "watch", 0, "refresh every interval (e.g. 2s) until interrupted")
	return cmd
}

// runJob starts a job and, if wait, follows it with a progress bar until it
// ends.
func runJob(g *globals, path string, q url.Values, wait bool) (s3.JobStatus, error) {
	c, err := g.server(path)
	if err != nil {
		return s3.JobStatus{}, err
	}
	var st s3.JobStatus
	if err := c.call("POST", path, q, &st); err != nil {
		return st, err
	}
	if !wait {
		return st, nil
	}
	bar := newBar(g, st.Kind)
	for st.State == s3.JobRunning || st.State == s3.JobCanceling {
		updateBar(bar, st.BytesDone, st.BytesTotal)
		time.Sleep(200 * time.Millisecond)
		if err := c.call("GET", "jobs/"+st.ID, nil, &st); err != nil {
			return st, err
		}
	}
	updateBar(bar, st.BytesDone, st.BytesTotal)
	bar.Finish()
	fmt.Fprintln(g.errOut)
	if st.State != s3.JobDone {
		return st, fmt.Errorf("%s job %s %s: %s", st.Kind, st.ID, st.State, st.Error)
	}
	return st, nil
}

func newBar(g *globals, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(g.errOut),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
	)
}

func updateBar(bar *progressbar.ProgressBar, done, total int64) {
	if total > 0 && bar.GetMax64() != total {
		bar.ChangeMax64(total)
	}
	bar.Set64(done)
}

// decodeResult turns a job's result (JSON-decoded as a map) into out.
func decodeResult(st s3.JobStatus, out any) error {
	b, err := json.Marshal(st.Result)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func compactCmd(g *globals) *cobra.Command {
	var segment uint64
	var threshold float64
	var dryRun, wait bool
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Reclaim the space of deleted and overwritten objects (all eligible segments, or one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if segment != 0 {
				q.Set("segment", strconv.FormatUint(segment, 10))
			}
			if threshold != 0 {
				q.Set("threshold", strconv.FormatFloat(threshold, 'f', -1, 64))
			}
			if dryRun {
				q.Set("dry-run", "true")
				wait = true
			}
			st, err := runJob(g, "compact", q, wait)
			if err != nil {
				return err
			}
			if g.jsonOut {
				return g.printJSON(st)
			}
			if !wait {
				fmt.Fprintf(g.out, "compaction job %s started; follow it with: lsmctl jobs\n", st.ID)
				return nil
			}
			var res engine.CompactResult
			if err := decodeResult(st, &res); err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintf(g.out, "dry run: %d segments eligible %v, %s would be reclaimed\n", len(res.Chosen), res.Chosen, bytesStr(res.BytesReclaimed))
				return nil
			}
			fmt.Fprintf(g.out, "compacted %d of %d chosen segments: copied %s, reclaimed %s (%d runs moved, %d dropped by racing writes)\n",
				len(res.Deleted), len(res.Chosen), bytesStr(res.BytesCopied), bytesStr(res.BytesReclaimed), res.Relocated, res.Lost)
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&segment, "segment", 0, "compact only this sealed segment (its id from lsmctl stats)")
	f.Float64Var(&threshold, "threshold", 0, "garbage ratio above which a segment is compacted (default: the server's, 0.3)")
	f.BoolVar(&dryRun, "dry-run", false, "show what would be reclaimed, change nothing")
	f.BoolVar(&wait, "wait", false, "wait for the end, with a progress bar")
	return cmd
}

func printProblems(g *globals, title string, ps []engine.Problem) {
	fmt.Fprintf(g.out, "%s: %d\n", title, len(ps))
	for _, p := range ps {
		fmt.Fprintf(g.out, "  %s\n", p)
	}
}

func verifyCmd(g *globals) *cobra.Command {
	var rate int64
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Scrub: read and check every checksum of every shard and replica",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res engine.ScrubResult
			if len(g.data) > 0 {
				store, err := g.openOffline()
				if err != nil {
					return err
				}
				defer store.Close()
				if err := store.CheckMaintenanceRate(rate); err != nil {
					return err
				}
				bar := newBar(g, "verify")
				res, err = store.Scrub(cmd.Context(), engine.MaintenanceOptions{Rate: rate, Progress: func(p engine.MaintenanceProgress) {
					updateBar(bar, p.BytesDone, p.BytesTotal)
				}})
				bar.Finish()
				fmt.Fprintln(g.errOut)
				if err != nil {
					return err
				}
			} else {
				st, err := runJob(g, "verify", rateQuery(rate), true)
				if err != nil {
					return err
				}
				if err := decodeResult(st, &res); err != nil {
					return err
				}
			}
			if g.jsonOut {
				if err := g.printJSON(res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.out, "verified %d segments, %s\n", res.Segments, bytesStr(res.BytesVerified))
				printProblems(g, "problems", res.Problems)
			}
			if len(res.Problems) > 0 {
				return errProblems
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&rate, "rate", 0, "bytes read per second (default the server's 64 MiB/s; -1 unlimited; at least 1 MiB/s, and fast enough to finish within 30 days)")
	return cmd
}

func healCmd(g *globals) *cobra.Command {
	var rate int64
	cmd := &cobra.Command{
		Use:   "heal",
		Short: "Bring failed drives back (layout marker, index copy) and rebuild missing or corrupt shards, replicas and block indexes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := runJob(g, "heal", rateQuery(rate), true)
			if err != nil {
				return err
			}
			var res engine.HealResult
			if err := decodeResult(st, &res); err != nil {
				return err
			}
			if g.jsonOut {
				if err := g.printJSON(res); err != nil {
					return err
				}
			} else {
				printProblems(g, "found", res.Found)
				printProblems(g, "repaired", res.Repaired)
				fmt.Fprintf(g.out, "wrote %s\n", bytesStr(res.BytesWritten))
			}
			if len(res.Repaired) < len(res.Found) {
				return errProblems
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&rate, "rate", 0, "bytes read per second (default the server's 64 MiB/s; -1 unlimited; at least 1 MiB/s, and fast enough to finish within 30 days)")
	return cmd
}

func jobsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "jobs [ID]",
		Short: "List the server's maintenance jobs, or show one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.server("jobs")
			if err != nil {
				return err
			}
			if len(args) == 1 {
				var st s3.JobStatus
				if err := c.call("GET", "jobs/"+url.PathEscape(args[0]), nil, &st); err != nil {
					return err
				}
				return g.printJSON(st)
			}
			var list []s3.JobStatus
			if err := c.call("GET", "jobs", nil, &list); err != nil {
				return err
			}
			if g.jsonOut {
				return g.printJSON(list)
			}
			for _, st := range list {
				eta := ""
				if st.State == s3.JobRunning && st.ETASeconds > 0 {
					eta = ", ETA " + (time.Duration(st.ETASeconds) * time.Second).String()
				}
				fmt.Fprintf(g.out, "%s  %-7s %-8s %s / %s%s %s\n", st.ID, st.Kind, st.State, bytesStr(st.BytesDone), bytesStr(st.BytesTotal), eta, st.Error)
			}
			return nil
		},
	}
}

func cancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a running job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.server("cancel")
			if err != nil {
				return err
			}
			var st s3.JobStatus
			if err := c.call("DELETE", "jobs/"+url.PathEscape(args[0]), nil, &st); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "job %s: %s\n", st.ID, st.State)
			return nil
		},
	}
}
