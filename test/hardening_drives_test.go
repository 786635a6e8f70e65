package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// startDrives starts lsmd over several drives (the harness gives its last
// directory argument as s.Dir).
func startDrives(t *testing.T, drives []string, flags ...string) *server {
	t.Helper()
	s := &server{Dir: drives[len(drives)-1]}
	return s.start(t, append(flags, drives[:len(drives)-1]...)...)
}

// flipLargest flips n random bytes in each of the count largest files
// under dir, and returns how many files it damaged.
func flipLargest(t *testing.T, dir string, count, n int, r *rand.Rand) int {
	t.Helper()
	type file struct {
		path string
		size int64
	}
	var files []file
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > 0 {
			files = append(files, file{p, info.Size()})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].size > files[j].size })
	files = files[:min(count, len(files))]
	for _, f := range files {
		fh, err := os.OpenFile(f.path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			off := r.Int64N(f.size)
			b := make([]byte, 1)
			if _, err := fh.ReadAt(b, off); err != nil {
				t.Fatal(err)
			}
			b[0] ^= byte(1 + r.IntN(255))
			if _, err := fh.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		}
		fh.Close()
	}
	return len(files)
}

// readBack reads every object and returns how many came back intact.
func readBack(t *testing.T, c *minio.Client, sizes []int) int {
	t.Helper()
	ok := 0
	for i, size := range sizes {
		o, err := c.GetObject(context.Background(), "drives", fmt.Sprintf("obj/%03d", i), minio.GetObjectOptions{})
		if err != nil {
			continue
		}
		got, err := io.ReadAll(o)
		o.Close()
		if err == nil && bytes.Equal(got, randBytes(uint64(1000+i), size)) {
			ok++
		} else if err != nil {
			t.Logf("obj/%03d: %v", i, err)
		}
	}
	return ok
}

// TestDamagedDrivesAtStart reproduces issue 12 item 10: six drives (4+2),
// lsmd stopped, 8 random bytes flipped in each of the 50 largest files of
// two drives (one holding an index copy), restarted. lsmd starts, serves
// every object, reports both drives in stats, metrics, health and admin
// info; lsmctl heal repairs them and after a restart all drives are ok.
func TestDamagedDrivesAtStart(t *testing.T) {
	base := t.TempDir()
	drives := make([]string, 6)
	for i := range drives {
		drives[i] = filepath.Join(base, fmt.Sprintf("d%d", i))
	}
	flags := []string{"--segment-size", "4MiB", "--compaction-interval", "0"}
	srv := startDrives(t, drives, flags...)
	c := minioClient(t, srv)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "drives", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(12, 10))
	sizes := make([]int, 300)
	var total int
	for i := range sizes {
		sizes[i] = 1<<10 + r.IntN(199<<10)
		total += sizes[i]
		data := randBytes(uint64(1000+i), sizes[i])
		if _, err := c.PutObject(ctx, "drives", fmt.Sprintf("obj/%03d", i), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ep := []string{"--endpoint", srv.Endpoint}
	if a := ctlStats(t, ep...); a.Segments.Encoded == 0 || a.Index.Copies != 3 {
		t.Fatalf("before the damage: %d encoded segments, %d index copies", a.Segments.Encoded, a.Index.Copies)
	}
	srv.stop(t)

	bad := []string{drives[1], drives[4]} // d1 holds an index copy, d4 not
	for _, d := range bad {
		n := flipLargest(t, d, 50, 8, r)
		t.Logf("%s: 8 bytes flipped in each of %d files", filepath.Base(d), n)
	}
	start := time.Now()
	srv.start(t, append(flags, drives[:5]...)...)
	t.Logf("restart with two damaged drives: healthy after %v", time.Since(start).Round(time.Millisecond))
	c, ep = minioClient(t, srv), []string{"--endpoint", srv.Endpoint}
	if n := readBack(t, c, sizes); n != len(sizes) {
		t.Fatalf("%d of %d objects read back intact with two damaged drives", n, len(sizes))
	}

	// Stats name both drives, with a reason.
	a := ctlStats(t, ep...)
	for _, d := range a.Drives {
		isBad := d.Path == bad[0] || d.Path == bad[1]
		if isBad != (d.State != "ok") || (isBad && d.Reason == "") {
			t.Fatalf("stats: drive %s: %s (%s)", d.Path, d.State, d.Reason)
		}
		if isBad {
			t.Logf("stats: %s: %s: %s", filepath.Base(d.Path), d.State, d.Reason)
		}
	}
	t.Logf("stats: %d degraded reads, %d drive errors, %d index copies", a.Reads.DegradedReads, a.Reads.DriveErrors, a.Index.Copies)
	if r := lsmctl(t, append(ep, "stats")...); r.code != 0 || !strings.Contains(r.stdout, bad[0]) || !strings.Contains(r.stdout, "failed") {
		t.Fatalf("stats table: %s", r)
	}

	// Health: ready (everything is served), the failed drives counted.
	raw := newRaw(t, srv)
	h := raw.send(t, "GET", "/minio/health/ready", "", nil, nil)
	if h.Status != 200 || h.Header.Get("X-Lsm-Drives-Failed") == "0" || h.Header.Get("X-Lsm-Drives-Failed") == "" {
		t.Fatalf("ready: %d, failed %q, damaged %q", h.Status, h.Header.Get("X-Lsm-Drives-Failed"), h.Header.Get("X-Lsm-Drives-Damaged"))
	}
	t.Logf("ready: failed %s, damaged %s", h.Header.Get("X-Lsm-Drives-Failed"), h.Header.Get("X-Lsm-Drives-Damaged"))
	// Metrics: lsm_drive_ok is 0 for both.
	m := raw.send(t, "GET", "/metrics", "", nil, nil)
	for _, d := range bad {
		if want := fmt.Sprintf("lsm_drive_ok{drive=%q} 0", d); m.Status != 200 || !strings.Contains(string(m.Body), want) {
			t.Fatalf("metrics: %d, no %q", m.Status, want)
		}
	}
	// MinIO's admin info: the drives with their state.
	info := raw.send(t, "GET", "/minio/admin/v3/info", "", nil, nil)
	var mi struct {
		Servers []struct {
			State  string `json:"state"`
			Drives []struct {
				Path  string `json:"path"`
				State string `json:"state"`
			} `json:"drives"`
		} `json:"servers"`
		Backend struct {
			Online  int `json:"onlineDisks"`
			Offline int `json:"offlineDisks"`
		} `json:"backend"`
	}
	if err := json.Unmarshal(info.Body, &mi); err != nil || len(mi.Servers) != 1 || len(mi.Servers[0].Drives) != 6 || mi.Servers[0].State != "online" {
		t.Fatalf("admin info: %v %s", err, info.Body)
	}
	t.Logf("admin info: %d online, %d offline", mi.Backend.Online, mi.Backend.Offline)

	// Heal repairs both; writes work meanwhile.
	extra := randBytes(7, 150<<10)
	if _, err := c.PutObject(ctx, "drives", "written-after-damage", bytes.NewReader(extra), int64(len(extra)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := lsmctl(t, append(ep, "heal", "--rate", "-1")...); r.code != 0 {
		t.Fatalf("heal: %s", r)
	} else {
		t.Logf("heal: %s", firstLines(r.stdout, 4))
	}
	for _, d := range ctlStats(t, ep...).Drives {
		if d.State != "ok" {
			t.Fatalf("after heal: drive %s: %s (%s)", d.Path, d.State, d.Reason)
		}
	}
	if r := lsmctl(t, append(ep, "verify", "--rate", "-1")...); r.code != 0 {
		t.Fatalf("verify after heal: %s", r)
	}

	// After a restart every drive is healthy and nothing is degraded.
	srv.stop(t)
	start = time.Now()
	srv.start(t, append(flags, drives[:5]...)...)
	t.Logf("restart after heal: healthy after %v", time.Since(start).Round(time.Millisecond))
	c, ep = minioClient(t, srv), []string{"--endpoint", srv.Endpoint}
	if n := readBack(t, c, sizes); n != len(sizes) {
		t.Fatalf("after heal and restart: %d of %d objects intact", n, len(sizes))
	}
	o, err := c.GetObject(ctx, "drives", "written-after-damage", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(o); err != nil || !bytes.Equal(got, extra) {
		t.Fatalf("object written while degraded: %v", err)
	}
	a = ctlStats(t, ep...)
	for _, d := range a.Drives {
		if d.State != "ok" {
			t.Fatalf("after heal and restart: drive %s: %s (%s)", d.Path, d.State, d.Reason)
		}
	}
	if a.Reads.DegradedReads != 0 || a.Index.Copies != 3 {
		t.Fatalf("after heal and restart: %d degraded reads, %d index copies", a.Reads.DegradedReads, a.Index.Copies)
	}
	h = newRaw(t, srv).send(t, "GET", "/minio/health/ready", "", nil, nil)
	if h.Header.Get("X-Lsm-Drives-Failed") != "0" || h.Header.Get("X-Lsm-Drives-Damaged") != "0" {
		t.Fatalf("ready after heal: failed %q, damaged %q", h.Header.Get("X-Lsm-Drives-Failed"), h.Header.Get("X-Lsm-Drives-Damaged"))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], " | ")
}
