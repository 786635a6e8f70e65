package engine

import (
	"testing"
)

func TestMapRange(t *testing.T) {
	const b = 100
	cases := []struct {
		off  int64
		n, k int
		want []shardExtent
	}{
		{0, 10, 2, []shardExtent{{0, 0, 10, 0}}},
		{95, 10, 2, []shardExtent{{0, 95, 5, 0}, {1, 0, 5, 5}}},
		{150, 10, 2, []shardExtent{{1, 50, 10, 0}}},
		{195, 10, 2, []shardExtent{{1, 95, 5, 0}, {0, 100, 5, 5}}}, // row edge
		{250, 10, 2, []shardExtent{{0, 150, 10, 0}}},
		{0, 250, 2, []shardExtent{{0, 0, 100, 0}, {1, 0, 100, 100}, {0, 100, 50, 200}}},
		{399, 2, 4, []shardExtent{{3, 99, 1, 0}, {0, 100, 1, 1}}},
		{42, 7, 1, []shardExtent{{0, 42, 7, 0}}},
		{99, 2, 1, []shardExtent{{0, 99, 2, 0}}}, // k=1: one shard, contiguous
	}
	for _, c := range cases {
		got := mapRange(c.off, c.n, c.k, b)
		// k=1 splits at shard-block edges but stays on shard 0.
		if c.k == 1 {
			total := 0
			for _, e := range got {
				if e.shard != 0 || e.off != c.off+int64(e.bufOff) {
					t.Fatalf("k=1 %+v: %+v", c, got)
				}
				total += e.length
			}
			if total != c.n {
				t.Fatalf("k=1 %+v: covers %d", c, total)
			}
			continue
		}
		if len(got) != len(c.want) {
			t.Fatalf("%+v: got %+v", c, got)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%+v: got %+v", c, got)
			}
		}
	}
}

// FuzzMapRange: the extents cover the requested range exactly and each maps
// back to the logical offset it came from.
func FuzzMapRange(f *testing.F) {
	f.Add(int64(0), 100, 2, int64(64))
	f.Add(int64(12345), 70000, 4, int64(1<<20))
	f.Add(int64(1<<30), 1, 10, int64(4096))
	f.Fuzz(func(t *testing.T, off int64, n, k int, b int64) {
		if off < 0 || off > 1<<40 || n < 0 || n > 1<<22 || k < 1 || k > 60 || b < 1 || b > 1<<24 {
			return
		}
		ext := mapRange(off, n, k, b)
		pos := 0
		for _, e := range ext {
			if e.bufOff != pos || e.length <= 0 || e.shard < 0 || e.shard >= k {
				t.Fatalf("bad extent %+v at %d", e, pos)
			}
			// Invert: shard offset → logical offset.
			row, in := e.off/b, e.off%b
			logical := row*int64(k)*b + int64(e.shard)*b + in
			if logical != off+int64(pos) {
				t.Fatalf("extent %+v maps back to %d, want %d", e, logical, off+int64(pos))
			}
			if in+int64(e.length) > b {
				t.Fatalf("extent %+v crosses a shard-block edge", e)
			}
			pos += e.length
		}
		if pos != n {
			t.Fatalf("extents cover %d of %d", pos, n)
		}
	})
}
