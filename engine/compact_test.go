package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func compactOpts() Options {
	return Options{SegmentSize: 256 << 10, testingSmallSegments: true, CompactionInterval: -1, CompactionRate: -1, MinPartSize: -1, CacheSize: -1}
}

// fillAndDelete writes n objects of various sizes and deletes every other
// one; it returns what must remain.
func fillAndDelete(t *testing.T, s *Store, n int, seed uint64) map[string][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed))
	want := map[string][]byte{}
	if err := s.CreateBucket("bkt"); err != nil && !errors.Is(err, ErrBucketExists) {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("files/insert_log/%d", i)
		data := randomBytes(r, 5000+r.IntN(150<<10))
		mustPut(t, s, "bkt", key, data)
		want[key] = data
	}
	for i := 0; i < n; i += 2 {
		key := fmt.Sprintf("files/insert_log/%d", i)
		if err := s.Delete("bkt", key); err != nil {
			t.Fatal(err)
		}
		delete(want, key)
	}
	return want
}

func checkAll(t *testing.T, s *Store, want map[string][]byte) {
	t.Helper()
	for k, v := range want {
		if got := mustGet(t, s, "bkt", k, 0, -1); !bytes.Equal(got, v) {
			t.Fatalf("%s: wrong bytes", k)
		}
	}
	res, err := s.List("bkt", ListOptions{MaxKeys: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != len(want) {
		t.Fatalf("listing has %d objects, want %d", len(res.Objects), len(want))
	}
}

func TestCompactReclaims(t *testing.T) {
	fs := vfs.NewMem()
	o := compactOpts()
	s := openMem(t, fs, o)
	want := fillAndDelete(t, s, 60, 1)
	// A multipart object whose parts straddle segments, and an upload in
	// progress: both must survive compaction.
	id, _ := s.CreateMultipartUpload("bkt", "mp", PutOptions{})
	p1 := randomBytes(rand.New(rand.NewPCG(2, 2)), 300<<10)
	p2 := randomBytes(rand.New(rand.NewPCG(3, 3)), 100<<10)
	i1, _ := s.PutPart("bkt", "mp", id, 1, int64(len(p1)), bytes.NewReader(p1), PartOptions{})
	i2, _ := s.PutPart("bkt", "mp", id, 2, int64(len(p2)), bytes.NewReader(p2), PartOptions{})
	if _, err := s.CompleteMultipartUpload("bkt", "mp", id, []CompletePart{{1, i1.ETag}, {2, i2.ETag}}, CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want["mp"] = append(append([]byte(nil), p1...), p2...)
	pending, _ := s.CreateMultipartUpload("bkt", "pending", PutOptions{})
	pp := randomBytes(rand.New(rand.NewPCG(4, 4)), 200<<10)
	if _, err := s.PutPart("bkt", "pending", pending, 1, int64(len(pp)), bytes.NewReader(pp), PartOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openMem(t, fs, o) // seal everything
	defer s.Close()

	before := s.Metrics()
	dry, err := s.Compact(context.Background(), CompactOptions{DryRun: true})
	if err != nil || len(dry.Chosen) == 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if m := s.Metrics(); m.DiskBytes != before.DiskBytes {
		t.Fatal("a dry run changed the store")
	}
	res, err := s.Compact(context.Background(), CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := s.Metrics()
	t.Logf("compaction: chosen %d deleted %d copied %d reclaimed %d; garbage %d → %d; disk %d → %d",
		len(res.Chosen), len(res.Deleted), res.BytesCopied, res.BytesReclaimed, before.Garbage, after.Garbage, before.DiskBytes, after.DiskBytes)
	if len(res.Deleted) != len(res.Chosen) || len(res.Deleted) == 0 {
		t.Fatalf("deleted %v of %v", res.Deleted, res.Chosen)
	}
	if after.CompactionPasses != 2 || after.CompactionBytesCopied != res.BytesCopied || after.Compacting {
		t.Fatalf("compaction metrics: passes %d (want 2: dry run and pass), copied %d (want %d), compacting %v",
			after.CompactionPasses, after.CompactionBytesCopied, res.BytesCopied, after.Compacting)
	}
	if after.Garbage >= before.Garbage || after.LiveBytes != before.LiveBytes {
		t.Fatalf("garbage %d → %d, live %d → %d", before.Garbage, after.Garbage, before.LiveBytes, after.LiveBytes)
	}
	checkAll(t, s, want)
	parts, err := s.ListParts("bkt", "pending", pending, 0, 10)
	if err != nil || len(parts.Parts) != 1 {
		t.Fatalf("pending upload after compaction: %+v %v", parts, err)
	}
	var w bytes.Buffer
	s.Close()
	s = openMem(t, fs, o)
	checkAll(t, s, want)
	if _, err := s.CompleteMultipartUpload("bkt", "pending", pending, []CompletePart{{1, parts.Parts[0].ETag}}, CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("bkt", "pending", 0, -1, &w); err != nil || !bytes.Equal(w.Bytes(), pp) {
		t.Fatalf("relocated part: %v", err)
	}
}

// TestCompactRaces overwrites and deletes keys between copy and swap: the
// racing writes win, and nothing deleted comes back, before or after a
// reopen.
func TestCompactRaces(t *testing.T) {
	fs := vfs.NewMem()
	o := compactOpts()
	s := openMem(t, fs, o)
	want := fillAndDelete(t, s, 40, 5)
	s.Close()
	s = openMem(t, fs, o)
	defer func() { s.Close() }()
	n := 0
	s.compact.beforeSwap = func(bucket, key string) {
		n++
		switch n % 3 {
		case 0:
			if err := s.Delete(bucket, key); err != nil {
				t.Error(err)
			}
			delete(want, key)
		case 1:
			v := []byte("overwritten during compaction " + key)
			mustPut(t, s, bucket, key, v)
			want[key] = v
		}
	}
	if _, err := s.Compact(context.Background(), CompactOptions{Threshold: 0.01}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the hook never ran")
	}
	s.compact.beforeSwap = nil
	checkAll(t, s, want)
	s.Close()
	s = openMem(t, fs, o)
	checkAll(t, s, want)
}

// TestCompactWaitsForReaders: an open object keeps its segment readable
// until it is closed.
func TestCompactWaitsForReaders(t *testing.T) {
	fs := vfs.NewMem()
	o := compactOpts()
	s := openMem(t, fs, o)
	defer s.Close()
	want := fillAndDelete(t, s, 30, 9)
	s.Close()
	s = openMem(t, fs, o)
	// Hold an object whose data lies in a segment the pass will compact.
	dry, err := s.Compact(context.Background(), CompactOptions{Threshold: 0.01, DryRun: true})
	if err != nil || len(dry.Chosen) == 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	victim := map[uint64]bool{}
	for _, id := range dry.Chosen {
		victim[id] = true
	}
	var key string
	for k := range want {
		en, err := s.lookup("bkt", k)
		if err != nil {
			t.Fatal(err)
		}
		en.allRuns(func(r run) {
			if victim[r.seg] {
				key = k
			}
		})
		if key != "" {
			break
		}
	}
	if key == "" {
		t.Fatal("no object lies in a segment chosen for compaction")
	}
	obj, err := s.Open("bkt", key)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Compact(context.Background(), CompactOptions{Threshold: 0.01})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("compaction finished while a reader held a victim: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	var b bytes.Buffer
	if _, err := obj.WriteRange(&b, 0, obj.Info().Size); err != nil || !bytes.Equal(b.Bytes(), want[key]) {
		t.Fatalf("reader during compaction: %v", err)
	}
	obj.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, want)
}

// TestCompactCrash takes crash clones at every relocation of a pass: every
// clone opens with all data intact.
func TestCompactCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	o := compactOpts()
	s := openMem(t, fs, o)
	want := fillAndDelete(t, s, 30, 11)
	s.Close()
	s = openMem(t, fs, o)
	var clones []*vfs.MemFS
	rng := rand.New(rand.NewPCG(12, 12))
	s.compact.beforeSwap = func(string, string) {
		clones = append(clones, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}))
	}
	if _, err := s.Compact(context.Background(), CompactOptions{Threshold: 0.01}); err != nil {
		t.Fatal(err)
	}
	clones = append(clones, fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}))
	s.Close()
	for i, c := range clones {
		cs := openMem(t, c, o)
		checkAll(t, cs, want)
		// Compaction can finish after the crash.
		if _, err := cs.Compact(context.Background(), CompactOptions{Threshold: 0.01}); err != nil {
			t.Fatalf("clone %d: %v", i, err)
		}
		checkAll(t, cs, want)
		cs.Close()
	}
	t.Logf("%d crash clones verified", len(clones))
}
