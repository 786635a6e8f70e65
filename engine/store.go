package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/klauspost/compress/zstd"

	"github.com/lsmstore/lsmstore/cache"
)

// Store is an open LSMStore engine. All methods are safe for concurrent use.
type Store struct {
	opts   Options
	fs     vfs.FS
	layout layout
	// drives tracks drives out of service and damage found on the others.
	drives *driveFaults
	locks  []io.Closer // one LOCK file per drive
	db     *pebble.DB  // the primary index copy: reads go here, writes through idx
	idx    *indexSet
	pcache *pebble.Cache
	cache  *cache.Cache
	// entries caches decoded index entries of read objects; nil if off.
	entries *entryCache
	zenc    *zstd.Encoder
	zdec    *zstd.Decoder

	// appendMu orders appends: block runs, record frames and the pending
	// queue, so queue order is log order.
	appendMu sync.Mutex
	active   *segment
	rotated  []*segment // rotated, not yet sealed
	pending  []*pendingOp
	dirty    map[*segment]struct{}
	dirDirty []string // segment directories with new files to sync

	// activeDone (under appendMu): an append to the active segment failed
	// (a full drive); it is rotated already and the next append starts a
	// new one.
	activeDone bool
	// space enforces the free-space reserve (space.go).
	space spaceGuard

	// stateMu orders writes of segment states (segmentKey): the committer
	// reads live bytes and sealed/encoded flags, writes them and publishes
	// new live bytes under it, and seal and encode read live bytes, write
	// and set their flags under it, so neither overwrites the other's
	// newer figures.
	stateMu sync.Mutex

	segMu sync.RWMutex
	segs  map[uint64]*segment
	live  map[uint64]int64 // live bytes per segment (written by the applier)
	st    stats

	failed   atomic.Pointer[error]
	closed   atomic.Bool
	kick     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup // the committer
	bgWG     sync.WaitGroup // background work
	chunks   sync.Pool
	counters counters
	compact  compactor
	healMu   sync.Mutex
	healQ    map[healKey]bool
	sealQ    chan *segment
	toEncode []*segment // sealed at open, not yet encoded
	testing  testingHooks
	// stopBackground cancels background work (compaction).
	stopBackground context.CancelFunc
}

type counters struct {
	diskReads     atomic.Int64
	diskBytesRead atomic.Int64
	fsyncs        atomic.Int64
	groupCommits  atomic.Int64
	groupOps      atomic.Int64
	gets, puts    atomic.Int64
	degradedReads atomic.Int64
	driveErrors   atomic.Int64
	encodedBytes  atomic.Int64
	encodeNanos   atomic.Int64
}

// pendingOp is a logged record waiting for group commit.
type pendingOp struct {
	rec  *record
	pos  logPos // end of its record frame
	done chan struct{}
	err  error
	info ObjectInfo
	part PartInfo
}

// Open opens or creates a store over opts.Dirs and recovers from a crash.
func Open(opts Options) (*Store, error) {
	o := opts.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	l, df, err := loadLayout(o)
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts: o, fs: o.FS, layout: l, drives: df,
		segs: map[uint64]*segment{}, live: map[uint64]int64{},
		dirty: map[*segment]struct{}{},
		sealQ: make(chan *segment, 1024),
		kick:  make(chan struct{}, 1), stop: make(chan struct{}),
	}
	ok := false
	defer func() {
		if !ok {
			s.closeResources()
		}
	}()
	for i, d := range o.Dirs {
		lk, err := o.FS.Lock(o.FS.PathJoin(d, "LOCK"))
		if err != nil && df.failedAt(i) {
			o.Logf("engine: failed drive %s: lock: %v", d, err)
			s.locks = append(s.locks, nil) // Heal locks it
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("engine: data directory %s is in use: %w", d, err)
		}
		s.locks = append(s.locks, lk)
	}
	for i, d := range o.Dirs {
		if df.failedAt(i) {
			continue
		}
		if err := mkdirAllSynced(o.FS, s.segDir(d)); err != nil {
			df.fail(i, "segment directory: "+err.Error())
		}
	}
	cacheBytes := o.CacheSize
	if cacheBytes < 0 {
		cacheBytes = 0
	}
	// Entries are whole blocks or 4 KiB chunks of them: size ristretto's
	// counters for an item between the two.
	if s.cache, err = cache.New(cache.Options{MaxBytes: cacheBytes, BlockSize: min(o.BlockSize, 4*chunkSize)}); err != nil {
		return nil, err
	}
	if s.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false)); err != nil {
		return nil, err
	}
	if s.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(uint64(o.BlockSize)*2)); err != nil {
		return nil, err
	}
	s.entries = newEntryCache(o.EntryCacheSize)
	s.pcache = pebble.NewCache(o.IndexCacheSize)
	popts := &pebble.Options{
		FS:    noPreallocFS{o.FS},
		Cache: s.pcache,
		// 8 MiB holds ~30 000 object writes per flush.
		MemTableSize:  8 << 20,
		Logger:        quietLogger{o.Logf},
		EventListener: s.indexEvents(),
	}
	// Once, here: the copies are opened side by side, and Pebble fills the
	// defaults of the event listener they share in place.
	popts.EnsureDefaults()
	var stale []string
	if s.idx, stale, err = s.openIndex(popts); err != nil {
		return nil, err
	}
	s.db = s.idx.dbs[0]
	if err := df.budget(l.parityShards()); err != nil {
		return nil, err
	}
	for _, i := range df.failedDrives() {
		o.Logf("engine: drive %s is failed (%s): it is not used until heal repairs it", o.Dirs[i], df.failed[i])
	}
	if err := s.writeFreshLayouts(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	if err := s.idx.rebuild(o.FS, stale); err != nil {
		return nil, err
	}
	ok = true
	s.wg.Add(1)
	go s.committer()
	bg, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	s.bgWG.Add(1)
	go s.sealer(bg)
	for _, sg := range s.toEncode {
		s.sealQ <- sg
	}
	s.toEncode = nil
	if o.CompactionInterval > 0 {
		s.bgWG.Add(1)
		go s.compactLoop(bg)
	}
	return s, nil
}

type quietLogger struct{ logf func(string, ...any) }

func (l quietLogger) Infof(format string, args ...any)  {}
func (l quietLogger) Errorf(format string, args ...any) { l.logf("pebble: "+format, args...) }
func (l quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

func (s *Store) segDir(drive string) string { return s.fs.PathJoin(drive, "segments") }

// replicaDrives lists the drives that hold segment id.
func (s *Store) replicaDrives(id uint64) []string {
	n := len(s.opts.Dirs)
	out := make([]string, s.layout.Replicas)
	for i := range out {
		out[i] = s.opts.Dirs[(int(id%uint64(n))+i)%n]
	}
	return out
}

// Close stops the committer, makes the applied state durable and closes
// every file. Writes in flight finish first.
func (s *Store) Close() error {
	if s.stopBackground != nil {
		s.stopBackground()
		s.bgWG.Wait()
	}
	if s.closed.Swap(true) {
		return ErrClosed
	}
	// Take appendMu so no writer is between its check of closed and its
	// enqueue; after this, nothing new is queued.
	s.appendMu.Lock()
	s.appendMu.Unlock()
	close(s.stop)
	s.wg.Wait()
	var err error
	if s.failedErr() == nil {
		err = s.idx.sync()
	}
	if cerr := s.closeResources(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeResources() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	s.segMu.Lock()
	for _, sg := range s.segs {
		keep(sg.close())
	}
	s.segs = map[uint64]*segment{}
	s.segMu.Unlock()
	if s.idx != nil {
		keep(s.idx.close())
	}
	if s.pcache != nil {
		s.pcache.Unref()
	}
	if s.cache != nil {
		s.cache.Close()
	}
	if s.zenc != nil {
		keep(s.zenc.Close())
	}
	if s.zdec != nil {
		s.zdec.Close()
	}
	for _, lk := range s.locks {
		if lk != nil {
			keep(lk.Close())
		}
	}
	return first
}

func (s *Store) failedErr() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail puts the store into the failed state after a write or sync error.
func (s *Store) fail(err error) {
	wrapped := fmt.Errorf("%w: %w", ErrStoreFailed, err)
	s.counters.driveErrors.Add(1)
	if s.failed.CompareAndSwap(nil, &wrapped) {
		s.opts.Logf("engine: store failed, refusing writes until reopened: %v", err)
	}
}

func (s *Store) writable() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.failedErr()
}

// newSegment creates segment id on its replica drives. Callers hold
// appendMu (or run before the committer starts).
func (s *Store) newSegment(id uint64) (*segment, error) {
	sg := &segment{id: id}
	hdr := segHeader(id, s.opts.BlockSize)
	for _, d := range s.replicaDrives(id) {
		p := s.fs.PathJoin(s.segDir(d), segmentName(id))
		if s.driveFailed(d) {
			// Heal gives the drive its replica back.
			sg.files, sg.paths = append(sg.files, nil), append(sg.paths, p)
			continue
		}
		f, err := s.fs.Create(p, writeCategory)
		if err != nil {
			s.removeSegmentFiles(sg)
			return nil, err
		}
		sg.files = append(sg.files, f)
		sg.paths = append(sg.paths, p)
		s.dirDirty = append(s.dirDirty, s.segDir(d))
	}
	if err := sg.write(hdr); err != nil {
		s.removeSegmentFiles(sg)
		return nil, err
	}
	s.segMu.Lock()
	s.segs[id] = sg
	s.segMu.Unlock()
	return sg, nil
}

// activeFor returns the segment the next n bytes go to, rotating when the
// active one is full (or was given up after a failed append). Callers hold
// appendMu.
func (s *Store) activeFor(n int) (*segment, error) {
	a := s.active
	if size := a.size.Load(); s.activeDone || (size > segHeaderSize && size+int64(n) > s.segmentLimit()) {
		sg, err := s.newSegment(a.id + 1)
		if err != nil {
			return nil, s.appendFailed(nil, err)
		}
		if !s.activeDone {
			s.rotated = append(s.rotated, a)
		}
		s.activeDone = false
		s.active = sg
		return sg, nil
	}
	return a, nil
}

// appendBlocks appends a run of block frames and returns where it landed.
// metas hold offsets relative to frames. New object data must fit above the
// free-space reserve; compaction's copies (relocation) may use most of it.
// The segment is returned pinned: the caller unpins it once the record
// naming the run is applied (or abandoned).
func (s *Store) appendBlocks(frames []byte, metas []blockEntry, relocation bool) (run, *segment, error) {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	if err := s.writable(); err != nil {
		return run{}, nil, err
	}
	if err := s.space.admit(s.opts, int64(len(frames)), relocation, true); err != nil {
		return run{}, nil, err
	}
	sg, err := s.activeFor(len(frames))
	if err != nil {
		return run{}, nil, err
	}
	base := sg.size.Load()
	if err := sg.write(frames); err != nil {
		return run{}, nil, s.appendFailed(sg, err)
	}
	sg.refs.Add(1)
	sg.writers.Add(1)
	sg.mu.Lock()
	first := len(sg.blocks)
	for _, m := range metas {
		m.off += base
		m.keepChunks(&sg.chunkCRCs)
		sg.blocks = append(sg.blocks, m)
	}
	sg.mu.Unlock()
	s.dirty[sg] = struct{}{}
	return run{seg: sg.id, first: uint32(first), count: uint32(len(metas)), phys: int64(len(frames))}, sg, nil
}

// submit logs rec and waits until group commit has made it durable and
// applied it. The returned op carries the apply result.
func (s *Store) submit(rec *record) (*pendingOp, error) {
	buf := rec.encode(make([]byte, frameHeaderSize, frameHeaderSize+256+len(rec.inline)))
	payload := buf[frameHeaderSize:]
	putFrameHeader(buf, frameHeader{typ: frameRecord, payloadLen: uint32(len(payload)), payloadCRC: crc32c(payload)})
	op := &pendingOp{rec: rec, done: make(chan struct{})}

	s.appendMu.Lock()
	if err := s.writable(); err != nil {
		s.appendMu.Unlock()
		return nil, err
	}
	sg, err := s.activeFor(len(buf))
	if err != nil {
		s.appendMu.Unlock()
		return nil, err
	}
	if err := sg.write(buf); err != nil {
		err = s.appendFailed(sg, err)
		s.appendMu.Unlock()
		return nil, err
	}
	op.pos = logPos{seg: sg.id, off: sg.size.Load()}
	s.dirty[sg] = struct{}{}
	s.pending = append(s.pending, op)
	s.appendMu.Unlock()

	select {
	case s.kick <- struct{}{}:
	default:
	}
	<-op.done
	return op, op.err
}

// committer is the group-commit loop: one sync for every op queued since
// the last round, then one index batch applying them in log order.
func (s *Store) committer() {
	defer s.wg.Done()
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			s.commitRound()
			return
		}
		s.commitRound()
	}
}

func (s *Store) commitRound() {
	s.appendMu.Lock()
	if len(s.pending) == 0 && len(s.rotated) == 0 {
		// Nothing to commit (a stale kick). Leave dirty segments and
		// directories for the round that acknowledges their writers:
		// taking them here would drop their sync.
		s.appendMu.Unlock()
		return
	}
	ops := s.pending
	s.pending = nil
	dirty := s.dirty
	s.dirty = map[*segment]struct{}{}
	dirs := s.dirDirty
	s.dirDirty = nil
	rotated := s.rotated
	s.rotated = nil
	s.appendMu.Unlock()

	// What the sync makes durable: the bytes written before it starts.
	synced := make(map[*segment]int64, len(dirty))
	for sg := range dirty {
		synced[sg] = sg.size.Load()
	}
	err := s.failedErr()
	if err == nil {
		err = s.syncAll(dirty, dirs)
	}
	if err == nil && len(ops) > 0 {
		err = s.applyOps(ops)
	}
	if err != nil {
		s.fail(err)
		for _, op := range ops {
			if op.err == nil {
				op.err = s.failedErr()
			}
		}
	}
	for _, op := range ops {
		close(op.done)
	}
	if err == nil {
		// After the acknowledgements: dropping pages takes time.
		for sg, n := range synced {
			sg.dropCache(n, cacheWindow)
		}
	}
	// Rotated segments have all their records applied now: the sealer
	// seals (and erasure-codes) them in the background.
	for _, sg := range rotated {
		if s.failedErr() != nil {
			return
		}
		s.sealQ <- sg
	}
}

// sealer seals rotated segments and erasure-codes sealed ones, off the
// write path.
func (s *Store) sealer(ctx context.Context) {
	defer s.bgWG.Done()
	for {
		var sg *segment
		select {
		case <-ctx.Done():
			return
		case sg = <-s.sealQ:
		}
		// Held until the page drop below: compaction may take the segment
		// as soon as it is sealed, and waits for its holders to let go.
		sg.refs.Add(1)
		if !sg.sealed.Load() {
			if err := s.seal(sg, sg.size.Load()); err != nil {
				s.fail(err)
				sg.refs.Add(-1)
				continue
			}
		}
		if s.erasureCoded() && !sg.encoded() && !sg.deleting.Load() {
			if err := s.encodeRoom(sg); err != nil {
				sg.encodeFailed.Store(true)
				s.opts.Logf("engine: not encoding segment %016x: %v (it stays mirrored)", sg.id, err)
			} else if err := s.encode(ctx, sg); err != nil {
				sg.encodeFailed.Store(ctx.Err() == nil)
				s.opts.Logf("engine: encoding segment %016x: %v (it stays mirrored)", sg.id, err)
			}
		}
		// Sealed (and synced): no more appends and no page to keep.
		if !sg.deleting.Load() {
			sg.dropCache(sg.size.Load(), 0)
		}
		sg.refs.Add(-1)
	}
}

// WaitSealed blocks until every rotated segment is sealed and, where the
// layout calls for it, erasure-coded (or its encoding failed). Tests use
// it.
func (s *Store) WaitSealed() {
	for {
		active := s.activeSegment()
		busy := len(s.sealQ) > 0
		s.segMu.RLock()
		for _, sg := range s.segs {
			if sg == active || sg.deleting.Load() {
				continue
			}
			if !sg.sealed.Load() || (s.erasureCoded() && !sg.encoded() && !sg.encodeFailed.Load()) {
				busy = true
			}
		}
		s.segMu.RUnlock()
		if !busy || s.failedErr() != nil || s.closed.Load() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rotateActive starts a new active segment if the current one holds data,
// so that what it holds gets sealed (and erasure-coded) now. It returns the
// segment on its way to sealing (nil if none), and leaves everything as it
// was when no new segment fits.
func (s *Store) rotateActive() (*segment, error) {
	s.appendMu.Lock()
	if err := s.writable(); err != nil {
		s.appendMu.Unlock()
		return nil, err
	}
	a := s.active
	if s.activeDone {
		// Rotated already, after a failed append.
		s.appendMu.Unlock()
		return a, nil
	}
	if a.size.Load() <= segHeaderSize {
		s.appendMu.Unlock()
		return nil, nil
	}
	sg, err := s.newSegment(a.id + 1)
	if err != nil {
		err = s.appendFailed(nil, err)
		s.appendMu.Unlock()
		return nil, err
	}
	s.rotated = append(s.rotated, a)
	s.active = sg
	s.appendMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return a, nil
}

// activeSegment returns the segment taking appends (nil when it was given
// up after a failed append and the next append starts a new one).
func (s *Store) activeSegment() *segment {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	if s.activeDone {
		return nil
	}
	return s.active
}

func (s *Store) syncAll(dirty map[*segment]struct{}, dirs []string) error {
	for sg := range dirty {
		if err := sg.sync(); err != nil {
			return err
		}
		s.counters.fsyncs.Add(int64(len(sg.files)))
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := syncDir(s.fs, d); err != nil {
			return err
		}
		s.counters.fsyncs.Add(1)
	}
	return nil
}

// applyOps applies ops to the index in one batch.
func (s *Store) applyOps(ops []*pendingOp) error {
	ap := s.newApplier()
	defer ap.b.Close()
	for _, op := range ops {
		op.info, op.part, op.err = ap.apply(op.rec)
	}
	if err := ap.commit(ops[len(ops)-1].pos, pebble.NoSync); err != nil {
		return err
	}
	s.counters.groupCommits.Add(1)
	s.counters.groupOps.Add(int64(len(ops)))
	return nil
}

// seal writes the block index of a segment that takes no more appends,
// switches reads to it, and records the segment as sealed.
func (s *Store) seal(sg *segment, size int64) error {
	// Group commit already synced what was acknowledged; syncing once more
	// here keeps the block index from ever pointing at unsynced data.
	if err := sg.sync(); err != nil {
		return err
	}
	sg.mu.RLock()
	entries := sg.blocks
	sg.mu.RUnlock()
	data := encodeBix(sg.id, s.opts.BlockSize, entries)
	var m *bixMap
	for _, d := range s.replicaDrives(sg.id) {
		if s.driveFailed(d) {
			continue // Heal writes it
		}
		p := s.fs.PathJoin(s.segDir(d), bixName(sg.id))
		if err := writeFileSync(s.fs, p, data); err != nil {
			return err
		}
		if m == nil {
			bm, err := openBix(s.fs, p, sg.id, s.opts.BlockSize)
			if err != nil {
				return err
			}
			m = bm
		}
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.segMu.RLock()
	live := s.live[sg.id]
	s.segMu.RUnlock()
	v := segmentValue{sealed: true, live: live, size: size}
	// Sync: this also makes every earlier index batch durable, so the
	// segment's records never need replaying again.
	if err := s.idx.set(segmentKey(sg.id), v.encode(), pebble.Sync); err != nil {
		m.close()
		return err
	}
	sg.mu.Lock()
	sg.bix = m
	sg.blocks, sg.chunkCRCs = nil, nil
	sg.mu.Unlock()
	sg.sealedSize.Store(size)
	sg.sealed.Store(true)
	return nil
}

// listSegmentIDs returns the ids of the segment files on every drive.
func (s *Store) listSegmentIDs() ([]uint64, error) {
	set := map[uint64]bool{}
	for _, d := range s.opts.Dirs {
		if s.driveFailed(d) {
			continue
		}
		names, err := s.fs.List(s.segDir(d))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if hexID, ok := strings.CutSuffix(n, ".seg"); ok && len(hexID) == 16 {
				if id, err := strconv.ParseUint(hexID, 16, 64); err == nil {
					set[id] = true
				}
			}
		}
	}
	ids := make([]uint64, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// anySegmentFiles reports whether any drive holds a segment or shard file.
func (s *Store) anySegmentFiles() (bool, error) {
	for _, d := range s.opts.Dirs {
		if s.driveFailed(d) {
			continue
		}
		names, err := s.fs.List(s.segDir(d))
		if err != nil {
			return false, err
		}
		for _, n := range names {
			if strings.HasSuffix(n, ".seg") || strings.HasSuffix(n, ".shd") {
				return true, nil
			}
		}
	}
	return false, nil
}

// errNoSegment marks a segment that is gone (deleted by compaction) or has
// no file to read from.
var errNoSegment = errors.New("engine: segment is gone or has no file")
