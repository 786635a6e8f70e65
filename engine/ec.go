package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/klauspost/reedsolomon"
)

// Shard file (.shd) of an erasure-coded segment:
//
//	header (32 B): magic "LSMSHD" 0 version | segment id u64 | shard u16 | k u16 | m u16 | 0 u16 | shard-block u32 | crc32c of bytes 0..28 u32
//	rows shard-blocks of the shard's data (the last row zero-padded)
//	trailer: segment size u64 | rows u32 | crc32c of each shard-block u32... | crc32c of the trailer so far u32
const (
	shardMagic      = "LSMSHD\x00"
	shardVersion    = 1
	shardHeaderSize = 32
)

func shardName(id uint64, shard int) string { return fmt.Sprintf("%016x.%02d.shd", id, shard) }

func shardHeader(id uint64, shard, k, m int, b int64) []byte {
	h := make([]byte, shardHeaderSize)
	copy(h, shardMagic)
	h[7] = shardVersion
	binary.LittleEndian.PutUint64(h[8:], id)
	binary.LittleEndian.PutUint16(h[16:], uint16(shard))
	binary.LittleEndian.PutUint16(h[18:], uint16(k))
	binary.LittleEndian.PutUint16(h[20:], uint16(m))
	binary.LittleEndian.PutUint32(h[24:], uint32(b))
	binary.LittleEndian.PutUint32(h[28:], crc32c(h[:28]))
	return h
}

func checkShardHeader(h []byte, id uint64, shard, k, m int, b int64) bool {
	return len(h) >= shardHeaderSize && string(h[:7]) == shardMagic && h[7] == shardVersion &&
		binary.LittleEndian.Uint32(h[28:]) == crc32c(h[:28]) &&
		binary.LittleEndian.Uint64(h[8:]) == id && int(binary.LittleEndian.Uint16(h[16:])) == shard &&
		int(binary.LittleEndian.Uint16(h[18:])) == k && int(binary.LittleEndian.Uint16(h[20:])) == m &&
		int64(binary.LittleEndian.Uint32(h[24:])) == b
}

func shardTrailer(size int64, crcs []uint32) []byte {
	t := make([]byte, 12, 12+4*len(crcs)+4)
	binary.LittleEndian.PutUint64(t, uint64(size))
	binary.LittleEndian.PutUint32(t[8:], uint32(len(crcs)))
	for _, c := range crcs {
		t = binary.LittleEndian.AppendUint32(t, c)
	}
	return binary.LittleEndian.AppendUint32(t, crc32c(t))
}

func parseShardTrailer(t []byte, size int64, rows int64) ([]uint32, bool) {
	if int64(len(t)) != 12+4*rows+4 || binary.LittleEndian.Uint32(t[len(t)-4:]) != crc32c(t[:len(t)-4]) ||
		int64(binary.LittleEndian.Uint64(t)) != size || int64(binary.LittleEndian.Uint32(t[8:])) != rows {
		return nil, false
	}
	crcs := make([]uint32, rows)
	for i := range crcs {
		crcs[i] = binary.LittleEndian.Uint32(t[12+4*i:])
	}
	return crcs, true
}

// ecSet is the shards of an erasure-coded segment.
type ecSet struct {
	k, m  int
	b     int64
	size  int64
	rows  int64
	enc   reedsolomon.Encoder
	mu    sync.RWMutex
	files []vfs.File // k+m; nil where a shard is missing
	crcs  [][]uint32 // per shard, per row; nil where unknown
}

func (e *ecSet) file(i int) vfs.File {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.files[i]
}

func (e *ecSet) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.files {
		if f != nil {
			f.Close()
			e.files[i] = nil
		}
	}
}

// shardDrive is the drive holding shard i of segment id.
func (s *Store) shardDrive(id uint64, i int) string {
	n := len(s.opts.Dirs)
	return s.opts.Dirs[(int(id%uint64(n))+i)%n]
}

func (s *Store) shardPath(id uint64, i int) string {
	return s.fs.PathJoin(s.segDir(s.shardDrive(id, i)), shardName(id, i))
}

// erasureCoded reports whether sealed segments are encoded (k ≥ 2; with
// k = 1 the mirrors are the layout).
func (s *Store) erasureCoded() bool { return s.layout.dataShards() >= 2 }

// openShards opens the shard files of an encoded segment; missing or
// damaged shards stay nil and are queued for healing.
func (s *Store) openShards(id uint64, size int64) (*ecSet, error) {
	k, m := s.layout.dataShards(), s.layout.parityShards()
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		return nil, err
	}
	b := int64(s.layout.ShardBlock)
	e := &ecSet{k: k, m: m, b: b, size: size, rows: shardRows(size, k, b), enc: enc,
		files: make([]vfs.File, k+m), crcs: make([][]uint32, k+m)}
	for i := 0; i < k+m; i++ {
		if s.driveFailed(s.shardDrive(id, i)) {
			continue // Heal attaches or rebuilds it
		}
		f, crcs, err := s.openShard(id, i, e)
		if err != nil {
			s.opts.Logf("engine: shard %d of segment %016x: %v", i, id, err)
			s.queueHeal(id, i)
			continue
		}
		e.files[i], e.crcs[i] = f, crcs
	}
	return e, nil
}

func (s *Store) openShard(id uint64, i int, e *ecSet) (vfs.File, []uint32, error) {
	f, err := s.fs.Open(s.shardPath(id, i))
	if err != nil {
		return nil, nil, err
	}
	h := make([]byte, shardHeaderSize)
	t := make([]byte, 12+4*e.rows+4)
	if _, err := f.ReadAt(h, 0); err != nil || !checkShardHeader(h, id, i, e.k, e.m, e.b) {
		f.Close()
		return nil, nil, fmt.Errorf("%w: shard header", ErrCorrupt)
	}
	if _, err := f.ReadAt(t, shardHeaderSize+e.rows*e.b); err != nil && err != io.EOF {
		f.Close()
		return nil, nil, err
	}
	crcs, ok := parseShardTrailer(t, e.size, e.rows)
	if !ok {
		f.Close()
		return nil, nil, fmt.Errorf("%w: shard trailer", ErrCorrupt)
	}
	return f, crcs, nil
}

// piece is a verifiable part of a block payload: bytes [lo, hi), either
// the whole payload (checked by the block CRC) or a run of whole chunks
// (checked by the chunk CRCs).
type piece struct {
	e      blockEntry
	lo, hi int
}

func wholePayload(e blockEntry) piece { return piece{e: e, hi: int(e.physLen)} }

// off is the piece's offset in the segment.
func (p piece) off() int64 { return p.e.off + int64(p.lo) }

func (p piece) verify(b []byte) bool {
	if len(b) != p.hi-p.lo {
		return false
	}
	if p.lo == 0 && p.hi == int(p.e.physLen) {
		return crc32c(b) == p.e.crc
	}
	return p.e.hasChunks() && p.lo%chunkSize == 0 && p.e.chunksMatch(p.lo/chunkSize, b)
}

// diskIO counts the reads a block read made and the bytes they asked for.
type diskIO struct {
	reads int
	bytes int64
}

func (d *diskIO) add(reads int, size int) {
	d.reads += reads
	d.bytes += int64(reads) * int64(size)
}

// readPayload reads and verifies piece p of a block payload of sg into buf
// (len(buf) == p.hi-p.lo), from its mirrors or, for an encoded segment, from
// its data shards, reconstructing from the other shards when that fails.
func (s *Store) readPayload(sg *segment, buf []byte, p piece) (diskIO, error) {
	var dio diskIO
	// One snapshot of both: an encode finishing in between sets ec and
	// drops the mirrors (still readable through these handles).
	sg.mu.RLock()
	ec, files := sg.ec, sg.files
	sg.mu.RUnlock()
	if ec == nil {
		if h := s.testing.mirrorRead; h != nil {
			h(sg.id)
		}
		reads, failed, err := sg.readVerified(files, buf, p)
		s.counters.driveErrors.Add(int64(failed))
		dio.add(reads, len(buf))
		return dio, err
	}
	ext := mapRange(p.off(), len(buf), ec.k, ec.b)
	var missing []shardExtent
	for _, x := range ext {
		f := ec.file(x.shard)
		if f != nil {
			dio.add(1, x.length)
			if n, _ := f.ReadAt(buf[x.bufOff:x.bufOff+x.length], shardHeaderSize+x.off); n == x.length {
				continue
			}
		}
		missing = append(missing, x)
	}
	if len(missing) == 0 && p.verify(buf) {
		return dio, nil
	}
	// Degraded: rebuild the pieces whose shard is gone from the same
	// interval of the other shards.
	s.counters.degradedReads.Add(1)
	for _, x := range missing {
		s.queueHeal(sg.id, x.shard)
		n, err := s.reconstruct(ec, x.shard, x.off, buf[x.bufOff:x.bufOff+x.length])
		dio.add(n, x.length)
		if err != nil {
			return dio, fmt.Errorf("segment %016x: %w", sg.id, err)
		}
	}
	if p.verify(buf) {
		return dio, nil
	}
	// Some shard returned bad bytes: take each piece from its own
	// shard-block if that verifies against its checksum, else rebuild it
	// from the shard-blocks of the row that do.
	for _, x := range ext {
		row, in := x.off/ec.b, x.off%ec.b
		b, n := readShardBlock(ec, x.shard, row)
		dio.add(n, int(ec.b))
		if b != nil {
			copy(buf[x.bufOff:x.bufOff+x.length], b[in:])
			continue
		}
		s.queueHeal(sg.id, x.shard)
		n, err := s.reconstructVerified(ec, x.shard, x.off, buf[x.bufOff:x.bufOff+x.length])
		dio.add(n, int(ec.b))
		if err != nil {
			return dio, fmt.Errorf("segment %016x: %w", sg.id, err)
		}
	}
	if !p.verify(buf) {
		return dio, fmt.Errorf("%w: segment %016x block at %d, even rebuilt from parity", ErrCorrupt, sg.id, p.e.off)
	}
	return dio, nil
}

// errTooManyLost is returned when fewer than k shards can serve a range.
var errTooManyLost = errors.New("engine: too many shards lost to rebuild the data")

// reconstruct rebuilds len(out) bytes at offset off of shard `want` from
// the same interval of k other shards.
func (s *Store) reconstruct(ec *ecSet, want int, off int64, out []byte) (int, error) {
	shards := make([][]byte, ec.k+ec.m)
	have, reads := 0, 0
	for i := 0; i < ec.k+ec.m && have < ec.k; i++ {
		f := ec.file(i)
		if i == want || f == nil {
			continue
		}
		b := make([]byte, len(out))
		reads++
		if n, _ := f.ReadAt(b, shardHeaderSize+off); n != len(b) {
			continue
		}
		shards[i] = b
		have++
	}
	if have < ec.k {
		return reads, fmt.Errorf("%w: %d of %d needed", errTooManyLost, have, ec.k)
	}
	required := make([]bool, ec.k+ec.m)
	required[want] = true
	if err := ec.enc.ReconstructSome(shards, required); err != nil {
		return reads, err
	}
	copy(out, shards[want])
	return reads, nil
}

// readShardBlock reads shard-block `row` of shard i and checks it against
// the shard's checksums; nil when missing or bad.
func readShardBlock(ec *ecSet, i int, row int64) ([]byte, int) {
	f := ec.file(i)
	ec.mu.RLock()
	crcs := ec.crcs[i]
	ec.mu.RUnlock()
	if f == nil || int64(len(crcs)) <= row {
		return nil, 0
	}
	b := make([]byte, ec.b)
	if n, _ := f.ReadAt(b, shardHeaderSize+row*ec.b); n != len(b) || crc32c(b) != crcs[row] {
		return nil, 1
	}
	return b, 1
}

// reconstructVerified rebuilds len(out) bytes at off of shard `want` from
// the whole shard-blocks of that row that pass their checksums.
func (s *Store) reconstructVerified(ec *ecSet, want int, off int64, out []byte) (int, error) {
	row, in := off/ec.b, off%ec.b
	shards := make([][]byte, ec.k+ec.m)
	have, reads := 0, 0
	for i := 0; i < ec.k+ec.m && have < ec.k; i++ {
		if i == want {
			continue
		}
		b, n := readShardBlock(ec, i, row)
		reads += n
		if b != nil {
			shards[i] = b
			have++
		}
	}
	if have < ec.k {
		return reads, fmt.Errorf("%w: %d verified shard-blocks of %d needed", errTooManyLost, have, ec.k)
	}
	required := make([]bool, ec.k+ec.m)
	required[want] = true
	if err := ec.enc.ReconstructSome(shards, required); err != nil {
		return reads, err
	}
	copy(out, shards[want][in:in+int64(len(out))])
	return reads, nil
}

// queueHeal records a shard found damaged (one on a failed drive is
// already known).
func (s *Store) queueHeal(id uint64, shard int) {
	if shard >= 0 {
		d := s.shardDrive(id, shard)
		if s.driveFailed(d) {
			return
		}
		s.drives.noteDamage(d, fmt.Sprintf("segment %016x: shard %d", id, shard))
	}
	s.counters.driveErrors.Add(1)
	s.healMu.Lock()
	defer s.healMu.Unlock()
	if s.healQ == nil {
		s.healQ = map[healKey]bool{}
	}
	s.healQ[healKey{id, shard}] = true
}

type healKey struct {
	seg   uint64
	shard int
}

// encode erasure-codes a sealed segment from its mirrors: shard files are
// written and synced, the index records the segment as encoded, then the
// mirrors go. Blocks are verified against the block index as they stream
// through, so a corrupt mirror never reaches the shards.
func (s *Store) encode(ctx context.Context, sg *segment) error {
	sg.refs.Add(1)
	defer sg.refs.Add(-1)
	if err := lockCtx(ctx, &sg.maint); err != nil {
		return err
	}
	defer sg.maint.Unlock()
	if sg.deleting.Load() || sg.encoded() {
		return nil
	}
	k, m := s.layout.dataShards(), s.layout.parityShards()
	b := int64(s.layout.ShardBlock)
	size := sg.sealedSize.Load()
	rows := shardRows(size, k, b)
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		return err
	}
	start := time.Now()
	var src vfs.File
	var lastErr error = errNoSegment
	for _, f := range sg.files {
		if f == nil {
			continue
		}
		if err := s.verifyMirror(ctx, sg, f); err != nil {
			lastErr = err
			continue
		}
		src = f
		break
	}
	if src == nil {
		return fmt.Errorf("segment %016x: no mirror verifies, not encoding: %w", sg.id, lastErr)
	}
	files := make([]vfs.File, k+m)
	closeAll := func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}
	for i := range files {
		if s.driveFailed(s.shardDrive(sg.id, i)) {
			continue // Heal writes it
		}
		f, err := s.fs.Create(s.shardPath(sg.id, i)+".tmp", writeCategory)
		if err != nil {
			closeAll()
			return err
		}
		files[i] = f
		if _, err := f.Write(shardHeader(sg.id, i, k, m, b)); err != nil {
			closeAll()
			return err
		}
	}
	shards := make([][]byte, k+m)
	for i := range shards {
		shards[i] = make([]byte, b)
	}
	crcs := make([][]uint32, k+m)
	row := make([]byte, int64(k)*b)
	for r := int64(0); r < rows; r++ {
		if err := ctx.Err(); err != nil {
			closeAll()
			return err
		}
		n, err := src.ReadAt(row, r*int64(k)*b)
		if n < len(row) && r*int64(k)*b+int64(n) < size {
			closeAll()
			return fmt.Errorf("segment %016x: short read while encoding: %v", sg.id, err)
		}
		clear(row[max(0, min(int64(len(row)), size-r*int64(k)*b)):])
		for i := 0; i < k; i++ {
			copy(shards[i], row[int64(i)*b:int64(i+1)*b])
		}
		if err := enc.Encode(shards); err != nil {
			closeAll()
			return err
		}
		for i, f := range files {
			if f == nil {
				continue
			}
			crcs[i] = append(crcs[i], crc32c(shards[i])) // before Write, which may modify
			if _, err := f.Write(shards[i]); err != nil {
				closeAll()
				return err
			}
		}
		if h := s.testing.duringEncode; h != nil {
			h(sg.id, r)
		}
	}
	for i, f := range files {
		if f == nil {
			continue
		}
		if _, err := f.Write(shardTrailer(size, crcs[i])); err != nil {
			closeAll()
			return err
		}
		if err := f.Sync(); err != nil {
			closeAll()
			return err
		}
	}
	closeAll()
	dirs := map[string]bool{}
	for i, f := range files {
		if f == nil {
			continue
		}
		p := s.shardPath(sg.id, i)
		if err := s.fs.Rename(p+".tmp", p); err != nil {
			return err
		}
		dirs[s.fs.PathDir(p)] = true
	}
	for d := range dirs {
		if err := syncDir(s.fs, d); err != nil {
			return err
		}
	}
	ec, err := s.openShards(sg.id, size)
	if err != nil {
		return err
	}
	s.stateMu.Lock()
	s.segMu.RLock()
	live := s.live[sg.id]
	s.segMu.RUnlock()
	v := segmentValue{sealed: true, encoded: true, live: live, size: size}
	if err := s.idx.set(segmentKey(sg.id), v.encode(), pebble.Sync); err != nil {
		s.stateMu.Unlock()
		ec.close()
		return err
	}
	sg.mu.Lock()
	sg.ec = ec
	mirrors := sg.files
	sg.files = nil
	sg.mu.Unlock()
	s.stateMu.Unlock()
	// Readers may still be inside a read of a mirror: unlink now, close
	// the handles a little later.
	s.removeMirrors(sg.id)
	time.AfterFunc(time.Minute, func() {
		for _, f := range mirrors {
			if f != nil {
				f.Close()
			}
		}
	})
	s.counters.encodedBytes.Add(size)
	s.counters.encodeNanos.Add(int64(time.Since(start)))
	return nil
}

// verifyMirror checks every block payload of a sealed segment's mirror
// against the block index, chunk checksums included, streaming the file once.
func (s *Store) verifyMirror(ctx context.Context, sg *segment, f vfs.File) error {
	n := sg.numBlocks()
	var buf []byte
	for i := 0; i < n; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e, _ := sg.entry(uint32(i))
		if cap(buf) < int(e.physLen) {
			buf = make([]byte, e.physLen)
		}
		buf = buf[:e.physLen]
		if m, _ := f.ReadAt(buf, e.off); m != len(buf) || crc32.Checksum(buf, crcTable) != e.crc {
			return fmt.Errorf("%w: block %d at %d", ErrCorrupt, i, e.off)
		}
		if e.hasChunks() && !e.chunksMatch(0, buf) {
			return fmt.Errorf("%w: block %d at %d: chunk checksums disagree with the data", ErrCorrupt, i, e.off)
		}
	}
	return nil
}

// removeMirrors unlinks the mirror files of an encoded segment.
func (s *Store) removeMirrors(id uint64) {
	dirs := map[string]bool{}
	for _, d := range s.replicaDrives(id) {
		p := s.fs.PathJoin(s.segDir(d), segmentName(id))
		if err := s.fs.Remove(p); err != nil && !isNotExist(err) {
			s.opts.Logf("engine: remove mirror %s: %v", p, err)
		}
		dirs[s.segDir(d)] = true
	}
	for d := range dirs {
		syncDir(s.fs, d)
	}
}

// testingHooks are nil-checked functions tests set to pause background
// work at a chosen point.
type testingHooks struct {
	duringEncode func(seg uint64, row int64)
	duringHeal   func(seg uint64, shard int, row int64)
	// mirrorRead runs when a read has chosen a segment's mirrors.
	mirrorRead  func(seg uint64)
	duringScrub func(seg uint64) // Scrub holds the segment's maintenance lock
}
