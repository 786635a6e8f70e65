package engine

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// openMem opens a store on fs with test-friendly defaults applied to o.
func openMem(t testing.TB, fs vfs.FS, o Options) *Store {
	t.Helper()
	o.FS = fs
	if len(o.Dirs) == 0 {
		o.Dirs = []string{"d0"}
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = 8 << 20
	}
	s, err := Open(o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// randomBytes returns n bytes that do not compress.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustPut(t testing.TB, s *Store, bucket, key string, data []byte) ObjectInfo {
	t.Helper()
	info, err := s.Put(bucket, key, int64(len(data)), bytes.NewReader(data), PutOptions{})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return info
}

func mustGet(t testing.TB, s *Store, bucket, key string, off, n int64) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.Get(bucket, key, off, n, &b); err != nil {
		t.Fatalf("get %s/%s [%d+%d]: %v", bucket, key, off, n, err)
	}
	return b.Bytes()
}

// pickSeed returns the seed of a randomized test: the flag's value, else
// $LSM_SEED, else the clock.
func pickSeed(t testing.TB, flagValue uint64) uint64 {
	t.Helper()
	seed := flagValue
	if seed == 0 {
		if v := os.Getenv("LSM_SEED"); v != "" {
			n, err := strconv.ParseUint(v, 0, 64)
			if err != nil {
				t.Fatalf("LSM_SEED=%q: %v", v, err)
			}
			seed = n
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return seed
}
