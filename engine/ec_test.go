package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func ecOpts(drives int) Options {
	dirs := make([]string, drives)
	for i := range dirs {
		dirs[i] = fmt.Sprintf("d%d", i)
	}
	return Options{Logf: func(f string, a ...any) { logf(f, a...) }, Dirs: dirs, BlockSize: 4 << 10, SegmentSize: 512 << 10, ShardBlockSize: 16 << 10, testingSmallSegments: true,
		CompactionInterval: -1, CacheSize: -1}
}

// ecFill writes objects over many segments and waits until every sealed
// segment is encoded.
func ecFill(t *testing.T, fs vfs.FS, o Options, seed uint64) map[string][]byte {
	t.Helper()
	s := openMem(t, fs, o)
	defer s.Close()
	s.CreateBucket("bkt")
	r := rand.New(rand.NewPCG(seed, seed))
	want := map[string][]byte{}
	for i := 0; i < 40; i++ {
		key := fmt.Sprintf("files/index_files/%d", i)
		data := randomBytes(r, 1+r.IntN(120<<10))
		if i%4 == 0 {
			for j := range data {
				data[j] &= 7 // some compressible objects
			}
		}
		mustPut(t, s, "bkt", key, data)
		want[key] = data
	}
	s.WaitSealed()
	return want
}

func readAll(t *testing.T, s *Store, want map[string][]byte) {
	t.Helper()
	for k, v := range want {
		var b bytes.Buffer
		if _, err := s.Get("bkt", k, 0, -1, &b); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !bytes.Equal(b.Bytes(), v) {
			t.Fatalf("%s: wrong bytes", k)
		}
	}
}

// shardFiles lists every shard file on the drives.
func shardFiles(t *testing.T, fs vfs.FS, o Options) []string {
	var out []string
	for _, d := range o.Dirs {
		names, _ := fs.List(d + "/segments")
		for _, n := range names {
			if strings.HasSuffix(n, ".shd") {
				out = append(out, d+"/segments/"+n)
			}
		}
	}
	return out
}

func TestErasureLayouts(t *testing.T) {
	for _, tc := range []struct{ drives, k, m int }{{3, 2, 1}, {4, 2, 2}, {6, 4, 2}} {
		t.Run(fmt.Sprintf("%d+%d", tc.k, tc.m), func(t *testing.T) {
			fs := vfs.NewMem()
			o := ecOpts(tc.drives)
			want := ecFill(t, fs, o, uint64(tc.drives))
			s := openMem(t, fs, o)
			m := s.Metrics()
			if m.DataShards != tc.k || m.ParityShards != tc.m {
				t.Fatalf("layout %d+%d", m.DataShards, m.ParityShards)
			}
			encoded := 0
			for _, sg := range m.Segments {
				if sg.Encoded {
					encoded++
				}
			}
			if encoded == 0 {
				t.Fatal("no segment was encoded")
			}
			// No mirror of an encoded segment is left.
			for _, sg := range m.Segments {
				if !sg.Encoded {
					continue
				}
				for _, d := range o.Dirs {
					if _, err := fs.Stat(d + "/segments/" + segmentName(sg.ID)); err == nil {
						t.Fatalf("segment %d encoded but its mirror is still on %s", sg.ID, d)
					}
				}
			}
			readAll(t, s, want)
			if m := s.Metrics(); m.DegradedReads != 0 {
				t.Fatalf("healthy reads were degraded: %d", m.DegradedReads)
			}
			// A healthy small read touches one drive (two at a shard-block edge).
			before := s.Metrics().DiskReads
			mustGet(t, s, "bkt", "files/index_files/3", 0, 1)
			if d := s.Metrics().DiskReads - before; d < 1 || d > 2 {
				t.Fatalf("a one-byte read made %d disk reads", d)
			}
			s.Close()

			// Lose m whole drives: every object still reads back exactly.
			for i := 0; i < tc.m; i++ { // drive 0 holds the primary index copy
				if err := fs.RemoveAll(o.Dirs[i]); err != nil {
					t.Fatal(err)
				}
			}
			s = openMem(t, fs, o)
			readAll(t, s, want)
			if s.Metrics().DegradedReads == 0 {
				t.Fatal("no degraded read counted with drives lost")
			}
			s.Close()
		})
	}
}

// TestErasureCorruptShardBlocks: random corrupt shard-blocks (at most m per
// row) are detected and rebuilt on read.
func TestErasureCorruptShardBlocks(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(4)
	want := ecFill(t, fs, o, 21)
	r := rand.New(rand.NewPCG(22, 22))
	// Per segment, damage up to m = 2 shards: one random shard-block each.
	bySeg := map[string][]string{}
	for _, p := range shardFiles(t, fs, o) {
		seg := p[strings.LastIndexByte(p, '/')+1:][:16]
		bySeg[seg] = append(bySeg[seg], p)
	}
	damaged := 0
	for _, files := range bySeg {
		r.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
		for _, p := range files[:r.IntN(3)] {
			buf, _ := fs.UnsafeGetFileDataBuffer(p)
			rows := (len(buf) - shardHeaderSize) / (16 << 10)
			row := r.IntN(max(1, rows-1))
			buf[shardHeaderSize+row*(16<<10)+r.IntN(16<<10)] ^= 0x55
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatal("nothing damaged")
	}
	s := openMem(t, fs, o)
	defer s.Close()
	readAll(t, s, want)
}

// TestErasureTooManyLost: losing m+1 drives is a clear error, never wrong
// bytes.
func TestErasureTooManyLost(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(3)
	want := ecFill(t, fs, o, 31)
	for i := 0; i < 2; i++ {
		fs.RemoveAll(o.Dirs[i] + "/segments")
		fs.MkdirAll(o.Dirs[i]+"/segments", 0o755)
	}
	s := openMem(t, fs, o)
	defer s.Close()
	failed := 0
	for k, v := range want {
		var b bytes.Buffer
		_, err := s.Get("bkt", k, 0, -1, &b)
		if err == nil {
			if !bytes.Equal(b.Bytes(), v) {
				t.Fatalf("%s: wrong bytes returned with too many drives lost", k)
			}
			continue // inline, or in the open segment's surviving mirror
		}
		failed++
		if !errors.Is(err, errTooManyLost) && !errors.Is(err, errNoSegment) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, errReplicas) {
			t.Fatalf("%s: unexpected error %v", k, err)
		}
	}
	if failed == 0 {
		t.Fatal("no read failed with m+1 drives lost")
	}
}

var logf = func(string, ...any) {}
