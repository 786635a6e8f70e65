package engine

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// BenchmarkErasure measures, on the real filesystem with 4+2 over six
// directories: sealing throughput (encoding of sealed segments), and ranged
// reads of 4 KiB and 1 MiB, healthy and with two drives' shards gone.
func BenchmarkErasure(b *testing.B) {
	base := b.TempDir()
	dirs := make([]string, 6)
	for i := range dirs {
		dirs[i] = fmt.Sprintf("%s/d%d", base, i)
	}
	o := Options{FS: vfs.Default, Dirs: dirs, SegmentSize: 32 << 20, CacheSize: -1, CompactionInterval: -1, IndexCacheSize: 8 << 20}
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	s.CreateBucket("bkt")
	const objSize = 16 << 20
	data := randomBytes(rand.New(rand.NewPCG(1, 1)), objSize)
	const objects = 8
	for i := 0; i < objects; i++ {
		if _, err := s.Put("bkt", fmt.Sprintf("o%d", i), objSize, bytes.NewReader(data), PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	s.WaitSealed()
	m := s.Metrics()
	if m.EncodeSeconds > 0 {
		b.Logf("sealing: encoded %d MiB at %.0f MiB/s", m.EncodedBytes>>20, float64(m.EncodedBytes)/(1<<20)/m.EncodeSeconds)
	}
	s.Close()

	read := func(b *testing.B, s *Store, size int64) {
		r := rand.New(rand.NewPCG(2, 2))
		b.SetBytes(size)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			// Objects 0..5 sit in sealed, encoded segments.
			key := fmt.Sprintf("o%d", r.IntN(5))
			if _, err := s.Get("bkt", key, r.Int64N(objSize-size), size, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, state := range []string{"healthy", "degraded"} {
		if state == "degraded" {
			for _, d := range dirs[1:3] { // drive 0 holds the index
				names, _ := os.ReadDir(d + "/segments")
				for _, n := range names {
					os.Remove(d + "/segments/" + n.Name())
				}
			}
		}
		s, err := Open(o)
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []int64{4 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", state, size>>10), func(b *testing.B) { read(b, s, size) })
		}
		b.Logf("%s: degraded reads %d", state, s.Metrics().DegradedReads)
		s.Close()
	}
}
