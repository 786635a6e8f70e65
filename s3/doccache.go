package s3

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/lsmstore/lsmstore/engine"
)

// Parsed bucket documents. Every anonymous request is decided by its
// bucket's policy and every request with an Origin header by the bucket's
// CORS configuration; parsing a 20 KiB policy takes about a millisecond, so
// the parsed form is kept. An entry is keyed by the bucket and holds the
// stored bytes it was parsed from: each use reads the document (one index
// read) and reuses the parsed form only when the bytes are the same. A
// change by any path (a handler, the engine directly, a bucket deleted and
// created again) is therefore seen by the next request, and a stale parsed
// form is never used; the handlers that change a document also drop its
// entry at once, so that a deleted document's memory is freed.

// docCacheBytes bounds the documents kept per kind (policy, CORS); the
// parsed forms are of the same order of size.
const docCacheBytes = 8 << 20

type docCache[T any] struct {
	name     string // the engine's configuration name
	parse    func(doc []byte, bucket string) (T, error)
	maxBytes int

	mu      sync.RWMutex
	entries map[string]*parsedDoc[T]
	size    int // bytes of the documents in entries

	parses atomic.Int64 // documents parsed, for tests
}

// parsedDoc is a document as stored and its parsed form; ok is false when
// it did not parse (it is then not parsed again until it changes).
type parsedDoc[T any] struct {
	doc []byte
	v   T
	ok  bool
}

func newDocCache[T any](name string, parse func([]byte, string) (T, error)) *docCache[T] {
	return &docCache[T]{name: name, parse: parse, maxBytes: docCacheBytes}
}

// get returns the parsed form of bucket's document; ok is false when the
// bucket has none, or it cannot be read or parsed.
func (c *docCache[T]) get(st *engine.Store, bucket string) (v T, ok bool) {
	if !engine.ValidBucketName(bucket) {
		return v, false
	}
	doc, err := st.BucketConfig(bucket, c.name)
	if err != nil {
		if errors.Is(err, engine.ErrNoSuchConfig) || errors.Is(err, engine.ErrNoSuchBucket) {
			c.drop(bucket)
		}
		return v, false
	}
	c.mu.RLock()
	e := c.entries[bucket]
	c.mu.RUnlock()
	if e == nil || !bytes.Equal(e.doc, doc) {
		e = &parsedDoc[T]{doc: doc}
		e.v, err = c.parse(doc, bucket)
		e.ok = err == nil
		c.parses.Add(1)
		c.keep(bucket, e)
	}
	return e.v, e.ok
}

// keep makes e bucket's entry, dropping other entries (any, as the map
// iterates) while the documents would exceed maxBytes.
func (c *docCache[T]) keep(bucket string, e *parsedDoc[T]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(bucket)
	if len(e.doc) > c.maxBytes {
		return
	}
	for b := range c.entries {
		if c.size+len(e.doc) <= c.maxBytes {
			break
		}
		c.remove(b)
	}
	if c.entries == nil {
		c.entries = map[string]*parsedDoc[T]{}
	}
	c.entries[bucket] = e
	c.size += len(e.doc)
}

// drop forgets bucket's entry.
func (c *docCache[T]) drop(bucket string) {
	c.mu.RLock()
	_, ok := c.entries[bucket]
	c.mu.RUnlock()
	if ok {
		c.mu.Lock()
		c.remove(bucket)
		c.mu.Unlock()
	}
}

// remove deletes bucket's entry; c.mu is held.
func (c *docCache[T]) remove(bucket string) {
	if old, ok := c.entries[bucket]; ok {
		c.size -= len(old.doc)
		delete(c.entries, bucket)
	}
}

// len is the number of entries.
func (c *docCache[T]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// forgetDoc drops the parsed form of bucket's document called name, after
// a handler changed or deleted it.
func (s *Server) forgetDoc(bucket, name string) {
	switch name {
	case configPolicy:
		s.policies.drop(bucket)
	case configCORS:
		s.cors.drop(bucket)
	}
}
