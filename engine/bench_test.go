package engine

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Benchmarks run on the real filesystem (a temporary directory), so Put
// includes a real fdatasync per group commit.
func benchStore(b *testing.B, o Options) *Store {
	o.FS = vfs.Default
	o.Dirs = []string{b.TempDir()}
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.CreateBucket("bench"); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		for _, par := range []int{1, 8} {
			b.Run(fmt.Sprintf("%dKiB/writers=%d", size>>10, par), func(b *testing.B) {
				s := benchStore(b, Options{})
				data := randomBytes(rand.New(rand.NewPCG(1, 2)), size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.SetParallelism(par)
				var n int64
				b.RunParallel(func(pb *testing.PB) {
					r := bytes.NewReader(data)
					for i := 0; pb.Next(); i++ {
						r.Reset(data)
						key := fmt.Sprintf("k%d-%p", i, r)
						if _, err := s.Put("bench", key, int64(size), r, PutOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				m := s.Metrics()
				_ = n
				if m.GroupCommits > 0 {
					b.ReportMetric(float64(m.GroupOps)/float64(m.GroupCommits), "ops/commit")
				}
			})
		}
	}
}

// BenchmarkGetRange reads random ranges of a 16 MiB object. "miss" runs
// with the block cache off (each block is one pread, from the OS page cache
// here); "hit" with every block cached.
func BenchmarkGetRange(b *testing.B) {
	for _, size := range []int64{4 << 10, 64 << 10} {
		for _, cached := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/cache=%s", size>>10, map[bool]string{false: "miss", true: "hit"}[cached])
			b.Run(name, func(b *testing.B) {
				o := Options{CacheSize: -1}
				if cached {
					o.CacheSize = 64 << 20
				}
				s := benchStore(b, o)
				const objSize = 16 << 20
				data := randomBytes(rand.New(rand.NewPCG(3, 4)), objSize)
				if _, err := s.Put("bench", "obj", objSize, bytes.NewReader(data), PutOptions{}); err != nil {
					b.Fatal(err)
				}
				if cached {
					s.Get("bench", "obj", 0, -1, io.Discard)
					s.cache.Wait()
				}
				r := rand.New(rand.NewPCG(5, 6))
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				before := s.Metrics()
				for i := 0; i < b.N; i++ {
					off := r.Int64N(objSize - size)
					if _, err := s.Get("bench", "obj", off, size, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				after := s.Metrics()
				b.ReportMetric(float64(after.DiskReads-before.DiskReads)/float64(b.N), "preads/op")
			})
		}
	}
}
