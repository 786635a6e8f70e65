package engine

// A full disk: new object data is refused with ErrStorageFull (the reserve
// first, ENOSPC as the backstop), the store does not fail, reads and deletes
// go on, compaction reclaims space, and PUTs work again without a reopen.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// smallFS is a disk of limited size for segment files (.seg, .bix, .shd):
// their bytes count against capacity, a write that does not fit writes what
// fits and fails with ENOSPC, as a real filesystem does, and GetDiskUsage
// reports what is left. The index is not counted (the reserve is what keeps
// room for it on a real drive).
type smallFS struct {
	vfs.FS
	mu       sync.Mutex
	capacity int64
	enospc   int // ENOSPC errors returned
}

func isSegFile(name string) bool {
	return strings.HasSuffix(name, ".seg") || strings.HasSuffix(name, ".bix") || strings.HasSuffix(name, ".shd")
}

// used sums the sizes of the segment files in every segments directory.
func (f *smallFS) used() int64 {
	var n int64
	for _, d := range []string{"d0", "d1", "d2"} {
		dir := f.PathJoin(d, "segments")
		names, err := f.FS.List(dir)
		if err != nil {
			continue
		}
		for _, name := range names {
			if !isSegFile(name) {
				continue
			}
			if st, err := f.FS.Stat(f.PathJoin(dir, name)); err == nil {
				n += st.Size()
			}
		}
	}
	return n
}

func (f *smallFS) free() int64 {
	return max(0, f.capacity-f.used())
}

func (f *smallFS) grow(n int64) {
	f.mu.Lock()
	f.capacity += n
	f.mu.Unlock()
}

func (f *smallFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	fl, err := f.FS.Create(name, c)
	if err != nil || !isSegFile(name) {
		return fl, err
	}
	return &smallFile{File: fl, fs: f}, nil
}

func (f *smallFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	fl, err := f.FS.OpenReadWrite(name, c, opts...)
	if err != nil || !isSegFile(name) {
		return fl, err
	}
	return &smallFile{File: fl, fs: f}, nil
}

func (f *smallFS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	free := uint64(f.free())
	return vfs.DiskUsage{AvailBytes: free, TotalBytes: uint64(f.capacity), UsedBytes: uint64(f.capacity) - free}, nil
}

type smallFile struct {
	vfs.File
	fs *smallFS
}

func (sf *smallFile) Write(p []byte) (int, error) {
	sf.fs.mu.Lock()
	defer sf.fs.mu.Unlock()
	if free := sf.fs.free(); int64(len(p)) > free {
		n, _ := sf.File.Write(p[:free])
		sf.fs.enospc++
		return n, &os.PathError{Op: "write", Path: "segment", Err: syscall.ENOSPC}
	}
	return sf.File.Write(p)
}

func spaceOpts(fs vfs.FS) Options {
	o := fltOpts(fs)
	o.CompactionInterval = -1
	o.CompactionRate = -1
	return o
}

// TestSpaceReserve fills a small disk with PUTs: the reserve refuses new
// data with ErrStorageFull before ENOSPC; the store does not fail; reads,
// lists and deletes go on; compaction reclaims the deleted space (copying
// into the reserve) and PUTs work again, all without a reopen.
func TestSpaceReserve(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := &smallFS{FS: mem, capacity: 2 << 20}
	o := spaceOpts(fs)
	o.FreeSpaceReserve = 256 << 10
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	st := newFltState(t)
	var keys []string
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		body := st.body(20 << 10)
		key := fmt.Sprintf("obj%03d", i)
		if _, err := s.Put("bkt", key, int64(len(body)), bytes.NewReader(body), PutOptions{ContentType: "c/" + key}); err != nil {
			full = err
			st.unknown(key, body)
			break
		}
		st.acked(key, body)
		keys = append(keys, key)
	}
	if !errors.Is(full, ErrStorageFull) || errors.Is(full, ErrStoreFailed) {
		t.Fatalf("the PUT that did not fit returned %v, want ErrStorageFull", full)
	}
	if err := s.failedErr(); err != nil {
		t.Fatalf("store failed: %v", err)
	}
	if fs.enospc != 0 {
		t.Errorf("%d writes hit ENOSPC: the reserve should refuse first", fs.enospc)
	}
	t.Logf("%d PUTs of 20 KiB acknowledged, then %v; free %d", len(keys), full, fs.free())
	// An inline PUT is new data too.
	if _, err := s.Put("bkt", "tiny", 4000, bytes.NewReader(make([]byte, 4000)), PutOptions{}); !errors.Is(err, ErrStorageFull) {
		t.Errorf("inline PUT on a full disk: %v, want ErrStorageFull", err)
	}
	st.check(s, "full", false)
	usedFull := fs.used()
	// Deletes go on (into the reserve).
	for i, k := range keys {
		if i%2 == 0 {
			if err := s.Delete("bkt", k); err != nil {
				t.Fatalf("Delete %s on a full disk: %v", k, err)
			}
			st.acked(k, nil)
		}
	}
	st.check(s, "deleted half", false)
	res, err := s.Compact(context.Background(), CompactOptions{})
	if err != nil {
		t.Fatalf("Compact on a full disk: %v", err)
	}
	s.WaitSealed()
	usedAfter := fs.used()
	t.Logf("compaction: %d chosen, %d deleted, copied %d; segment bytes %d -> %d (live %d)", len(res.Chosen), len(res.Deleted), res.BytesCopied, usedFull, usedAfter, s.Metrics().LiveBytes)
	if usedAfter > usedFull*6/10 {
		t.Errorf("compaction left %d of %d segment bytes after deleting half", usedAfter, usedFull)
	}
	st.check(s, "compacted", false)
	// PUTs work again, without a reopen.
	for i := 0; i < 10; i++ {
		st.put(s, fmt.Sprintf("again%d", i), st.body(20<<10))
	}
	st.check(s, "after", false)
	if fs.enospc != 0 {
		t.Errorf("%d writes hit ENOSPC", fs.enospc)
	}
}

// TestSpaceENOSPC turns the reserve off, so appends run into ENOSPC (with
// partly written frames, at block runs, record frames and segment headers):
// each failed write answers ErrStorageFull, the store does not fail, nothing
// acknowledged is lost, the torn frames are never replayed, and once space
// is freed deletes and PUTs work without a reopen. Crash clones taken after
// recover to a consistent state.
func TestSpaceENOSPC(t *testing.T) {
	for _, drives := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d-drives", drives), func(t *testing.T) { testSpaceENOSPC(t, drives) })
	}
}

func testSpaceENOSPC(t *testing.T, drives int) {
	seed := pickSeed(t, 0)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	mem := vfs.NewCrashableMem()
	fs := &smallFS{FS: mem, capacity: int64(drives) << 20}
	o := spaceOpts(fs)
	o.Dirs = []string{"d0", "d1", "d2"}[:drives]
	o.FreeSpaceReserve = -1
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	st := newFltState(t)
	sizes := []int{300, 5000, 20 << 10, 70 << 10}
	fulls := 0
	for i := 0; i < 2000 && fulls < 8; i++ {
		body := st.body(sizes[r.IntN(len(sizes))])
		key := fmt.Sprintf("obj%d", r.IntN(60))
		_, err := s.Put("bkt", key, int64(len(body)), bytes.NewReader(body), PutOptions{ContentType: "c/" + key})
		if err == nil {
			st.acked(key, body)
			continue
		}
		if !errors.Is(err, ErrStorageFull) || errors.Is(err, ErrStoreFailed) {
			t.Fatalf("Put on a full disk: %v, want ErrStorageFull", err)
		}
		if ferr := s.failedErr(); ferr != nil {
			t.Fatalf("store failed after ENOSPC: %v", ferr)
		}
		st.unknown(key, body)
		fulls++
		// Some space comes back (another file removed): writing resumes.
		fs.grow(int64(drives) * int64(1+r.IntN(40<<10)))
	}
	if fs.enospc == 0 || fulls == 0 {
		t.Fatalf("no ENOSPC was hit (%d refusals)", fulls)
	}
	t.Logf("%d refusals, %d ENOSPC writes", fulls, fs.enospc)
	st.check(s, "after ENOSPC", true)
	if drives > 1 {
		// A mirror may hold a whole record frame its twin lacks; a MemFS
		// file cannot be cut (no descriptor), so only sealing the
		// abandoned segment at its size keeps recovery from replaying
		// it. On a real drive cutTail does it before the writer hears.
		s.WaitSealed()
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	atClone := newFltState(t)
	for k, v := range st.want {
		atClone.want[k] = v
	}

	// Room for deletes, then compaction, then PUTs.
	fs.grow(int64(drives) * 64 << 10)
	for k, v := range st.want {
		if v[0] != nil && r.IntN(2) == 0 {
			if err := s.Delete("bkt", k); err != nil {
				t.Fatalf("Delete %s: %v", k, err)
			}
			st.acked(k, nil)
		}
	}
	before := fs.used()
	if _, err := s.Compact(context.Background(), CompactOptions{Threshold: 0.1}); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	s.WaitSealed()
	t.Logf("segment bytes %d -> %d after deletes and compaction", before, fs.used())
	if fs.used() >= before {
		t.Errorf("compaction reclaimed nothing: %d -> %d", before, fs.used())
	}
	for i := 0; i < 5; i++ {
		st.put(s, fmt.Sprintf("again%d", i), st.body(20<<10))
	}
	st.check(s, "after compaction", false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	o.FS = mem
	s2, err := Open(o)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	st.check(s2, "reopened", false)
	s2.Close()

	// The crash clone taken right after the refusals: every acknowledged
	// write is there, no refused one, and the store takes writes.
	o.FS = crashed
	s3, err := Open(o)
	if err != nil {
		t.Fatalf("Open of the crash clone: %v", err)
	}
	atClone.check(s3, "crash clone", false)
	atClone.put(s3, "after-crash", atClone.body(30<<10))
	atClone.check(s3, "crash clone after a write", false)
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
}
