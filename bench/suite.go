package bench

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Step is one entry of a suite: a profile at a concurrency.
type Step struct {
	Profile     string `json:"profile"`
	Concurrency int    `json:"concurrency"`
	// Cold restarts the server with its data dropped from the page cache
	// first, and bounds the run by the cold op count.
	Cold bool `json:"cold,omitempty"`
	// Ceiling also runs the step against the ceiling server.
	Ceiling bool `json:"ceiling,omitempty"`
}

func (s Step) String() string {
	v := s.Profile + "@" + strconv.Itoa(s.Concurrency)
	if s.Cold {
		v += ":cold"
	}
	if s.Ceiling {
		v += ":ceiling"
	}
	return v
}

// StandardSuite is what make bench and make bench-compare run: a cold 4 KiB
// ranged read first, the micro read profiles at 8, 32 and 64 requests in
// flight (each with its ceiling), the Milvus profiles, and PUTs.
const StandardSuite = "get-range-4k@8:cold," +
	"get-range-4k@8:ceiling,get-range-4k@32:ceiling,get-range-4k@64:ceiling," +
	"get-range-16k@8:ceiling,get-range-64k@8:ceiling,get-range-64k@64:ceiling,get-range-1m@8:ceiling," +
	"get-small@8:ceiling,get-small@64:ceiling," +
	"random-read@8,random-read@64,load@16," +
	"put-64k@8:ceiling,put-1m@8:ceiling,put-16m@8:ceiling," +
	"ingest@8,wal@8,list-gc@8"

// ParseSteps parses a comma-separated list of PROFILE@CONC[:cold][:ceiling].
func ParseSteps(spec string) ([]Step, error) {
	var steps []Step
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		name, conc, ok := strings.Cut(parts[0], "@")
		st := Step{Profile: name, Concurrency: 8}
		if ok {
			n, err := strconv.Atoi(conc)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("step %q: bad concurrency", item)
			}
			st.Concurrency = n
		}
		p, known := Profiles[name]
		if !known {
			return nil, fmt.Errorf("step %q: unknown profile (have %s)", item, strings.Join(ProfileNames(), ", "))
		}
		for _, f := range parts[1:] {
			switch f {
			case "cold":
				st.Cold = true
			case "ceiling":
				if !p.Micro {
					return nil, fmt.Errorf("step %q: only micro profiles have a ceiling", item)
				}
				st.Ceiling = true
			default:
				return nil, fmt.Errorf("step %q: unknown flag %q", item, f)
			}
		}
		steps = append(steps, st)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("no steps")
	}
	return steps, nil
}

// Ratio compares one class of one step between two targets over rounds.
type Ratio struct {
	Profile     string    `json:"profile"`
	Concurrency int       `json:"concurrency"`
	Class       string    `json:"class"`
	A           string    `json:"a"`
	B           string    `json:"b"`
	OpsA        []float64 `json:"ops_per_sec_a"`
	OpsB        []float64 `json:"ops_per_sec_b"`
	P99A        []float64 `json:"p99_ms_a"`
	P99B        []float64 `json:"p99_ms_b"`
	CPUA        []float64 `json:"cpu_per_op_us_a,omitempty"`
	CPUB        []float64 `json:"cpu_per_op_us_b,omitempty"`
	Ops         Spread    `json:"ops_ratio"`           // A ÷ B
	P99         Spread    `json:"p99_ratio"`           // A ÷ B
	CPU         *Spread   `json:"cpu_ratio,omitempty"` // A ÷ B, whole run
}

// Spread is a median with the smallest and largest of a set of ratios.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func spreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1]}
}

func (s Spread) String() string {
	if s.Min == s.Max {
		return fmt.Sprintf("%.2f", s.Median)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

// Ratios pairs the runs of targets a and b of the same step and round, and
// returns per class the ratio a ÷ b of throughput, p99 and server CPU per
// operation (for the run as a whole, on the "all" row or a single class).
func Ratios(runs []*RunResult, a, b string) []Ratio {
	type key struct {
		profile string
		conc    int
		round   int
	}
	byA, byB := map[key]*RunResult{}, map[key]*RunResult{}
	var order []key
	for _, r := range runs {
		k := key{r.Profile, r.Concurrency, r.Round}
		switch r.Target {
		case a:
			if _, seen := byA[k]; !seen {
				order = append(order, k)
			}
			byA[k] = r
		case b:
			byB[k] = r
		}
	}
	type ckey struct {
		profile string
		conc    int
		class   string
	}
	acc := map[ckey]*Ratio{}
	var out []*Ratio
	for _, k := range order {
		ra, rb := byA[k], byB[k]
		if rb == nil {
			continue
		}
		rows := ra.Rows()
		for _, ca := range rows {
			cb, ok := rb.Class(ca.Class)
			if !ok {
				continue
			}
			ck := ckey{k.profile, k.conc, ca.Class}
			x := acc[ck]
			if x == nil {
				x = &Ratio{Profile: k.profile, Concurrency: k.conc, Class: ca.Class, A: a, B: b}
				acc[ck] = x
				out = append(out, x)
			}
			x.OpsA = append(x.OpsA, ca.OpsPerSec)
			x.OpsB = append(x.OpsB, cb.OpsPerSec)
			x.P99A = append(x.P99A, ca.LatencyMs.P99)
			x.P99B = append(x.P99B, cb.LatencyMs.P99)
			if (ca.Class == "all" || len(rows) == 1) && ra.Server != nil && rb.Server != nil {
				x.CPUA = append(x.CPUA, ra.Server.CPUPerOpUs)
				x.CPUB = append(x.CPUB, rb.Server.CPUPerOpUs)
			}
		}
	}
	res := make([]Ratio, 0, len(out))
	for _, x := range out {
		x.Ops = spreadOf(divide(x.OpsA, x.OpsB))
		x.P99 = spreadOf(divide(x.P99A, x.P99B))
		if len(x.CPUA) > 0 {
			s := spreadOf(divide(x.CPUA, x.CPUB))
			x.CPU = &s
		}
		res = append(res, *x)
	}
	return res
}

func divide(a, b []float64) []float64 {
	var out []float64
	for i := range a {
		if i < len(b) && b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}
