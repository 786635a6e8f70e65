package engine

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Pebble key space. Bucket names never contain 0x00, so "bucket\x00key"
// sorts by bucket then by key bytes.
const (
	pfxBucket  = 'B' // B bucket                      → bucketValue
	pfxObject  = 'O' // O bucket 0 key                → entry
	pfxUpload  = 'U' // U bucket 0 key 0 uploadID     → uploadValue
	pfxPart    = 'P' // P uploadID 0 partnum(be32)    → partValue
	pfxSegment = 'S' // S segid(be64)                 → segmentValue
	pfxMeta    = 'M' // M name                        → meta values
	pfxConfig  = 'C' // C bucket 0 name               → configuration document
)

var (
	keyApplied = []byte("Mapplied") // log position of the last applied record
	keyStats   = []byte("Mstats")   // object count and logical bytes
)

func bucketKey(b string) []byte { return append([]byte{pfxBucket}, b...) }

func objectPrefix(b string) []byte {
	k := make([]byte, 0, len(b)+2)
	k = append(k, pfxObject)
	k = append(k, b...)
	return append(k, 0)
}

func objectKey(b, key string) []byte { return appendObjectKey(nil, b, key) }

func appendObjectKey(dst []byte, b, key string) []byte {
	dst = append(dst, pfxObject)
	dst = append(dst, b...)
	dst = append(dst, 0)
	return append(dst, key...)
}

func uploadPrefix(b string) []byte {
	k := append([]byte{pfxUpload}, b...)
	return append(k, 0)
}

func uploadKey(b, key, id string) []byte {
	k := append(uploadPrefix(b), key...)
	k = append(k, 0)
	return append(k, id...)
}

func partPrefix(id string) []byte {
	k := append([]byte{pfxPart}, id...)
	return append(k, 0)
}

func partKey(id string, n int) []byte {
	return binary.BigEndian.AppendUint32(partPrefix(id), uint32(n))
}

func segmentKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pfxSegment}, id)
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// entry is an object's index value.
type entry struct {
	size      int64
	mtime     int64
	etag      string
	ctype     string
	meta      []Pair
	sums      []Pair
	parts     int
	hasInline bool
	inline    []byte
	extents   []extent
	cost      int64 // bytes charged to the entry cache
}

// entryVersion 2 adds per-extent checksums; version 1 values still read.
const entryVersion = 2

func (en *entry) encode() []byte {
	e := enc{b: make([]byte, 0, 64+len(en.inline))}
	e.u8(entryVersion)
	e.varint(en.size)
	e.varint(en.mtime)
	e.str(en.etag)
	e.str(en.ctype)
	e.pairs(en.meta)
	e.pairs(en.sums)
	e.uvarint(uint64(en.parts))
	if en.hasInline {
		e.u8(1)
		e.bytes(en.inline)
	} else {
		e.u8(0)
		e.uvarint(uint64(len(en.extents)))
		for _, x := range en.extents {
			e.varint(x.size)
			encodeRuns(&e, x.runs)
			e.pairs(x.sums)
		}
	}
	return e.b
}

func decodeEntry(b []byte) (*entry, error) {
	en := &entry{}
	if err := en.decode(b, nil, nil); err != nil {
		return nil, err
	}
	return en, nil
}

// decode fills en from b, appending its extents and runs to the scratch
// slices ext and runs (which may be nil). en keeps no view of b.
func (en *entry) decode(b []byte, ext []extent, runs []run) error {
	d := dec{b: b}
	version := d.u8()
	if version != 1 && version != entryVersion {
		return errDecode
	}
	*en = entry{size: d.varint(), mtime: d.varint(), etag: d.str(), ctype: contentType(d.bytes())}
	en.meta = d.pairs()
	en.sums = d.pairs()
	en.parts = int(d.uvarint())
	if d.u8() == 1 {
		en.hasInline = true
		en.inline = bytes.Clone(d.bytes())
	} else {
		n := d.count(2)
		if n > cap(ext) {
			ext = make([]extent, 0, n)
		}
		for range n {
			x := extent{size: d.varint()}
			a := len(runs)
			runs = appendRuns(&d, runs)
			x.runs = runs[a:len(runs):len(runs)]
			if version >= 2 {
				x.sums = d.pairs()
			}
			ext = append(ext, x)
		}
		en.extents = ext
	}
	return d.done()
}

// contentType returns b as a string, without allocating for the common
// Content-Types.
func contentType(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "application/octet-stream":
		return "application/octet-stream"
	case "binary/octet-stream":
		return "binary/octet-stream"
	case "text/plain":
		return "text/plain"
	}
	return string(b)
}

func (en *entry) info(bucket, key string) ObjectInfo {
	var sizes []int64
	var sums [][]Pair
	if en.parts > 0 {
		sizes = make([]int64, len(en.extents))
		sums = make([][]Pair, len(en.extents))
		for i, x := range en.extents {
			sizes[i], sums[i] = x.size, x.sums
		}
	}
	return ObjectInfo{PartSizes: sizes, PartChecksums: sums,
		Bucket: bucket, Key: key, Size: en.size, ETag: en.etag,
		ModTime: time.Unix(0, en.mtime).UTC(), ContentType: en.ctype,
		UserMeta: en.meta, Checksums: en.sums, Parts: en.parts,
	}
}

// allRuns calls f for every run of the entry.
func (en *entry) allRuns(f func(run)) {
	for _, x := range en.extents {
		for _, r := range x.runs {
			f(r)
		}
	}
}

// uploadValue is a multipart upload's index value.
type uploadValue struct {
	mtime int64
	ctype string
	meta  []Pair
	sums  []Pair
}

func (u *uploadValue) encode() []byte {
	e := enc{}
	e.u8(1)
	e.varint(u.mtime)
	e.str(u.ctype)
	e.pairs(u.meta)
	e.pairs(u.sums)
	return e.b
}

func decodeUpload(b []byte) (*uploadValue, error) {
	d := dec{b: b}
	if d.u8() != 1 {
		return nil, errDecode
	}
	u := &uploadValue{mtime: d.varint(), ctype: d.str()}
	u.meta = d.pairs()
	u.sums = d.pairs()
	return u, d.done()
}

// partValue is an uploaded part's index value.
type partValue struct {
	size  int64
	mtime int64
	etag  string
	sums  []Pair
	runs  []run
}

func (p *partValue) encode() []byte {
	e := enc{}
	e.u8(1)
	e.varint(p.size)
	e.varint(p.mtime)
	e.str(p.etag)
	e.pairs(p.sums)
	encodeRuns(&e, p.runs)
	return e.b
}

func decodePart(b []byte) (*partValue, error) {
	d := dec{b: b}
	if d.u8() != 1 {
		return nil, errDecode
	}
	p := &partValue{size: d.varint(), mtime: d.varint(), etag: d.str()}
	p.sums = d.pairs()
	p.runs = decodeRuns(&d)
	return p, d.done()
}

// segmentValue is the persisted state of a segment.
type segmentValue struct {
	sealed  bool
	encoded bool  // erasure-coded into shard files
	live    int64 // bytes of live blocks
	size    int64 // file size when sealed
}

func (s *segmentValue) encode() []byte {
	e := enc{}
	e.u8(1)
	var flags byte
	if s.sealed {
		flags |= 1
	}
	if s.encoded {
		flags |= 2
	}
	e.u8(flags)
	e.varint(s.live)
	e.varint(s.size)
	return e.b
}

func decodeSegment(b []byte) (*segmentValue, error) {
	d := dec{b: b}
	if d.u8() != 1 {
		return nil, errDecode
	}
	flags := d.u8()
	s := &segmentValue{sealed: flags&1 != 0, encoded: flags&2 != 0, live: d.varint(), size: d.varint()}
	return s, d.done()
}

// logPos is a position in the log: a segment and an offset in it.
type logPos struct {
	seg uint64
	off int64
}

func (p logPos) less(q logPos) bool {
	return p.seg < q.seg || (p.seg == q.seg && p.off < q.off)
}

func (p logPos) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, p.seg)
	return binary.BigEndian.AppendUint64(b, uint64(p.off))
}

func decodeLogPos(b []byte) (logPos, error) {
	if len(b) != 16 {
		return logPos{}, errDecode
	}
	return logPos{seg: binary.BigEndian.Uint64(b), off: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// stats are the store-wide counters kept in the index.
type stats struct {
	objects      int64
	logicalBytes int64
}

func (s stats) encode() []byte {
	e := enc{}
	e.varint(s.objects)
	e.varint(s.logicalBytes)
	return e.b
}

func decodeStats(b []byte) (stats, error) {
	d := dec{b: b}
	s := stats{objects: d.varint(), logicalBytes: d.varint()}
	return s, d.done()
}
