package engine

// Fault injection with errorfs: write, sync, read, seal and recovery errors
// must surface as errors, never as a success that is not durable or as
// wrong bytes, and a later clean Open must recover every acknowledged write.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// fltInjector injects errorfs.ErrInjected into the operations its current
// predicate selects; a nil predicate injects nothing.
type fltInjector struct {
	pred atomic.Pointer[func(errorfs.Op) bool]
	hits atomic.Int64
}

func (f *fltInjector) String() string { return "fltInjector" }

func (f *fltInjector) MaybeError(op errorfs.Op) error {
	if p := f.pred.Load(); p != nil && (*p)(op) {
		f.hits.Add(1)
		return errorfs.ErrInjected
	}
	return nil
}

func (f *fltInjector) on(p func(errorfs.Op) bool) {
	f.hits.Store(0)
	f.pred.Store(&p)
}

func (f *fltInjector) off() { f.pred.Store(nil) }

func fltIsSeg(op errorfs.Op) bool    { return strings.HasSuffix(op.Path, ".seg") }
func fltIsBix(op errorfs.Op) bool    { return strings.Contains(op.Path, ".bix") }
func fltIsSegDir(op errorfs.Op) bool { return strings.HasSuffix(op.Path, "segments") }

func fltIsSync(op errorfs.Op) bool {
	return op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo
}

func fltOpts(fs vfs.FS) Options {
	return Options{FS: fs, Dirs: []string{"d0"}, SegmentSize: 64 << 10, testingSmallSegments: true,
		BlockSize: 16 << 10, ChunkBlocks: 4, CacheSize: -1, MinPartSize: -1, IndexCacheSize: 4 << 20}
}

// fltState is what a store must hold: per key, the values it may have.
type fltState struct {
	t    *testing.T
	want map[string][][]byte // key of bucket "bkt" → allowed bodies; nil body: absent
	next uint64
}

func newFltState(t *testing.T) *fltState {
	return &fltState{t: t, want: map[string][][]byte{}, next: 1}
}

func (st *fltState) body(size int) []byte {
	st.next++
	return crBody(st.next<<8, size)
}

// acked records an acknowledged write of key (nil body: delete).
func (st *fltState) acked(key string, body []byte) { st.want[key] = [][]byte{body} }

// unknown records a write of key that returned an error.
func (st *fltState) unknown(key string, body []byte) {
	if _, ok := st.want[key]; !ok {
		st.want[key] = [][]byte{nil}
	}
	st.want[key] = append(st.want[key], body)
}

// put stores body under key and records it as acknowledged.
func (st *fltState) put(s *Store, key string, body []byte) {
	st.t.Helper()
	info, err := s.Put("bkt", key, int64(len(body)), bytes.NewReader(body), PutOptions{ContentType: "c/" + key})
	if err != nil {
		st.t.Fatalf("Put %s (%d B): %v", key, len(body), err)
	}
	if info.Size != int64(len(body)) {
		st.t.Fatalf("Put %s: size %d, want %d", key, info.Size, len(body))
	}
	st.acked(key, body)
}

// check verifies every key; with resolve it then pins each key to the value
// found.
func (st *fltState) check(s *Store, label string, resolve bool) {
	st.t.Helper()
	keys := make([]string, 0, len(st.want))
	for k := range st.want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var present int64
	for _, k := range keys {
		allowed := st.want[k]
		var buf bytes.Buffer
		info, err := s.Get("bkt", k, 0, -1, &buf)
		var got []byte
		switch {
		case errors.Is(err, ErrNoSuchKey):
		case err != nil:
			st.t.Errorf("%s: Get %s: %v", label, k, err)
			continue
		default:
			got = buf.Bytes()
			present++
			if info.Size != int64(len(got)) || info.ContentType != "c/"+k {
				st.t.Errorf("%s: Get %s: info %+v for %d bytes", label, k, info, len(got))
			}
		}
		found := -1
		for i, w := range allowed {
			if (w == nil) == (err != nil) && bytes.Equal(w, got) {
				found = i
			}
		}
		if found < 0 {
			desc := make([]string, len(allowed))
			for i, w := range allowed {
				desc[i] = "absent"
				if w != nil {
					desc[i] = fmt.Sprintf("%d B", len(w))
				}
			}
			what := "absent"
			if err == nil {
				what = fmt.Sprintf("%d B", len(got))
			}
			st.t.Errorf("%s: %s is %s, want one of %v", label, k, what, desc)
			continue
		}
		if resolve {
			st.want[k] = [][]byte{allowed[found]}
		}
	}
	res, err := s.List("bkt", ListOptions{})
	if err != nil {
		st.t.Errorf("%s: List: %v", label, err)
	} else if int64(len(res.Objects)) != present || s.Metrics().Objects != present {
		st.t.Errorf("%s: %d objects listed, Metrics says %d, %d readable", label, len(res.Objects), s.Metrics().Objects, present)
	}
}

// fltSetup opens a store on a crashable filesystem wrapped by an injector
// and writes a mix of acknowledged objects.
func fltSetup(t *testing.T, o Options) (*vfs.MemFS, *fltInjector, *Store, *fltState) {
	t.Helper()
	fs := vfs.NewCrashableMem()
	inj := &fltInjector{}
	o.FS = errorfs.Wrap(fs, inj)
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	st := newFltState(t)
	for i, size := range []int{0, 100, 4096, 4097, 16 << 10, 100 << 10, 300 << 10, 50 << 10} {
		st.put(s, fmt.Sprintf("obj%d", i), st.body(size))
	}
	st.put(s, "victim", st.body(70<<10))
	// A multipart object and a delete.
	id, err := s.CreateMultipartUpload("bkt", "mp", PutOptions{ContentType: "c/mp"})
	if err != nil {
		t.Fatal(err)
	}
	var whole []byte
	var cps []CompletePart
	for n := 1; n <= 2; n++ {
		b := st.body(40 << 10)
		pi, err := s.PutPart("bkt", "mp", id, n, int64(len(b)), bytes.NewReader(b), PartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, b...)
		cps = append(cps, CompletePart{Number: n, ETag: pi.ETag})
	}
	if _, err := s.CompleteMultipartUpload("bkt", "mp", id, cps, CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st.acked("mp", whole)
	if err := s.Delete("bkt", "obj6"); err != nil {
		t.Fatal(err)
	}
	st.acked("obj6", nil)
	st.check(s, "before faults", false)
	return fs, inj, s, st
}

// fltMustBeFailed checks that every kind of write is refused with
// ErrStoreFailed while reads go on.
func fltMustBeFailed(t *testing.T, s *Store, st *fltState) {
	t.Helper()
	small, big := st.body(10), st.body(200<<10)
	checks := map[string]error{}
	_, checks["Put inline"] = s.Put("bkt", "after", int64(len(small)), bytes.NewReader(small), PutOptions{})
	_, checks["Put"] = s.Put("bkt", "after", int64(len(big)), bytes.NewReader(big), PutOptions{})
	checks["Delete"] = s.Delete("bkt", "obj1")
	checks["CreateBucket"] = s.CreateBucket("other")
	_, checks["CreateMultipartUpload"] = s.CreateMultipartUpload("bkt", "mp2", PutOptions{})
	for what, err := range checks {
		if !errors.Is(err, ErrStoreFailed) {
			t.Errorf("%s on a failed store: %v, want ErrStoreFailed", what, err)
		}
	}
	st.check(s, "failed store", false)
}

// fltReopen closes s and checks the state twice: on the filesystem as it is
// (unsynced data kept) and on a crash clone that keeps only synced data.
// The crash clone's store, resolved and written to, is closed at the end.
func fltReopen(t *testing.T, s *Store, fs *vfs.MemFS, st *fltState, o Options) {
	t.Helper()
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	o.FS = fs
	s2, err := Open(o)
	if err != nil {
		t.Fatalf("clean Open after the fault: %v", err)
	}
	st.check(s2, "reopened", false)
	// What that recovery found and built on must be durable: crash now.
	afterRecovery := fs.CrashClone(vfs.CrashCloneCfg{})
	s2.Close()
	o.FS = afterRecovery
	s4, err := Open(o)
	if err != nil {
		t.Fatalf("Open of a crash clone taken after recovery: %v", err)
	}
	st.check(s4, "crash after recovery", false)
	s4.Close()
	o.FS = crashed
	s3, err := Open(o)
	if err != nil {
		t.Fatalf("Open of a crash clone after the fault: %v", err)
	}
	st.check(s3, "crash clone reopened", true)
	st.put(s3, "after-reopen", st.body(30<<10))
	st.check(s3, "crash clone after a write", false)
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFaultWriteError(t *testing.T) {
	cases := []struct {
		name  string
		chunk int
		size  int
		pred  func(errorfs.Op) bool
		// arm at the body's end (after its last block is appended), so the
		// record frame is what fails
		atEOF bool
	}{
		{"block write", 4, 100 << 10, func(op errorfs.Op) bool { return fltIsSeg(op) && op.Kind == errorfs.OpFileWrite }, false},
		{"inline record write", 4, 300, func(op errorfs.Op) bool { return fltIsSeg(op) && op.Kind == errorfs.OpFileWrite }, false},
		{"record write after blocks", 1, 32 << 10, func(op errorfs.Op) bool { return fltIsSeg(op) && op.Kind == errorfs.OpFileWrite }, true},
		{"segment create on rotation", 4, 200 << 10, func(op errorfs.Op) bool { return fltIsSeg(op) && op.Kind == errorfs.OpCreate }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := fltOpts(nil)
			o.ChunkBlocks = tc.chunk
			fs, inj, s, st := fltSetup(t, o)
			body := st.body(tc.size)
			var r interface{ Read([]byte) (int, error) } = bytes.NewReader(body)
			if tc.atEOF {
				r = &fltArmAtEOF{r: bytes.NewReader(body), arm: func() { inj.on(tc.pred) }}
			} else {
				inj.on(tc.pred)
			}
			_, err := s.Put("bkt", "victim", int64(len(body)), r, PutOptions{ContentType: "c/victim"})
			inj.off()
			if err == nil {
				t.Fatalf("Put succeeded through an injected error (%d injected)", inj.hits.Load())
			}
			if inj.hits.Load() == 0 {
				t.Fatalf("no error was injected; Put returned %v", err)
			}
			if !errors.Is(err, errorfs.ErrInjected) {
				t.Errorf("Put returned %v, want the injected error", err)
			}
			// The record never reached the log: the old value stays.
			fltMustBeFailed(t, s, st)
			fltReopen(t, s, fs, st, o)
		})
	}
}

// fltArmAtEOF calls arm when the body has been read to its end.
type fltArmAtEOF struct {
	r   *bytes.Reader
	arm func()
}

func (a *fltArmAtEOF) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n == 0 && a.arm != nil {
		a.arm()
		a.arm = nil
	}
	return n, err
}

func TestFaultSyncError(t *testing.T) {
	t.Run("segment fsync", func(t *testing.T) {
		o := fltOpts(nil)
		fs, inj, s, st := fltSetup(t, o)
		// Concurrent writers: none may succeed, whichever group they join.
		// The failing fsync waits until every body has been read, so that
		// every record is in the log, unsynced, when it fails.
		keys := []string{"victim", "obj1", "obj2", "new1", "new2", "new3"}
		var read atomic.Int32
		var once sync.Once
		inj.on(func(op errorfs.Op) bool {
			if !fltIsSeg(op) || !fltIsSync(op) {
				return false
			}
			once.Do(func() {
				for i := 0; i < 10000 && int(read.Load()) < len(keys); i++ {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
			})
			return true
		})
		bodies := make([][]byte, len(keys))
		errs := make([]error, len(keys))
		var wg sync.WaitGroup
		for i := range keys {
			bodies[i] = st.body([]int{10, 20 << 10, 90 << 10}[i%3])
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := &fltArmAtEOF{r: bytes.NewReader(bodies[i]), arm: func() { read.Add(1) }}
				_, errs[i] = s.Put("bkt", keys[i], int64(len(bodies[i])), r, PutOptions{ContentType: "c/" + keys[i]})
			}(i)
		}
		wg.Wait()
		inj.off()
		if inj.hits.Load() == 0 {
			t.Fatal("no error was injected")
		}
		for i, err := range errs {
			if err == nil {
				t.Errorf("Put %s succeeded although its group's fsync failed", keys[i])
			} else if !errors.Is(err, ErrStoreFailed) {
				t.Errorf("Put %s: %v, want ErrStoreFailed", keys[i], err)
			}
			st.unknown(keys[i], bodies[i])
		}
		fltMustBeFailed(t, s, st)
		fltReopen(t, s, fs, st, o)
	})
	t.Run("directory fsync", func(t *testing.T) {
		o := fltOpts(nil)
		fs, inj, s, st := fltSetup(t, o)
		inj.on(func(op errorfs.Op) bool { return fltIsSegDir(op) && fltIsSync(op) })
		var failed bool
		for i := 0; i < 20 && !failed; i++ {
			key := fmt.Sprintf("d%d", i)
			b := st.body(30 << 10)
			_, err := s.Put("bkt", key, int64(len(b)), bytes.NewReader(b), PutOptions{ContentType: "c/" + key})
			if err != nil {
				failed = true
				if !errors.Is(err, ErrStoreFailed) || !errors.Is(err, errorfs.ErrInjected) {
					t.Errorf("Put %s: %v, want ErrStoreFailed wrapping the injected error", key, err)
				}
				st.unknown(key, b)
			} else {
				st.acked(key, b)
			}
		}
		inj.off()
		if !failed || inj.hits.Load() == 0 {
			t.Fatalf("no Put failed (%d injected): a new segment's directory entry was never synced", inj.hits.Load())
		}
		fltMustBeFailed(t, s, st)
		fltReopen(t, s, fs, st, o)
	})
}

func TestFaultReadError(t *testing.T) {
	o := fltOpts(nil)
	_, inj, s, st := fltSetup(t, o)
	defer s.Close()
	// big spans blocks in sealed segments; last sits in the active one.
	big, last := st.body(150<<10), st.body(20<<10)
	st.put(s, "big", big)
	st.put(s, "last", last)
	get := func(key string, off, n int64) ([]byte, error) {
		var buf bytes.Buffer
		_, err := s.Get("bkt", key, off, n, &buf)
		return buf.Bytes(), err
	}
	inj.on(func(op errorfs.Op) bool { return fltIsSeg(op) && op.Kind == errorfs.OpFileReadAt })
	for key, size := range map[string]int{"big": len(big), "last": len(last), "obj5": 100 << 10, "mp": 80 << 10} {
		if _, err := get(key, 0, -1); err == nil {
			t.Errorf("Get %s succeeded although every segment read fails", key)
		}
		if _, err := get(key, int64(size)/2, 10); err == nil {
			t.Errorf("ranged Get %s succeeded although every segment read fails", key)
		}
		if _, err := s.Head("bkt", key); err != nil {
			t.Errorf("Head %s during segment read errors: %v", key, err)
		}
	}
	// Inline objects never touch a segment.
	if got, err := get("obj1", 0, -1); err != nil || !bytes.Equal(got, st.want["obj1"][0]) {
		t.Errorf("inline Get during segment read errors: %v", err)
	}
	if inj.hits.Load() == 0 {
		t.Fatal("no read error was injected")
	}
	inj.off()
	st.check(s, "after read errors", false)

	// Fail the read of one block of big only: ranges that avoid it are
	// served, ranges that need it fail.
	obj, err := s.Open("bkt", "big")
	if err != nil {
		t.Fatal(err)
	}
	bs := int64(o.BlockSize)
	seg, num, ok := locate(obj.en.extents[0].runs, 4)
	obj.Close()
	if !ok {
		t.Fatal("big has no block 4")
	}
	s.segMu.RLock()
	e, ok := s.segs[seg].entry(num)
	s.segMu.RUnlock()
	if !ok {
		t.Fatal("block 4 of big not in its segment")
	}
	inj.on(func(op errorfs.Op) bool {
		return strings.HasSuffix(op.Path, "/"+segmentName(seg)) && op.Kind == errorfs.OpFileReadAt && op.Offset == e.off
	})
	if got, err := get("big", 0, 4*bs); err != nil || !bytes.Equal(got, big[:4*bs]) {
		t.Errorf("Get of blocks 0-3 with block 4 unreadable: %v (%d bytes)", err, len(got))
	}
	if got, err := get("big", 5*bs, int64(len(big))-5*bs); err != nil || !bytes.Equal(got, big[5*bs:]) {
		t.Errorf("Get of blocks 5- with block 4 unreadable: %v (%d bytes)", err, len(got))
	}
	for _, r := range [][2]int64{{0, -1}, {4 * bs, 1}, {4*bs - 1, 2}, {3 * bs, 3 * bs}} {
		if got, err := get("big", r[0], r[1]); err == nil {
			t.Errorf("Get big %d+%d returned %d bytes and no error although block 4 is unreadable", r[0], r[1], len(got))
		} else if !bytes.HasPrefix(big[r[0]:], got) {
			t.Errorf("Get big %d+%d wrote wrong bytes before failing", r[0], r[1])
		}
	}
	if inj.hits.Load() == 0 {
		t.Fatal("no read error was injected on block 4")
	}
	inj.off()
	if got, err := get("big", 0, -1); err != nil || !bytes.Equal(got, big) {
		t.Errorf("Get big after the read error cleared: %v", err)
	}
	// Read errors do not fail the store.
	st.put(s, "after", st.body(40<<10))
	st.check(s, "after block read error", false)
}

func TestFaultSealError(t *testing.T) {
	cases := map[string]func(errorfs.Op) bool{
		"bix create": func(op errorfs.Op) bool { return fltIsBix(op) && op.Kind == errorfs.OpCreate },
		"bix write":  func(op errorfs.Op) bool { return fltIsBix(op) && op.Kind == errorfs.OpFileWrite },
		"bix sync":   func(op errorfs.Op) bool { return fltIsBix(op) && fltIsSync(op) },
		"bix rename": func(op errorfs.Op) bool { return fltIsBix(op) && op.Kind == errorfs.OpRename },
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			o := fltOpts(nil)
			fs, inj, s, st := fltSetup(t, o)
			inj.on(cases[name])
			// The sealer runs in the background: keep writing until it
			// has failed the store.
			var failed bool
			start := time.Now()
			for i := 0; !failed && (i < 20 || time.Since(start) < 20*time.Second); i++ {
				if i >= 20 {
					time.Sleep(5 * time.Millisecond)
				}
				key := fmt.Sprintf("s%d", i)
				b := st.body(30 << 10)
				_, err := s.Put("bkt", key, int64(len(b)), bytes.NewReader(b), PutOptions{ContentType: "c/" + key})
				if err != nil {
					failed = true
					if !errors.Is(err, ErrStoreFailed) || !errors.Is(err, errorfs.ErrInjected) {
						t.Errorf("Put %s after a failed seal: %v, want ErrStoreFailed wrapping the injected error", key, err)
					}
					st.unknown(key, b)
				} else {
					st.acked(key, b)
				}
			}
			inj.off()
			if !failed || inj.hits.Load() == 0 {
				t.Fatalf("no Put failed (%d injected)", inj.hits.Load())
			}
			fltMustBeFailed(t, s, st)
			fltReopen(t, s, fs, st, o)
		})
	}
}

// TestFaultRecovery injects errors into Open while it recovers: each must
// make Open fail (or recover correctly), and a later clean Open must find
// every acknowledged write.
func TestFaultRecovery(t *testing.T) {
	build := func(t *testing.T, o Options, n int) (*vfs.MemFS, *fltState) {
		fs := vfs.NewCrashableMem()
		o.FS = fs
		s, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateBucket("bkt"); err != nil {
			t.Fatal(err)
		}
		st := newFltState(t)
		for i := 0; i < n; i++ {
			st.put(s, fmt.Sprintf("r%02d", i), st.body([]int{300 << 10, 100, 200 << 10}[i%3]))
		}
		if err := s.Delete("bkt", "r01"); err != nil {
			t.Fatal(err)
		}
		st.acked("r01", nil)
		s.appendMu.Lock()
		active, size := s.active.id, s.active.size.Load()
		s.appendMu.Unlock()
		if (o.SegmentSize > 1<<20 && size < 1<<20+128<<10) || (o.SegmentSize <= 1<<20 && active < 3) {
			t.Fatalf("setup: active segment %d holds %d bytes; want more than 1 MiB, or sealed segments before it", active, size)
		}
		// Crash: only synced data survives, and the index lags the log.
		crashed := fs.CrashClone(vfs.CrashCloneCfg{})
		s.Close()
		return crashed, st
	}
	seg, bix := fltIsSeg, fltIsBix
	cases := []struct {
		name    string
		pred    func(errorfs.Op) bool
		mayCope bool // recovery may work around the fault
		big     bool // needs an open segment of more than 1 MiB
	}{
		{"segment header read", func(op errorfs.Op) bool { return seg(op) && op.Kind == errorfs.OpFileReadAt && op.Offset == 0 }, false, false},
		{"segment read past 1 MiB", func(op errorfs.Op) bool { return seg(op) && op.Kind == errorfs.OpFileReadAt && op.Offset >= 1<<20 }, false, true},
		{"segment open", func(op errorfs.Op) bool { return seg(op) && op.Kind == errorfs.OpOpen }, false, false},
		{"segment stat", func(op errorfs.Op) bool { return seg(op) && op.Kind == errorfs.OpFileStat }, false, false},
		{"segment list", func(op errorfs.Op) bool { return fltIsSegDir(op) && op.Kind == errorfs.OpList }, false, false},
		{"bix create", func(op errorfs.Op) bool { return bix(op) && op.Kind == errorfs.OpCreate }, false, false},
		{"bix sync", func(op errorfs.Op) bool { return bix(op) && fltIsSync(op) }, false, false},
		{"bix open", func(op errorfs.Op) bool { return bix(op) && op.Kind == errorfs.OpOpen }, true, false},
		{"bix read", func(op errorfs.Op) bool { return bix(op) && op.Kind == errorfs.OpFileReadAt }, true, false},
		{"index write", func(op errorfs.Op) bool {
			return strings.Contains(op.Path, "index") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite
		}, false, false},
	}
	// One store whose only segment is open and ahead of the index (nothing
	// sealed yet), one with sealed segments and a large open one.
	layouts := []struct {
		name string
		seg  int64
		n    int
	}{
		{"one open segment", 4 << 20, 9},
		{"sealed and open segments", 256 << 10, 9},
	}
	for _, lay := range layouts {
		o := fltOpts(nil)
		o.SegmentSize = lay.seg
		o.DisableCompression = true
		base, st := build(t, o, lay.n)
		for _, tc := range cases {
			if tc.big && lay.seg <= 1<<20 {
				continue
			}
			t.Run(lay.name+"/"+tc.name, func(t *testing.T) {
				st.t = t
				work := base.CrashClone(vfs.CrashCloneCfg{})
				inj := &fltInjector{}
				inj.on(tc.pred)
				o.FS = errorfs.Wrap(work, inj)
				s, err := Open(o)
				inj.off()
				if err == nil {
					if !tc.mayCope {
						t.Errorf("Open succeeded although recovery hit %d injected errors", inj.hits.Load())
					}
					st.check(s, "Open despite the fault", false)
					s.Close()
				} else if inj.hits.Load() == 0 {
					t.Fatalf("Open failed with no error injected: %v", err)
				}
				if inj.hits.Load() == 0 && !tc.mayCope {
					t.Fatalf("no error was injected")
				}
				// A clean Open, also after a crash of the failed one.
				crashed := work.CrashClone(vfs.CrashCloneCfg{})
				for i, fs := range []*vfs.MemFS{work, crashed} {
					o.FS = fs
					s, err := Open(o)
					if err != nil {
						t.Fatalf("clean Open %d after the fault: %v", i, err)
					}
					st.check(s, fmt.Sprintf("clean Open %d", i), false)
					s.Close()
				}
			})
		}
	}
}

// TestFaultRandom: random puts and deletes with a small probability of a
// fault on every segment, block-index and directory write or sync. Whatever
// returned success must be there after reopening, on the filesystem as it
// is and after a crash that drops everything not synced.
func TestFaultRandom(t *testing.T) {
	seed := lsmTestSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	// The injector runs on the store's goroutines: it has its own source.
	injRng := rand.New(rand.NewPCG(seed, 8))
	var injMu sync.Mutex
	fs := vfs.NewCrashableMem()
	inj := &fltInjector{}
	o := fltOpts(nil)
	o.FS = errorfs.Wrap(fs, inj)
	o.Logf = t.Logf
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	st := newFltState(t)
	rounds, opsPer := 12, 30
	if testing.Short() {
		rounds = 5
	}
	var injected, acked, failedOps int
	for round := 0; round < rounds; round++ {
		o.FS = errorfs.Wrap(fs, inj)
		s, err := Open(o)
		if err != nil {
			t.Fatalf("round %d: clean Open: %v", round, err)
		}
		st.check(s, fmt.Sprintf("round %d start", round), true)
		p := []float64{0.01, 0.03, 0.08}[rng.IntN(3)]
		inj.on(func(op errorfs.Op) bool {
			if !(fltIsSeg(op) || fltIsBix(op) || fltIsSegDir(op)) || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
				return false
			}
			injMu.Lock()
			defer injMu.Unlock()
			return injRng.Float64() < p
		})
		// Three writers, each with its own keys, so each key's history is
		// sequential.
		type result struct {
			key  string
			body []byte
			del  bool
			err  error
		}
		results := make([][]result, 3)
		bodies := make([][][]byte, 3)
		for w := range bodies {
			for i := 0; i < opsPer; i++ {
				var b []byte
				if rng.IntN(5) != 0 {
					st.next++
					b = crBody(st.next<<8, []int{0, 200, 5000, 40 << 10, 150 << 10}[rng.IntN(5)])
				}
				bodies[w] = append(bodies[w], b)
			}
		}
		keyOf := func(w, i int) string { return fmt.Sprintf("w%d-%d", w, (i*7+round)%5) }
		var wg sync.WaitGroup
		for w := range bodies {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i, b := range bodies[w] {
					k := keyOf(w, i)
					var err error
					if b == nil {
						err = s.Delete("bkt", k)
					} else {
						_, err = s.Put("bkt", k, int64(len(b)), bytes.NewReader(b), PutOptions{ContentType: "c/" + k})
					}
					results[w] = append(results[w], result{k, b, b == nil, err})
					if errors.Is(err, ErrStoreFailed) {
						break
					}
				}
			}(w)
		}
		wg.Wait()
		inj.off()
		injected += int(inj.hits.Load())
		for _, rs := range results {
			for _, r := range rs {
				if r.err == nil {
					acked++
					st.acked(r.key, r.body)
				} else {
					failedOps++
					st.unknown(r.key, r.body)
				}
			}
		}
		if s.failedErr() == nil {
			st.check(s, fmt.Sprintf("round %d healthy", round), false)
		}
		// Crash now (keeping only synced data) or close and reopen.
		if rng.IntN(2) == 0 {
			fs = fs.CrashClone(vfs.CrashCloneCfg{})
			s.Close()
		} else if err := s.Close(); err != nil && s.failedErr() == nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
	}
	o.FS = fs
	s, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	st.check(s, "final", true)
	s.Close()
	t.Logf("%d rounds: %d acknowledged ops, %d failed, %d errors injected", rounds, acked, failedOps, injected)
	if injected == 0 || acked == 0 || failedOps == 0 {
		t.Fatalf("vacuous run: %d acknowledged ops, %d failed, %d errors injected", acked, failedOps, injected)
	}
}
