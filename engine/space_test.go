package engine

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

var spaceBytes = flag.Int64("space-bytes", 64<<20, "bytes TestCompactSpace writes (the issue's figure: 1 GiB)")

// TestCompactSpace writes mixed objects over several drives, deletes half,
// compacts, and checks bytes on disk against live bytes × (k+m)/k.
func TestCompactSpace(t *testing.T) {
	total := *spaceBytes
	if testing.Short() {
		total = 16 << 20
	}
	for _, drives := range []int{1, 4, 6} {
		t.Run(fmt.Sprintf("%d-drives", drives), func(t *testing.T) {
			dirs := make([]string, drives)
			for i := range dirs {
				dirs[i] = fmt.Sprintf("%s/d%d", t.TempDir(), i)
			}
			shardBlock := 1 << 20
			if total < 256<<20 {
				shardBlock = 256 << 10
			}
			o := Options{FS: vfs.Default, Dirs: dirs, SegmentSize: max(16<<20, total/8), ShardBlockSize: shardBlock, CompactionInterval: -1,
				CompactionRate: -1, CacheSize: -1, IndexCacheSize: 8 << 20}
			s, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.CreateBucket("bkt")
			r := rand.New(rand.NewPCG(uint64(drives), 1))
			var written int64
			var keys []string
			buf := make([]byte, 16<<20)
			for i := 0; written < total; i++ {
				// Milvus-like mix: 16 MiB index slices, MiB-sized binlogs,
				// small stats logs.
				var n int
				switch r.IntN(10) {
				case 0:
					n = 16 << 20
				case 1, 2, 3, 4:
					n = 1<<20 + r.IntN(3<<20)
				default:
					n = 1 + r.IntN(64<<10)
				}
				n = int(min(int64(n), total-written))
				for j := 0; j+8 <= n; j += 8 {
					v := r.Uint64()
					for b := 0; b < 8; b++ {
						buf[j+b] = byte(v >> (8 * b))
					}
				}
				key := fmt.Sprintf("files/%d", i)
				if _, err := s.Put("bkt", key, int64(n), bytes.NewReader(buf[:n]), PutOptions{}); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, key)
				written += int64(n)
			}
			s.WaitSealed()
			m0 := s.Metrics()
			for i, k := range keys {
				if i%2 == 0 {
					s.Delete("bkt", k)
				}
			}
			// Seal the open segment too, so everything is compactable.
			s.Close()
			if s, err = Open(o); err != nil {
				t.Fatal(err)
			}
			s.WaitSealed()
			// A manual pass (lsmctl compact --threshold 0.1): the background default
			// (0.3) leaves segments with less garbage alone by design.
			if _, err := s.Compact(context.Background(), CompactOptions{Threshold: 0.1}); err != nil {
				t.Fatal(err)
			}
			s.WaitSealed()
			m := s.Metrics()
			k, p := float64(m.DataShards), float64(m.ParityShards)
			ideal := float64(m.LiveBytes) * (k + p) / k
			ratio := float64(m.DiskBytes) / ideal
			t.Logf("%d drives (%v+%v): wrote %d, before delete disk/logical %.3f; after delete+compact: logical %d live %d disk %d = %.3f × live×(k+m)/k",
				drives, k, p, written, float64(m0.DiskBytes)/float64(m0.LogicalBytes), m.LogicalBytes, m.LiveBytes, m.DiskBytes, ratio)
			if ratio > 1.10 {
				t.Fatalf("bytes on disk %d are %.1f%% over live × (k+m)/k = %.0f", m.DiskBytes, (ratio-1)*100, ideal)
			}
		})
	}
}
