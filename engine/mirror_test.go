package engine

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// scribbleFS is a filesystem whose files overwrite what Write was given,
// as a vfs File may.
type scribbleFS struct{ vfs.FS }

type scribbleFile struct{ vfs.File }

func (fs scribbleFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return scribbleFile{f}, nil
}

func (f scribbleFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	for i := range p {
		p[i] = 0xAA
	}
	return n, err
}

// TestMirrorsGetTheirOwnCopy: every mirror of a segment holds the bytes
// appended, though each Write scribbles over its buffer and the copies
// reuse buffers.
func TestMirrorsGetTheirOwnCopy(t *testing.T) {
	mem := vfs.NewMem()
	s := openMem(t, scribbleFS{mem}, Options{Dirs: []string{"a", "b"}, CacheSize: -1, DisableCompression: true})
	defer s.Close()
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	want := map[string][]byte{}
	for i, n := range []int{3<<20 + 5, 64 << 10, 1 << 20, 2<<20 + 1} {
		k := string(rune('a' + i))
		want[k] = randomBytes(r, n)
		// The test's own buffer must survive: Put hands the engine's.
		mustPut(t, s, "bkt", k, bytes.Clone(want[k]))
	}
	for k, data := range want {
		if got := mustGet(t, s, "bkt", k, 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("%s: wrong bytes", k)
		}
	}
	id := s.activeSegment().id
	var files [][]byte
	for _, d := range s.replicaDrives(id) {
		f, err := mem.Open(mem.PathJoin(s.segDir(d), segmentName(id)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if len(files) != 2 || len(files[0]) < 6<<20 || !bytes.Equal(files[0], files[1]) {
		t.Fatalf("%d replicas, sizes %d and %d, equal %v", len(files), len(files[0]), len(files[len(files)-1]), bytes.Equal(files[0], files[len(files)-1]))
	}
}
