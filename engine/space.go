package engine

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// A full drive must not wedge the store. Two mechanisms keep it writable:
//
//   - The free-space reserve (Options.FreeSpaceReserve): new object data is
//     refused with ErrStorageFull, before its body is read and again before
//     each block run is appended, when it would leave a drive with less
//     free space than the reserve. Deletes, index writes, sealing and
//     compaction output use the reserve.
//   - ENOSPC from a segment append (the reserve off, or the estimate
//     wrong): nothing was acknowledged yet, so the append is abandoned. The
//     active segment may now hold a partial frame past its size; it takes
//     no more appends: its replicas are cut back to its size where the
//     filesystem allows, and it is sealed at that size like a rotated one
//     (recovery stops at a torn frame anyway). The next append starts a new
//     segment. The caller gets ErrStorageFull; the store does not fail.
//
// A failed fsync still fails the store: what reached the disk is unknown.

// spaceRefresh is how long a free-space figure is trusted (less the bytes
// admitted since) before statfs is asked again.
const spaceRefresh = 100 * time.Millisecond

// Default reserve: defaultReservePct of the drive, within these bounds,
// and never more than a quarter of the drive.
const (
	defaultReservePct = 2
	minDefaultReserve = 64 << 20
	maxDefaultReserve = 2 << 30
)

// spaceGuard enforces the free-space reserve. It learns the drives' sizes
// on first use, so a store on a filesystem without statfs (a MemFS) has no
// reserve.
type spaceGuard struct {
	once    sync.Once
	mu      sync.Mutex
	fs      vfs.FS
	dirs    []string
	reserve []int64 // per drive; -1: unknown (no statfs), no check
	free    []int64 // per drive: the last statfs less the bytes admitted since
	at      time.Time
	// segLimit caps the segment size on small drives (0: no cap).
	segLimit int64
}

// segmentsPerDrive: on a drive smaller than this many segments, segments
// are cut smaller, so that compaction can copy one segment's live data
// within the reserve.
const segmentsPerDrive = 16

func (g *spaceGuard) init(o Options) {
	g.once.Do(func() {
		g.fs, g.dirs = o.FS, o.Dirs
		g.reserve = make([]int64, len(o.Dirs))
		g.free = make([]int64, len(o.Dirs))
		for i, d := range o.Dirs {
			g.reserve[i] = -1
			du, err := o.FS.GetDiskUsage(d)
			if err != nil {
				continue
			}
			if l := max(int64(du.TotalBytes)/segmentsPerDrive, 1<<20); g.segLimit == 0 || l < g.segLimit {
				g.segLimit = l
			}
			r := o.FreeSpaceReserve
			if r == 0 {
				r = int64(du.TotalBytes) * defaultReservePct / 100
				r = min(max(r, minDefaultReserve), maxDefaultReserve, int64(du.TotalBytes)/4)
			}
			if o.FreeSpaceReserve >= 0 {
				g.reserve[i] = r
			}
		}
		g.refresh()
	})
}

// refresh reads every drive's free space. Callers hold mu (or run in init).
func (g *spaceGuard) refresh() {
	for i, d := range g.dirs {
		if g.reserve[i] < 0 {
			continue
		}
		if du, err := g.fs.GetDiskUsage(d); err == nil {
			g.free[i] = int64(du.AvailBytes)
		}
	}
	g.at = time.Now()
}

// fits reports whether every drive keeps its floor after n more bytes.
func (g *spaceGuard) fits(n int64, intoReserve bool) (string, bool) {
	for i, r := range g.reserve {
		if r < 0 {
			continue
		}
		floor := r
		if intoReserve {
			// Compaction copies into the reserve but leaves a quarter
			// of it for index writes and sealing.
			floor = r / 4
		}
		if g.free[i]-n < floor {
			return fmt.Sprintf("drive %s: %d bytes free, %d needed, reserve %d", g.dirs[i], g.free[i], n, floor), false
		}
	}
	return "", true
}

// admit checks that n more bytes of new data (compaction output when
// intoReserve) fit on every drive above the reserve; with take it counts
// them as written.
func (g *spaceGuard) admit(o Options, n int64, intoReserve, take bool) error {
	g.init(o)
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.fits(n, intoReserve)
	if !ok || time.Since(g.at) > spaceRefresh {
		g.refresh()
	}
	why, ok := g.fits(n, intoReserve)
	if !ok {
		return fmt.Errorf("%w: %s", ErrStorageFull, why)
	}
	if take {
		for i := range g.free {
			g.free[i] -= n
		}
	}
	return nil
}

// segmentLimit is the size at which the open segment is rotated:
// Options.SegmentSize, or 1/16 of the smallest drive (at least 1 MiB) when
// that is smaller.
func (s *Store) segmentLimit() int64 {
	s.space.init(s.opts)
	if l := s.space.segLimit; l > 0 && l < s.opts.SegmentSize {
		return l
	}
	return s.opts.SegmentSize
}

// roomFor refuses new object data of size bytes that would not fit above
// the reserve; it runs before a body is read.
func (s *Store) roomFor(size int64) error {
	return s.space.admit(s.opts, size, false, false)
}

// encodeRoom reports whether erasure-coding sg fits: its shards are
// written (one per drive) before its mirrors go, and may use the reserve as
// compaction's copies do.
func (s *Store) encodeRoom(sg *segment) error {
	k, b := s.layout.dataShards(), int64(s.layout.ShardBlock)
	return s.space.admit(s.opts, shardRows(sg.sealedSize.Load(), k, b)*b, true, false)
}

// isNoSpace reports whether err is a full filesystem (or quota).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// appendFailed handles a failed append to the active segment sg (nil when
// creating a segment failed). Callers hold appendMu. ENOSPC abandons the
// append and answers ErrStorageFull; any other error fails the store.
func (s *Store) appendFailed(sg *segment, err error) error {
	if !isNoSpace(err) {
		s.fail(err)
		return err
	}
	if sg != nil && sg == s.active && !s.activeDone {
		s.cutTail(sg)
		s.activeDone = true
		s.rotated = append(s.rotated, sg)
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if ferr := s.failedErr(); ferr != nil {
		return ferr
	}
	s.opts.Logf("engine: storage full, write refused: %v", err)
	return fmt.Errorf("%w: %w", ErrStorageFull, err)
}

// cutTail truncates sg's replicas to its size, dropping what a failed
// append left, and syncs the cut before the writer is answered: with
// mirrors, one replica may hold a whole record frame the others lack, and
// recovery must never replay it. Files without a descriptor (in-memory test
// filesystems) keep the tail until sg is sealed at its size; a crash before
// that replays such a frame only with two or more mirrors. Callers hold
// appendMu.
func (s *Store) cutTail(sg *segment) {
	size := sg.size.Load()
	for _, f := range sg.files {
		if f == nil {
			continue
		}
		fd := f.Fd()
		if fd == vfs.InvalidFd {
			continue
		}
		st, err := f.Stat()
		if err != nil || st.Size() <= size {
			continue
		}
		if err := unix.Ftruncate(int(fd), size); err != nil {
			s.opts.Logf("engine: segment %016x: cutting a failed append: %v", sg.id, err)
			continue
		}
		if err := f.Sync(); err != nil {
			s.fail(err)
		}
	}
}

// Failed returns the error that put the store in its failed state (a
// failed sync or a write error other than a full drive), or nil. Writes are
// refused once it is set; reads go on.
func (s *Store) Failed() error { return s.failedErr() }
