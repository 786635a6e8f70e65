package engine

import (
	"bytes"
	"os"
	"testing"
	"unsafe"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// residentPages counts the pages of path's byte range [off, end) that are in
// the page cache.
func residentPages(t *testing.T, path string, off, end int64) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, int(end), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (end+4095)/4096)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	n := 0
	for _, v := range vec[off/4096:] {
		n += int(v & 1)
	}
	return n
}

// TestDropCache: group commit drops the page cache of synced segment bytes
// older than the newest cacheWindow, and what it dropped reads back from
// disk intact.
func TestDropCache(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{FS: vfs.Default, Dirs: []string{dir}, CacheSize: -1, IndexCacheSize: 8 << 20,
		DisableCompression: true, CompactionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	obj := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	for _, k := range keys {
		mustPut(t, s, "bkt", k, obj)
	}
	synced := s.activeSegment().size.Load()
	// The round acknowledging this put starts after the earlier rounds
	// have dropped their pages.
	mustPut(t, s, "bkt", "small", []byte("x"))

	path := dir + "/segments/" + segmentName(s.activeSegment().id)
	end := synced - cacheWindow - 4096
	if end < 1<<20 {
		t.Fatalf("wrote only %d bytes", synced)
	}
	// The kernel skips the odd page it holds at that moment (per-CPU LRU
	// batches): a few per put may stay.
	if n, pages := residentPages(t, path, 0, end), end/4096; n*100 > int(pages) {
		t.Fatalf("%d of the first %d pages still cached", n, pages)
	}
	for _, k := range keys {
		if got := mustGet(t, s, "bkt", k, 0, -1); !bytes.Equal(got, obj) {
			t.Fatalf("%s: wrong bytes", k)
		}
	}
}
