package engine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestMirroredDrives: with several drives each segment is written to
// parity+1 of them, and a read survives the loss or corruption of a
// replica.
func TestMirroredDrives(t *testing.T) {
	fs := vfs.NewMem()
	dirs := []string{"d0", "d1", "d2", "d3"}
	o := Options{Dirs: dirs, CacheSize: -1, DisableCompression: true}
	s := openMem(t, fs, o)
	if got := s.Metrics().Replicas; got != 3 {
		t.Fatalf("4 drives: %d replicas, want 3", got)
	}
	r := rand.New(rand.NewPCG(9, 9))
	s.CreateBucket("bkt")
	data := randomBytes(r, 2<<20)
	mustPut(t, s, "bkt", "k", data)
	s.Close()

	// Every segment exists on exactly three drives.
	count := map[string]int{}
	for _, d := range dirs {
		names, _ := fs.List(d + "/segments")
		for _, n := range names {
			count[n]++
		}
	}
	for n, c := range count {
		if c != 3 {
			t.Fatalf("%s on %d drives, want 3", n, c)
		}
	}

	// Corrupt the first replica's copy of the data and delete the second
	// replica outright: the third still serves correct bytes.
	s = openMem(t, fs, o)
	seg := s.segs[1]
	drives := s.replicaDrives(1)
	s.Close()
	buf, err := fs.UnsafeGetFileDataBuffer(drives[0] + "/segments/" + segmentName(seg.id))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(buf, data[:64])
	buf[i+10] ^= 0xff
	if err := fs.Remove(drives[1] + "/segments/" + segmentName(seg.id)); err != nil {
		t.Fatal(err)
	}
	s = openMem(t, fs, o)
	defer s.Close()
	if got := mustGet(t, s, "bkt", "k", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes with one replica corrupt and one missing")
	}
	// Writes go on to the new segment's drives.
	mustPut(t, s, "bkt", "k2", data[:100000])
	if got := mustGet(t, s, "bkt", "k2", 0, -1); !bytes.Equal(got, data[:100000]) {
		t.Fatal("write after replica loss")
	}
}

// TestDriveSetIdentity: a drive from another set is refused.
func TestDriveSetIdentity(t *testing.T) {
	fs := vfs.NewMem()
	a := openMem(t, fs, Options{Dirs: []string{"a0", "a1"}})
	a.Close()
	b := openMem(t, fs, Options{Dirs: []string{"b0", "b1"}})
	b.Close()
	if _, err := Open(Options{FS: fs, Dirs: []string{"a0", "b1"}}); !errors.Is(err, ErrIncompatibleLayout) {
		t.Fatalf("mixed sets: %v", err)
	}
	if _, err := Open(Options{FS: fs, Dirs: []string{"a1", "a0"}}); !errors.Is(err, ErrIncompatibleLayout) {
		t.Fatalf("swapped drives: %v", err)
	}
}

// TestRealFSMmap: on the OS filesystem a sealed segment's block index is
// memory-mapped, and a torn tail is cut off physically.
func TestRealFSMmap(t *testing.T) {
	dir := t.TempDir()
	o := Options{FS: vfs.Default, Dirs: []string{dir}, CacheSize: -1, IndexCacheSize: 8 << 20}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(rand.New(rand.NewPCG(4, 4)), 1<<20+3)
	s.CreateBucket("bkt")
	mustPut(t, s, "bkt", "k", data)
	s.Close()

	// Append garbage to the open segment, as a torn write would leave.
	seg := dir + "/segments/" + segmentName(1)
	f, err := vfs.Default.OpenReadWrite(seg, writeCategory)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	size := st.Size()
	f.WriteAt([]byte("torn frame bytes"), size)
	f.Close()

	s, err = Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sg := s.segs[1]
	if !sg.sealed.Load() || sg.bix == nil || !sg.bix.mapped {
		t.Fatalf("segment 1: sealed %v, block index mapped %v", sg.sealed.Load(), sg.bix != nil && sg.bix.mapped)
	}
	if st, _ := vfs.Default.Stat(seg); st.Size() != size {
		t.Fatalf("torn tail not cut: size %d, want %d", st.Size(), size)
	}
	if got := mustGet(t, s, "bkt", "k", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes through the mapped block index")
	}
}
