package engine

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lsmstore/lsmstore/cache"
)

func (s *Store) getValue(key []byte) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, ErrClosed
	}
	v, closer, err := s.db.Get(key)
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

// missing is the error for something absent from bucket: ErrNoSuchBucket
// when the bucket is gone too, else notFound.
func (s *Store) missing(bucket string, notFound error) error {
	exists, err := s.BucketExists(bucket)
	if err != nil {
		return err
	}
	if !exists {
		return ErrNoSuchBucket
	}
	return notFound
}

// lookup returns the index entry of an object.
func (s *Store) lookup(bucket, key string) (*entry, error) {
	v, ok, err := s.getValue(objectKey(bucket, key))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.missing(bucket, ErrNoSuchKey)
	}
	en, err := decodeEntry(v)
	if err != nil {
		return nil, fmt.Errorf("%w: index entry of %s/%s", ErrCorrupt, bucket, key)
	}
	return en, nil
}

// lookupInto sets o.en to the object's index entry: the entry cache's, or
// one decoded straight from Pebble's value (into o's inline buffers when
// the entry cache is off).
func (s *Store) lookupInto(o *Object, bucket, key string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	k := appendObjectKey(o.keyBuf[:0], bucket, key)
	var gen uint64
	if s.entries != nil {
		var en *entry
		if en, gen = s.entries.get(k); en != nil {
			o.en = en
			return nil
		}
	}
	v, closer, err := s.db.Get(k)
	if err == pebble.ErrNotFound {
		return s.missing(bucket, ErrNoSuchKey)
	}
	if err != nil {
		return err
	}
	if s.entries == nil {
		err = o.ent.decode(v, o.extBuf[:0], o.runBuf[:0])
		o.en = &o.ent
	} else {
		// Shared once cached: its own memory, not o's buffers.
		en := &entry{}
		if err = en.decode(v, nil, nil); err == nil {
			s.entries.put(k, en, len(v), gen)
			o.en = en
		}
	}
	closer.Close()
	if err != nil {
		return fmt.Errorf("%w: index entry of %s/%s", ErrCorrupt, bucket, key)
	}
	return nil
}

// BucketExists reports whether a bucket exists.
func (s *Store) BucketExists(name string) (bool, error) {
	if err := checkBucket(name); err != nil {
		return false, err
	}
	_, ok, err := s.getValue(bucketKey(name))
	return ok, err
}

// ListBuckets returns every bucket in name order.
func (s *Store) ListBuckets() ([]BucketInfo, error) {
	var out []BucketInfo
	err := s.scanPrefix([]byte{pfxBucket}, func(k, v []byte) error {
		d := dec{b: v}
		t := d.varint()
		if err := d.done(); err != nil {
			return fmt.Errorf("%w: bucket entry", ErrCorrupt)
		}
		out = append(out, BucketInfo{Name: string(k[1:]), Created: time.Unix(0, t).UTC()})
		return nil
	})
	return out, err
}

// Head returns an object's metadata.
func (s *Store) Head(bucket, key string) (ObjectInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	en, err := s.lookup(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return en.info(bucket, key), nil
}

// Object is an open object: a snapshot of its index entry with its segments
// pinned, so its bytes stay readable until Close whatever happens to the
// key meanwhile.
type Object struct {
	s      *Store
	info   ObjectInfo
	en     *entry
	starts []int64 // logical offset of each extent
	segs   []*segment

	// Room for the common case (a short key, one extent of at most two
	// runs), so that Open allocates little more than the Object itself.
	ent      entry
	keyBuf   [96]byte
	extBuf   [1]extent
	runBuf   [2]run
	startBuf [1]int64
	segBuf   [2]*segment
}

// Open looks up an object for reading. Close it when done.
func (s *Store) Open(bucket, key string) (*Object, error) {
	if err := checkObject(bucket, key); err != nil {
		return nil, err
	}
	// A segment that compaction is deleting has had its runs moved: look
	// the entry up again to find the new location.
	for attempt := 0; ; attempt++ {
		o := &Object{s: s}
		if err := s.lookupInto(o, bucket, key); err != nil {
			return nil, err
		}
		o.info = o.en.info(bucket, key)
		o.starts, o.segs = o.startBuf[:0], o.segBuf[:0]
		var off int64
		for _, x := range o.en.extents {
			o.starts = append(o.starts, off)
			off += x.size
		}
		if o.pin() {
			s.counters.gets.Add(1)
			return o, nil
		}
		// The entry may be a cached one from before the move.
		s.entries.invalidate([][]byte{objectKey(bucket, key)})
		if attempt == 100 {
			return nil, fmt.Errorf("%w: %s/%s names a segment that is gone", errNoSegment, bucket, key)
		}
		time.Sleep(time.Millisecond)
	}
}

// pin takes a reference on every segment the object's runs name; it fails
// (holding nothing) if one of them is being deleted or already gone — the
// entry read before compaction moved its runs.
func (o *Object) pin() bool {
	s := o.s
	s.segMu.RLock()
	defer s.segMu.RUnlock()
	ok := true
pin:
	for _, x := range o.en.extents {
		for _, r := range x.runs {
			sg := s.segs[r.seg]
			if sg == nil {
				ok = false
				break pin
			}
			if len(o.segs) > 0 && o.segs[len(o.segs)-1] == sg {
				continue
			}
			sg.refs.Add(1)
			o.segs = append(o.segs, sg)
			if sg.deleting.Load() {
				ok = false
				break pin
			}
		}
	}
	if !ok {
		o.Close()
	}
	return ok
}

// Info returns the object's metadata.
func (o *Object) Info() ObjectInfo { return o.info }

// Close releases the object's segments.
func (o *Object) Close() {
	for _, sg := range o.segs {
		sg.refs.Add(-1)
	}
	o.segs = nil
}

// WriteRange writes n bytes from offset off to w, block by block. A cached
// block is written straight from the cache, without a copy.
func (o *Object) WriteRange(w io.Writer, off, n int64) (int64, error) {
	var written int64
	err := o.visitRange(off, n, func(chunk []byte) error {
		m, err := w.Write(chunk)
		written += int64(m)
		return err
	})
	return written, err
}

// AppendSlices appends to dst read-only views of n bytes of the object from
// off, block by block, for a vectored write. Views of cached blocks are
// shared with the cache: never modify them.
func (o *Object) AppendSlices(dst [][]byte, off, n int64) ([][]byte, error) {
	err := o.visitRange(off, n, func(chunk []byte) error {
		dst = append(dst, chunk)
		return nil
	})
	return dst, err
}

// visitRange calls f with the object's bytes [off, off+n) in order, one
// piece of a block at a time.
func (o *Object) visitRange(off, n int64, f func([]byte) error) error {
	if off < 0 || n < 0 || off > o.en.size || n > o.en.size-off {
		return fmt.Errorf("%w: %d+%d of %d", ErrInvalidRange, off, n, o.en.size)
	}
	if o.en.hasInline {
		return f(o.en.inline[off : off+n])
	}
	bs := int64(o.s.opts.BlockSize)
	i := sort.Search(len(o.starts), func(i int) bool { return o.starts[i] > off }) - 1
	for n > 0 {
		if i < 0 || i >= len(o.en.extents) {
			return fmt.Errorf("%w: offset %d outside extents", ErrCorrupt, off)
		}
		x := o.en.extents[i]
		local := off - o.starts[i]
		if local >= x.size {
			i++
			continue
		}
		seg, num, ok := locate(x.runs, uint32(local/bs))
		if !ok {
			return fmt.Errorf("%w: block %d missing from extent", ErrCorrupt, local/bs)
		}
		chunk, err := o.s.readBlockRange(seg, num, local%bs, min(n, x.size-local))
		if err != nil {
			return err
		}
		if err := f(chunk); err != nil {
			return err
		}
		off += int64(len(chunk))
		n -= int64(len(chunk))
	}
	return nil
}

// locate maps block b of an extent to its segment and block number.
func locate(runs []run, b uint32) (uint64, uint32, bool) {
	for _, r := range runs {
		if b < r.count {
			return r.seg, r.first + b, true
		}
		b -= r.count
	}
	return 0, 0, false
}

// readBlockRange returns between 1 and n bytes of block num of segment id
// from offset lo in the block: from the cache, or with one positioned read
// verified by CRC32C. A small range of an uncompressed block reads and
// caches only the chunks it touches (see readChunks); anything else reads
// and caches the whole block.
func (s *Store) readBlockRange(id uint64, num uint32, lo, n int64) ([]byte, error) {
	const cs = chunkSize
	n = min(n, int64(s.opts.BlockSize)-lo)
	c0, c1 := lo/cs, (lo+n-1)/cs
	small := (c1-c0+1)*cs*2 <= int64(s.opts.BlockSize)
	block := cache.Key{Segment: id, Block: num}
	var b []byte
	var isPiece, ok bool
	if small {
		b, isPiece, ok = s.cache.GetEither(block, cache.Key{Segment: id, Block: num, Piece: uint16(c0 + 1)})
	} else {
		b, ok = s.cache.Get(block)
	}
	if ok && isPiece {
		return clip(b, lo-c0*cs, n)
	}
	if !ok {
		sg, e, err := s.blockEntry(id, num)
		if err != nil {
			return nil, err
		}
		if small && e.hasChunks() {
			if b, ok := s.readChunks(sg, e, num, c0, c1); ok {
				return clip(b, lo-c0*cs, n)
			}
		}
		if b, err = s.readBlock(sg, e, num); err != nil {
			return nil, err
		}
	}
	return clip(b, lo, n)
}

// clip returns b[lo:lo+n], shortened to what b holds.
func clip(b []byte, lo, n int64) ([]byte, error) {
	if lo >= int64(len(b)) || n <= 0 {
		return nil, fmt.Errorf("%w: short block", ErrCorrupt)
	}
	return b[lo:min(int64(len(b)), lo+n)], nil
}

// blockEntry returns segment id's entry for block num, checked for sizes a
// block cannot have.
func (s *Store) blockEntry(id uint64, num uint32) (*segment, blockEntry, error) {
	s.segMu.RLock()
	sg := s.segs[id]
	s.segMu.RUnlock()
	if sg == nil {
		return nil, blockEntry{}, fmt.Errorf("%w: segment %016x", errNoSegment, id)
	}
	e, ok := sg.entry(num)
	if !ok {
		return nil, blockEntry{}, fmt.Errorf("%w: block %d beyond segment %016x", ErrCorrupt, num, id)
	}
	if e.logLen > uint32(s.opts.BlockSize) || e.physLen > uint32(2*s.opts.BlockSize) {
		return nil, blockEntry{}, fmt.Errorf("%w: block %d of segment %016x has impossible sizes", ErrCorrupt, num, id)
	}
	return sg, e, nil
}

// readChunks reads chunks c0 to c1 of block num of sg (e.hasChunks()),
// verified by their checksums, and caches each as a piece of the block. ok
// is false when the block must be read whole instead: the chunks failed to
// read or verify (the whole-block path then tries every replica and the
// parity, and reports the error).
func (s *Store) readChunks(sg *segment, e blockEntry, num uint32, c0, c1 int64) (b []byte, ok bool) {
	const cs = chunkSize
	if c0*cs >= int64(e.physLen) {
		return nil, false
	}
	p := piece{e: e, lo: int(c0 * cs), hi: int(min((c1+1)*cs, int64(e.physLen)))}
	buf := make([]byte, p.hi-p.lo)
	dio, err := s.readPayload(sg, buf, p)
	s.countReads(dio)
	if err != nil {
		return nil, false
	}
	for c := 0; c*cs < len(buf); c++ {
		end := min((c+1)*cs, len(buf))
		s.cache.Set(cache.Key{Segment: sg.id, Block: num, Piece: uint16(int(c0) + c + 1)}, buf[c*cs:end:end])
	}
	return buf, true
}

func (s *Store) countReads(dio diskIO) {
	s.counters.diskReads.Add(int64(dio.reads))
	s.counters.diskBytesRead.Add(dio.bytes)
}

// readBlock reads, verifies, decodes and caches block num of sg, located
// by e.
func (s *Store) readBlock(sg *segment, e blockEntry, num uint32) ([]byte, error) {
	id := sg.id
	buf := make([]byte, e.physLen)
	dio, err := s.readPayload(sg, buf, wholePayload(e))
	s.countReads(dio)
	if err != nil {
		return nil, err
	}
	data := buf
	if e.flags&flagZstd != 0 {
		data, err = s.zdec.DecodeAll(buf, make([]byte, 0, e.logLen))
		if err != nil {
			return nil, fmt.Errorf("%w: block %d of segment %016x: %v", ErrCorrupt, num, id, err)
		}
	}
	if len(data) != int(e.logLen) {
		return nil, fmt.Errorf("%w: block %d of segment %016x decodes to %d bytes, want %d", ErrCorrupt, num, id, len(data), e.logLen)
	}
	s.cache.Set(cache.Key{Segment: id, Block: num}, data)
	return data, nil
}

// Get writes n bytes of bucket/key from offset off to w (n < 0: to the end).
func (s *Store) Get(bucket, key string, off, n int64, w io.Writer) (ObjectInfo, error) {
	o, err := s.Open(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer o.Close()
	if n < 0 {
		n = o.info.Size - off
	}
	_, err = o.WriteRange(w, off, n)
	return o.info, err
}

// upload returns an upload's index value.
func (s *Store) upload(bucket, key, id string) (*uploadValue, error) {
	v, ok, err := s.getValue(uploadKey(bucket, key, id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.missing(bucket, ErrNoSuchUpload)
	}
	u, err := decodeUpload(v)
	if err != nil {
		return nil, fmt.Errorf("%w: upload entry", ErrCorrupt)
	}
	return u, nil
}

// Upload returns a multipart upload in progress.
func (s *Store) Upload(bucket, key, uploadID string) (UploadInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return UploadInfo{}, err
	}
	if err := checkUploadID(uploadID); err != nil {
		return UploadInfo{}, err
	}
	u, err := s.upload(bucket, key, uploadID)
	if err != nil {
		return UploadInfo{}, err
	}
	return u.info(bucket, key, uploadID), nil
}
