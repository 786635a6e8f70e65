package engine

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func sampleRecord() *record {
	return &record{op: opComplete, bucket: "bkt", key: "files/a", uploadID: "u", part: 3, mtime: 42, size: 7,
		etag: "abc", ctype: "text/plain", meta: []Pair{{"a", "b"}}, sums: []Pair{{"crc32c", "AAAA"}},
		cond: Condition{IfMatch: "x"}, runs: []run{{seg: 1, first: 2, count: 3, phys: 4}},
		parts: []CompletePart{{Number: 1, ETag: "e"}}}
}

// FuzzDecodeRecord: any bytes decode to a record or an error, and a decoded
// record re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(sampleRecord().encode(nil))
	f.Add((&record{op: opPut, hasInline: true, inline: []byte("hi")}).encode(nil))
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if again := r.encode(nil); !bytes.Equal(again, b) {
			// Varints have one canonical form; anything else is a decoder
			// accepting what the encoder never writes.
			if r2, err := decodeRecord(again); err != nil || !bytes.Equal(r2.encode(nil), again) {
				t.Fatalf("record does not round-trip")
			}
		}
	})
}

// FuzzDecodeEntry: index values never panic or over-allocate.
func FuzzDecodeEntry(f *testing.F) {
	f.Add((&entry{size: 5, etag: "e", hasInline: true, inline: []byte("hello")}).encode())
	f.Add((&entry{size: 1 << 20, extents: []extent{{size: 1 << 20, runs: []run{{1, 0, 16, 1 << 20}}}}}).encode())
	f.Add((&uploadValue{mtime: 1, ctype: "x"}).encode())
	f.Add((&partValue{size: 1, etag: "e", runs: []run{{1, 2, 3, 4}}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if en, err := decodeEntry(b); err == nil {
			var total int64
			for _, x := range en.extents {
				total += x.size
			}
			_ = total
			if _, err := decodeEntry(en.encode()); err != nil {
				t.Fatalf("re-encoded entry does not decode: %v", err)
			}
		}
		decodeUpload(b)
		decodePart(b)
		decodeSegment(b)
		decodeStats(b)
		decodeLogPos(b)
	})
}

// FuzzScanSegment: a scan of arbitrary segment bytes stops at the first bad
// frame, never panics, and every block it indexes lies inside the file.
func FuzzScanSegment(f *testing.F) {
	good := segHeader(1, DefaultBlockSize)
	payload := []byte("some block payload")
	fh := make([]byte, frameHeaderSize)
	putFrameHeader(fh, frameHeader{typ: frameBlock, logicalLen: uint32(len(payload)), payloadLen: uint32(len(payload)), payloadCRC: crc32c(payload)})
	good = append(append(good, fh...), payload...)
	rec := sampleRecord().encode(nil)
	putFrameHeader(fh, frameHeader{typ: frameRecord, payloadLen: uint32(len(rec)), payloadCRC: crc32c(rec)})
	good = append(append(good, fh...), rec...)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(segHeader(1, DefaultBlockSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		file := vfs.NewMemFile(b)
		valid, blocks, _, err := scanFile(file, 1, DefaultBlockSize, logPos{})
		if err != nil {
			t.Fatal(err)
		}
		if valid > int64(len(b)) {
			t.Fatalf("valid length %d beyond file of %d", valid, len(b))
		}
		for _, e := range blocks {
			if e.off+int64(e.physLen) > valid {
				t.Fatalf("block %+v beyond valid length %d", e, valid)
			}
		}
	})
}

// FuzzBlockIndex: checkBix accepts only well-formed files, of either
// version, and then every entry is addressable and its chunk checksums, if
// any, cover its payload.
func FuzzBlockIndex(f *testing.F) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	var arena []byte
	e := blockEntry{off: 52, physLen: uint32(len(payload)), logLen: uint32(len(payload)), crc: crc32c(payload)}
	e.withChunks(&arena, payload)
	f.Add(encodeBix(9, DefaultBlockSize, []blockEntry{{off: 52, physLen: 10, logLen: 10, crc: 1}, e, {off: 9000, physLen: 7000, logLen: 9000, flags: flagZstd}}))
	f.Add(encodeBix(9, DefaultBlockSize, nil))
	f.Add(encodeBixV1(9, DefaultBlockSize, []blockEntry{{off: 52, physLen: 10, logLen: 10, crc: 1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, size, ok := checkBix(b, 9, DefaultBlockSize)
		if !ok {
			return
		}
		m := &bixMap{data: b, count: n, entrySize: size}
		for i := 0; i < n; i++ {
			e, ok := m.entry(uint32(i))
			if !ok {
				t.Fatal("entry missing")
			}
			if e.chunks != nil && len(e.chunks) != 4*chunkCount(int(e.physLen)) {
				t.Fatalf("entry %d: %d bytes of chunk checksums for %d bytes", i, len(e.chunks), e.physLen)
			}
		}
		if _, ok := m.entry(uint32(n)); ok {
			t.Fatal("entry past the end")
		}
	})
}

// FuzzLayout: the layout marker parser never panics and round-trips.
func FuzzLayout(f *testing.F) {
	f.Add(encodeLayout(layout{Format: 1, BlockSize: DefaultBlockSize, Drives: 1, Replicas: 1, SetID: "ab"}))
	f.Add([]byte("{}\ncrc32c 00000000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLayout(b)
		if err != nil {
			return
		}
		if l2, err := decodeLayout(encodeLayout(l)); err != nil || l2 != l {
			t.Fatalf("layout does not round-trip: %v", err)
		}
	})
}
