package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// MaintenanceOptions tunes Scrub and Heal.
type MaintenanceOptions struct {
	// Rate caps the bytes read per second. Default (0): 64 MiB/s;
	// negative: unlimited.
	Rate int64
	// Progress, when set, is called as work advances.
	Progress func(MaintenanceProgress)
}

// MaintenanceProgress reports a scrub or heal under way.
type MaintenanceProgress struct {
	BytesDone, BytesTotal int64
}

// Problem is damage found on a drive.
type Problem struct {
	Segment uint64
	// Shard is the shard of an erasure-coded segment, or the replica
	// number of a mirrored one.
	Shard int
	Drive string
	What  string // "missing", "corrupt shard-block 3", "corrupt block at 4096", ...
}

func (p Problem) String() string {
	if p.Shard == driveShard {
		return fmt.Sprintf("drive %s: %s", p.Drive, p.What)
	}
	return fmt.Sprintf("segment %016x shard %d on %s: %s", p.Segment, p.Shard, p.Drive, p.What)
}

// ScrubResult is what a scrub verified and found.
type ScrubResult struct {
	Segments      int
	BytesVerified int64
	Problems      []Problem
}

// HealResult is what a heal found and repaired.
type HealResult struct {
	Found        []Problem
	Repaired     []Problem
	BytesWritten int64
}

func (o MaintenanceOptions) limiter() *rateLimiter {
	r := o.Rate
	if r == 0 {
		r = 64 << 20
	}
	return newRateLimiter(r)
}

// sealedSegments returns the sealed segments in id order.
func (s *Store) sealedSegments() []*segment {
	s.segMu.RLock()
	var out []*segment
	for _, sg := range s.segs {
		if sg.sealed.Load() && !sg.deleting.Load() {
			out = append(out, sg)
		}
	}
	s.segMu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// scrubSegment verifies every checksum of one sealed segment on every
// drive and returns what is damaged.
func (s *Store) scrubSegment(ctx context.Context, sg *segment, lim *rateLimiter, done func(int64)) ([]Problem, error) {
	probs := s.scrubBix(sg)
	sg.mu.RLock()
	ec, files := sg.ec, sg.files
	sg.mu.RUnlock()
	if ec != nil {
		for i := 0; i < ec.k+ec.m; i++ {
			drive := s.shardDrive(sg.id, i)
			if ec.file(i) == nil {
				probs = append(probs, Problem{sg.id, i, drive, "missing"})
				continue
			}
			for r := int64(0); r < ec.rows; r++ {
				if err := ctx.Err(); err != nil {
					return probs, err
				}
				b, _ := readShardBlock(ec, i, r)
				if b == nil {
					probs = append(probs, Problem{sg.id, i, drive, fmt.Sprintf("corrupt shard-block %d", r)})
				}
				done(ec.b)
				if err := lim.wait(ctx, ec.b); err != nil {
					return probs, err
				}
			}
		}
		return probs, nil
	}
	drives := s.replicaDrives(sg.id)
	for i, f := range files {
		if f == nil {
			probs = append(probs, Problem{sg.id, i, drives[i], "missing"})
			continue
		}
		if err := s.verifyMirror(ctx, sg, f); err != nil {
			if ctx.Err() != nil {
				return probs, ctx.Err()
			}
			probs = append(probs, Problem{sg.id, i, drives[i], err.Error()})
		}
		n := sg.sealedSize.Load()
		done(n)
		if err := lim.wait(ctx, n); err != nil {
			return probs, err
		}
	}
	return probs, nil
}

func (s *Store) maintenanceTotal() int64 {
	var total int64
	for _, sg := range s.sealedSegments() {
		if sg.encoded() {
			total += sg.sealedSize.Load() * int64(s.layout.Drives) / int64(s.layout.dataShards())
		} else {
			total += sg.sealedSize.Load() * int64(len(sg.mirrors()))
		}
	}
	return total
}

// Scrub reads and verifies every checksum of every shard and mirror of the
// sealed segments. It changes nothing; what it finds is queued for Heal.
func (s *Store) Scrub(ctx context.Context, o MaintenanceOptions) (ScrubResult, error) {
	var res ScrubResult
	lim := o.limiter()
	p := MaintenanceProgress{BytesTotal: s.maintenanceTotal()}
	done := func(n int64) {
		p.BytesDone += n
		res.BytesVerified += n
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	for _, sg := range s.sealedSegments() {
		if err := lockCtx(ctx, &sg.maint); err != nil {
			return res, err
		}
		if h := s.testing.duringScrub; h != nil {
			h(sg.id)
		}
		probs, err := s.scrubSegment(ctx, sg, lim, done)
		sg.maint.Unlock()
		res.Problems = append(res.Problems, probs...)
		for _, pr := range probs {
			s.queueHeal(pr.Segment, pr.Shard)
			if pr.Shard == bixShard {
				s.drives.noteDamage(pr.Drive, fmt.Sprintf("segment %016x: %s", pr.Segment, pr.What))
			}
		}
		if err != nil {
			return res, err
		}
		res.Segments++
	}
	return res, nil
}

// Heal puts the drives that failed at Open back in service (rewriting their
// layout marker and index copy), then verifies every sealed segment like
// Scrub and rebuilds each missing or damaged shard, mirror or block index
// from the healthy ones, onto the drive where it belongs (a replaced drive
// included).
func (s *Store) Heal(ctx context.Context, o MaintenanceOptions) (HealResult, error) {
	var res HealResult
	if err := s.writable(); err != nil {
		return res, err
	}
	mark := s.drives.markDamage()
	if err := s.reinstateDrives(ctx, &res); err != nil {
		return res, err
	}
	lim := o.limiter()
	p := MaintenanceProgress{BytesTotal: s.maintenanceTotal()}
	done := func(n int64) {
		p.BytesDone += n
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	for _, sg := range s.sealedSegments() {
		if err := s.healSegment(ctx, sg, lim, done, &res); err != nil {
			return res, err
		}
	}
	// What was noted before the heal started is repaired now.
	s.drives.clearDamage(mark)
	return res, nil
}

// healSegment scrubs one segment and repairs what it finds, holding the
// segment's maintenance lock so encoding cannot change it meanwhile.
func (s *Store) healSegment(ctx context.Context, sg *segment, lim *rateLimiter, done func(int64), res *HealResult) error {
	if err := lockCtx(ctx, &sg.maint); err != nil {
		return err
	}
	defer sg.maint.Unlock()
	{
		probs, err := s.scrubSegment(ctx, sg, lim, done)
		if err != nil {
			return err
		}
		res.Found = append(res.Found, probs...)
		fixed := map[int]bool{}
		for _, pr := range probs {
			if fixed[pr.Shard] && pr.Shard != bixShard {
				res.Repaired = append(res.Repaired, pr)
				continue
			}
			var n int64
			if pr.Shard == bixShard {
				n, err = s.rebuildBix(sg, pr.Drive)
			} else if sg.encoded() {
				n, err = s.rebuildShard(ctx, sg, pr.Shard, lim)
			} else {
				n, err = s.rebuildMirror(ctx, sg, pr.Shard)
			}
			if err != nil {
				return fmt.Errorf("healing %v: %w", pr, err)
			}
			fixed[pr.Shard] = true
			res.BytesWritten += n
			res.Repaired = append(res.Repaired, pr)
		}
		s.healMu.Lock()
		for k := range s.healQ {
			if k.seg == sg.id {
				delete(s.healQ, k)
			}
		}
		s.healMu.Unlock()
	}
	return nil
}

// rebuildShard writes shard i of an encoded segment anew from the verified
// shard-blocks of the others, then swaps it in.
func (s *Store) rebuildShard(ctx context.Context, sg *segment, i int, lim *rateLimiter) (int64, error) {
	sg.mu.RLock()
	ec := sg.ec
	sg.mu.RUnlock()
	path := s.shardPath(sg.id, i)
	f, err := s.fs.Create(path+".tmp", writeCategory)
	if err != nil {
		return 0, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if _, err := f.Write(shardHeader(sg.id, i, ec.k, ec.m, ec.b)); err != nil {
		return 0, err
	}
	crcs := make([]uint32, 0, ec.rows)
	var written int64
	for r := int64(0); r < ec.rows; r++ {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		shards := make([][]byte, ec.k+ec.m)
		have := 0
		for j := 0; j < ec.k+ec.m && have < ec.k; j++ {
			if j == i {
				continue
			}
			if b, _ := readShardBlock(ec, j, r); b != nil {
				shards[j] = b
				have++
			}
		}
		if have < ec.k {
			return written, fmt.Errorf("%w: row %d has %d verified shard-blocks of %d needed", errTooManyLost, r, have, ec.k)
		}
		required := make([]bool, ec.k+ec.m)
		required[i] = true
		if err := ec.enc.ReconstructSome(shards, required); err != nil {
			return written, err
		}
		crcs = append(crcs, crc32c(shards[i])) // before Write, which may modify
		if _, err := f.Write(shards[i]); err != nil {
			return written, err
		}
		written += ec.b
		if h := s.testing.duringHeal; h != nil {
			h(sg.id, i, r)
		}
		if err := lim.wait(ctx, int64(ec.k)*ec.b); err != nil {
			return written, err
		}
	}
	if _, err := f.Write(shardTrailer(ec.size, crcs)); err != nil {
		return written, err
	}
	if err := f.Sync(); err != nil {
		return written, err
	}
	f.Close()
	f = nil
	if err := s.fs.Rename(path+".tmp", path); err != nil {
		return written, err
	}
	if err := syncDir(s.fs, s.fs.PathDir(path)); err != nil {
		return written, err
	}
	nf, ncrcs, err := s.openShard(sg.id, i, ec)
	if err != nil {
		return written, err
	}
	ec.mu.Lock()
	old := ec.files[i]
	ec.files[i], ec.crcs[i] = nf, ncrcs
	ec.mu.Unlock()
	retire(old)
	return written, nil
}

// rebuildMirror copies a verified mirror over a missing or damaged one.
func (s *Store) rebuildMirror(ctx context.Context, sg *segment, i int) (int64, error) {
	sg.mu.RLock()
	files := append([]vfs.File(nil), sg.files...)
	sg.mu.RUnlock()
	if i >= len(files) {
		return 0, fmt.Errorf("engine: segment %016x has no mirror %d", sg.id, i)
	}
	var src vfs.File
	for j, f := range files {
		if j != i && f != nil && s.verifyMirror(ctx, sg, f) == nil {
			src = f
			break
		}
	}
	if src == nil {
		return 0, fmt.Errorf("%w: segment %016x has no verified mirror to copy", errTooManyLost, sg.id)
	}
	path := s.fs.PathJoin(s.segDir(s.replicaDrives(sg.id)[i]), segmentName(sg.id))
	size := sg.sealedSize.Load()
	f, err := s.fs.Create(path+".tmp", writeCategory)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			f.Close()
			return off, err
		}
		n, rerr := src.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n == 0 {
			f.Close()
			return off, fmt.Errorf("copying mirror: %v", rerr)
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return off, err
		}
		off += int64(n)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return off, err
	}
	f.Close()
	if err := s.fs.Rename(path+".tmp", path); err != nil {
		return off, err
	}
	if err := syncDir(s.fs, s.fs.PathDir(path)); err != nil {
		return off, err
	}
	nf, err := s.fs.Open(path)
	if err != nil {
		return off, err
	}
	old := sg.setMirror(i, nf)
	retire(old)
	return off, nil
}

// retire closes a replaced file handle once readers that may hold it are
// done.
func retire(f vfs.File) {
	if f != nil {
		time.AfterFunc(time.Minute, func() { f.Close() })
	}
}

// bixShard marks a Problem with a segment's block-index file.
const bixShard = -1

// scrubBix checks the block-index replica on each of the segment's
// mirror drives against the verified copy in memory.
func (s *Store) scrubBix(sg *segment) []Problem {
	sg.mu.RLock()
	m := sg.bix
	sg.mu.RUnlock()
	if m == nil || m.count == 0 && len(m.data) == 0 {
		return nil // no verified copy to compare with
	}
	var probs []Problem
	for _, d := range s.replicaDrives(sg.id) {
		b, err := readWhole(s.fs, s.fs.PathJoin(s.segDir(d), bixName(sg.id)))
		if err != nil {
			probs = append(probs, Problem{sg.id, bixShard, d, "block index missing"})
		} else if _, _, ok := checkBix(b, sg.id, s.opts.BlockSize); !ok || !bytes.Equal(b, m.data) {
			probs = append(probs, Problem{sg.id, bixShard, d, "block index corrupt"})
		}
	}
	return probs
}

// rebuildBix rewrites a block-index replica from the verified copy.
func (s *Store) rebuildBix(sg *segment, drive string) (int64, error) {
	sg.mu.RLock()
	data := append([]byte(nil), sg.bix.data...)
	sg.mu.RUnlock()
	if _, _, ok := checkBix(data, sg.id, s.opts.BlockSize); !ok {
		return 0, fmt.Errorf("%w: in-memory block index of segment %016x", ErrCorrupt, sg.id)
	}
	return int64(len(data)), writeFileSync(s.fs, s.fs.PathJoin(s.segDir(drive), bixName(sg.id)), data)
}

func readWhole(fs vfs.FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<30))
}
