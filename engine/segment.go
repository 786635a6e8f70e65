package engine

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// segment is one log file, written to one replica file per mirror drive.
// While open it is appended to (under Store.appendMu) and its block index is
// an in-memory slice; once sealed its block index is the mmap-ed .bix file.
type segment struct {
	id    uint64
	files []vfs.File // replicas; nil where a drive could not be opened. Replaced whole (setMirror), never written in place
	paths []string

	mu     sync.RWMutex
	blocks []blockEntry // open: the block index, grown by appends
	// chunkCRCs holds the chunk checksums blocks point into; append-only.
	chunkCRCs []byte
	bix       *bixMap // sealed: the block index file
	ec        *ecSet  // erasure-coded: the shards (files is then nil)

	// size is the bytes written; owned by the appender (Store.appendMu),
	// read atomically by others.
	size atomic.Int64
	// sealedSize is the length of whole frames, set when sealed (recovery
	// may cut a torn tail logically where it cannot truncate).
	sealedSize atomic.Int64
	sealed     atomic.Bool
	// refs counts readers and in-flight writers holding the segment;
	// compaction sets deleting, then waits for refs to drain.
	refs     atomic.Int64
	deleting atomic.Bool
	// writers counts the in-flight writers among refs: records whose blocks
	// are here but which are not applied yet. Only the active segment gains
	// writers.
	writers atomic.Int64
	// encodeFailed: erasure coding failed; the segment stays mirrored.
	encodeFailed atomic.Bool
	// maint serialises work that changes the segment's files: encoding,
	// scrubbing and healing (lockCtx takes it giving up on cancel).
	maint sync.Mutex
	// dropped is the prefix whose page cache has been dropped (dropCache).
	dropped atomic.Int64
}

const writeCategory vfs.DiskWriteCategory = "lsmstore-segment"

func segmentName(id uint64) string { return fmt.Sprintf("%016x.seg", id) }
func bixName(id uint64) string     { return fmt.Sprintf("%016x.bix", id) }

// mirrors returns the segment's mirror files (nil once encoded): a
// snapshot the caller may iterate without the lock.
func (sg *segment) mirrors() []vfs.File {
	sg.mu.RLock()
	defer sg.mu.RUnlock()
	return sg.files
}

// setMirror makes f the segment's mirror i and returns the one it
// replaces. The slice is replaced, never written in place: readers iterate
// the one they took under mu (mirrors) without holding it.
func (sg *segment) setMirror(i int, f vfs.File) vfs.File {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	files := slices.Clone(sg.files)
	old := files[i]
	files[i] = f
	sg.files = files
	return old
}

// encoded reports whether the segment is erasure-coded.
func (sg *segment) encoded() bool {
	sg.mu.RLock()
	defer sg.mu.RUnlock()
	return sg.ec != nil
}

// numBlocks returns how many blocks the segment holds.
func (sg *segment) numBlocks() int {
	sg.mu.RLock()
	defer sg.mu.RUnlock()
	if sg.bix != nil {
		return sg.bix.count
	}
	return len(sg.blocks)
}

// entry returns the location of block n.
func (sg *segment) entry(n uint32) (blockEntry, bool) {
	sg.mu.RLock()
	defer sg.mu.RUnlock()
	if sg.bix != nil {
		return sg.bix.entry(n)
	}
	if int(n) >= len(sg.blocks) {
		return blockEntry{}, false
	}
	return sg.blocks[n], true
}

// mirrorBufs holds buffers for the copies segment.write makes: a fresh
// 1 MiB copy per chunk and mirror made the heap churn (a GC per PUT of
// 16 MiB on two drives, each freshly faulted page costly on a VM).
var mirrorBufs sync.Pool

// write appends p to every replica (but those on failed drives). Callers
// hold Store.appendMu. A vfs File may modify what it is given, so every
// replica but the last gets a copy.
func (sg *segment) write(p []byte) error {
	var buf *[]byte
	if len(sg.files) > 1 {
		buf, _ = mirrorBufs.Get().(*[]byte)
		if buf == nil {
			buf = new([]byte)
		}
		defer mirrorBufs.Put(buf)
	}
	last := -1
	for i, f := range sg.files {
		if f != nil {
			last = i
		}
	}
	if last < 0 {
		return fmt.Errorf("engine: segment %016x has no replica to write", sg.id)
	}
	// A nil replica is on a failed drive: Heal gives it back.
	for i, f := range sg.files {
		if f == nil {
			continue
		}
		b := p
		if i < last {
			*buf = append((*buf)[:0], p...)
			b = *buf
		}
		if _, err := f.Write(b); err != nil {
			return err
		}
	}
	sg.size.Add(int64(len(p)))
	return nil
}

// sync makes every replica durable.
func (sg *segment) sync() error {
	for _, f := range sg.files {
		if f == nil {
			continue
		}
		if err := f.SyncData(); err != nil {
			return err
		}
	}
	return nil
}

// cacheWindow is how many of a segment's newest synced bytes dropCache
// leaves in the page cache. It drops at least dropMin bytes at a time, so
// that small group commits do not each make the call.
const (
	cacheWindow = 64 << 20
	dropMin     = 4 << 20
)

// dropCache drops the page cache of the segment's synced bytes except the
// newest keep. Written pages then get reused instead of the kernel taking
// fresh memory for every write: on a VM that returns free memory to its
// host, a fresh page costs as much CPU as hashing it many times over.
// synced must be durable: dirty pages are not dropped, only queued for
// writeback.
func (sg *segment) dropCache(synced, keep int64) {
	// Whole pages: the kernel keeps a partly covered one.
	from, end := sg.dropped.Load(), (synced-keep)&^(4096-1)
	if end <= from || (keep > 0 && end-from < dropMin) {
		return
	}
	for _, f := range sg.mirrors() {
		if f != nil {
			if fd := f.Fd(); fd != vfs.InvalidFd {
				dropPages(fd, from, end-from)
			}
		}
	}
	sg.dropped.Store(end)
}

// errReplicas is wrapped around the last replica's error when no replica
// could serve a read.
var errReplicas = errors.New("engine: no replica could serve the read")

// readVerified reads piece p into buf and verifies it, trying each replica
// in files (the segment's mirrors) in turn. It returns the number of disk
// reads made and how many of them failed or returned corrupt bytes.
func (sg *segment) readVerified(files []vfs.File, buf []byte, p piece) (reads, failed int, err error) {
	var last error = io.ErrUnexpectedEOF
	for _, f := range files {
		if f == nil {
			continue
		}
		reads++
		n, rerr := f.ReadAt(buf, p.off())
		if n == len(buf) {
			rerr = nil
		}
		if rerr != nil {
			last = rerr
			failed++
			continue
		}
		if !p.verify(buf) {
			last = ErrCorrupt
			failed++
			continue
		}
		return reads, failed, nil
	}
	if errors.Is(last, ErrCorrupt) {
		return reads, failed, fmt.Errorf("%w: segment %016x block at offset %d", ErrCorrupt, sg.id, p.e.off)
	}
	return reads, failed, fmt.Errorf("%w: segment %016x: %w", errReplicas, sg.id, last)
}

func (sg *segment) close() error {
	var first error
	for _, f := range sg.files {
		if f != nil {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	sg.mu.Lock()
	defer sg.mu.Unlock()
	if sg.ec != nil {
		sg.ec.close()
	}
	if sg.bix != nil {
		if err := sg.bix.close(); err != nil && first == nil {
			first = err
		}
		sg.bix = nil
	}
	return first
}
