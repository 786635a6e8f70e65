package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/lsmstore/lsmstore/s3"
)

var (
	lsmctlOnce sync.Once
	lsmctlBin  string
	lsmctlErr  error
)

// buildLsmctl builds cmd/lsmctl once per test binary.
func buildLsmctl(t *testing.T) string {
	t.Helper()
	lsmctlOnce.Do(func() {
		lsmctlBin = filepath.Join(filepath.Dir(lsmdBin), "lsmctl")
		_, file, _, _ := runtime.Caller(0)
		build := exec.Command("go", "build", "-o", lsmctlBin, "./cmd/lsmctl")
		build.Dir = filepath.Dir(filepath.Dir(file))
		out, err := build.CombinedOutput()
		if err != nil {
			lsmctlErr = fmt.Errorf("build lsmctl: %v\n%s", err, out)
		}
	})
	if lsmctlErr != nil {
		t.Fatal(lsmctlErr)
	}
	return lsmctlBin
}

type ctlResult struct {
	stdout, stderr string
	code           int
}

// lsmctl runs the CLI with the test credentials in its environment.
func lsmctl(t *testing.T, args ...string) ctlResult {
	t.Helper()
	cmd := exec.Command(buildLsmctl(t), args...)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+accessKey, "MINIO_ROOT_PASSWORD="+secretKey)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := ctlResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("lsmctl %v: %v", args, err)
	}
	return res
}

func (r ctlResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func ctlStats(t *testing.T, args ...string) s3.AdminStats {
	t.Helper()
	r := lsmctl(t, append(args, "stats", "--json")...)
	if r.code != 0 {
		t.Fatalf("stats: %s", r)
	}
	var a s3.AdminStats
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, r.stdout)
	}
	return a
}

// corruptShard flips bytes in the middle of the first shard file found.
func corruptShard(t *testing.T, dirs []string) string {
	t.Helper()
	for _, d := range dirs {
		names, _ := filepath.Glob(filepath.Join(d, "segments", "*.shd"))
		for _, n := range names {
			st, err := os.Stat(n)
			if err != nil || st.Size() < 64<<10 {
				continue
			}
			f, err := os.OpenFile(n, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := bytes.Repeat([]byte{0xA5}, 512)
			if _, err := f.WriteAt(junk, st.Size()/2); err != nil {
				t.Fatal(err)
			}
			f.Close()
			return n
		}
	}
	t.Fatal("no shard file to corrupt")
	return ""
}

// TestLsmctl drives lsmctl against a real lsmd on three drives (2+1):
// stats agree with what was written, compaction reclaims deleted space,
// verify finds a corrupt shard-block and heal repairs it, bad credentials
// and an unreachable server fail clearly, and offline mode refuses data
// a server holds.
func TestLsmctl(t *testing.T) {
	base := t.TempDir()
	d1, d2 := filepath.Join(base, "d1"), filepath.Join(base, "d2")
	srv := startServer(t, "--segment-size", "1MiB", "--compaction-interval", "0", d1, d2)
	drives := []string{d1, d2, srv.Dir}
	ep := []string{"--endpoint", srv.Endpoint}
	c := minioClient(t, srv)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "ctl", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const n, size = 40, 200 << 10
	for i := 0; i < n; i++ {
		data := randBytes(uint64(i), size)
		if _, err := c.PutObject(ctx, "ctl", fmt.Sprintf("obj/%02d", i), bytes.NewReader(data), size, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a := ctlStats(t, ep...)
	if a.Objects != n || a.LogicalBytes != n*size {
		t.Fatalf("stats: %d objects, %d bytes; wrote %d, %d", a.Objects, a.LogicalBytes, n, n*size)
	}
	if a.Requests["PutObject"] < n || len(a.Drives) != 3 || a.Erasure.DataShards != 2 || a.Erasure.ParityShards != 1 || a.Index.Copies != 2 {
		t.Fatalf("stats: requests %v, drives %v, erasure %+v, index %+v", a.Requests, a.Drives, a.Erasure, a.Index)
	}
	for _, d := range a.Drives {
		if d.State != "ok" || d.TotalBytes == 0 {
			t.Fatalf("drive %+v", d)
		}
	}
	if r := lsmctl(t, append(ep, "stats")...); r.code != 0 || !regexp.MustCompile(fmt.Sprintf(`(?m)^objects +%d$`, n)).MatchString(r.stdout) {
		t.Fatalf("stats table: %s", r)
	}

	// Delete most objects, then compact: bytes on disk fall.
	for i := 0; i < n-8; i++ {
		if err := c.RemoveObject(ctx, "ctl", fmt.Sprintf("obj/%02d", i), minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	before := ctlStats(t, ep...)
	if r := lsmctl(t, append(ep, "compact", "--dry-run")...); r.code != 0 || !strings.Contains(r.stdout, "would be reclaimed") {
		t.Fatalf("compact --dry-run: %s", r)
	}
	if r := lsmctl(t, append(ep, "compact", "--wait")...); r.code != 0 || !strings.Contains(r.stdout, "reclaimed") {
		t.Fatalf("compact --wait: %s", r)
	}
	after := ctlStats(t, ep...)
	if after.DiskBytes >= before.DiskBytes || after.Objects != 8 {
		t.Fatalf("compaction: disk %d → %d bytes, %d objects", before.DiskBytes, after.DiskBytes, after.Objects)
	}
	t.Logf("compaction: disk %d → %d bytes (logical %d)", before.DiskBytes, after.DiskBytes, after.LogicalBytes)

	// A corrupt shard-block: verify finds it (exit 2), heal repairs it.
	if r := lsmctl(t, append(ep, "verify")...); r.code != 0 {
		t.Fatalf("verify of a healthy store: %s", r)
	}
	shard := corruptShard(t, drives)
	r := lsmctl(t, append(ep, "verify")...)
	if r.code != 2 || !strings.Contains(r.stdout, "corrupt") {
		t.Fatalf("verify after corrupting %s: %s", shard, r)
	}
	if r := lsmctl(t, append(ep, "heal")...); r.code != 0 || !strings.Contains(r.stdout, "repaired: ") || strings.Contains(r.stdout, "repaired: 0") {
		t.Fatalf("heal: %s", r)
	}
	if r := lsmctl(t, append(ep, "verify")...); r.code != 0 {
		t.Fatalf("verify after heal: %s", r)
	}
	for i := n - 8; i < n; i++ {
		o, err := c.GetObject(ctx, "ctl", fmt.Sprintf("obj/%02d", i), minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(o); err != nil || !bytes.Equal(b.Bytes(), randBytes(uint64(i), size)) {
			t.Fatalf("object %d after heal: %v", i, err)
		}
		o.Close()
	}

	// Wrong credentials and an unreachable server: clear errors, exit 1.
	r = lsmctl(t, append(ep, "--secret-key", "wrong-secret", "stats")...)
	if r.code != 1 || !strings.Contains(r.stderr, "refused the credentials") {
		t.Fatalf("wrong credentials: %s", r)
	}
	r = lsmctl(t, "--endpoint", "http://"+freePort(t), "stats")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach lsmd") {
		t.Fatalf("unreachable server: %s", r)
	}

	// Offline mode refuses drives a running server holds, then works once
	// it has stopped.
	offline := []string{"--data", d1, "--data", d2, "--data", srv.Dir}
	if r := lsmctl(t, append(offline, "stats")...); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("offline stats while lsmd runs: %s", r)
	}
	srv.stop(t)
	if a := ctlStats(t, offline...); a.Objects != 8 || a.LogicalBytes != 8*size {
		t.Fatalf("offline stats: %+v", a)
	}
	if r := lsmctl(t, append(offline, "verify")...); r.code != 0 {
		t.Fatalf("offline verify: %s", r)
	}
	if r := lsmctl(t, append(offline, "compact")...); r.code != 1 || !strings.Contains(r.stderr, "needs a running lsmd") {
		t.Fatalf("offline compact: %s", r)
	}
}
