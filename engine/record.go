package engine

// A run is a contiguous range of blocks in one segment. phys is the bytes
// those blocks occupy on disk (frame headers included): the live bytes the
// run holds in its segment.
type run struct {
	seg          uint64
	first, count uint32
	phys         int64
}

// An extent is one part of an object's body: size bytes stored as blocks
// numbered from the extent's start, in runs. A single-PUT object has one
// extent; a multipart object one per part.
type extent struct {
	size int64
	runs []run
	sums []Pair // a multipart part's checksums
}

func encodeRuns(e *enc, runs []run) {
	e.uvarint(uint64(len(runs)))
	for _, r := range runs {
		e.uvarint(r.seg)
		e.uvarint(uint64(r.first))
		e.uvarint(uint64(r.count))
		e.uvarint(uint64(r.phys))
	}
}

func decodeRuns(d *dec) []run {
	runs := appendRuns(d, nil)
	if len(runs) == 0 {
		return nil
	}
	return runs
}

// appendRuns decodes a run list onto dst.
func appendRuns(d *dec, dst []run) []run {
	n := d.count(4)
	if len(dst)+n > cap(dst) {
		dst = append(make([]run, 0, len(dst)+n), dst...)
	}
	for range n {
		dst = append(dst, run{seg: d.uvarint(), first: uint32(d.uvarint()), count: uint32(d.uvarint()), phys: int64(d.uvarint())})
	}
	return dst
}

// Record ops: every mutation is one record frame in the log.
const (
	opPut byte = iota + 1
	opDelete
	opCreateBucket
	opDeleteBucket
	opCreateUpload
	opPutPart
	opComplete
	opAbort
	opRelocate     // compaction: move one run of an object or part (CAS)
	opBucketConfig // set (inline) or delete one bucket configuration document
)

// record is one logged mutation. Fields not used by an op stay zero.
type record struct {
	op          byte
	bucket, key string
	uploadID    string
	part        int
	mtime       int64 // unix nanoseconds
	size        int64
	etag        string
	ctype       string
	meta, sums  []Pair
	cond        Condition
	inline      []byte
	hasInline   bool
	runs        []run
	parts       []CompletePart
	newRuns     []run // opRelocate: what replaces runs[0]

	pins []*segment // segments holding this record's blocks until applied (not encoded)
}

const recordVersion = 1

func (r *record) encode(dst []byte) []byte {
	e := enc{b: dst}
	e.u8(recordVersion)
	e.u8(r.op)
	e.str(r.bucket)
	e.str(r.key)
	e.str(r.uploadID)
	e.uvarint(uint64(r.part))
	e.varint(r.mtime)
	e.varint(r.size)
	e.str(r.etag)
	e.str(r.ctype)
	e.pairs(r.meta)
	e.pairs(r.sums)
	var c byte
	if r.cond.IfNoneMatchStar {
		c = 1
	}
	e.u8(c)
	e.str(r.cond.IfMatch)
	if r.hasInline {
		e.u8(1)
		e.bytes(r.inline)
	} else {
		e.u8(0)
	}
	encodeRuns(&e, r.runs)
	e.uvarint(uint64(len(r.parts)))
	for _, p := range r.parts {
		e.uvarint(uint64(p.Number))
		e.str(p.ETag)
	}
	encodeRuns(&e, r.newRuns)
	return e.b
}

func decodeRecord(b []byte) (*record, error) {
	d := dec{b: b}
	if d.u8() != recordVersion {
		return nil, errDecode
	}
	r := &record{op: d.u8()}
	r.bucket = d.str()
	r.key = d.str()
	r.uploadID = d.str()
	r.part = int(d.uvarint())
	r.mtime = d.varint()
	r.size = d.varint()
	r.etag = d.str()
	r.ctype = d.str()
	r.meta = d.pairs()
	r.sums = d.pairs()
	r.cond.IfNoneMatchStar = d.u8() == 1
	r.cond.IfMatch = d.str()
	if d.u8() == 1 {
		r.hasInline = true
		r.inline = d.bytes()
	}
	r.runs = decodeRuns(&d)
	n := d.count(2)
	for i := 0; i < n; i++ {
		r.parts = append(r.parts, CompletePart{Number: int(d.uvarint()), ETag: d.str()})
	}
	r.newRuns = decodeRuns(&d)
	if err := d.done(); err != nil {
		return nil, err
	}
	if r.op < opPut || r.op > opBucketConfig {
		return nil, errDecode
	}
	return r, nil
}
