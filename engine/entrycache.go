package engine

import (
	"hash/maphash"
	"sync"
)

// entryCache keeps decoded index entries of recently read objects, so that
// a read of a hot object skips the Pebble lookup and the decode. Cached
// entries are shared by readers and never modified.
//
// Consistency: after a group commit, every object key the batch wrote is
// invalidated before any writer is acknowledged. A reader that missed
// notes its shard's generation before the Pebble lookup and inserts only
// if no invalidation touched the shard since, so an entry read before a
// commit is never cached after the commit's invalidation.
type entryCache struct {
	seed   maphash.Seed
	shards []entryShard
	limit  int64 // bytes per shard
}

type entryShard struct {
	mu    sync.Mutex
	m     map[string]*entry
	bytes int64
	gen   uint64 // bumped by every invalidation
}

const (
	entryShards = 32
	// entryOverhead approximates an entry's memory beyond its value bytes:
	// the map slot, the key string and the entry struct.
	entryOverhead = 256
)

// newEntryCache returns a cache of about maxBytes, or nil when maxBytes < 0.
func newEntryCache(maxBytes int64) *entryCache {
	if maxBytes <= 0 {
		return nil
	}
	c := &entryCache{seed: maphash.MakeSeed(), shards: make([]entryShard, entryShards), limit: max(maxBytes/entryShards, 1)}
	for i := range c.shards {
		c.shards[i].m = map[string]*entry{}
	}
	return c
}

func (c *entryCache) shard(key []byte) *entryShard {
	return &c.shards[maphash.Bytes(c.seed, key)%entryShards]
}

// get returns the cached entry of key or, on a miss, the shard generation
// to pass to put.
func (c *entryCache) get(key []byte) (*entry, uint64) {
	sh := c.shard(key)
	sh.mu.Lock()
	en, gen := sh.m[string(key)], sh.gen
	sh.mu.Unlock()
	return en, gen
}

// put caches en (decoded from a value of size bytes) under key unless the
// shard was invalidated since gen.
func (c *entryCache) put(key []byte, en *entry, size int, gen uint64) {
	cost := int64(size + len(key) + entryOverhead)
	if cost > c.limit {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	if old, ok := sh.m[string(key)]; ok {
		delete(sh.m, string(key))
		sh.bytes -= old.cost
	}
	// Evict arbitrary entries (map order) until the new one fits.
	for k, old := range sh.m {
		if sh.bytes+cost <= c.limit {
			break
		}
		delete(sh.m, k)
		sh.bytes -= old.cost
	}
	en.cost = cost
	sh.m[string(key)] = en
	sh.bytes += cost
}

// invalidate drops keys and makes any lookup in flight on their shards
// skip caching what it read.
func (c *entryCache) invalidate(keys [][]byte) {
	if c == nil {
		return
	}
	for _, k := range keys {
		sh := c.shard(k)
		sh.mu.Lock()
		sh.gen++
		if old, ok := sh.m[string(k)]; ok {
			delete(sh.m, string(k))
			sh.bytes -= old.cost
		}
		sh.mu.Unlock()
	}
}
