package test

// TestMinioFunctional runs minio-go's own functional test program (the one
// MinIO's "mint" suite runs, functional_tests.go in the minio-go module root)
// against lsmd and compares each test's outcome with an expected-results
// file in testdata/miniofunc-<version>.json.
//
// How it works, per pinned minio-go version:
//
//  1. `go mod download -json github.com/minio/minio-go/v7@VERSION` finds the
//     module in the module cache (downloading it through the proxy once).
//  2. functional_tests.go is copied into a scratch module whose go.mod
//     requires that version; its build constraint (`mint`) is dropped, since
//     building with -tags mint would also pull the file into the minio-go
//     package itself, and each `testX()` call in main becomes
//     `mintRun("testX", testX)`. mintRun (miniofuncRunner below) prints a
//     marker line before each test, so every result line is attributed to
//     the top-level test that produced it, and recovers panics so one
//     crashing test does not hide the rest. Test bodies are not touched.
//  3. `go build -mod=mod` resolves the remaining imports through the module
//     proxy; the binary is cached in os.UserCacheDir()/lsmstore-miniofunc,
//     keyed by version, Go version and runner source, so later runs skip 1-3.
//  4. The binary runs against a fresh lsmd (startServer) with SERVER_ENDPOINT,
//     ACCESS_KEY, SECRET_KEY, ENABLE_HTTPS=0, ENABLE_KMS=0, MINT_MODE and
//     RUN_ON_FAIL=1, without MINT_DATA_DIR (the program then generates its
//     data in memory), under a time bound.
//  5. Its JSON lines ({"name","function","status":"PASS|FAIL|NA",...}) are
//     folded per top-level test: FAIL if any line failed, otherwise the
//     status of the last line (PASS for a test that ends without a line).
//     A test expected PASS that does not pass, or is missing, fails
//     TestMinioFunctional; a test that newly passes is logged so the
//     expected file can be tightened.
//
// Environment:
//
//	LSMSTORE_MINIOFUNC=skip      skip the test (also skipped with -short)
//	LSMSTORE_MINIOFUNC_RUN=RE    run only the top-level tests matching RE
//	LSMSTORE_MINIOFUNC_VERBOSE=1 log every result line, not only failures

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// miniofuncVersions are the minio-go releases whose functional tests run:
// the one Milvus 2.6 pins and the newest release at the time of pinning.
// Both run in full mode: quick mode runs only testFunctional and
// testFunctionalV2, which stop at bucket policy and SigV2 here, so it
// would test nothing. Full mode's largest objects are 129 MiB, generated
// in memory; v7.4.1 writes about 3 GiB in all (twelve 129 MiB multipart
// uploads and their copies), which makes it the slower of the two.
var miniofuncVersions = []struct {
	version string
	mode    string        // MINT_MODE
	timeout time.Duration // bound of the functional run (build excluded)
}{
	{"v7.0.73", "full", 6 * time.Minute},
	{"v7.4.1", "full", 7 * time.Minute},
}

const miniofuncModule = "github.com/minio/minio-go/v7"

// miniofuncRunner is added to the scratch module next to functional_tests.go.
const miniofuncRunner = `package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"time"
)

var mintRunFilter = func() *regexp.Regexp {
	if re := os.Getenv("MINIOFUNC_RUN"); re != "" {
		return regexp.MustCompile(re)
	}
	return nil
}()

func mintMarker(name, event string, extra map[string]any) {
	m := map[string]any{"miniofunc": name, "event": event}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	os.Stdout.Write(append(b, '\n'))
}

// mintRun runs one top-level test between markers and turns a panic into
// a FAIL line.
func mintRun(name string, f func()) {
	if mintRunFilter != nil && !mintRunFilter.MatchString(name) {
		return
	}
	start := time.Now()
	mintMarker(name, "start", nil)
	defer func() {
		if r := recover(); r != nil {
			mintMarker(name, "panic", map[string]any{"status": "FAIL", "error": fmt.Sprint(r), "stack": string(debug.Stack())})
		}
		mintMarker(name, "end", map[string]any{"ms": time.Since(start).Milliseconds()})
	}()
	f()
}
`

// miniofuncExpect is one entry of an expected-results file.
type miniofuncExpect struct {
	Expect string `json:"expect"`           // PASS, FAIL or NA
	Reason string `json:"reason,omitempty"` // required unless PASS
	// Failures, for a test expected to FAIL for one reason among checks
	// that otherwise pass: every FAIL line (as JSON, or as logged) must
	// contain one of these strings, so that a new failure elsewhere in the
	// test is a regression.
	Failures []string `json:"failures,omitempty"`
}

type miniofuncExpectFile struct {
	Module  string                     `json:"module"`
	Version string                     `json:"version"`
	Mode    string                     `json:"mode"`
	Tests   map[string]miniofuncExpect `json:"tests"`
}

// miniofuncLine is one result line of the functional test program.
type miniofuncLine struct {
	Status   string `json:"status"`
	Name     string `json:"name"`
	Function string `json:"function"`
	Alert    string `json:"alert"`
	Message  string `json:"message"`
	Error    any    `json:"error"`
	Args     any    `json:"args"`
	raw      string
}

func (l miniofuncLine) String() string {
	s := l.Status + " " + strings.TrimPrefix(l.Name, "minio-go: ")
	if l.Function != "" {
		s += " " + l.Function
	}
	for _, v := range []string{l.Alert, l.Message} {
		if v != "" {
			s += " | " + v
		}
	}
	if l.Error != nil && fmt.Sprint(l.Error) != "" {
		s += " | " + fmt.Sprint(l.Error)
	}
	return s
}

// miniofuncResult is what one top-level test did.
type miniofuncResult struct {
	name     string
	lines    []miniofuncLine
	duration time.Duration
	ended    bool
}

// outcome folds a test's lines: FAIL if any failed or the test never
// ended, else the status of its last line. A few tests log only failures
// (testGetObjectWithRange): ending without a line is a PASS.
func (r *miniofuncResult) outcome() string {
	if r == nil {
		return "NONE"
	}
	for _, l := range r.lines {
		if l.Status == "FAIL" {
			return "FAIL"
		}
	}
	switch {
	case !r.ended:
		return "FAIL"
	case len(r.lines) == 0:
		return "PASS"
	}
	return r.lines[len(r.lines)-1].Status
}

func TestMinioFunctional(t *testing.T) {
	if testing.Short() || os.Getenv("LSMSTORE_MINIOFUNC") == "skip" {
		t.Skip("minio-go functional tests skipped (-short or LSMSTORE_MINIOFUNC=skip)")
	}
	var filter *regexp.Regexp
	if re := os.Getenv("LSMSTORE_MINIOFUNC_RUN"); re != "" {
		filter = regexp.MustCompile(re)
	}
	for _, v := range miniofuncVersions {
		t.Run(v.version, func(t *testing.T) {
			t.Parallel() // the runs wait on disk more than on CPU
			exp := loadMiniofuncExpect(t, v.version, v.mode)
			bin := buildMiniofunc(t, v.version)
			s := startServer(t)
			results, order := runMiniofunc(t, bin, s, v.mode, v.timeout, filter)
			compareMiniofunc(t, exp, results, order, filter)
		})
	}
}

func loadMiniofuncExpect(t *testing.T, version, mode string) miniofuncExpectFile {
	t.Helper()
	path := filepath.Join("testdata", "miniofunc-"+version+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f miniofuncExpectFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if f.Module != miniofuncModule || f.Version != version || f.Mode != mode {
		t.Fatalf("%s: is for %s@%s mode %s, want %s@%s mode %s", path, f.Module, f.Version, f.Mode, miniofuncModule, version, mode)
	}
	for name, e := range f.Tests {
		switch e.Expect {
		case "PASS":
		case "FAIL", "NA":
			if e.Reason == "" {
				t.Fatalf("%s: %s expects %s without a reason", path, name, e.Expect)
			}
			if len(e.Failures) > 0 && e.Expect != "FAIL" {
				t.Fatalf("%s: %s lists failures but expects %s", path, name, e.Expect)
			}
		default:
			t.Fatalf("%s: %s: bad expectation %q", path, name, e.Expect)
		}
	}
	return f
}

// goEnv is the environment for go commands building the scratch module.
func goEnv() []string {
	env := append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	flags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -mod=mod")
	return append(env, "GOFLAGS="+flags)
}

func goCmd(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s\n(the first run fetches minio-go through the module proxy; LSMSTORE_MINIOFUNC=skip skips this test)",
			strings.Join(args, " "), err, stderr.String())
	}
	return out
}

var (
	buildConstraint = regexp.MustCompile(`(?m)^//(go:build| \+build) .*\n`)
	mainCall        = regexp.MustCompile(`(?m)^(\s+)(test[A-Za-z0-9_]+)\(\)$`)
)

// instrumentMiniofunc prepares functional_tests.go for the scratch module.
func instrumentMiniofunc(src []byte) ([]byte, error) {
	i := bytes.Index(src, []byte("\npackage main\n"))
	if i < 0 {
		return nil, fmt.Errorf("no package main clause")
	}
	head := buildConstraint.ReplaceAll(src[:i], nil)
	body := src[i:]
	m := bytes.Index(body, []byte("\nfunc main() {\n"))
	if m < 0 {
		return nil, fmt.Errorf("no func main")
	}
	mainSrc := mainCall.ReplaceAll(body[m:], []byte(`${1}mintRun("${2}", ${2})`))
	if bytes.Equal(mainSrc, body[m:]) {
		return nil, fmt.Errorf("no test calls in main")
	}
	out := append(append(append([]byte(nil), head...), body[:m]...), mainSrc...)
	return out, nil
}

// buildMiniofunc returns the path of the functional test binary for
// version, building and caching it on first use.
func buildMiniofunc(t *testing.T, version string) string {
	t.Helper()
	key := sha256.New()
	fmt.Fprintln(key, version, runtime.Version(), runtime.GOOS, runtime.GOARCH, miniofuncRunner, buildConstraint, mainCall)
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		cacheRoot = os.TempDir()
	}
	dir := filepath.Join(cacheRoot, "lsmstore-miniofunc")
	bin := filepath.Join(dir, version+"-"+hex.EncodeToString(key.Sum(nil))[:12])
	if _, err := os.Stat(bin); err == nil {
		t.Logf("using cached %s", bin)
		return bin
	}
	start := time.Now()
	scratch := t.TempDir()
	var mod struct{ Dir, Error string }
	out := goCmd(t, scratch, "mod", "download", "-json", miniofuncModule+"@"+version)
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s@%s: %v %s", miniofuncModule, version, err, mod.Error)
	}
	src, err := os.ReadFile(filepath.Join(mod.Dir, "functional_tests.go"))
	if err != nil {
		t.Fatal(err)
	}
	src, err = instrumentMiniofunc(src)
	if err != nil {
		t.Fatalf("%s@%s functional_tests.go: %v", miniofuncModule, version, err)
	}
	gomod := fmt.Sprintf("module lsmstore.test/miniofunc\n\ngo 1.26\n\nrequire %s %s\n", miniofuncModule, version)
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "functional_tests.go": src, "mintrun.go": []byte(miniofuncRunner)} {
		if err := os.WriteFile(filepath.Join(scratch, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, ".build-*")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	goCmd(t, scratch, "build", "-o", tmp.Name(), ".")
	if err := os.Rename(tmp.Name(), bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Second))
	return bin
}

// runMiniofunc runs the functional tests against s and returns the results
// by top-level test, and the test names in the order they ran.
func runMiniofunc(t *testing.T, bin string, s *server, mode string, timeout time.Duration, filter *regexp.Regexp) (map[string]*miniofuncResult, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	work := t.TempDir()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"SERVER_ENDPOINT="+s.Addr, "ACCESS_KEY="+accessKey, "SECRET_KEY="+secretKey,
		"ENABLE_HTTPS=0", "ENABLE_KMS=0", "MINT_MODE="+mode, "RUN_ON_FAIL=1",
		"MINT_DATA_DIR=", "TMPDIR="+work)
	if filter != nil {
		cmd.Env = append(cmd.Env, "MINIOFUNC_RUN="+filter.String())
	}
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	results := map[string]*miniofuncResult{}
	var order []string
	var cur *miniofuncResult
	verbose := os.Getenv("LSMSTORE_MINIOFUNC_VERBOSE") != ""
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var marker struct {
			Test   string `json:"miniofunc"`
			Event  string `json:"event"`
			Ms     int64  `json:"ms"`
			Error  string `json:"error"`
			Stack  string `json:"stack"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(line, &marker); err != nil {
			t.Logf("output: %s", line)
			continue
		}
		if marker.Test != "" {
			switch marker.Event {
			case "start":
				cur = &miniofuncResult{name: marker.Test}
				if results[marker.Test] != nil {
					t.Errorf("%s ran twice", marker.Test)
				}
				results[marker.Test] = cur
				order = append(order, marker.Test)
			case "panic":
				if cur != nil {
					cur.lines = append(cur.lines, miniofuncLine{Status: "FAIL", Name: cur.name, Message: "panic", Error: marker.Error})
				}
				t.Logf("%s panicked: %s\n%s", marker.Test, marker.Error, marker.Stack)
			case "end":
				if cur != nil {
					cur.ended, cur.duration = true, time.Duration(marker.Ms)*time.Millisecond
				}
				cur = nil
			}
			continue
		}
		var l miniofuncLine
		if json.Unmarshal(line, &l) != nil || l.Status == "" {
			continue // other log lines
		}
		l.raw = string(line)
		if verbose {
			t.Logf("%s", l)
		}
		r := cur
		if r == nil { // a line outside any test, e.g. from a leftover goroutine
			name := strings.TrimPrefix(l.Name, "minio-go: ")
			t.Logf("line outside a test: %s", l)
			if r = results[name]; r == nil {
				continue
			}
		}
		r.lines = append(r.lines, l)
	}
	werr := cmd.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		t.Errorf("functional tests did not finish within %v; killed", timeout)
	} else if werr != nil {
		t.Errorf("functional tests exited with %v", werr)
	}
	if werr != nil || stderr.Len() > 0 {
		t.Logf("stderr:\n%s", tail(stderr.String(), 64<<10))
	}
	var slow []string
	for _, name := range order {
		if d := results[name].duration; d >= 5*time.Second {
			slow = append(slow, fmt.Sprintf("%s %v", name, d.Round(100*time.Millisecond)))
		}
	}
	if len(slow) == 0 {
		slow = []string{"none"}
	}
	t.Logf("functional run took %v (tests over 5 s: %s)", elapsed.Round(100*time.Millisecond), strings.Join(slow, ", "))
	return results, order
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func compareMiniofunc(t *testing.T, exp miniofuncExpectFile, results map[string]*miniofuncResult, order []string, filter *regexp.Regexp) {
	t.Helper()
	counts := map[string]int{}
	for _, name := range order {
		r := results[name]
		got := r.outcome()
		counts[got]++
		e, listed := exp.Tests[name]
		switch {
		case !listed:
			t.Errorf("%s: %s, but it is not listed in testdata/miniofunc-%s.json", name, got, exp.Version)
			logMiniofuncLines(t, r)
		case e.Expect == "PASS" && got != "PASS":
			t.Errorf("REGRESSION %s: expected PASS, got %s", name, got)
			logMiniofuncLines(t, r)
		case e.Expect != "PASS" && got == "PASS":
			t.Logf("NEWLY PASSES %s (expected %s: %s): tighten testdata/miniofunc-%s.json", name, e.Expect, e.Reason, exp.Version)
		case e.Expect != "PASS" && got != e.Expect:
			t.Logf("%s: expected %s (%s), got %s", name, e.Expect, e.Reason, got)
			logMiniofuncLines(t, r)
		}
		if len(e.Failures) > 0 {
			for _, l := range r.lines {
				text := l.raw + "\n" + l.String()
				if l.Status == "FAIL" && !slices.ContainsFunc(e.Failures, func(f string) bool { return strings.Contains(text, f) }) {
					t.Errorf("REGRESSION %s: a failure other than the expected ones (%s): %s", name, strings.Join(e.Failures, "; "), l)
				}
			}
		}
	}
	var missing []string
	for name, e := range exp.Tests {
		if results[name] != nil || filter != nil && !filter.MatchString(name) {
			continue
		}
		if e.Expect == "PASS" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		t.Errorf("REGRESSION %s: expected PASS, but it did not run", name)
	}
	t.Logf("minio-go %s (%s mode): %d tests: PASS %d, FAIL %d, NA %d, no result %d",
		exp.Version, exp.Mode, len(order), counts["PASS"], counts["FAIL"], counts["NA"], counts["NONE"])
}

func logMiniofuncLines(t *testing.T, r *miniofuncResult) {
	t.Helper()
	const max = 8
	for i, l := range r.lines {
		if i == max {
			t.Logf("    ... %d more lines", len(r.lines)-max)
			break
		}
		t.Logf("    %s", l)
	}
}
