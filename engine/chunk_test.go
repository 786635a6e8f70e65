package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// encodeBixV1 writes a block index in the version 1 format (no chunk
// checksums), as stores written before version 2 have on disk.
func encodeBixV1(id uint64, blockSize int, entries []blockEntry) []byte {
	b := make([]byte, bixHeaderSize+len(entries)*bixEntryBase+8)
	copy(b, bixMagic)
	b[7] = 1
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint32(b[16:], uint32(len(entries)))
	binary.LittleEndian.PutUint32(b[20:], uint32(blockSize))
	binary.LittleEndian.PutUint32(b[28:], crc32c(b[:28]))
	body := b[bixHeaderSize : len(b)-8]
	for i, e := range entries {
		e.chunks = nil
		putBixEntry(body[i*bixEntryBase:(i+1)*bixEntryBase], e)
	}
	binary.LittleEndian.PutUint32(b[len(b)-8:], crc32c(body))
	return b
}

func TestBixRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	var arena []byte
	var entries []blockEntry
	for i, n := range []int{1, 4096, 4097, 65536, 10000, 65536} {
		p := randomBytes(r, n)
		e := blockEntry{off: int64(100 * i), physLen: uint32(n), logLen: uint32(n), crc: crc32c(p)}
		if i == 5 {
			e.flags, e.logLen = flagZstd, 70000
		}
		e.withChunks(&arena, p)
		if want := n > chunkSize && i != 5; e.hasChunks() != want {
			t.Fatalf("entry %d of %d bytes: hasChunks %v", i, n, e.hasChunks())
		}
		entries = append(entries, e)
	}
	for _, v := range []int{1, 2} {
		b := encodeBix(3, DefaultBlockSize, entries)
		if v == 1 {
			b = encodeBixV1(3, DefaultBlockSize, entries)
		}
		n, size, ok := checkBix(b, 3, DefaultBlockSize)
		if !ok || n != len(entries) {
			t.Fatalf("v%d: checkBix %d %v", v, n, ok)
		}
		m := &bixMap{data: b, count: n, entrySize: size}
		for i, want := range entries {
			got, _ := m.entry(uint32(i))
			if v == 1 {
				want.chunks = nil
			}
			if got.off != want.off || got.physLen != want.physLen || got.logLen != want.logLen ||
				got.crc != want.crc || got.flags != want.flags || !bytes.Equal(got.chunks, want.chunks) {
				t.Fatalf("v%d entry %d: got %+v, want %+v", v, i, got, want)
			}
		}
		if _, _, ok := checkBix(b, 3, 2*DefaultBlockSize); ok {
			t.Fatalf("v%d: accepted under another block size", v)
		}
	}
}

// chunkLayouts are the stores partial reads are checked on: one drive with
// the segment open or sealed, and 2+1 erasure coding.
var chunkLayouts = []struct {
	name   string
	drives int
	seal   bool
}{{"open", 1, false}, {"sealed", 1, true}, {"ec-2+1", 3, true}}

func chunkOpts(drives int, cacheSize int64) Options {
	o := Options{CacheSize: cacheSize, CompactionInterval: -1, SegmentSize: 1 << 20, ShardBlockSize: 64 << 10}
	for i := 0; i < drives; i++ {
		o.Dirs = append(o.Dirs, fmt.Sprintf("d%d", i))
	}
	return o
}

// chunkFill writes incompressible objects and one compressible one, and
// returns them.
func chunkFill(t *testing.T, fs vfs.FS, o Options, seal bool) map[string][]byte {
	t.Helper()
	s := openMem(t, fs, o)
	defer s.Close()
	s.CreateBucket("bkt")
	r := rand.New(rand.NewPCG(11, 11))
	want := map[string][]byte{}
	n := 3
	if seal {
		n = 12 // over several 1 MiB segments
	}
	for i := 0; i < n; i++ {
		data := randomBytes(r, 100<<10+r.IntN(300<<10))
		if i == 1 {
			for j := range data {
				data[j] &= 3
			}
		}
		key := fmt.Sprintf("files/index_files/%d", i)
		mustPut(t, s, "bkt", key, data)
		want[key] = data
	}
	if seal {
		s.WaitSealed()
	}
	return want
}

// TestChunkReads: small ranges of uncompressed blocks read only the chunks
// they touch, cold, and are then served from the cache; every byte matches.
func TestChunkReads(t *testing.T) {
	for _, l := range chunkLayouts {
		t.Run(l.name, func(t *testing.T) {
			fs := vfs.NewMem()
			want := chunkFill(t, fs, chunkOpts(l.drives, -1), l.seal)
			for _, cached := range []bool{false, true} {
				size := int64(-1)
				if cached {
					size = 64 << 20
				}
				s := openMem(t, fs, chunkOpts(l.drives, size))
				r := rand.New(rand.NewPCG(12, 12))
				for i := 0; i < 400; i++ {
					key := fmt.Sprintf("files/index_files/%d", r.IntN(len(want)))
					data := want[key]
					n := int64(1 + r.IntN(20<<10))
					if i%5 == 0 {
						n = int64(1 + r.IntN(200<<10))
					}
					n = min(n, int64(len(data)))
					off := r.Int64N(int64(len(data)) - n + 1)
					before := s.Metrics()
					got := mustGet(t, s, "bkt", key, off, n)
					if !bytes.Equal(got, data[off:off+n]) {
						t.Fatalf("%s [%d+%d]: wrong bytes", key, off, n)
					}
					read := s.Metrics().DiskBytesRead - before.DiskBytesRead
					// Bound on the bytes read cold: the chunks each block's part
					// of the range touches, or the whole block for a large part.
					bound := int64(0)
					for b := off / DefaultBlockSize; b <= (off+n-1)/DefaultBlockSize; b++ {
						lo, hi := max(off, b*DefaultBlockSize), min(off+n, (b+1)*DefaultBlockSize)
						c := ((hi-1)/chunkSize - lo/chunkSize + 1) * chunkSize
						if 2*c > DefaultBlockSize {
							c = DefaultBlockSize
						}
						bound += c
					}
					if key != "files/index_files/1" && read > bound {
						t.Fatalf("%s [%d+%d]: read %d bytes from disk, want at most %d", key, off, n, read, bound)
					}
					if !cached {
						continue
					}
					s.cache.Wait()
					before = s.Metrics()
					if got := mustGet(t, s, "bkt", key, off, n); !bytes.Equal(got, data[off:off+n]) {
						t.Fatalf("%s [%d+%d]: wrong bytes warm", key, off, n)
					}
					if d := s.Metrics().DiskReads - before.DiskReads; d != 0 {
						t.Fatalf("%s [%d+%d]: warm read made %d disk reads", key, off, n, d)
					}
				}
				s.Close()
			}
			if l.drives > 1 {
				// Degraded: drive 0 gone, small reads rebuild their chunks.
				if err := fs.RemoveAll("d0"); err != nil {
					t.Fatal(err)
				}
				s := openMem(t, fs, chunkOpts(l.drives, -1))
				defer s.Close()
				r := rand.New(rand.NewPCG(13, 13))
				for i := 0; i < 100; i++ {
					key := fmt.Sprintf("files/index_files/%d", r.IntN(len(want)))
					data := want[key]
					n := min(int64(1+r.IntN(8<<10)), int64(len(data)))
					off := r.Int64N(int64(len(data)) - n + 1)
					if got := mustGet(t, s, "bkt", key, off, n); !bytes.Equal(got, data[off:off+n]) {
						t.Fatalf("degraded %s [%d+%d]: wrong bytes", key, off, n)
					}
				}
				if s.Metrics().DegradedReads == 0 {
					t.Fatal("no degraded read with a drive gone")
				}
			}
		})
	}
}

// flipInBlock flips one byte at offset pos of the object's bytes in every
// segment file holding them.
func flipInBlock(t *testing.T, fs *vfs.MemFS, dir string, data []byte, pos int) {
	t.Helper()
	names, _ := fs.List(dir)
	found := false
	for _, n := range names {
		if !strings.HasSuffix(n, ".seg") {
			continue
		}
		buf, err := fs.UnsafeGetFileDataBuffer(dir + "/" + n)
		if err != nil {
			t.Fatal(err)
		}
		// Find the 64-byte run just before pos, then flip pos.
		i := bytes.Index(buf, data[pos-64:pos])
		if i >= 0 {
			buf[i+64] ^= 0x20
			found = true
		}
	}
	if !found {
		t.Fatal("bytes not found in any segment")
	}
}

// TestChunkCorruption: a flipped byte fails exactly the reads that cover
// its chunk; a chunk read elsewhere in the block still verifies. With a
// second replica the read is served from it.
func TestChunkCorruption(t *testing.T) {
	for _, drives := range []int{1, 2} {
		t.Run(fmt.Sprintf("replicas-%d", drives), func(t *testing.T) {
			fs := vfs.NewMem()
			o := chunkOpts(drives, -1)
			want := chunkFill(t, fs, o, true)
			data := want["files/index_files/0"]
			bad := 2*DefaultBlockSize + 3*chunkSize + 100 // block 2, chunk 3
			// Damage the replica reads try first.
			s := openMem(t, fs, o)
			en, err := s.lookup("bkt", "files/index_files/0")
			if err != nil {
				t.Fatal(err)
			}
			first := s.segs[en.extents[0].runs[0].seg].paths[0]
			s.Close()
			flipInBlock(t, fs, first[:strings.LastIndexByte(first, '/')], data, bad)
			s = openMem(t, fs, o)
			defer s.Close()
			good := int64(2*DefaultBlockSize + 7*chunkSize)
			if got := mustGet(t, s, "bkt", "files/index_files/0", good, 100); !bytes.Equal(got, data[good:good+100]) {
				t.Fatal("wrong bytes from a good chunk of a damaged block")
			}
			for _, r := range [][2]int64{{int64(bad) - 10, 20}, {2 * DefaultBlockSize, DefaultBlockSize}, {0, -1}} {
				var b bytes.Buffer
				_, err := s.Get("bkt", "files/index_files/0", r[0], r[1], &b)
				if drives == 1 && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("read %v over the damaged chunk: err %v, want ErrCorrupt", r, err)
				}
				if drives == 2 {
					n := r[1]
					if n < 0 {
						n = int64(len(data))
					}
					if err != nil || !bytes.Equal(b.Bytes(), data[r[0]:r[0]+n]) {
						t.Fatalf("read %v with a good replica: err %v", r, err)
					}
				}
			}
			if drives == 2 && s.Metrics().DriveErrors == 0 {
				t.Fatal("the damaged replica was not counted")
			}
		})
	}
}

// rewriteBix replaces every block index of the store's sealed segments by
// what f makes of its entries.
func rewriteBix(t *testing.T, fs *vfs.MemFS, dir string, f func(id uint64, entries []blockEntry) []byte) map[uint64]bool {
	t.Helper()
	names, _ := fs.List(dir)
	done := map[uint64]bool{}
	for _, name := range names {
		if !strings.HasSuffix(name, ".bix") {
			continue
		}
		var id uint64
		fmt.Sscanf(name, "%016x.bix", &id)
		p := dir + "/" + name
		m, err := openBix(fs, p, id, DefaultBlockSize)
		if err != nil {
			t.Fatal(err)
		}
		var entries []blockEntry
		for i := 0; i < m.count; i++ {
			e, _ := m.entry(uint32(i))
			e.chunks = bytes.Clone(e.chunks)
			entries = append(entries, e)
		}
		out, err := fs.Create(p, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(f(id, entries))
		out.Close()
		done[id] = true
	}
	if len(done) == 0 {
		t.Fatal("no block index to rewrite")
	}
	return done
}

// inSegments reports whether every block of bkt/key is in one of segs.
func inSegments(t *testing.T, s *Store, key string, segs map[uint64]bool) bool {
	t.Helper()
	en, err := s.lookup("bkt", key)
	if err != nil {
		t.Fatal(err)
	}
	in := true
	en.allRuns(func(r run) { in = in && segs[r.seg] })
	return in
}

// TestChunkChecksumsWrong: a block index whose chunk checksums disagree
// with the data (its own checksum intact) costs a whole-block read, never
// an error or wrong bytes, and scrub reports it.
func TestChunkChecksumsWrong(t *testing.T) {
	fs := vfs.NewMem()
	o := chunkOpts(1, -1)
	want := chunkFill(t, fs, o, true)
	segs := rewriteBix(t, fs, "d0/segments", func(id uint64, entries []blockEntry) []byte {
		for _, e := range entries {
			for i := range e.chunks {
				e.chunks[i] ^= 0xff
			}
		}
		return encodeBix(id, DefaultBlockSize, entries)
	})
	s := openMem(t, fs, o)
	defer s.Close()
	r := rand.New(rand.NewPCG(14, 14))
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("files/index_files/%d", r.IntN(len(want)))
		data := want[key]
		off := r.Int64N(int64(len(data)) - 4096)
		before := s.Metrics().DriveErrors
		if got := mustGet(t, s, "bkt", key, off, 4096); !bytes.Equal(got, data[off:off+4096]) {
			t.Fatalf("%s [%d+4096]: wrong bytes", key, off)
		}
		if key != "files/index_files/1" && inSegments(t, s, key, segs) && s.Metrics().DriveErrors == before {
			t.Fatalf("%s [%d+4096]: chunks verified against wrong checksums", key, off)
		}
	}
	res, err := s.Scrub(context.Background(), MaintenanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range res.Problems {
		found = found || strings.Contains(p.What, "chunk checksums")
	}
	if !found {
		t.Fatalf("scrub did not report the wrong chunk checksums: %v", res.Problems)
	}
}

// TestBixVersion1: block indexes written before chunk checksums still
// open and read; their small reads read whole blocks.
func TestBixVersion1(t *testing.T) {
	fs := vfs.NewMem()
	o := chunkOpts(1, -1)
	want := chunkFill(t, fs, o, true)
	segs := rewriteBix(t, fs, "d0/segments", func(id uint64, entries []blockEntry) []byte {
		return encodeBixV1(id, DefaultBlockSize, entries)
	})
	s := openMem(t, fs, o)
	defer s.Close()
	for key, data := range want {
		if got := mustGet(t, s, "bkt", key, 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("%s: wrong bytes", key)
		}
		before := s.Metrics().DiskBytesRead
		if got := mustGet(t, s, "bkt", key, 5000, 100); !bytes.Equal(got, data[5000:5100]) {
			t.Fatalf("%s: wrong bytes", key)
		}
		if d := s.Metrics().DiskBytesRead - before; d < 4096*2 && key != "files/index_files/1" && inSegments(t, s, key, segs) {
			t.Fatalf("%s: a version 1 block index served a %d-byte chunk read", key, d)
		}
	}
	if _, err := s.Get("bkt", "files/index_files/0", 0, -1, io.Discard); err != nil {
		t.Fatal(err)
	}
}
