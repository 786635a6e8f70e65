// Package cache owns the read cache of decoded blocks and block pieces,
// keyed by (segment id, block number, piece), and its metrics. It is a thin wrapper over
// ristretto whose cost unit is the byte, and it imports nothing of the
// project.
package cache

import (
	"errors"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// DefaultBlockSize is the block size assumed when Options.BlockSize is 0.
const DefaultBlockSize = 64 << 10

// Key names one logical block of one segment, or one piece of it.
type Key struct {
	Segment uint64
	Block   uint32
	// Piece is 0 for the whole block; the engine caches pieces of a block
	// it read only in part as Piece 1, 2, ...
	Piece uint16
}

// Options configures a Cache.
type Options struct {
	// MaxBytes bounds the bytes of block data held. 0 disables the cache
	// (every Get misses, Set is a no-op).
	MaxBytes int64
	// BlockSize is the typical block size, used to size ristretto's counters
	// (default 64 KiB when 0).
	BlockSize int
}

// entry is what ristretto stores. It carries its own Key so that Get can
// reject an entry stored under the same 64-bit hash by a different Key.
type entry struct {
	key Key
	b   []byte
}

// Cache is a concurrent, byte-bounded cache of blocks. All methods are safe
// for concurrent use, except that Close must not race with other calls.
type Cache struct {
	rc       *ristretto.Cache[uint64, entry] // nil when disabled
	maxBytes int64

	// Hit and miss counters sit on separate cache lines: Get updates them.
	hits   atomic.Uint64
	_      [56]byte
	misses atomic.Uint64
	_      [56]byte

	evictions atomic.Uint64 // victims of the eviction policy
	oversized atomic.Uint64 // Sets refused because len(b) > MaxBytes
	closing   atomic.Bool   // Close's final clear is not counted as evictions
}

// New returns a Cache configured by o. The zero Options give a disabled cache.
func New(o Options) (*Cache, error) {
	if o.MaxBytes < 0 {
		return nil, errors.New("cache: negative MaxBytes")
	}
	if o.BlockSize < 0 {
		return nil, errors.New("cache: negative BlockSize")
	}
	c := &Cache{maxBytes: o.MaxBytes}
	if o.MaxBytes == 0 {
		return c, nil
	}
	bs := int64(o.BlockSize)
	if bs == 0 {
		bs = DefaultBlockSize
	}
	blocks := max(o.MaxBytes/bs, 1)
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, entry]{
		NumCounters:        10 * blocks,
		MaxCost:            o.MaxBytes,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
		// The key is already a well-mixed hash (see hashKey). Supplying
		// this also avoids the default KeyToHash, which boxes the key.
		KeyToHash: func(h uint64) (uint64, uint64) { return h, 0 },
		OnEvict: func(*ristretto.Item[entry]) {
			if !c.closing.Load() {
				c.evictions.Add(1)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	c.rc = rc
	return c, nil
}

// Get returns the block stored under k. The returned slice is shared and must
// not be modified. Get does not allocate.
func (c *Cache) Get(k Key) ([]byte, bool) {
	if c.rc != nil {
		if e, ok := c.rc.Get(hashKey(k)); ok && e.key == k {
			c.hits.Add(1)
			return e.b, true
		}
	}
	c.misses.Add(1)
	return nil, false
}

// GetEither returns the block stored under a, else the one under b, counting
// one hit or one miss. fromB tells which key it found.
func (c *Cache) GetEither(a, b Key) (v []byte, fromB, ok bool) {
	if c.rc != nil {
		if e, ok := c.rc.Get(hashKey(a)); ok && e.key == a {
			c.hits.Add(1)
			return e.b, false, true
		}
		if e, ok := c.rc.Get(hashKey(b)); ok && e.key == b {
			c.hits.Add(1)
			return e.b, true, true
		}
	}
	c.misses.Add(1)
	return nil, false, false
}

// Set offers b as the block for k, at a cost of len(b) bytes. The cache keeps
// b: the caller must not modify it afterwards. Set reports whether ristretto
// accepted the block into its buffer; the admission policy may still refuse
// it later. Use Wait to make accepted Sets visible to Get.
func (c *Cache) Set(k Key, b []byte) bool {
	if c.rc == nil {
		return false
	}
	if int64(len(b)) > c.maxBytes {
		c.oversized.Add(1)
		return false
	}
	return c.rc.Set(hashKey(k), entry{key: k, b: b}, int64(len(b)))
}

// Wait blocks until buffered Sets are applied.
func (c *Cache) Wait() {
	if c.rc != nil {
		c.rc.Wait()
	}
}

// Del removes the block for k, if cached. It takes effect at once for Get.
func (c *Cache) Del(k Key) {
	if c.rc != nil {
		c.rc.Del(hashKey(k))
	}
}

// Close releases ristretto's goroutines and drops every block. Afterwards Get
// misses and Set is a no-op. Close is idempotent.
func (c *Cache) Close() {
	if c.rc != nil {
		c.closing.Store(true)
		c.rc.Close()
	}
}

// Metrics is a snapshot of a Cache's counters since New.
type Metrics struct {
	Hits      uint64 // Gets that returned a block
	Misses    uint64 // Gets that did not
	Evictions uint64 // blocks removed by the policy to make room (not Del)
	Admitted  uint64 // blocks admitted into the cache
	// Rejected counts Sets not admitted: refused by the admission policy,
	// dropped because ristretto's set buffer was full, or larger than MaxBytes.
	Rejected uint64
	Bytes    int64 // bytes of block data held
	MaxBytes int64 // Options.MaxBytes
}

// Metrics returns a snapshot of c's counters. Counts driven by Set lag until
// the buffered Sets are applied (see Wait).
func (c *Cache) Metrics() Metrics {
	m := Metrics{
		Hits:     c.hits.Load(),
		Misses:   c.misses.Load(),
		MaxBytes: c.maxBytes,
		Rejected: c.oversized.Load(),
	}
	if c.rc == nil {
		return m
	}
	m.Evictions = c.evictions.Load()
	if rm := c.rc.Metrics; rm != nil {
		m.Admitted = rm.KeysAdded()
		m.Rejected += rm.SetsRejected() + rm.SetsDropped()
	}
	m.Bytes = c.rc.MaxCost() - c.rc.RemainingCost()
	return m
}

// HitRatio returns Hits / (Hits + Misses), or 0 before any Get.
func (m Metrics) HitRatio() float64 {
	n := m.Hits + m.Misses
	if n == 0 {
		return 0
	}
	return float64(m.Hits) / float64(n)
}

// Key hashing.
//
// ristretto keys items by a uint64, but a Key has 112 bits, so no uint64 can
// name every Key. hashKey splits a Key into lo, the low 44 bits of Segment
// over the low 20 bits of Block, and hi, the remaining 48 bits (Piece
// included), and returns mix(lo ^ mix(hi)). mix is a bijection with
// mix(0) == 0, so whole-block keys with Segment < 2^44 and Block < 2^20
// (64 GiB segments of 64 KiB blocks) map to distinct hashes. Larger keys may share a hash with another key; since each
// entry stores its Key and Get compares it, such a collision makes the two
// keys evict each other, but Get never returns another key's block.
const (
	blockBits = 20
	blockMask = 1<<blockBits - 1
)

func hashKey(k Key) uint64 {
	lo := k.Segment<<blockBits | uint64(k.Block&blockMask)
	hi := k.Segment>>(64-blockBits) | uint64(k.Block>>blockBits)<<blockBits | uint64(k.Piece)<<32
	return mix(lo ^ mix(hi))
}

// mix is the 64-bit finalizer of MurmurHash3: a bijection on uint64 that
// spreads every input bit over the output, as ristretto's sketch reads the
// low bits.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
