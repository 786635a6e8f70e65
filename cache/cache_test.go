package cache

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"sync"
	"testing"
)

// block returns n bytes that encode k, so a test can tell whose block it got.
func block(k Key, n int) []byte {
	b := make([]byte, max(n, 12))
	binary.LittleEndian.PutUint64(b, k.Segment)
	binary.LittleEndian.PutUint32(b[8:], k.Block)
	return b[:n:n]
}

func newCache(t testing.TB, o Options) *Cache {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestRoundTrip(t *testing.T) {
	c := newCache(t, Options{MaxBytes: 1 << 20, BlockSize: 4096})
	k := Key{Segment: 7, Block: 3}
	want := block(k, 4096)
	if !c.Set(k, want) {
		t.Fatal("Set not accepted")
	}
	c.Wait()
	got, ok := c.Get(k)
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("Get = %v, %v; want the block", len(got), ok)
	}
	if _, ok := c.Get(Key{Segment: 7, Block: 4}); ok {
		t.Fatal("Get of an absent key hit")
	}
	c.Del(k)
	if _, ok := c.Get(k); ok {
		t.Fatal("Get after Del hit")
	}
	c.Wait()
	if m := c.Metrics(); m.Bytes != 0 || m.Evictions != 0 {
		t.Fatalf("after Del: Bytes=%d Evictions=%d, want 0, 0", m.Bytes, m.Evictions)
	}
}

func TestDisabled(t *testing.T) {
	c := newCache(t, Options{})
	k := Key{Segment: 1}
	if c.Set(k, []byte("x")) {
		t.Fatal("Set accepted by a disabled cache")
	}
	c.Wait()
	if _, ok := c.Get(k); ok {
		t.Fatal("disabled cache hit")
	}
	c.Del(k)
	m := c.Metrics()
	if m != (Metrics{Misses: 1}) {
		t.Fatalf("Metrics = %+v", m)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{MaxBytes: -1}, {MaxBytes: 1, BlockSize: -1}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// Keys that collide under naive packings (Segment<<32|Block,
// Segment<<20|Block, Segment<<20^Block) must stay distinct.
func TestNoAliasing(t *testing.T) {
	keys := []Key{
		{0, 5, 0}, {1 << 32, 5, 0}, {1 << 44, 5, 0}, {1 << 63, 5, 0}, {1<<44 | 1<<63, 5, 0},
		{1, 0, 0}, {0, 1 << 20, 0}, {0, 1 << 31, 0}, {1 << 11, 0, 0},
		{3, 1<<20 | 7, 0}, {4, 7, 0}, {^uint64(0), ^uint32(0), 0}, {^uint64(0) >> 20, 1<<20 - 1, 0},
		{0, 5, 1}, {0, 5, 2}, {1, 0, 1}, {7, 3, 1}, {7, 3, 16}, {^uint64(0), ^uint32(0), ^uint16(0)},
	}
	seen := map[uint64]Key{}
	for _, k := range keys {
		if o, dup := seen[hashKey(k)]; dup {
			t.Fatalf("hashKey(%v) == hashKey(%v)", k, o)
		}
		seen[hashKey(k)] = k
	}
	c := newCache(t, Options{MaxBytes: 1 << 20, BlockSize: 64})
	for _, k := range keys {
		if !c.Set(k, block(k, 64)) {
			t.Fatalf("Set(%v) not accepted", k)
		}
	}
	c.Wait()
	for _, k := range keys {
		got, ok := c.Get(k)
		if !ok || !bytes.Equal(got, block(k, 64)) {
			t.Errorf("Get(%v) = %x, %v", k, got, ok)
		}
	}
}

// Within Segment < 2^44 and Block < 2^20 hashKey is injective; spot-check a
// dense corner of that domain.
func TestHashInjectiveInDomain(t *testing.T) {
	seen := make(map[uint64]struct{}, 1<<20)
	for s := uint64(0); s < 1<<10; s++ {
		for _, seg := range []uint64{s, 1<<44 - 1 - s} {
			for b := uint32(0); b < 1<<9; b++ {
				for _, blk := range []uint32{b, 1<<20 - 1 - b} {
					h := hashKey(Key{Segment: seg, Block: blk})
					if _, dup := seen[h]; dup {
						t.Fatalf("collision at %v", Key{Segment: seg, Block: blk})
					}
					seen[h] = struct{}{}
				}
			}
		}
	}
}

// An entry found under k's hash but stored for another key is a miss.
func TestHashCollisionIsMiss(t *testing.T) {
	c := newCache(t, Options{MaxBytes: 1 << 20})
	k, other := Key{Segment: 1, Block: 1}, Key{Segment: 2, Block: 2}
	c.rc.Set(hashKey(k), entry{key: other, b: block(other, 16)}, 16)
	c.Wait()
	if _, ok := c.rc.Get(hashKey(k)); !ok {
		t.Fatal("forced entry not stored")
	}
	if b, ok := c.Get(k); ok {
		t.Fatalf("Get(%v) returned %v's block %x", k, other, b)
	}
}

func TestEviction(t *testing.T) {
	const bs, maxBlocks, n = 1024, 8, 100
	c := newCache(t, Options{MaxBytes: maxBlocks * bs, BlockSize: bs})
	for i := range n {
		k := Key{Segment: uint64(i), Block: uint32(i)}
		if !c.Set(k, block(k, bs)) {
			t.Fatalf("Set %d not accepted", i)
		}
		c.Wait()
		if m := c.Metrics(); m.Bytes > m.MaxBytes {
			t.Fatalf("after %d Sets: Bytes %d > MaxBytes %d", i+1, m.Bytes, m.MaxBytes)
		}
	}
	if c.Set(Key{Segment: 1 << 40}, make([]byte, maxBlocks*bs+1)) {
		t.Fatal("Set of a block larger than MaxBytes accepted")
	}
	m := c.Metrics()
	t.Logf("%+v", m)
	if m.Evictions == 0 {
		t.Fatal("no evictions")
	}
	if m.Admitted+m.Rejected != n+1 {
		t.Fatalf("Admitted %d + Rejected %d != %d Sets", m.Admitted, m.Rejected, n+1)
	}
	if held := m.Admitted - m.Evictions; held > maxBlocks || int64(held)*bs != m.Bytes {
		t.Fatalf("held %d blocks, Bytes %d", held, m.Bytes)
	}
	hits := 0
	for i := range n {
		k := Key{Segment: uint64(i), Block: uint32(i)}
		if b, ok := c.Get(k); ok {
			hits++
			if !bytes.Equal(b, block(k, bs)) {
				t.Fatalf("Get(%v) returned another block", k)
			}
		}
	}
	if hits == 0 || hits > maxBlocks {
		t.Fatalf("%d blocks readable, want 1..%d", hits, maxBlocks)
	}
}

func TestMetrics(t *testing.T) {
	c := newCache(t, Options{MaxBytes: 1 << 20})
	k := Key{Segment: 9, Block: 9}
	c.Set(k, block(k, 100))
	c.Wait()
	for range 3 {
		c.Get(k)
	}
	c.Get(Key{Segment: 9})
	m := c.Metrics()
	want := Metrics{Hits: 3, Misses: 1, Admitted: 1, Bytes: 100, MaxBytes: 1 << 20}
	if m != want {
		t.Fatalf("Metrics = %+v, want %+v", m, want)
	}
	if r := m.HitRatio(); r != 0.75 {
		t.Fatalf("HitRatio = %v, want 0.75", r)
	}
	if r := (Metrics{}).HitRatio(); r != 0 {
		t.Fatalf("empty HitRatio = %v", r)
	}
}

func TestClose(t *testing.T) {
	c, err := New(Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	k := Key{Segment: 1}
	c.Set(k, block(k, 16))
	c.Wait()
	c.Close()
	c.Close()
	if _, ok := c.Get(k); ok {
		t.Fatal("Get after Close hit")
	}
	if c.Set(k, block(k, 16)) {
		t.Fatal("Set after Close accepted")
	}
	c.Wait()
	if m := c.Metrics(); m.Evictions != 0 || m.Bytes != 0 {
		t.Fatalf("after Close: %+v", m)
	}
}

func TestConcurrent(t *testing.T) {
	const bs = 256
	c := newCache(t, Options{MaxBytes: 64 * bs, BlockSize: bs})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				k := Key{Segment: uint64((i*7 + g) % 50), Block: uint32(i % 13)}
				switch i % 10 {
				case 0:
					c.Set(k, block(k, bs))
				case 1:
					c.Del(k)
				case 2:
					if m := c.Metrics(); m.Bytes > m.MaxBytes {
						t.Errorf("Bytes %d > MaxBytes %d", m.Bytes, m.MaxBytes)
					}
				default:
					if b, ok := c.Get(k); ok && !bytes.Equal(b, block(k, bs)) {
						t.Errorf("Get(%v) returned another block", k)
					}
				}
			}
		})
	}
	wg.Wait()
	c.Wait()
	m := c.Metrics()
	t.Logf("%+v ratio %.2f", m, m.HitRatio())
	if m.Hits+m.Misses != 8*5000*7/10 {
		t.Fatalf("Hits+Misses = %d", m.Hits+m.Misses)
	}
}

// raceEnabled is set by race_test.go.
var raceEnabled bool

// Get's own code does not allocate. ristretto allocates a new 64-entry batch
// of key hashes each time it hands one to its policy (at most once per
// BufferItems Gets), so the measured average is at most about 1/64.
func TestGetAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so ristretto allocates more")
	}
	c := newCache(t, Options{MaxBytes: 1 << 20})
	k := Key{Segment: 1, Block: 1}
	c.Set(k, block(k, 64))
	c.Wait()
	const n = 64 * 1000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		c.Get(k)
		c.Get(Key{Segment: 2})
	}
	runtime.ReadMemStats(&after)
	avg := float64(after.Mallocs-before.Mallocs) / (2 * n)
	t.Logf("allocations per Get: %.4f", avg)
	if avg > 0.05 {
		t.Fatalf("allocations per Get = %.4f, want ~1/64", avg)
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := newCache(b, Options{MaxBytes: 1 << 30})
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = Key{Segment: uint64(i / 16), Block: uint32(i)}
		c.Set(keys[i], block(keys[i], 1024))
	}
	c.Wait()
	for _, k := range keys {
		if _, ok := c.Get(k); !ok {
			b.Fatalf("%v not cached", k)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := c.Get(keys[i&1023]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c := newCache(b, Options{MaxBytes: 1 << 30})
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = Key{Segment: uint64(i / 16), Block: uint32(i)}
		c.Set(keys[i], block(keys[i], 1024))
	}
	c.Wait()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i&1023])
			i++
		}
	})
}
