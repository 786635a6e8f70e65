package engine

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// applier applies records to one index batch. The same code serves group
// commit and crash recovery, so replay is exact: an apply depends only on
// the index state and the record.
type applier struct {
	s     *Store
	b     *pebble.Batch
	delta map[uint64]int64 // live-byte changes per segment
	st    stats
	// written are the object keys the batch sets or deletes, for the
	// entry cache to drop once it commits.
	written [][]byte
}

func (s *Store) newApplier() *applier {
	s.segMu.RLock()
	st := s.st
	s.segMu.RUnlock()
	return &applier{s: s, b: s.db.NewIndexedBatch(), delta: map[uint64]int64{}, st: st}
}

func (a *applier) get(key []byte) ([]byte, bool, error) {
	v, closer, err := a.b.Get(key)
	if err == pebble.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, true, nil
}

func (a *applier) exists(key []byte) (bool, error) {
	_, ok, err := a.get(key)
	return ok, err
}

// hasPrefix reports whether any key starts with p.
func (a *applier) hasPrefix(p []byte) (bool, error) {
	it, err := a.b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return false, err
	}
	found := it.First()
	return found, it.Close()
}

func (a *applier) object(bucket, key string) (*entry, error) {
	v, ok, err := a.get(objectKey(bucket, key))
	if err != nil || !ok {
		return nil, err
	}
	en, err := decodeEntry(v)
	if err != nil {
		return nil, fmt.Errorf("%w: index entry of %s/%s", ErrCorrupt, bucket, key)
	}
	return en, nil
}

func (a *applier) addRuns(runs []run, sign int64) {
	for _, r := range runs {
		a.delta[r.seg] += sign * r.phys
	}
}

// runsExist checks that every run names blocks that are in the log; replay
// skips a record whose blocks were lost with a torn tail (it was never
// acknowledged, since acknowledgement follows the sync of those blocks).
func (a *applier) runsExist(runs []run) bool {
	for _, r := range runs {
		a.s.segMu.RLock()
		sg := a.s.segs[r.seg]
		a.s.segMu.RUnlock()
		if sg == nil || uint64(r.first)+uint64(r.count) > uint64(sg.numBlocks()) {
			return false
		}
	}
	return true
}

func checkCondition(c Condition, old *entry) error {
	if c.IfNoneMatchStar && old != nil {
		return ErrPreconditionFailed
	}
	if c.IfMatch != "" {
		if old == nil {
			return ErrNoSuchKey
		}
		if old.etag != c.IfMatch {
			return ErrPreconditionFailed
		}
	}
	return nil
}

// replaceObject writes en (or deletes when nil) over old, keeping garbage
// and stats in step.
func (a *applier) replaceObject(bucket, key string, old, en *entry) error {
	k := objectKey(bucket, key)
	a.written = append(a.written, k)
	if old != nil {
		old.allRuns(func(r run) { a.delta[r.seg] -= r.phys })
		a.st.objects--
		a.st.logicalBytes -= old.size
	}
	if en == nil {
		return a.b.Delete(k, nil)
	}
	a.st.objects++
	a.st.logicalBytes += en.size
	return a.b.Set(k, en.encode(), nil)
}

// apply applies one record. A non-nil error is the operation's result (the
// record is then a no-op, its blocks garbage); index failures surface when
// the batch commits.
func (a *applier) apply(r *record) (ObjectInfo, PartInfo, error) {
	var info ObjectInfo
	var part PartInfo
	if !a.runsExist(r.runs) || !a.runsExist(r.newRuns) {
		return info, part, fmt.Errorf("%w: record names blocks missing from the log", ErrCorrupt)
	}
	// A relocation names no bucket for a part (part keys carry only the
	// upload id); its compare-and-swap on the entry is its whole condition.
	needBucket := r.op != opCreateBucket && r.op != opRelocate
	if needBucket {
		ok, err := a.exists(bucketKey(r.bucket))
		if err != nil {
			return info, part, err
		}
		if !ok {
			return info, part, ErrNoSuchBucket
		}
	}
	switch r.op {
	case opCreateBucket:
		ok, err := a.exists(bucketKey(r.bucket))
		if err != nil {
			return info, part, err
		}
		if ok {
			return info, part, ErrBucketExists
		}
		e := enc{}
		e.varint(r.mtime)
		return info, part, a.b.Set(bucketKey(r.bucket), e.b, nil)

	case opDeleteBucket:
		for _, p := range [][]byte{objectPrefix(r.bucket), uploadPrefix(r.bucket)} {
			found, err := a.hasPrefix(p)
			if err != nil {
				return info, part, err
			}
			if found {
				return info, part, ErrBucketNotEmpty
			}
		}
		if err := a.b.DeleteRange(configPrefix(r.bucket), prefixEnd(configPrefix(r.bucket)), nil); err != nil {
			return info, part, err
		}
		return info, part, a.b.Delete(bucketKey(r.bucket), nil)

	case opPut:
		old, err := a.object(r.bucket, r.key)
		if err != nil {
			return info, part, err
		}
		if err := checkCondition(r.cond, old); err != nil {
			return info, part, err
		}
		en := &entry{size: r.size, mtime: r.mtime, etag: r.etag, ctype: r.ctype, meta: r.meta, sums: r.sums}
		if r.hasInline {
			en.hasInline, en.inline = true, r.inline
		} else {
			en.extents = []extent{{size: r.size, runs: r.runs}}
		}
		a.addRuns(r.runs, 1)
		return en.info(r.bucket, r.key), part, a.replaceObject(r.bucket, r.key, old, en)

	case opDelete:
		old, err := a.object(r.bucket, r.key)
		if err != nil || old == nil {
			return info, part, err
		}
		return info, part, a.replaceObject(r.bucket, r.key, old, nil)

	case opCreateUpload:
		u := uploadValue{mtime: r.mtime, ctype: r.ctype, meta: r.meta, sums: r.sums}
		return info, part, a.b.Set(uploadKey(r.bucket, r.key, r.uploadID), u.encode(), nil)

	case opPutPart:
		ok, err := a.exists(uploadKey(r.bucket, r.key, r.uploadID))
		if err != nil {
			return info, part, err
		}
		if !ok {
			return info, part, ErrNoSuchUpload
		}
		pk := partKey(r.uploadID, r.part)
		if v, ok, err := a.get(pk); err != nil {
			return info, part, err
		} else if ok {
			old, err := decodePart(v)
			if err != nil {
				return info, part, fmt.Errorf("%w: part entry", ErrCorrupt)
			}
			a.addRuns(old.runs, -1)
		}
		p := partValue{size: r.size, mtime: r.mtime, etag: r.etag, sums: r.sums, runs: r.runs}
		a.addRuns(r.runs, 1)
		part = PartInfo{Number: r.part, Size: r.size, ETag: r.etag, ModTime: time.Unix(0, r.mtime).UTC(), Checksums: r.sums}
		return info, part, a.b.Set(pk, p.encode(), nil)

	case opComplete:
		return a.complete(r)

	case opRelocate:
		return info, part, a.relocate(r)

	case opBucketConfig:
		return info, part, a.applyConfig(r)

	case opAbort:
		uk := uploadKey(r.bucket, r.key, r.uploadID)
		ok, err := a.exists(uk)
		if err != nil {
			return info, part, err
		}
		if !ok {
			return info, part, ErrNoSuchUpload
		}
		if err := a.dropParts(r.uploadID, nil); err != nil {
			return info, part, err
		}
		return info, part, a.b.Delete(uk, nil)
	}
	return info, part, fmt.Errorf("%w: unknown record op %d", ErrCorrupt, r.op)
}

// dropParts deletes every part of an upload; parts not in keep become
// garbage.
func (a *applier) dropParts(uploadID string, keep map[int]bool) error {
	p := partPrefix(uploadID)
	it, err := a.b.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	var keys [][]byte
	for it.First(); it.Valid(); it.Next() {
		k := bytes.Clone(it.Key())
		n := int(uint32(k[len(k)-4])<<24 | uint32(k[len(k)-3])<<16 | uint32(k[len(k)-2])<<8 | uint32(k[len(k)-1]))
		if !keep[n] {
			pv, err := decodePart(it.Value())
			if err != nil {
				it.Close()
				return fmt.Errorf("%w: part entry", ErrCorrupt)
			}
			a.addRuns(pv.runs, -1)
		}
		keys = append(keys, k)
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := a.b.Delete(k, nil); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) complete(r *record) (ObjectInfo, PartInfo, error) {
	var info ObjectInfo
	var part PartInfo
	uk := uploadKey(r.bucket, r.key, r.uploadID)
	uv, ok, err := a.get(uk)
	if err != nil {
		return info, part, err
	}
	if !ok {
		return info, part, ErrNoSuchUpload
	}
	up, err := decodeUpload(uv)
	if err != nil {
		return info, part, fmt.Errorf("%w: upload entry", ErrCorrupt)
	}
	if len(r.parts) == 0 {
		return info, part, ErrInvalidPart
	}
	en := &entry{mtime: r.mtime, ctype: up.ctype, meta: up.meta, sums: r.sums, parts: len(r.parts)}
	h := md5.New()
	keep := map[int]bool{}
	for i, cp := range r.parts {
		if i > 0 && cp.Number <= r.parts[i-1].Number {
			return info, part, ErrInvalidPartOrder
		}
		v, ok, err := a.get(partKey(r.uploadID, cp.Number))
		if err != nil {
			return info, part, err
		}
		if !ok {
			return info, part, ErrInvalidPart
		}
		pv, err := decodePart(v)
		if err != nil {
			return info, part, fmt.Errorf("%w: part entry", ErrCorrupt)
		}
		if pv.etag != cp.ETag {
			return info, part, ErrInvalidPart
		}
		if min := a.s.opts.MinPartSize; i < len(r.parts)-1 && min > 0 && pv.size < min {
			return info, part, ErrEntityTooSmall
		}
		sum, err := hex.DecodeString(pv.etag)
		if err != nil {
			return info, part, fmt.Errorf("%w: part etag", ErrCorrupt)
		}
		h.Write(sum)
		en.size += pv.size
		en.extents = append(en.extents, extent{size: pv.size, runs: pv.runs, sums: pv.sums})
		keep[cp.Number] = true
	}
	if en.size > MaxObjectSize {
		return info, part, ErrEntityTooLarge
	}
	old, err := a.object(r.bucket, r.key)
	if err != nil {
		return info, part, err
	}
	if err := checkCondition(r.cond, old); err != nil {
		return info, part, err
	}
	en.etag = fmt.Sprintf("%x-%d", h.Sum(nil), len(r.parts))
	if err := a.dropParts(r.uploadID, keep); err != nil {
		return info, part, err
	}
	if err := a.b.Delete(uk, nil); err != nil {
		return info, part, err
	}
	return en.info(r.bucket, r.key), part, a.replaceObject(r.bucket, r.key, old, en)
}

// commit writes the live-byte changes, stats and log position, commits the
// batch, and publishes the new live figures.
func (a *applier) commit(pos logPos, sync *pebble.WriteOptions) error {
	s := a.s
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.segMu.RLock()
	for id, d := range a.delta {
		if d == 0 {
			continue
		}
		v := segmentValue{live: s.live[id] + d}
		if sg := s.segs[id]; sg != nil && sg.sealed.Load() {
			v.sealed, v.size, v.encoded = true, sg.sealedSize.Load(), sg.encoded()
		}
		if err := a.b.Set(segmentKey(id), v.encode(), nil); err != nil {
			s.segMu.RUnlock()
			return err
		}
	}
	s.segMu.RUnlock()
	if err := a.b.Set(keyStats, a.st.encode(), nil); err != nil {
		return err
	}
	if err := a.b.Set(keyApplied, pos.encode(), nil); err != nil {
		return err
	}
	err := s.idx.commit(a.b, sync)
	// Before any writer of the batch is acknowledged (and, on failure,
	// whatever the index now holds).
	s.entries.invalidate(a.written)
	if err != nil {
		return err
	}
	s.segMu.Lock()
	for id, d := range a.delta {
		s.live[id] += d
	}
	s.st = a.st
	s.segMu.Unlock()
	return nil
}

// spliceRun replaces old in runs with repl; false when runs does not hold
// old (the entry changed since compaction read it).
func spliceRun(runs []run, old run, repl []run) ([]run, bool) {
	for i, x := range runs {
		if x == old {
			out := make([]run, 0, len(runs)-1+len(repl))
			out = append(append(append(out, runs[:i]...), repl...), runs[i+1:]...)
			return out, true
		}
	}
	return nil, false
}

// relocate swaps one run of an object or part for its copy, only if the
// entry still holds that run: a racing overwrite or delete wins, and the
// copy becomes garbage.
func (a *applier) relocate(r *record) error {
	if len(r.runs) != 1 {
		return fmt.Errorf("%w: relocation of %d runs", ErrCorrupt, len(r.runs))
	}
	old := r.runs[0]
	var n uint32
	for _, x := range r.newRuns {
		n += x.count
	}
	if n != old.count {
		return fmt.Errorf("%w: relocation changes the block count", ErrCorrupt)
	}
	if r.uploadID != "" {
		k := partKey(r.uploadID, r.part)
		v, ok, err := a.get(k)
		if err != nil || !ok {
			return cmpErr(err)
		}
		pv, err := decodePart(v)
		if err != nil {
			return fmt.Errorf("%w: part entry", ErrCorrupt)
		}
		nr, ok := spliceRun(pv.runs, old, r.newRuns)
		if !ok {
			return ErrPreconditionFailed
		}
		pv.runs = nr
		if err := a.b.Set(k, pv.encode(), nil); err != nil {
			return err
		}
	} else {
		en, err := a.object(r.bucket, r.key)
		if err != nil || en == nil {
			return cmpErr(err)
		}
		found := false
		for i := range en.extents {
			if nr, ok := spliceRun(en.extents[i].runs, old, r.newRuns); ok {
				en.extents[i].runs, found = nr, true
				break
			}
		}
		if !found {
			return ErrPreconditionFailed
		}
		k := objectKey(r.bucket, r.key)
		a.written = append(a.written, k)
		if err := a.b.Set(k, en.encode(), nil); err != nil {
			return err
		}
	}
	a.delta[old.seg] -= old.phys
	a.addRuns(r.newRuns, 1)
	return nil
}

// cmpErr is a failed compare-and-swap, or the lookup error behind it.
func cmpErr(err error) error {
	if err != nil {
		return err
	}
	return ErrPreconditionFailed
}
