package engine

import (
	"encoding/binary"
	"hash/crc32"
)

// Segment file layout (little endian):
//
//	file header  (32 B): magic "LSMSEG" 0 version | segment id u64 | block size u32 | 0 u32 | 0 u32 | crc32c of bytes 0..28 u32
//	frame header (20 B): type u8 | flags u8 | 0 u16 | logical len u32 | payload len u32 | payload crc32c u32 | crc32c of bytes 0..16 u32
//	payload
//
// A block frame carries one logical block (raw or zstd); blocks of a segment
// are numbered in the order they were appended. A record frame carries one
// encoded mutation (see record.go). Frames are self-describing, so a scan
// rebuilds the block index and finds a torn tail.
const (
	segMagic        = "LSMSEG\x00"
	segVersion      = 1
	segHeaderSize   = 32
	frameHeaderSize = 20

	frameBlock  = 1
	frameRecord = 2

	flagZstd = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

type frameHeader struct {
	typ, flags byte
	logicalLen uint32
	payloadLen uint32
	payloadCRC uint32
}

func putFrameHeader(b []byte, h frameHeader) {
	b[0], b[1], b[2], b[3] = h.typ, h.flags, 0, 0
	binary.LittleEndian.PutUint32(b[4:], h.logicalLen)
	binary.LittleEndian.PutUint32(b[8:], h.payloadLen)
	binary.LittleEndian.PutUint32(b[12:], h.payloadCRC)
	binary.LittleEndian.PutUint32(b[16:], crc32c(b[:16]))
}

// parseFrameHeader returns ok=false when the header's own checksum fails or
// its fields are impossible.
func parseFrameHeader(b []byte) (frameHeader, bool) {
	if len(b) < frameHeaderSize || crc32c(b[:16]) != binary.LittleEndian.Uint32(b[16:]) {
		return frameHeader{}, false
	}
	h := frameHeader{
		typ:        b[0],
		flags:      b[1],
		logicalLen: binary.LittleEndian.Uint32(b[4:]),
		payloadLen: binary.LittleEndian.Uint32(b[8:]),
		payloadCRC: binary.LittleEndian.Uint32(b[12:]),
	}
	if h.typ != frameBlock && h.typ != frameRecord {
		return h, false
	}
	return h, true
}

func segHeader(id uint64, blockSize int) []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic)
	b[7] = segVersion
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint32(b[16:], uint32(blockSize))
	binary.LittleEndian.PutUint32(b[28:], crc32c(b[:28]))
	return b
}

func checkSegHeader(b []byte, id uint64, blockSize int) bool {
	return len(b) >= segHeaderSize &&
		string(b[:7]) == segMagic && b[7] == segVersion &&
		binary.LittleEndian.Uint32(b[28:]) == crc32c(b[:28]) &&
		binary.LittleEndian.Uint64(b[8:]) == id &&
		binary.LittleEndian.Uint32(b[16:]) == uint32(blockSize)
}

// blockEntry locates one block inside its segment.
type blockEntry struct {
	off     int64  // offset of the payload
	physLen uint32 // payload length on disk
	logLen  uint32 // decoded length
	crc     uint32 // crc32c of the payload
	flags   byte
	// chunks holds the crc32c of each chunkSize piece of an uncompressed
	// payload longer than one chunk, little endian; nil otherwise and in
	// version 1 block indexes. It is read-only (it may be a view of the
	// mmap-ed block index).
	chunks []byte
}

// chunkSize is the unit of the per-chunk checksums: a small ranged read of
// an uncompressed block fetches and verifies only the chunks it touches.
const chunkSize = 4 << 10

func chunkCount(n int) int { return (n + chunkSize - 1) / chunkSize }

// hasChunks reports whether e carries a checksum for each of its chunks.
func (e *blockEntry) hasChunks() bool {
	return e.flags&flagZstd == 0 && len(e.chunks) == 4*chunkCount(int(e.physLen))
}

// chunksMatch reports whether b, payload bytes from the start of chunk c,
// matches the chunk checksums (hasChunks must hold). A b that ends inside
// a chunk other than the payload's last does not match.
func (e *blockEntry) chunksMatch(c int, b []byte) bool {
	for ; len(b) > 0; c++ {
		n := min(chunkSize, len(b))
		if 4*c+4 > len(e.chunks) || crc32c(b[:n]) != binary.LittleEndian.Uint32(e.chunks[4*c:]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// appendChunkCRCs appends the chunk checksums of a payload that is stored
// uncompressed and spans more than one chunk; otherwise it returns dst.
func appendChunkCRCs(dst []byte, flags byte, payload []byte) []byte {
	if flags&flagZstd != 0 || len(payload) <= chunkSize {
		return dst
	}
	for len(payload) > 0 {
		n := min(chunkSize, len(payload))
		dst = binary.LittleEndian.AppendUint32(dst, crc32c(payload[:n]))
		payload = payload[n:]
	}
	return dst
}

// withChunks points e.chunks at the chunk checksums of its payload,
// appended to *arena. Views of an arena stay valid as long as its owner
// only appends to it.
func (e *blockEntry) withChunks(arena *[]byte, payload []byte) {
	a := len(*arena)
	*arena = appendChunkCRCs(*arena, e.flags, payload)
	e.chunks = arenaView(*arena, a)
}

// keepChunks moves e.chunks into *arena, off a buffer the caller reuses.
func (e *blockEntry) keepChunks(arena *[]byte) {
	a := len(*arena)
	*arena = append(*arena, e.chunks...)
	e.chunks = arenaView(*arena, a)
}

func arenaView(arena []byte, from int) []byte {
	if len(arena) == from {
		return nil
	}
	return arena[from:len(arena):len(arena)]
}

// Block-index file (.bix) of a sealed segment:
//
//	header (32 B): magic "LSMBIX" 0 version | segment id u64 | count u32 | block size u32 | chunk size u32 | crc32c of bytes 0..28 u32
//	count entries of 24+4c B: payload offset u64 | phys len u32 | logical len u32 | crc u32 | flags u8 | 0 0 0 | c chunk crcs u32
//	trailer (8 B): crc32c of the entries u32 | 0 u32
//
// c is block size ÷ chunk size (0 when a block is one chunk); flag
// bixChunks marks the entries whose chunk checksums are filled in. Version
// 1 files have chunk size 0 and no chunk checksums; they are still read.
// Entry n sits at 32+(24+4c)n: a lookup is one multiplication into the mmap.
const (
	bixMagic      = "LSMBIX\x00"
	bixVersion    = 2
	bixHeaderSize = 32
	bixEntryBase  = 24

	bixChunks = 0x80 // entry flag: chunk checksums present
)

// bixChunkSlots returns c for a block size.
func bixChunkSlots(blockSize int) int {
	if blockSize <= chunkSize {
		return 0
	}
	return blockSize / chunkSize
}

func putBixEntry(b []byte, e blockEntry) {
	binary.LittleEndian.PutUint64(b[0:], uint64(e.off))
	binary.LittleEndian.PutUint32(b[8:], e.physLen)
	binary.LittleEndian.PutUint32(b[12:], e.logLen)
	binary.LittleEndian.PutUint32(b[16:], e.crc)
	flags := e.flags
	if e.hasChunks() && bixEntryBase+len(e.chunks) <= len(b) {
		flags |= bixChunks
		copy(b[bixEntryBase:], e.chunks)
	}
	b[20], b[21], b[22], b[23] = flags, 0, 0, 0
}

// getBixEntry decodes an entry; b spans the whole entry, chunk slots too.
func getBixEntry(b []byte) blockEntry {
	e := blockEntry{
		off:     int64(binary.LittleEndian.Uint64(b[0:])),
		physLen: binary.LittleEndian.Uint32(b[8:]),
		logLen:  binary.LittleEndian.Uint32(b[12:]),
		crc:     binary.LittleEndian.Uint32(b[16:]),
		flags:   b[20] &^ bixChunks,
	}
	if n := 4 * chunkCount(int(e.physLen)); b[20]&bixChunks != 0 && bixEntryBase+n <= len(b) {
		e.chunks = b[bixEntryBase : bixEntryBase+n : bixEntryBase+n]
	}
	return e
}

// encodeBix serialises a sealed segment's block index.
func encodeBix(id uint64, blockSize int, entries []blockEntry) []byte {
	size := bixEntryBase + 4*bixChunkSlots(blockSize)
	b := make([]byte, bixHeaderSize+len(entries)*size+8)
	copy(b, bixMagic)
	b[7] = bixVersion
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint32(b[16:], uint32(len(entries)))
	binary.LittleEndian.PutUint32(b[20:], uint32(blockSize))
	binary.LittleEndian.PutUint32(b[24:], chunkSize)
	binary.LittleEndian.PutUint32(b[28:], crc32c(b[:28]))
	body := b[bixHeaderSize : bixHeaderSize+len(entries)*size]
	for i, e := range entries {
		putBixEntry(body[i*size:(i+1)*size], e)
	}
	binary.LittleEndian.PutUint32(b[len(b)-8:], crc32c(body))
	return b
}

// checkBix verifies a block-index file and returns its entry count and
// entry size.
func checkBix(b []byte, id uint64, blockSize int) (n, entrySize int, ok bool) {
	if len(b) < bixHeaderSize+8 || string(b[:7]) != bixMagic ||
		binary.LittleEndian.Uint32(b[28:]) != crc32c(b[:28]) ||
		binary.LittleEndian.Uint64(b[8:]) != id ||
		binary.LittleEndian.Uint32(b[20:]) != uint32(blockSize) {
		return 0, 0, false
	}
	switch cs := binary.LittleEndian.Uint32(b[24:]); {
	case b[7] == 1 && cs == 0:
		entrySize = bixEntryBase
	case b[7] == 2 && cs == chunkSize:
		entrySize = bixEntryBase + 4*bixChunkSlots(blockSize)
	default:
		return 0, 0, false
	}
	n = int(binary.LittleEndian.Uint32(b[16:]))
	if len(b) != bixHeaderSize+n*entrySize+8 {
		return 0, 0, false
	}
	body := b[bixHeaderSize : bixHeaderSize+n*entrySize]
	if binary.LittleEndian.Uint32(b[len(b)-8:]) != crc32c(body) {
		return 0, 0, false
	}
	return n, entrySize, true
}
