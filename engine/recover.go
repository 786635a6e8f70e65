package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// maxRecordFrame bounds a record frame read back by a scan (a Complete of
// 10000 parts is well under it).
const maxRecordFrame = 16 << 20

type scannedRecord struct {
	rec *record
	pos logPos
}

// recover loads the index state, opens every segment, replays the records
// logged after the last applied position, seals every segment that was
// open, and starts a fresh active segment.
func (s *Store) recover() error {
	applied, err := s.loadState()
	if err != nil {
		return err
	}
	ids, err := s.listSegmentIDs()
	if err != nil {
		return err
	}
	sealed := map[uint64]bool{}
	encoded := map[uint64]bool{}
	if err := s.scanPrefix([]byte{pfxSegment}, func(k, v []byte) error {
		sv, err := decodeSegment(v)
		if err != nil || len(k) != 9 {
			return fmt.Errorf("%w: segment state", ErrCorrupt)
		}
		id := uint64(k[1])<<56 | uint64(k[2])<<48 | uint64(k[3])<<40 | uint64(k[4])<<32 | uint64(k[5])<<24 | uint64(k[6])<<16 | uint64(k[7])<<8 | uint64(k[8])
		s.live[id] = sv.live
		if sv.sealed {
			sealed[id] = true
			encoded[id] = sv.encoded
			s.segs[id] = &segment{id: id}
			s.segs[id].sealedSize.Store(sv.size)
		}
		return nil
	}); err != nil {
		return err
	}

	known := map[uint64]bool{}
	for _, id := range ids {
		known[id] = true
	}
	for id := range sealed {
		if !known[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)

	var replay []scannedRecord
	var open []*segment
	var validLen []int64
	next := applied.seg + 1
	for _, id := range ids {
		next = max(next, id+1)
		if sealed[id] {
			if err := s.openSealed(s.segs[id], encoded[id]); err != nil {
				return err
			}
			if s.erasureCoded() && !encoded[id] {
				s.toEncode = append(s.toEncode, s.segs[id])
			}
			continue
		}
		sg := &segment{id: id}
		valid, recs, err := s.scanSegment(sg, applied)
		if err != nil {
			return err
		}
		if valid == 0 {
			// No valid header: created but never synced with anything
			// acknowledged in it.
			if id <= applied.seg {
				sg.close()
				return fmt.Errorf("%w: segment %016x lost its header but holds applied records", ErrCorrupt, id)
			}
			s.removeSegmentFiles(sg)
			continue
		}
		s.segMu.Lock()
		s.segs[id] = sg
		s.segMu.Unlock()
		replay = append(replay, recs...)
		open = append(open, sg)
		validLen = append(validLen, valid)
	}

	// The scans may have read data that sits only in the page cache (the
	// last run wrote it, then stopped before its sync or after a failed
	// one). The index and the block indexes are about to rely on it: make
	// it, and the segments' directory entries, durable first.
	for _, sg := range open {
		if err := sg.sync(); err != nil {
			return err
		}
	}
	if len(open) > 0 {
		for _, d := range s.opts.Dirs {
			if s.driveFailed(d) {
				continue
			}
			if err := syncDir(s.fs, s.segDir(d)); err != nil {
				return err
			}
		}
	}
	if len(replay) > 0 {
		ap := s.newApplier()
		for _, r := range replay {
			if _, _, err := ap.apply(r.rec); err != nil {
				s.opts.Logf("engine: recovery: record at %016x:%d not applied: %v", r.pos.seg, r.pos.off, err)
			}
		}
		err := ap.commit(replay[len(replay)-1].pos, pebble.Sync)
		ap.b.Close()
		if err != nil {
			return err
		}
		s.opts.Logf("engine: recovery replayed %d records", len(replay))
	}
	for i, sg := range open {
		s.truncate(sg, validLen[i])
		if err := s.seal(sg, validLen[i]); err != nil {
			return err
		}
		if s.erasureCoded() {
			s.toEncode = append(s.toEncode, sg)
		}
	}
	if s.active, err = s.newSegment(next); err != nil {
		return err
	}
	return nil
}

// loadState reads the applied log position and the stats.
func (s *Store) loadState() (logPos, error) {
	var applied logPos
	if v, closer, err := s.db.Get(keyApplied); err == nil {
		applied, err = decodeLogPos(v)
		closer.Close()
		if err != nil {
			return applied, fmt.Errorf("%w: applied position", ErrCorrupt)
		}
	} else if err != pebble.ErrNotFound {
		return applied, err
	}
	if v, closer, err := s.db.Get(keyStats); err == nil {
		s.st, err = decodeStats(v)
		closer.Close()
		if err != nil {
			return applied, fmt.Errorf("%w: stats", ErrCorrupt)
		}
	} else if err != pebble.ErrNotFound {
		return applied, err
	}
	return applied, nil
}

func (s *Store) scanPrefix(p []byte, f func(k, v []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if err := f(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// openSealed opens a sealed segment's replicas and block index; a missing
// or corrupt block index is rebuilt from the segment.
func (s *Store) openSealed(sg *segment, encoded bool) error {
	if encoded {
		return s.openEncoded(sg)
	}
	openErr := s.openReplicas(sg, false)
	if m := s.openSealedBix(sg); m != nil {
		sg.bix = m
		sg.sealed.Store(true)
		return nil
	}
	valid, _, err := s.scanSegment(sg, logPos{seg: ^uint64(0)})
	if err != nil {
		return err
	}
	if valid == 0 && openErr != nil {
		return fmt.Errorf("engine: sealed segment %016x: %w", sg.id, openErr)
	}
	if valid == 0 {
		s.opts.Logf("engine: segment %016x has no readable replica; its objects will fail to read", sg.id)
		sg.sealed.Store(true)
		sg.bix = &bixMap{}
		return nil
	}
	return s.seal(sg, sg.sealedSize.Load())
}

// openEncoded opens an erasure-coded segment: its block index and shards.
// Mirrors left by a crash between encoding and their removal go now.
func (s *Store) openEncoded(sg *segment) error {
	sg.bix = s.openSealedBix(sg)
	if sg.bix == nil {
		s.opts.Logf("engine: segment %016x has no readable block index; its objects will fail to read until healed", sg.id)
		sg.bix = &bixMap{}
	}
	ec, err := s.openShards(sg.id, sg.sealedSize.Load())
	if err != nil {
		return err
	}
	sg.ec = ec
	sg.sealed.Store(true)
	s.removeMirrors(sg.id)
	return nil
}

// openSealedBix opens the first block-index replica of a sealed segment
// that verifies, on the drives in service; the damaged ones tried before it
// are noted for Heal. Nil when none does.
func (s *Store) openSealedBix(sg *segment) *bixMap {
	for _, d := range s.replicaDrives(sg.id) {
		if s.driveFailed(d) {
			continue
		}
		p := s.fs.PathJoin(s.segDir(d), bixName(sg.id))
		bm, err := openBix(s.fs, p, sg.id, s.opts.BlockSize)
		if err != nil {
			s.opts.Logf("engine: block index of segment %016x on %s: %v", sg.id, d, err)
			s.drives.noteDamage(d, fmt.Sprintf("segment %016x: block index %s", sg.id, bixProblem(err)))
			continue
		}
		return bm
	}
	return nil
}

// bixProblem names what is wrong with a block-index replica.
func bixProblem(err error) string {
	if isNotExist(err) {
		return "missing"
	}
	return "corrupt"
}

// openReplicas opens every replica file of sg that exists, but those on
// failed drives. It returns the first error other than a missing file.
func (s *Store) openReplicas(sg *segment, forWrite bool) error {
	var first error
	for _, d := range s.replicaDrives(sg.id) {
		p := s.fs.PathJoin(s.segDir(d), segmentName(sg.id))
		if s.driveFailed(d) {
			sg.files, sg.paths = append(sg.files, nil), append(sg.paths, p)
			continue
		}
		var f vfs.File
		var err error
		if forWrite {
			f, err = s.fs.OpenReadWrite(p, writeCategory)
		} else {
			f, err = s.fs.Open(p)
		}
		if err != nil {
			s.opts.Logf("engine: segment replica %s: %v", p, err)
			if first == nil && !isNotExist(err) {
				first = err
			}
			f = nil
		}
		sg.files = append(sg.files, f)
		sg.paths = append(sg.paths, p)
	}
	return first
}

// scanSegment opens sg's replicas and rebuilds its block index from the
// replica with the longest run of valid frames. It returns that length (0
// when no replica has a valid header) and the records logged after applied.
// When no replica could be read to its end because of an I/O error, the
// length is unknown and scanSegment fails: taking a short length would drop
// acknowledged records for good (every replica holds all of them).
func (s *Store) scanSegment(sg *segment, applied logPos) (int64, []scannedRecord, error) {
	var ioErr error
	if sg.files == nil {
		ioErr = s.openReplicas(sg, true)
	}
	var best int64
	var bestBlocks []blockEntry
	var bestRecs []scannedRecord
	scanned := false
	for _, f := range sg.files {
		if f == nil {
			continue
		}
		valid, blocks, recs, err := scanFile(f, sg.id, s.opts.BlockSize, applied)
		if err != nil {
			s.opts.Logf("engine: scan of segment %016x: %v", sg.id, err)
			if ioErr == nil {
				ioErr = err
			}
			continue
		}
		scanned = true
		if valid > best {
			best, bestBlocks, bestRecs = valid, blocks, recs
		}
	}
	if !scanned && ioErr != nil {
		return 0, nil, fmt.Errorf("engine: segment %016x: no replica could be read: %w", sg.id, ioErr)
	}
	sg.blocks = bestBlocks
	sg.size.Store(best)
	return best, bestRecs, nil
}

// scanFile reads one segment file front to back, verifying every frame, and
// stops at the first frame that is torn or fails its checksum. A read error
// other than the end of the file is returned: it says nothing about where
// the valid frames end.
func scanFile(f vfs.File, id uint64, blockSize int, applied logPos) (int64, []blockEntry, []scannedRecord, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, nil, nil, err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, st.Size()), 1<<20)
	hdr := make([]byte, segHeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil || !checkSegHeader(hdr, id, blockSize) {
		if err != nil && !isEndOfData(err) {
			return 0, nil, nil, err
		}
		return 0, nil, nil, nil
	}
	var blocks []blockEntry
	var crcs []byte // chunk checksums of blocks; append-only
	var recs []scannedRecord
	off := int64(segHeaderSize)
	fh := make([]byte, frameHeaderSize)
	var payload []byte
	maxBlock := uint32(blockSize + blockSize/8 + 1024)
	for {
		if _, err := io.ReadFull(r, fh); err != nil {
			if !isEndOfData(err) {
				return 0, nil, nil, err
			}
			break
		}
		h, ok := parseFrameHeader(fh)
		if !ok {
			break
		}
		if (h.typ == frameBlock && (h.payloadLen > maxBlock || h.logicalLen > uint32(blockSize))) ||
			(h.typ == frameRecord && h.payloadLen > maxRecordFrame) {
			break
		}
		if cap(payload) < int(h.payloadLen) {
			payload = make([]byte, h.payloadLen)
		}
		payload = payload[:h.payloadLen]
		if _, err := io.ReadFull(r, payload); err != nil || crc32c(payload) != h.payloadCRC {
			if err != nil && !isEndOfData(err) {
				return 0, nil, nil, err
			}
			break
		}
		end := off + frameHeaderSize + int64(h.payloadLen)
		if h.typ == frameBlock {
			e := blockEntry{off: off + frameHeaderSize, physLen: h.payloadLen, logLen: h.logicalLen, crc: h.payloadCRC, flags: h.flags}
			e.withChunks(&crcs, payload)
			blocks = append(blocks, e)
		} else if pos := (logPos{seg: id, off: end}); applied.less(pos) {
			rec, err := decodeRecord(bytes.Clone(payload))
			if err != nil {
				break
			}
			recs = append(recs, scannedRecord{rec: rec, pos: pos})
		}
		off = end
	}
	return off, blocks, recs, nil
}

// isEndOfData reports whether a read stopped at the end of the data.
func isEndOfData(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// truncate cuts a torn tail off every replica where the filesystem allows;
// elsewhere the tail stays as unreferenced bytes past the sealed size.
func (s *Store) truncate(sg *segment, valid int64) {
	for _, f := range sg.files {
		if f == nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || st.Size() <= valid {
			continue
		}
		if fd := f.Fd(); fd != vfs.InvalidFd {
			if err := unix.Ftruncate(int(fd), valid); err == nil {
				f.Sync()
				s.opts.Logf("engine: segment %016x: cut a torn tail of %d bytes", sg.id, st.Size()-valid)
			}
		}
	}
}

func (s *Store) removeSegmentFiles(sg *segment) {
	sg.close()
	for _, p := range sg.paths {
		if err := s.fs.Remove(p); err != nil && !isNotExist(err) {
			s.opts.Logf("engine: remove %s: %v", p, err)
		}
	}
}
