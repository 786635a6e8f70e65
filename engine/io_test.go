package engine

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestColdRangedReadIsOneDiskRead: a 4 KiB range inside a 16 MiB object
// costs one read per block it touches cold (of two chunks at most when the
// block is stored uncompressed), and none warm.
func TestColdRangedReadIsOneDiskRead(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "zstd"}[compress], func(t *testing.T) {
			fs := vfs.NewMem()
			o := Options{DisableCompression: !compress}
			s := openMem(t, fs, o)
			r := rand.New(rand.NewPCG(7, 7))
			data := randomBytes(r, 16<<20)
			if compress {
				for i := range data {
					data[i] &= 0x0f // compressible
				}
			}
			s.CreateBucket("bkt")
			mustPut(t, s, "bkt", "index_files/1/2/3/4/HNSW_0", data)
			s.Close()

			s = openMem(t, fs, o) // cold cache
			defer s.Close()
			for _, off := range []int64{0, 5<<20 + 1234, 16<<20 - 4096, 10<<20 - 100} {
				before := s.Metrics()
				got := mustGet(t, s, "bkt", "index_files/1/2/3/4/HNSW_0", off, 4096)
				if !bytes.Equal(got, data[off:off+4096]) {
					t.Fatalf("off %d: wrong bytes", off)
				}
				after := s.Metrics()
				reads := after.DiskReads - before.DiskReads
				bytesRead := after.DiskBytesRead - before.DiskBytesRead
				// A range straddling a block edge needs two blocks.
				wantReads := int64(1)
				if off/DefaultBlockSize != (off+4095)/DefaultBlockSize {
					wantReads = 2
				}
				// Uncompressed blocks read only the 4 KiB chunks the range
				// touches: two at most.
				maxBytes := wantReads * DefaultBlockSize
				if !compress {
					maxBytes = 2 * chunkSize
				}
				if reads != wantReads || bytesRead > maxBytes {
					t.Fatalf("off %d: cold read made %d disk reads of %d bytes; want %d of at most %d", off, reads, bytesRead, wantReads, maxBytes)
				}
				s.cache.Wait()
				before = s.Metrics()
				got = mustGet(t, s, "bkt", "index_files/1/2/3/4/HNSW_0", off, 4096)
				if !bytes.Equal(got, data[off:off+4096]) {
					t.Fatalf("off %d: wrong bytes warm", off)
				}
				if d := s.Metrics().DiskReads - before.DiskReads; d != 0 {
					t.Fatalf("off %d: warm read made %d disk reads", off, d)
				}
			}
		})
	}
}

// TestCorruptionDetected: a flipped byte anywhere in a block payload makes
// the read fail, never return wrong bytes.
func TestCorruptionDetected(t *testing.T) {
	fs := vfs.NewMem()
	o := Options{CacheSize: -1, DisableCompression: true}
	s := openMem(t, fs, o)
	r := rand.New(rand.NewPCG(1, 1))
	data := randomBytes(r, 1<<20)
	s.CreateBucket("bkt")
	mustPut(t, s, "bkt", "k", data)
	s.Close()

	seg := findFile(t, fs, "d0/segments", ".seg")
	buf, err := fs.UnsafeGetFileDataBuffer(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte in the middle of the object's fifth block.
	pos := bytes.Index(buf, data[4*DefaultBlockSize:4*DefaultBlockSize+64]) + 100
	if pos < 100 {
		t.Fatal("block not found in segment")
	}
	buf[pos] ^= 0x40

	s = openMem(t, fs, o)
	defer s.Close()
	_, err = s.Get("bkt", "k", 4*DefaultBlockSize, 10, io.Discard)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of corrupt block: err %v, want ErrCorrupt", err)
	}
	var w bytes.Buffer
	_, err = s.Get("bkt", "k", 0, -1, &w)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("whole read: err %v, want ErrCorrupt", err)
	}
	if !bytes.Equal(w.Bytes(), data[:w.Len()]) || w.Len() > 4*DefaultBlockSize {
		t.Fatalf("bytes written before the error must be the good prefix (%d bytes)", w.Len())
	}
	// Other blocks still read.
	if got := mustGet(t, s, "bkt", "k", 0, 100); !bytes.Equal(got, data[:100]) {
		t.Fatal("good block wrong")
	}
}

// TestBlockIndexRebuilt: a corrupt block-index file is detected at open and
// rebuilt from the segment.
func TestBlockIndexRebuilt(t *testing.T) {
	fs := vfs.NewMem()
	o := Options{CacheSize: -1}
	s := openMem(t, fs, o)
	data := randomBytes(rand.New(rand.NewPCG(3, 3)), 300<<10)
	s.CreateBucket("bkt")
	mustPut(t, s, "bkt", "k", data)
	s.Close()
	s = openMem(t, fs, o) // seals the first segment
	s.Close()
	bix := findFile(t, fs, "d0/segments", ".bix")
	buf, _ := fs.UnsafeGetFileDataBuffer(bix)
	buf[bixHeaderSize+3] ^= 1
	s = openMem(t, fs, o)
	defer s.Close()
	if got := mustGet(t, s, "bkt", "k", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes after block index rebuild")
	}
}

func findFile(t *testing.T, fs vfs.FS, dir, suffix string) string {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			return fs.PathJoin(dir, n)
		}
	}
	t.Fatalf("no %s file in %s", suffix, dir)
	return ""
}

// TestBadInput: every invalid argument is a typed error, never a panic.
func TestBadInput(t *testing.T) {
	s := openMem(t, vfs.NewMem(), Options{})
	defer s.Close()
	if err := s.CreateBucket("ok-bucket"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "ok-bucket", "k", []byte("hello"))
	long := strings.Repeat("a", MaxKeyLen+1)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"bucket too short", s.CreateBucket("ab"), ErrInvalidBucketName},
		{"bucket upper", s.CreateBucket("Bucket"), ErrInvalidBucketName},
		{"bucket ip", s.CreateBucket("192.168.1.1"), ErrInvalidBucketName},
		{"bucket dots", s.CreateBucket("a..b"), ErrInvalidBucketName},
		{"bucket dash end", s.CreateBucket("abc-"), ErrInvalidBucketName},
		{"bucket exists", s.CreateBucket("ok-bucket"), ErrBucketExists},
		{"bucket not empty", s.DeleteBucket("ok-bucket"), ErrBucketNotEmpty},
		{"no bucket", s.DeleteBucket("nope-bucket"), ErrNoSuchBucket},
		{"empty key", putErr(s, "ok-bucket", "", 1), ErrInvalidKey},
		{"long key", putErr(s, "ok-bucket", long, 1), ErrKeyTooLong},
		{"bad utf8", putErr(s, "ok-bucket", "a\xffb", 1), ErrInvalidKey},
		{"negative size", putErr(s, "ok-bucket", "x", -1), ErrInvalidSize},
		{"huge size", putErr(s, "ok-bucket", "x", MaxObjectSize+1), ErrEntityTooLarge},
		{"short body", putErr(s, "ok-bucket", "x", 10), ErrIncompleteBody},
		{"short big body", putErr(s, "ok-bucket", "x", 1<<20), ErrIncompleteBody},
		{"no bucket put", putErr(s, "nope-bucket", "x", 1), ErrNoSuchBucket},
		{"range past end", getErr(s, "k", 3, 10), ErrInvalidRange},
		{"offset past end", getErr(s, "k", 6, 0), ErrInvalidRange},
		{"negative offset", getErr(s, "k", -1, 1), ErrInvalidRange},
		{"missing key", getErr(s, "nope", 0, 1), ErrNoSuchKey},
		{"meta too big", func() error {
			_, err := s.Put("ok-bucket", "m", 0, strings.NewReader(""), PutOptions{UserMeta: []Pair{{"k", strings.Repeat("v", MaxMetaBytes)}}})
			return err
		}(), ErrMetadataTooLarge},
		{"part number", func() error {
			_, err := s.PutPart("ok-bucket", "k", strings.Repeat("0", 32), 0, 0, strings.NewReader(""), PartOptions{})
			return err
		}(), ErrInvalidPartNumber},
		{"bad upload id", func() error {
			_, err := s.PutPart("ok-bucket", "k", "../etc", 1, 0, strings.NewReader(""), PartOptions{})
			return err
		}(), ErrNoSuchUpload},
		{"unknown upload", s.AbortMultipartUpload("ok-bucket", "k", strings.Repeat("0", 32)), ErrNoSuchUpload},
		{"list bad prefix", func() error {
			_, err := s.List("ok-bucket", ListOptions{Prefix: "a\xff"})
			return err
		}(), ErrInvalidKey},
		{"list uploads bad marker", func() error {
			_, err := s.ListUploads("ok-bucket", ListUploadsOptions{KeyMarker: strings.Repeat("k", MaxKeyLen+1)})
			return err
		}(), ErrInvalidKey},
		{"long body", func() error {
			_, err := s.Put("ok-bucket", "x", 3, strings.NewReader("abcd"), PutOptions{})
			return err
		}(), ErrBodyTooLong},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
	if _, err := s.Head("ok-bucket", "x"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("a failed put left an object behind: %v", err)
	}
}

func putErr(s *Store, bucket, key string, size int64) error {
	_, err := s.Put(bucket, key, size, strings.NewReader("abc"), PutOptions{})
	return err
}

func getErr(s *Store, key string, off, n int64) error {
	_, err := s.Get("ok-bucket", key, off, n, io.Discard)
	return err
}

// TestIncompatibleOptions: layout options are persisted and checked.
func TestIncompatibleOptions(t *testing.T) {
	fs := vfs.NewMem()
	s := openMem(t, fs, Options{})
	s.Close()
	if _, err := Open(Options{FS: fs, Dirs: []string{"d0"}, BlockSize: 128 << 10}); !errors.Is(err, ErrIncompatibleLayout) {
		t.Fatalf("block size change: %v", err)
	}
	if _, err := Open(Options{FS: fs, Dirs: []string{"d0", "d1"}}); !errors.Is(err, ErrIncompatibleLayout) {
		t.Fatalf("drive added: %v", err)
	}
	if _, err := Open(Options{FS: fs, Dirs: []string{"d0"}, BlockSize: 1000}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("bad block size: %v", err)
	}
	s = openMem(t, fs, Options{})
	defer s.Close()
	if _, err := Open(Options{FS: fs, Dirs: []string{"d0"}}); err == nil {
		t.Fatal("a second open of the same directory must fail while the first holds it")
	}
}

// md5Reader hashes what it yields, like the S3 layer's request bodies.
type md5Reader struct {
	r   io.Reader
	h   hash.Hash
	sum []byte
}

func (m *md5Reader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.h.Write(p[:n])
	if err == io.EOF {
		m.sum = m.h.Sum(nil)
	}
	return n, err
}

// TestBodyMD5: a body that hashes itself gives the same ETag as the
// engine's own hashing, inline or not, object or part; a body that does
// not deliver its MD5 fails the Put and stores nothing.
func TestBodyMD5(t *testing.T) {
	s := openMem(t, vfs.NewMem(), Options{MinPartSize: -1})
	defer s.Close()
	s.CreateBucket("bkt")
	for _, size := range []int{0, 100, 4 << 10, 300 << 10} {
		data := randomBytes(rand.New(rand.NewPCG(uint64(size), 1)), size)
		want := md5.Sum(data)
		mr := &md5Reader{r: bytes.NewReader(data), h: md5.New()}
		info, err := s.Put("bkt", "k", int64(size), mr, PutOptions{BodyMD5: func() []byte { return mr.sum }})
		if err != nil || info.ETag != hex.EncodeToString(want[:]) {
			t.Fatalf("%d bytes: etag %q err %v, want %x", size, info.ETag, err, want)
		}
		if got := mustGet(t, s, "bkt", "k", 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: wrong data", size)
		}
		if _, err := s.Put("bkt", "lost", int64(size), bytes.NewReader(data), PutOptions{BodyMD5: func() []byte { return nil }}); !errors.Is(err, errBodyMD5) {
			t.Fatalf("%d bytes: a body without its MD5: %v", size, err)
		}
		if _, err := s.Head("bkt", "lost"); !errors.Is(err, ErrNoSuchKey) {
			t.Fatalf("%d bytes: failed put stored something: %v", size, err)
		}
	}
	id, err := s.CreateMultipartUpload("bkt", "mp", PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(rand.New(rand.NewPCG(9, 9)), 200<<10)
	mr := &md5Reader{r: bytes.NewReader(data), h: md5.New()}
	part, err := s.PutPart("bkt", "mp", id, 1, int64(len(data)), mr, PartOptions{BodyMD5: func() []byte { return mr.sum }})
	if want := md5.Sum(data); err != nil || part.ETag != hex.EncodeToString(want[:]) {
		t.Fatalf("part: %+v %v", part, err)
	}
}

// TestOpenAllocs: opening a stored object allocates the Object and its ETag
// string, nothing else (allocation counts are deterministic; sync.Pools in
// Pebble drop items at random under the race detector, hence -short skips).
func TestOpenAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in the full run")
	}
	for _, c := range []struct {
		name string
		o    Options
		max  float64
		what string
	}{
		{"entry-cache", Options{}, 1, "the Object"},
		{"no-entry-cache", Options{EntryCacheSize: -1}, 2, "the Object and its ETag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openMem(t, vfs.NewMem(), c.o)
			defer s.Close()
			s.CreateBucket("bkt")
			mustPut(t, s, "bkt", "files/index_files/1/2/3/HNSW_0", randomBytes(rand.New(rand.NewPCG(1, 1)), 300<<10))
			n := testing.AllocsPerRun(200, func() {
				o, err := s.Open("bkt", "files/index_files/1/2/3/HNSW_0")
				if err != nil {
					t.Fatal(err)
				}
				o.Close()
			})
			if n > c.max {
				t.Fatalf("Open allocates %.1f times, want at most %v (%s)", n, c.max, c.what)
			}
		})
	}
}
