package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// CompactOptions selects what a compaction pass does.
type CompactOptions struct {
	// Segment, when non-zero, compacts only that sealed segment, whatever
	// its garbage ratio.
	Segment uint64
	// Threshold is the garbage ratio above which a sealed segment is
	// compacted. Default: Options.CompactionThreshold.
	Threshold float64
	// DryRun reports what a pass would reclaim and changes nothing.
	DryRun bool
	// Progress, when set, is called after each copied run.
	Progress func(CompactProgress)
}

// CompactProgress reports a pass under way.
type CompactProgress struct {
	Segments  int   // segments chosen
	BytesLive int64 // live bytes to copy out of them
	BytesDone int64 // live bytes copied so far
}

// CompactResult is what a pass did (or, for a dry run, would do).
type CompactResult struct {
	Chosen []uint64 // segments chosen, most garbage first
	// Deleted are the chosen segments removed; the others still held live
	// data at the end (a racing write) and wait for the next pass.
	Deleted     []uint64
	BytesCopied int64
	// BytesReclaimed is the on-disk size of the deleted segments, replicas
	// included (for a dry run: of the chosen ones).
	BytesReclaimed int64
	Relocated      int // runs moved
	Lost           int // runs whose entry changed before the swap (copies dropped)
}

// compactor holds compaction state.
type compactor struct {
	mu   sync.Mutex // one pass at a time
	busy atomic.Bool
	// beforeSwap, when set by tests, runs after a run is copied and before
	// its relocation record is logged.
	beforeSwap func(bucket, key string)
	copied     atomic.Int64
	passes     atomic.Int64
}

// Compact runs one compaction pass: it picks sealed segments whose garbage
// ratio is above the threshold, copies their live runs into the log, swaps
// each index entry with compare-and-swap, and deletes the segments once no
// entry and no reader holds them. Wholly dead segments go first, without
// copying; the others go one at a time, each copied only when its live
// bytes fit on the drives (copies may use most of the free-space reserve),
// so a full drive gets space back. Being an explicit pass, it first seals
// the open segment when that segment's garbage is above the threshold, so
// its garbage is reclaimed too (background passes leave it be).
func (s *Store) Compact(ctx context.Context, o CompactOptions) (CompactResult, error) {
	return s.compactPass(ctx, o, true)
}

func (s *Store) compactPass(ctx context.Context, o CompactOptions, explicit bool) (CompactResult, error) {
	var res CompactResult
	if err := s.writable(); err != nil {
		return res, err
	}
	c := &s.compact
	if err := lockCtx(ctx, &c.mu); err != nil { // a background pass may be running
		return res, err
	}
	defer c.mu.Unlock()
	c.busy.Store(true)
	defer c.busy.Store(false)
	c.passes.Add(1)

	threshold := o.Threshold
	if threshold <= 0 {
		threshold = s.opts.CompactionThreshold
	}
	if explicit && !o.DryRun && o.Segment == 0 {
		if err := s.sealOpenGarbage(ctx, threshold); err != nil {
			return res, err
		}
	}
	victims := s.chooseVictims(o.Segment, threshold)
	for _, v := range victims {
		res.Chosen = append(res.Chosen, v.ID)
	}
	if len(victims) == 0 {
		return res, nil
	}
	var liveTotal int64
	for _, v := range victims {
		liveTotal += v.Live
	}
	if o.DryRun {
		for _, v := range victims {
			res.BytesReclaimed += v.Size * int64(s.layout.Replicas)
		}
		res.BytesCopied = liveTotal
		return res, nil
	}
	set := map[uint64]bool{}
	for _, v := range victims {
		set[v.ID] = true
	}
	jobs, err := s.referencing(set)
	if err != nil {
		return res, err
	}
	byVictim := map[uint64][]relocJob{}
	for _, j := range jobs {
		byVictim[j.old.seg] = append(byVictim[j.old.seg], j)
	}
	dead := map[uint64]bool{}
	for _, v := range victims {
		if len(byVictim[v.ID]) == 0 {
			dead[v.ID] = true
		}
	}
	if err := s.dropVictims(ctx, victims, dead, &res); err != nil {
		return res, err
	}
	limiter := newRateLimiter(s.opts.CompactionRate)
	progress := CompactProgress{Segments: len(victims), BytesLive: liveTotal}
	for _, v := range victims {
		if dead[v.ID] {
			continue
		}
		var need int64
		for _, j := range byVictim[v.ID] {
			need += j.old.phys
		}
		if err := s.space.admit(s.opts, need, true, false); err != nil {
			s.opts.Logf("engine: compaction leaves segment %016x for now: %v", v.ID, err)
			continue
		}
		for _, j := range byVictim[v.ID] {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			moved, n, err := s.relocate(ctx, j, limiter)
			res.BytesCopied += n
			progress.BytesDone += n
			c.copied.Add(n)
			if err != nil {
				return res, err
			}
			if moved {
				res.Relocated++
			} else {
				res.Lost++
			}
			if o.Progress != nil {
				o.Progress(progress)
			}
		}
		if err := s.dropVictims(ctx, victims, map[uint64]bool{v.ID: true}, &res); err != nil {
			return res, err
		}
	}
	// The copies sit in the active segment, mirrored; rotate it so they
	// are sealed and erasure-coded like everything else.
	if res.Relocated > 0 {
		if _, err := s.rotateActive(); err != nil {
			return res, err
		}
	}
	// Deleted lists in the order chosen (dead segments went first).
	rank := map[uint64]int{}
	for i, id := range res.Chosen {
		rank[id] = i
	}
	sort.Slice(res.Deleted, func(i, j int) bool { return rank[res.Deleted[i]] < rank[res.Deleted[j]] })
	if len(res.Deleted) > 0 {
		s.opts.Logf("engine: compaction deleted %d segments, copied %d bytes, reclaimed %d bytes", len(res.Deleted), res.BytesCopied, res.BytesReclaimed)
	}
	return res, nil
}

// dropVictims deletes the victims in set that nothing references any more.
func (s *Store) dropVictims(ctx context.Context, victims []SegmentMetrics, set map[uint64]bool, res *CompactResult) error {
	if len(set) == 0 {
		return nil
	}
	// Confirm with a second scan that nothing references them (entries
	// written while the pass ran included).
	still, err := s.referencing(set)
	if err != nil {
		return err
	}
	drop := map[uint64]bool{}
	for id := range set {
		drop[id] = true
	}
	for _, j := range still {
		delete(drop, j.old.seg)
	}
	if len(drop) == 0 {
		return nil
	}
	// The relocations must be durable in the index before a segment whose
	// blocks their records replaced disappears.
	if err := s.idx.sync(); err != nil {
		return err
	}
	for _, v := range victims {
		if !drop[v.ID] {
			continue
		}
		ok, err := s.dropSegment(ctx, v.ID)
		if err != nil {
			return err
		}
		if ok {
			res.Deleted = append(res.Deleted, v.ID)
			res.BytesReclaimed += v.Size * int64(s.layout.Replicas)
		}
	}
	return nil
}

// sealOpenGarbage seals the open segment when its garbage ratio is above
// threshold, and waits for the sealer, so that the pass can reclaim it.
func (s *Store) sealOpenGarbage(ctx context.Context, threshold float64) error {
	s.appendMu.Lock()
	a, done := s.active, s.activeDone
	s.appendMu.Unlock()
	if !done {
		size := a.size.Load()
		s.segMu.RLock()
		live := s.live[a.id]
		s.segMu.RUnlock()
		if size <= segHeaderSize || float64(size-live) <= threshold*float64(size) {
			return nil
		}
		var err error
		if a, err = s.rotateActive(); err != nil || a == nil {
			return err
		}
	}
	for !a.sealed.Load() {
		if err := s.failedErr(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// chooseVictims returns the sealed segments to compact, most garbage first.
func (s *Store) chooseVictims(only uint64, threshold float64) []SegmentMetrics {
	var out []SegmentMetrics
	for _, sm := range s.Metrics().Segments {
		if !sm.Sealed || sm.Size <= segHeaderSize {
			continue
		}
		if only != 0 {
			if sm.ID == only && sm.Garbage > 0 {
				out = append(out, sm)
			}
			continue
		}
		if float64(sm.Garbage) > threshold*float64(sm.Size) {
			out = append(out, sm)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Garbage != out[j].Garbage {
			return out[i].Garbage > out[j].Garbage
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// relocJob is one run of an object or part that lies in a victim segment.
type relocJob struct {
	bucket, key string
	uploadID    string
	part        int
	old         run
}

// referencing scans the index for runs in the given segments.
func (s *Store) referencing(segs map[uint64]bool) ([]relocJob, error) {
	var jobs []relocJob
	add := func(j relocJob, runs []run) {
		for _, r := range runs {
			if segs[r.seg] {
				j.old = r
				jobs = append(jobs, j)
			}
		}
	}
	err := s.scanPrefix([]byte{pfxObject}, func(k, v []byte) error {
		en, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("%w: index entry", ErrCorrupt)
		}
		if en.hasInline {
			return nil
		}
		i := 1
		for i < len(k) && k[i] != 0 {
			i++
		}
		j := relocJob{bucket: string(k[1:i]), key: string(k[min(i+1, len(k)):])}
		for _, x := range en.extents {
			add(j, x.runs)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.scanPrefix([]byte{pfxPart}, func(k, v []byte) error {
		pv, err := decodePart(v)
		if err != nil || len(k) < 1+uploadIDLen+1+4 {
			return fmt.Errorf("%w: part entry", ErrCorrupt)
		}
		n := int(uint32(k[len(k)-4])<<24 | uint32(k[len(k)-3])<<16 | uint32(k[len(k)-2])<<8 | uint32(k[len(k)-1]))
		add(relocJob{uploadID: string(k[1 : 1+uploadIDLen]), part: n}, pv.runs)
		return nil
	})
	return jobs, err
}

// relocate copies one run's frames (raw, verified, bypassing the cache)
// into the log and logs the swap. moved is false when the entry changed
// before the swap.
func (s *Store) relocate(ctx context.Context, j relocJob, limiter *rateLimiter) (moved bool, copied int64, err error) {
	s.segMu.RLock()
	sg := s.segs[j.old.seg]
	s.segMu.RUnlock()
	if sg == nil {
		return false, 0, fmt.Errorf("%w: segment %016x", errNoSegment, j.old.seg)
	}
	rec := &record{op: opRelocate, bucket: j.bucket, key: j.key, uploadID: j.uploadID, part: j.part, runs: []run{j.old}}
	defer unpin(rec)
	frames := make([]byte, 0, s.opts.ChunkBlocks*(s.opts.BlockSize+frameHeaderSize))
	var metas []blockEntry
	var crcs []byte // chunk checksums of metas, copied by appendBlocks
	flush := func() error {
		if len(metas) == 0 {
			return nil
		}
		r, seg, err := s.appendBlocks(frames, metas, true)
		if err != nil {
			return err
		}
		rec.pins = append(rec.pins, seg)
		rec.newRuns = append(rec.newRuns, r)
		copied += int64(len(frames))
		frames, metas, crcs = frames[:0], metas[:0], crcs[:0]
		return limiter.wait(ctx, r.phys)
	}
	for b := j.old.first; b < j.old.first+j.old.count; b++ {
		e, ok := sg.entry(b)
		if !ok {
			return false, copied, fmt.Errorf("%w: block %d beyond segment %016x", ErrCorrupt, b, sg.id)
		}
		start := len(frames)
		frames = append(frames, make([]byte, frameHeaderSize+int(e.physLen))...)
		payload := frames[start+frameHeaderSize:]
		if _, err := s.readPayload(sg, payload, wholePayload(e)); err != nil {
			return false, copied, err
		}
		putFrameHeader(frames[start:], frameHeader{typ: frameBlock, flags: e.flags, logicalLen: e.logLen, payloadLen: e.physLen, payloadCRC: e.crc})
		m := blockEntry{off: int64(start + frameHeaderSize), physLen: e.physLen, logLen: e.logLen, crc: e.crc, flags: e.flags}
		m.withChunks(&crcs, payload)
		metas = append(metas, m)
		if len(metas) == s.opts.ChunkBlocks {
			if err := flush(); err != nil {
				return false, copied, err
			}
		}
	}
	if err := flush(); err != nil {
		return false, copied, err
	}
	if h := s.compact.beforeSwap; h != nil {
		h(j.bucket, j.key)
	}
	rec.mtime = now()
	_, err = s.submit(rec)
	if errors.Is(err, ErrPreconditionFailed) {
		return false, copied, nil
	}
	return err == nil, copied, err
}

// dropSegment deletes a segment that holds no live data: it marks it,
// waits for readers and writers to let go, checks it is still empty, then
// removes its index state and files.
func (s *Store) dropSegment(ctx context.Context, id uint64) (bool, error) {
	s.segMu.RLock()
	sg := s.segs[id]
	s.segMu.RUnlock()
	if sg == nil {
		return false, nil
	}
	sg.deleting.Store(true)
	// A writer still in flight holds blocks here that no scan could see:
	// its record, applied later, makes them live. Leave the segment to a
	// later pass rather than have readers of that record wait on it.
	if sg.writers.Load() > 0 {
		sg.deleting.Store(false)
		return false, nil
	}
	for sg.refs.Load() > 0 {
		select {
		case <-ctx.Done():
			sg.deleting.Store(false)
			return false, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	s.segMu.RLock()
	live := s.live[id]
	s.segMu.RUnlock()
	if live != 0 {
		sg.deleting.Store(false)
		return false, nil
	}
	if err := s.idx.del(segmentKey(id), pebble.Sync); err != nil {
		sg.deleting.Store(false)
		return false, err
	}
	s.segMu.Lock()
	delete(s.segs, id)
	delete(s.live, id)
	s.segMu.Unlock()
	sg.close()
	names := []string{segmentName(id), bixName(id)}
	for i := 0; i < s.layout.Drives; i++ {
		names = append(names, shardName(id, i))
	}
	for _, d := range s.opts.Dirs {
		for _, name := range names {
			if err := s.fs.Remove(s.fs.PathJoin(s.segDir(d), name)); err != nil && !isNotExist(err) {
				s.opts.Logf("engine: remove %s: %v", name, err)
			}
		}
		if err := syncDir(s.fs, s.segDir(d)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// rateLimiter paces compaction's copying to a byte rate.
type rateLimiter struct {
	rate  float64 // bytes per second; ≤ 0: unlimited
	start time.Time
	done  int64
}

func newRateLimiter(bytesPerSec int64) *rateLimiter {
	return &rateLimiter{rate: float64(bytesPerSec), start: time.Now()}
}

func (l *rateLimiter) wait(ctx context.Context, n int64) error {
	if l.rate <= 0 {
		return nil
	}
	l.done += n
	due := l.start.Add(time.Duration(float64(l.done) / l.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	return nil
}

// compactLoop runs compaction passes in the background.
func (s *Store) compactLoop(ctx context.Context) {
	defer s.bgWG.Done()
	t := time.NewTicker(s.opts.CompactionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.compactPass(ctx, CompactOptions{}, false); err != nil && !errors.Is(err, context.Canceled) {
			s.opts.Logf("engine: background compaction: %v", err)
		}
	}
}
