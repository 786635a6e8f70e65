package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// copyDir copies the files of one directory (an index copy) to another.
func copyDir(t *testing.T, fs vfs.FS, from, to string) {
	t.Helper()
	if err := fs.RemoveAll(to); err != nil {
		t.Fatal(err)
	}
	if err := fs.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := fs.List(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := vfs.Copy(fs, fs.PathJoin(from, n), fs.PathJoin(to, n)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIndexCopies: the index lives on parity+1 drives; a stale copy (an
// old disk image, a copy that missed writes before a crash) is never
// chosen over a newer one and is rebuilt at open, and every copy carries
// the whole store on its own.
func TestIndexCopies(t *testing.T) {
	for _, stale := range []int{0, 1} {
		fs := vfs.NewMem()
		o := ecOpts(3) // 2+1: index copies on drives 0 and 1
		s := openMem(t, fs, o)
		s.CreateBucket("bkt")
		mustPut(t, s, "bkt", "old", []byte("old"))
		if len(s.idx.dbs) != 2 {
			t.Fatalf("%d index copies, want 2", len(s.idx.dbs))
		}
		s.Close()
		copyDir(t, fs, o.Dirs[stale]+"/index", "saved")

		s = openMem(t, fs, o)
		mustPut(t, s, "bkt", "new", []byte("new"))
		if err := s.Delete("bkt", "old"); err != nil {
			t.Fatal(err)
		}
		// Enough to seal and erasure-code segments the stale copy never
		// heard of (their mirrors are gone: only the index knows them).
		r := rand.New(rand.NewPCG(uint64(stale), 7))
		want := map[string][]byte{}
		for i := 0; i < 30; i++ {
			k := fmt.Sprintf("bulk/%d", i)
			want[k] = randomBytes(r, 60<<10)
			mustPut(t, s, "bkt", k, want[k])
		}
		s.WaitSealed()
		s.Close()
		copyDir(t, fs, "saved", o.Dirs[stale]+"/index") // drive `stale` goes back in time

		check := func(what string) {
			t.Helper()
			s := openMem(t, fs, o)
			defer s.Close()
			if got := mustGet(t, s, "bkt", "new", 0, -1); string(got) != "new" {
				t.Fatalf("stale copy on drive %d, %s: new = %q", stale, what, got)
			}
			if _, err := s.Head("bkt", "old"); !errors.Is(err, ErrNoSuchKey) {
				t.Fatalf("stale copy on drive %d, %s: a deleted key came back: %v", stale, what, err)
			}
			readAll(t, s, want)
			s.WaitSealed()
			s.idx.mu.Lock()
			defer s.idx.mu.Unlock()
			for _, db := range s.idx.dbs[1:] {
				if seq, err := readSeq(db); err != nil || seq != s.idx.seq {
					t.Fatalf("%s: copy at write %d (%v), primary at %d", what, seq, err, s.idx.seq)
				}
			}
		}
		check("reopened")
		// The stale copy was rebuilt: with the other index drive gone it
		// carries the store alone.
		replaceDrive(t, fs, o.Dirs[1-stale])
		check("other index drive lost")
	}
}

// TestIndexLostEverywhere: with every index copy gone but segments left,
// Open refuses instead of starting an empty store over the data.
func TestIndexLostEverywhere(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(3)
	s := openMem(t, fs, o)
	s.CreateBucket("bkt")
	mustPut(t, s, "bkt", "k", []byte("v"))
	s.Close()
	for _, d := range o.Dirs[:2] {
		if err := fs.RemoveAll(d + "/index"); err != nil {
			t.Fatal(err)
		}
	}
	o.FS = fs
	if s, err := Open(o); err == nil {
		s.Close()
		t.Fatal("opened a store whose index is lost on every drive")
	}
}
