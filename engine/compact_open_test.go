package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCompactReclaimsOpenSegment is issue 12's item 11 at a small scale:
// write 1.17 segments, delete half, compact (an explicit pass, as lsmctl
// compact runs): the open segment's garbage must go too, leaving segment
// bytes on disk within 1.1 × live.
func TestCompactReclaimsOpenSegment(t *testing.T) {
	const segSize = 1 << 20
	o := Options{SegmentSize: segSize, BlockSize: 16 << 10, CacheSize: -1, CompactionInterval: -1, CompactionRate: -1}
	s := openMem(t, vfs.NewMem(), o)
	defer s.Close()
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	const objSize = 16 << 10
	n := int(segSize * 117 / 100 / objSize)
	for i := 0; i < n; i++ {
		mustPut(t, s, "bkt", fmt.Sprintf("o%03d", i), randomBytes(r, objSize))
	}
	for i := 0; i < n; i += 2 {
		if err := s.Delete("bkt", fmt.Sprintf("o%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ratio := func() (float64, Metrics) {
		m := s.Metrics()
		seg := m.DiskBytes - m.IndexBytes*int64(m.IndexCopies)
		return float64(seg) / float64(m.LiveBytes), m
	}
	before, _ := ratio()
	if _, err := s.Compact(context.Background(), CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	s.WaitSealed()
	after, m := ratio()
	t.Logf("segment bytes / live: %.3f before, %.3f after compaction (live %d, %d segments)", before, after, m.LiveBytes, len(m.Segments))
	if after > 1.1 {
		t.Fatalf("after compaction segment bytes are %.3f × live, want ≤ 1.1", after)
	}
	for i := 1; i < n; i += 2 {
		k := fmt.Sprintf("o%03d", i)
		if got := mustGet(t, s, "bkt", k, 0, -1); len(got) != objSize {
			t.Fatalf("%s: %d bytes", k, len(got))
		}
	}
}
