package engine

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestSmoke(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open(Options{FS: fs, Dirs: []string{"d0"}, CacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+17)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.IntN(4))
	}
	info, err := s.Put("bkt", "a/b", int64(len(data)), bytes.NewReader(data), PutOptions{ContentType: "x"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(info)
	var out bytes.Buffer
	if _, err := s.Get("bkt", "a/b", 100, 200000, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data[100:200100]) {
		t.Fatal("mismatch")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{FS: fs, Dirs: []string{"d0"}})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := s.Get("bkt", "a/b", 0, -1, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("mismatch after reopen")
	}
	t.Log(s.Metrics())
	s.Close()
}
