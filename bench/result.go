package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func latencyOf(h *Hist) Latency {
	return Latency{P50: ms(h.Quantile(50)), P90: ms(h.Quantile(90)), P99: ms(h.Quantile(99)),
		P999: ms(h.Quantile(99.9)), Max: ms(h.Max()), Mean: ms(h.Mean())}
}

// ClassResult is one operation class of a run.
type ClassResult struct {
	Class     string           `json:"class"`
	Ops       int64            `json:"ops"`
	Errors    int64            `json:"errors"`
	Bytes     int64            `json:"bytes"`
	OpsPerSec float64          `json:"ops_per_sec"`
	MiBPerSec float64          `json:"mib_per_sec"`
	LatencyMs Latency          `json:"latency_ms"`
	ErrorKind map[string]int64 `json:"error_kinds,omitempty"`
}

// ServerUsage is the server process's CPU time and memory over the
// measured window, read from /proc/PID.
type ServerUsage struct {
	PID            int     `json:"pid"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPerOpUs     float64 `json:"cpu_per_op_us"`
	RSSBeforeBytes int64   `json:"rss_before_bytes"`
	RSSAfterBytes  int64   `json:"rss_after_bytes"`
	RSSPeakBytes   int64   `json:"rss_peak_bytes"`
}

// RunResult is what one run measured.
type RunResult struct {
	Target           string        `json:"target,omitempty"` // lsmd, minio, ceiling, ...
	Round            int           `json:"round,omitempty"`
	Profile          string        `json:"profile"`
	Concurrency      int           `json:"concurrency"`
	Started          time.Time     `json:"started"`
	Seconds          float64       `json:"seconds"`
	StoppedBy        string        `json:"stopped_by"`
	Total            ClassResult   `json:"total"`
	Classes          []ClassResult `json:"classes"`
	Server           *ServerUsage  `json:"server,omitempty"`
	ClientCPUSeconds float64       `json:"client_cpu_seconds"`
	ClientCPUPerOpUs float64       `json:"client_cpu_per_op_us"`
	Warnings         []string      `json:"warnings,omitempty"`
}

// finish merges the workers' statistics.
func (r *RunResult) finish(workers []*Worker) {
	byClass := map[string]*classStats{}
	total := &classStats{hist: NewHist(), errs: map[string]int64{}}
	for _, w := range workers {
		for name, c := range w.stats {
			m := byClass[name]
			if m == nil {
				m = &classStats{hist: NewHist(), errs: map[string]int64{}}
				byClass[name] = m
			}
			for _, t := range []*classStats{m, total} {
				t.ops += c.ops
				t.errors += c.errors
				t.bytes += c.bytes
				t.hist.Merge(c.hist)
				for k, v := range c.errs {
					if len(t.errs) < 8 || t.errs[k] > 0 {
						t.errs[k] += v
					}
				}
			}
		}
	}
	names := make([]string, 0, len(byClass))
	for n := range byClass {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r.Classes = append(r.Classes, r.classResult(n, byClass[n]))
	}
	r.Total = r.classResult("all", total)
	if r.Total.Ops > 0 {
		if r.Server != nil {
			r.Server.CPUPerOpUs = r.Server.CPUSeconds * 1e6 / float64(r.Total.Ops)
		}
		r.ClientCPUPerOpUs = r.ClientCPUSeconds * 1e6 / float64(r.Total.Ops)
	}
}

func (r *RunResult) classResult(name string, c *classStats) ClassResult {
	cr := ClassResult{Class: name, Ops: c.ops, Errors: c.errors, Bytes: c.bytes, LatencyMs: latencyOf(c.hist)}
	if len(c.errs) > 0 {
		cr.ErrorKind = c.errs
	}
	if r.Seconds > 0 {
		cr.OpsPerSec = float64(c.ops-c.errors) / r.Seconds
		cr.MiBPerSec = mib(c.bytes) / r.Seconds
	}
	return cr
}

// Class returns the named class ("all" for the total).
func (r *RunResult) Class(name string) (ClassResult, bool) {
	if name == "all" {
		return r.Total, true
	}
	for _, c := range r.Classes {
		if c.Class == name {
			return c, true
		}
	}
	return ClassResult{}, false
}

// Rows lists the classes to show: each class, plus "all" when there are
// several.
func (r *RunResult) Rows() []ClassResult {
	if len(r.Classes) <= 1 {
		return r.Classes
	}
	return append(append([]ClassResult(nil), r.Classes...), r.Total)
}

// WriteMarkdown prints results as one markdown table.
func WriteMarkdown(out io.Writer, runs []*RunResult) {
	fmt.Fprintln(out, "| target | profile | conc | class | ops/s | MiB/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/op | client CPU µs/op |")
	fmt.Fprintln(out, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		rows := r.Rows()
		for i, c := range rows {
			cpu, ccpu := "", ""
			if i == len(rows)-1 {
				if r.Server != nil {
					cpu = fmt.Sprintf("%.1f", r.Server.CPUPerOpUs)
				}
				ccpu = fmt.Sprintf("%.1f", r.ClientCPUPerOpUs)
			}
			target := r.Target
			if r.Round > 0 {
				target = fmt.Sprintf("%s #%d", target, r.Round)
			}
			fmt.Fprintf(out, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n",
				target, r.Profile, r.Concurrency, c.Class, num(c.OpsPerSec), num(c.MiBPerSec),
				lat(c.LatencyMs.P50), lat(c.LatencyMs.P90), lat(c.LatencyMs.P99), lat(c.LatencyMs.P999), lat(c.LatencyMs.Max),
				c.Errors, cpu, ccpu)
		}
	}
	for _, r := range runs {
		for _, c := range r.Classes {
			for k, v := range c.ErrorKind {
				fmt.Fprintf(out, "\n%s %s %s: %d × %s", r.Target, r.Profile, c.Class, v, k)
			}
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(out, "\n%s %s: %s", r.Target, r.Profile, w)
		}
	}
	fmt.Fprintln(out)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func lat(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// HumanBytes formats n in binary units.
func HumanBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return strings.TrimSuffix(fmt.Sprintf("%.2f", f), ".00") + " " + u
		}
		f /= 1024
	}
	return ""
}
