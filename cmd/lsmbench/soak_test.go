package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSoakCommand runs lsmbench soak for a few seconds against a real lsmd
// it starts itself: every sample holds the server's RSS, goroutines (the
// signed metrics scrape), open files and a p99; compaction jobs ran through
// the admin API; the mix deleted; the reports were written; nothing failed.
// The growth verdict on so short a run is not asserted (bench/soak_test.go
// tests the detector).
func TestSoakCommand(t *testing.T) {
	dir := t.TempDir()
	lsmd := filepath.Join(dir, "lsmd")
	build := exec.Command("go", "build", "-o", lsmd, "../lsmd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build lsmd: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "results")
	err := cmdSoak(context.Background(), []string{"--lsmd", lsmd, "--duration", "5s", "--warmup", "1s", "--interval", "500ms",
		"--compact-every", "1500ms", "--data-size", "20MiB", "--cache-size", "8MiB", "--segment-size", "4MiB", "--workdir", dir,
		"--mix", "random-read@1/10,ingest@1/2,list-gc@1/5,wal-churn@1/10", "--out", out})
	if err != nil && !strings.HasPrefix(err.Error(), "soak failed: ") {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*-soak.json"))
	md, _ := filepath.Glob(filepath.Join(out, "*-soak.md"))
	if len(files) != 1 || len(md) != 1 {
		t.Fatalf("reports %v %v, want one JSON and one markdown", files, md)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep SoakReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	res := rep.Result
	if res == nil || len(res.Samples) < 6 || len(res.Trends) != 4 {
		t.Fatalf("result %+v", res)
	}
	for _, s := range res.Samples {
		if s.RSSBytes <= 0 || s.Goroutines <= 0 || s.OpenFiles <= 0 || s.Ops <= 0 || s.P99Ms <= 0 || s.Note != "" {
			t.Errorf("sample %+v", s)
		}
	}
	done := 0
	for _, c := range res.Compactions {
		if c.State == "done" {
			done++
		}
	}
	if done == 0 {
		t.Errorf("no compaction job done: %+v", res.Compactions)
	}
	if res.Run.Total.Errors != 0 {
		t.Errorf("%d errors: %+v", res.Run.Total.Errors, res.Run.Classes)
	}
	for _, class := range []string{"delete", "wal-delete", "wal-put", "put-stream-small", "list-delimiter", "head"} {
		if c, ok := res.Run.Class(class); !ok || c.Ops == 0 {
			t.Errorf("no %s requests", class)
		}
	}
	if (err == nil) != rep.Passed {
		t.Errorf("returned %v with passed %v", err, rep.Passed)
	}
	// the temporary data directory is gone, lsmd with it
	if left, _ := filepath.Glob(filepath.Join(dir, "lsmbench-soak-*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
