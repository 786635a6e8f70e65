// Package lint holds the project's structural rules as tests: which package
// may import which, checked with `go list` on every `make test`.
package lint

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/lsmstore/lsmstore"

type pkg struct {
	ImportPath string
	Imports    []string // direct imports, tests excluded
	Deps       []string // transitive imports, tests excluded
}

func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return pkgs
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// ours returns the project-relative name of an import, or "" for a
// package outside the module.
func ours(imp string) string {
	if imp == module {
		return "."
	}
	if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
		return rel
	}
	return ""
}

// rule forbids packages under dir to import anything a forbidden function
// accepts; direct rules look at the package's own imports, transitive ones
// at everything it links.
type rule struct {
	dir        string
	transitive bool
	why        string
	forbidden  func(imp string) bool
}

func isHTTP(imp string) bool {
	return within(imp, "net/http") || within(imp, "github.com/valyala/fasthttp")
}

func projectOutside(dirs ...string) func(string) bool {
	return func(imp string) bool {
		rel := ours(imp)
		if rel == "" {
			return false
		}
		for _, d := range dirs {
			if within(rel, d) {
				return false
			}
		}
		return true
	}
}

var rules = []rule{
	{"engine", false, "the engine knows nothing of HTTP", isHTTP},
	{"engine", true, "the engine depends only on cache among our packages", projectOutside("engine", "cache")},
	{"cache", true, "cache imports nothing of the project", projectOutside("cache")},
	{"sigv4", true, "sigv4 imports no project package", projectOutside("sigv4")},
	{"sigv4", false, "sigv4 describes requests without net/http", func(imp string) bool { return within(imp, "net/http") }},
	{"s3", true, "s3 never imports the commands", func(imp string) bool { return within(ours(imp), "cmd") }},
	{"bench", true, "the load generator imports nothing of ours but itself", projectOutside("bench")},
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range rules {
		seen := false
		for name, p := range pkgs {
			if !within(name, r.dir) {
				continue
			}
			seen = true
			imps := p.Imports
			if r.transitive {
				imps = p.Deps
			}
			for _, imp := range imps {
				if r.forbidden(imp) {
					t.Errorf("%s imports %s: %s", p.ImportPath, imp, r.why)
				}
			}
		}
		if !seen {
			t.Errorf("rule for %s matches no package", r.dir)
		}
	}
}

// TestRulesCatchViolations keeps the rules from passing vacuously.
func TestRulesCatchViolations(t *testing.T) {
	for _, c := range []struct {
		dir, imp string
	}{
		{"engine", "net/http"},
		{"engine", "github.com/valyala/fasthttp"},
		{"engine", module + "/s3"},
		{"cache", module + "/engine"},
		{"sigv4", module + "/cache"},
		{"sigv4", "net/http/httputil"},
		{"s3", module + "/cmd/lsmd"},
		{"bench", module + "/engine"},
	} {
		caught := false
		for _, r := range rules {
			if r.dir == c.dir && r.forbidden(c.imp) {
				caught = true
			}
		}
		if !caught {
			t.Errorf("no rule stops %s importing %s", c.dir, c.imp)
		}
	}
}
