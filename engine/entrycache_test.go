package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestEntryCacheGeneration: a lookup that started before an invalidation
// of its shard does not cache what it read.
func TestEntryCacheGeneration(t *testing.T) {
	c := newEntryCache(1 << 20)
	k := []byte("bkt/key")
	if en, _ := c.get(k); en != nil {
		t.Fatal("hit in an empty cache")
	}
	_, gen := c.get(k)
	c.invalidate([][]byte{k}) // a commit lands between the miss and the put
	c.put(k, &entry{etag: "old"}, 10, gen)
	if en, _ := c.get(k); en != nil {
		t.Fatalf("cached %q read before the invalidation", en.etag)
	}
	_, gen = c.get(k)
	c.put(k, &entry{etag: "new"}, 10, gen)
	if en, _ := c.get(k); en == nil || en.etag != "new" {
		t.Fatal("a clean miss was not cached")
	}
	c.invalidate([][]byte{k})
	if en, _ := c.get(k); en != nil {
		t.Fatal("invalidate left the entry")
	}
	if c := newEntryCache(-1); c != nil {
		t.Fatal("a negative size makes a cache")
	}
	var off *entryCache
	off.invalidate([][]byte{k}) // a disabled cache ignores invalidations
}

// TestEntryCacheBound: the cache holds at most its size, whatever is put.
func TestEntryCacheBound(t *testing.T) {
	const size = 64 << 10
	c := newEntryCache(size)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 5000 {
		k := []byte(fmt.Sprintf("bkt/%d", r.IntN(2000)))
		_, gen := c.get(k)
		c.put(k, &entry{}, r.IntN(4096), gen)
		if i%7 == 0 {
			c.invalidate([][]byte{k})
		}
		var total int64
		for j := range c.shards {
			sh := &c.shards[j]
			var sum int64
			for _, en := range sh.m {
				sum += en.cost
			}
			if sum != sh.bytes || sh.bytes > c.limit {
				t.Fatalf("shard %d: %d bytes counted, %d held, limit %d", j, sh.bytes, sum, c.limit)
			}
			total += sh.bytes
		}
		if total > size {
			t.Fatalf("%d bytes cached, size %d", total, size)
		}
	}
}

// TestEntryCacheReadYourWrites: while readers keep the entries of a few
// keys cached, every overwrite and delete is visible to the next read
// once it returns, and no read sees bytes that were never written.
func TestEntryCacheReadYourWrites(t *testing.T) {
	s := openMem(t, vfs.NewMem(), Options{BlockSize: 4096, InlineThreshold: 512, CompactionInterval: -1})
	defer s.Close()
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c"}
	// Version v of a key: inline or in blocks by turns, its bytes naming it.
	value := func(key string, v int) []byte {
		n := 100 + v%3*3000
		return bytes.Repeat([]byte(fmt.Sprintf("%s:%06d;", key, v)), n/10)
	}
	for _, k := range keys {
		mustPut(t, s, "bkt", k, value(k, 0))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	read := make(chan struct{}, 1) // a reader read
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				k := keys[(i+g)%len(keys)]
				got, err := readObject(s, k)
				if errors.Is(err, ErrNoSuchKey) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				var v int
				if _, err := fmt.Sscanf(string(got), k+":%06d;", &v); err != nil || !bytes.Equal(got, value(k, v)) {
					t.Errorf("%s: read %d bytes that were never written", k, len(got))
					return
				}
				reads.Add(1)
				select {
				case read <- struct{}{}:
				default:
				}
			}
		}()
	}
	// On a failure, the readers stop before the store closes.
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	// Every 25th version is written only once the readers have read since
	// (a bounded wait), so their reads are interleaved with the writes
	// however the goroutines are scheduled.
	waitRead := func() {
		select {
		case <-read:
		default:
		}
		select {
		case <-read:
		case <-time.After(5 * time.Second):
			if !t.Failed() {
				t.Fatalf("the readers made no read in 5s (%d reads so far)", reads.Load())
			}
		}
	}
	for v := 1; v <= 300 && !t.Failed(); v++ {
		if v%25 == 1 {
			waitRead()
		}
		k := keys[v%len(keys)]
		if v%50 == 0 {
			if err := s.Delete("bkt", k); err != nil {
				t.Fatal(err)
			}
			if _, err := readObject(s, k); !errors.Is(err, ErrNoSuchKey) {
				t.Fatalf("%s: read after delete: %v", k, err)
			}
			continue
		}
		mustPut(t, s, "bkt", k, value(k, v))
		if got, err := readObject(s, k); err != nil || !bytes.Equal(got, value(k, v)) {
			t.Fatalf("%s: read after writing version %d: %v", k, v, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("the readers read nothing")
	}
}

func readObject(s *Store, key string) ([]byte, error) {
	var b bytes.Buffer
	_, err := s.Get("bkt", key, 0, -1, &b)
	return b.Bytes(), err
}

// TestEntryCacheCompaction: entries cached before compaction moves their
// runs are not used after it; readers running through the compaction and
// after it get the right bytes.
func TestEntryCacheCompaction(t *testing.T) {
	fs := vfs.NewMem()
	o := compactOpts()
	s := openMem(t, fs, o)
	defer func() { s.Close() }()
	want := fillAndDelete(t, s, 60, 9)
	checkAll(t, s, want) // caches every entry
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for k, v := range want {
					got, err := readObject(s, k)
					if err != nil || !bytes.Equal(got, v) {
						t.Errorf("reader %d: %s during compaction: %v", g, k, err)
						return
					}
				}
			}
		}()
	}
	res, err := s.Compact(context.Background(), CompactOptions{Threshold: 0.01})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) == 0 {
		t.Fatal("nothing was compacted")
	}
	checkAll(t, s, want)
}
