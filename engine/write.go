package engine

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// ErrBodyTooLong is returned when a body holds more bytes than declared.
var ErrBodyTooLong = errors.New("engine: body longer than declared size")

// chunkWriter frames blocks of one body into a buffer that is appended to
// the log as one run.
type chunkWriter struct {
	raw    []byte // one logical block
	frames []byte // framed blocks of the current chunk
	metas  []blockEntry
	crcs   []byte // chunk checksums of metas (copied by appendBlocks)
	md5    hash.Hash
	// misses counts consecutive blocks of this body that did not
	// compress; skipped counts blocks not tried since (see addBlock).
	misses, skipped int
}

func (s *Store) getChunkWriter() *chunkWriter {
	if w, ok := s.chunks.Get().(*chunkWriter); ok {
		w.md5.Reset()
		w.misses, w.skipped = 0, 0
		return w
	}
	bs := s.opts.BlockSize
	return &chunkWriter{
		raw:    make([]byte, bs),
		frames: make([]byte, 0, s.opts.ChunkBlocks*(bs+frameHeaderSize)),
		md5:    md5.New(),
	}
}

func (s *Store) putChunkWriter(w *chunkWriter) {
	w.frames, w.metas, w.crcs = w.frames[:0], w.metas[:0], w.crcs[:0]
	s.chunks.Put(w)
}

// Once incompressMisses blocks of a body in a row have not compressed (a
// vector index, a compressed Parquet page), only every incompressProbe-th
// block is tried: a failed zstd attempt costs as much CPU as the MD5 of
// the block, for nothing.
const (
	incompressMisses = 4
	incompressProbe  = 16
)

// addBlock frames one block, compressing it when that saves an eighth.
func (s *Store) addBlock(w *chunkWriter, raw []byte) {
	start := len(w.frames)
	w.frames = append(w.frames, make([]byte, frameHeaderSize)...)
	var flags byte
	payload := raw
	try := !s.opts.DisableCompression && len(raw) >= 512
	if try && w.misses >= incompressMisses {
		w.skipped++
		try = w.skipped%incompressProbe == 0
	}
	if try {
		w.frames = s.zenc.EncodeAll(raw, w.frames)
		if c := w.frames[start+frameHeaderSize:]; len(c) <= len(raw)-len(raw)/8 {
			flags, payload = flagZstd, c
			w.misses, w.skipped = 0, 0
		} else {
			w.frames = w.frames[:start+frameHeaderSize]
			w.misses++
		}
	}
	if flags == 0 {
		w.frames = append(w.frames, raw...)
		payload = w.frames[start+frameHeaderSize:]
	}
	crc := crc32c(payload)
	putFrameHeader(w.frames[start:], frameHeader{typ: frameBlock, flags: flags, logicalLen: uint32(len(raw)), payloadLen: uint32(len(payload)), payloadCRC: crc})
	e := blockEntry{off: int64(start + frameHeaderSize), physLen: uint32(len(payload)), logLen: uint32(len(raw)), crc: crc, flags: flags}
	e.withChunks(&w.crcs, payload)
	w.metas = append(w.metas, e)
}

func (s *Store) flushChunk(w *chunkWriter, rec *record) error {
	if len(w.metas) == 0 {
		return nil
	}
	r, sg, err := s.appendBlocks(w.frames, w.metas, false)
	w.frames, w.metas, w.crcs = w.frames[:0], w.metas[:0], w.crcs[:0]
	if err != nil {
		return err
	}
	rec.pins = append(rec.pins, sg)
	runs := rec.runs
	if n := len(runs); n > 0 && runs[n-1].seg == r.seg && runs[n-1].first+runs[n-1].count == r.first {
		runs[n-1].count += r.count
		runs[n-1].phys += r.phys
		return nil
	}
	rec.runs = append(runs, r)
	return nil
}

// unpin releases the segments a record's blocks were appended to.
func unpin(rec *record) {
	for _, sg := range rec.pins {
		sg.writers.Add(-1)
		sg.refs.Add(-1)
	}
	rec.pins = nil
}

// readFull reads len(p) bytes, mapping a short body to ErrIncompleteBody and
// passing any other reader error (a failed signature, say) through.
func readFull(body io.Reader, p []byte) error {
	if _, err := io.ReadFull(body, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return ErrIncompleteBody
		}
		return err
	}
	return nil
}

// expectEOF reads once more so that verifying readers report a mismatch
// found at the end, and so a body longer than declared is refused.
func expectEOF(body io.Reader) error {
	var one [1]byte
	for {
		n, err := body.Read(one[:])
		if n > 0 {
			return ErrBodyTooLong
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// errBodyMD5 reports a body that promised its MD5 (BodyMD5) and did not
// deliver it.
var errBodyMD5 = errors.New("engine: the body did not provide its MD5")

// setETag sets rec's ETag from the body's own MD5 (bodyMD5) or from sum.
func setETag(rec *record, bodyMD5 func() []byte, sum func() []byte) error {
	b := sum
	if bodyMD5 != nil {
		b = bodyMD5
	}
	v := b()
	if len(v) != md5.Size {
		return errBodyMD5
	}
	rec.etag = hex.EncodeToString(v)
	return nil
}

// writeBody streams size bytes of body into rec: inline when allowed and
// small enough, else as block runs in the log. It hashes the body once for
// the ETag, unless the body hashes itself (bodyMD5 non-nil).
func (s *Store) writeBody(rec *record, size int64, body io.Reader, allowInline bool, bodyMD5 func() []byte) error {
	if size < 0 {
		return ErrInvalidSize
	}
	rec.size = size
	if allowInline && size <= int64(s.opts.InlineThreshold) {
		buf := make([]byte, size)
		if err := readFull(body, buf); err != nil {
			return err
		}
		if err := expectEOF(body); err != nil {
			return err
		}
		rec.inline, rec.hasInline = buf, true
		return setETag(rec, bodyMD5, func() []byte { sum := md5.Sum(buf); return sum[:] })
	}
	w := s.getChunkWriter()
	defer s.putChunkWriter(w)
	bs := int64(s.opts.BlockSize)
	for left := size; left > 0; {
		raw := w.raw[:min(bs, left)]
		if err := readFull(body, raw); err != nil {
			return err
		}
		if bodyMD5 == nil {
			w.md5.Write(raw)
		}
		s.addBlock(w, raw)
		left -= int64(len(raw))
		if len(w.metas) == s.opts.ChunkBlocks {
			if err := s.flushChunk(w, rec); err != nil {
				return err
			}
		}
	}
	if err := expectEOF(body); err != nil {
		return err
	}
	if err := s.flushChunk(w, rec); err != nil {
		return err
	}
	return setETag(rec, bodyMD5, func() []byte { return w.md5.Sum(nil) })
}

func now() int64 { return time.Now().UnixNano() }

// Put stores size bytes read from body under bucket/key. It returns once
// the object is durable. The body is streamed: at most one chunk
// (ChunkBlocks blocks) is held in memory.
func (s *Store) Put(bucket, key string, size int64, body io.Reader, o PutOptions) (ObjectInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	if size < 0 {
		return ObjectInfo{}, ErrInvalidSize
	}
	if size > MaxObjectSize {
		return ObjectInfo{}, ErrEntityTooLarge
	}
	if err := checkPutOptions(&o); err != nil {
		return ObjectInfo{}, err
	}
	if err := s.writable(); err != nil {
		return ObjectInfo{}, err
	}
	// Fail fast before taking the body; the authoritative checks run when
	// the record is applied.
	if err := s.precheck(bucket, key, o.Condition); err != nil {
		return ObjectInfo{}, err
	}
	if err := s.roomFor(size); err != nil {
		return ObjectInfo{}, err
	}
	rec := &record{op: opPut, bucket: bucket, key: key, ctype: o.ContentType, meta: o.UserMeta, sums: o.Checksums, cond: o.Condition}
	defer unpin(rec)
	if err := s.writeBody(rec, size, body, true, o.BodyMD5); err != nil {
		return ObjectInfo{}, err
	}
	var err error
	if rec.sums, err = appendBodySums(rec.sums, o.BodyChecksums); err != nil {
		return ObjectInfo{}, err
	}
	rec.mtime = now()
	op, err := s.submit(rec)
	if err != nil {
		return ObjectInfo{}, err
	}
	s.counters.puts.Add(1)
	return op.info, nil
}

func appendBodySums(sums []Pair, f func() []Pair) ([]Pair, error) {
	if f == nil {
		return sums, nil
	}
	out := append(append([]Pair(nil), sums...), f()...)
	return out, checkSums(out)
}

func (s *Store) precheck(bucket, key string, c Condition) error {
	ok, err := s.BucketExists(bucket)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNoSuchBucket
	}
	if !c.isSet() {
		return nil
	}
	en, err := s.lookup(bucket, key)
	if err != nil && !errors.Is(err, ErrNoSuchKey) {
		return err
	}
	return checkCondition(c, en)
}

// Delete removes bucket/key. Deleting a missing key succeeds.
func (s *Store) Delete(bucket, key string) error {
	if err := checkObject(bucket, key); err != nil {
		return err
	}
	if err := s.writable(); err != nil {
		return err
	}
	if _, err := s.lookup(bucket, key); err != nil {
		if errors.Is(err, ErrNoSuchKey) {
			// Nothing to log: this delete is ordered before any put racing it.
			return nil
		}
		return err
	}
	_, err := s.submit(&record{op: opDelete, bucket: bucket, key: key, mtime: now()})
	return err
}

// CreateBucket creates a bucket.
func (s *Store) CreateBucket(name string) error {
	if err := checkBucket(name); err != nil {
		return err
	}
	if err := s.writable(); err != nil {
		return err
	}
	_, err := s.submit(&record{op: opCreateBucket, bucket: name, mtime: now()})
	return err
}

// DeleteBucket removes an empty bucket.
func (s *Store) DeleteBucket(name string) error {
	if err := checkBucket(name); err != nil {
		return err
	}
	if err := s.writable(); err != nil {
		return err
	}
	_, err := s.submit(&record{op: opDeleteBucket, bucket: name, mtime: now()})
	return err
}

func newUploadID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// uploadIDLen is the length of every upload id (hex of 16 bytes).
const uploadIDLen = 32

func checkUploadID(id string) error {
	if len(id) != uploadIDLen {
		return ErrNoSuchUpload
	}
	if _, err := hex.DecodeString(id); err != nil {
		return ErrNoSuchUpload
	}
	return nil
}

// CreateMultipartUpload starts an upload and returns its id.
func (s *Store) CreateMultipartUpload(bucket, key string, o PutOptions) (string, error) {
	if err := checkObject(bucket, key); err != nil {
		return "", err
	}
	if err := checkPutOptions(&o); err != nil {
		return "", err
	}
	if err := s.writable(); err != nil {
		return "", err
	}
	id := newUploadID()
	_, err := s.submit(&record{op: opCreateUpload, bucket: bucket, key: key, uploadID: id, mtime: now(), ctype: o.ContentType, meta: o.UserMeta, sums: o.Checksums})
	return id, err
}

// PutPart stores part number n of an upload. Parts may arrive in any order
// and concurrently; uploading a number again replaces the part.
func (s *Store) PutPart(bucket, key, uploadID string, n int, size int64, body io.Reader, o PartOptions) (PartInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return PartInfo{}, err
	}
	if err := checkUploadID(uploadID); err != nil {
		return PartInfo{}, err
	}
	if n < 1 || n > MaxParts {
		return PartInfo{}, fmt.Errorf("%w: %d", ErrInvalidPartNumber, n)
	}
	if size < 0 {
		return PartInfo{}, ErrInvalidSize
	}
	if size > MaxPartSize {
		return PartInfo{}, ErrEntityTooLarge
	}
	if err := checkSums(o.Checksums); err != nil {
		return PartInfo{}, err
	}
	if err := s.writable(); err != nil {
		return PartInfo{}, err
	}
	if _, err := s.upload(bucket, key, uploadID); err != nil {
		return PartInfo{}, err
	}
	if err := s.roomFor(size); err != nil {
		return PartInfo{}, err
	}
	rec := &record{op: opPutPart, bucket: bucket, key: key, uploadID: uploadID, part: n, sums: o.Checksums}
	defer unpin(rec)
	if err := s.writeBody(rec, size, body, false, o.BodyMD5); err != nil {
		return PartInfo{}, err
	}
	var err error
	if rec.sums, err = appendBodySums(rec.sums, o.BodyChecksums); err != nil {
		return PartInfo{}, err
	}
	rec.mtime = now()
	op, err := s.submit(rec)
	if err != nil {
		return PartInfo{}, err
	}
	return op.part, nil
}

// CompleteMultipartUpload assembles the listed parts into the object. No
// data is copied: the object's extents are the parts' runs.
func (s *Store) CompleteMultipartUpload(bucket, key, uploadID string, parts []CompletePart, o CompleteOptions) (ObjectInfo, error) {
	if err := checkObject(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkUploadID(uploadID); err != nil {
		return ObjectInfo{}, err
	}
	if len(parts) == 0 || len(parts) > MaxParts {
		return ObjectInfo{}, ErrInvalidPart
	}
	for _, p := range parts {
		if p.Number < 1 || p.Number > MaxParts || len(p.ETag) > 64 {
			return ObjectInfo{}, ErrInvalidPart
		}
	}
	if err := checkSums(o.Checksums); err != nil {
		return ObjectInfo{}, err
	}
	if err := s.writable(); err != nil {
		return ObjectInfo{}, err
	}
	op, err := s.submit(&record{op: opComplete, bucket: bucket, key: key, uploadID: uploadID, parts: parts, sums: o.Checksums, cond: o.Condition, mtime: now()})
	if err != nil {
		return ObjectInfo{}, err
	}
	return op.info, nil
}

// AbortMultipartUpload drops an upload and its parts.
func (s *Store) AbortMultipartUpload(bucket, key, uploadID string) error {
	if err := checkObject(bucket, key); err != nil {
		return err
	}
	if err := checkUploadID(uploadID); err != nil {
		return err
	}
	if err := s.writable(); err != nil {
		return err
	}
	_, err := s.submit(&record{op: opAbort, bucket: bucket, key: key, uploadID: uploadID, mtime: now()})
	return err
}
