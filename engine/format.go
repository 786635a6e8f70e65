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
}

// Block-index file (.bix) of a sealed segment:
//
//	header (32 B): magic "LSMBIX" 0 version | segment id u64 | count u32 | block size u32 | 0 u32 | crc32c of bytes 0..28 u32
//	count entries of 24 B: payload offset u64 | phys len u32 | logical len u32 | crc u32 | flags u8 | 0 0 0
//	trailer (8 B): crc32c of the entries u32 | 0 u32
//
// Entry n sits at 32+24n: a lookup is one multiplication into the mmap.
const (
	bixMagic      = "LSMBIX\x00"
	bixVersion    = 1
	bixHeaderSize = 32
	bixEntrySize  = 24
)

func putBixEntry(b []byte, e blockEntry) {
	binary.LittleEndian.PutUint64(b[0:], uint64(e.off))
	binary.LittleEndian.PutUint32(b[8:], e.physLen)
	binary.LittleEndian.PutUint32(b[12:], e.logLen)
	binary.LittleEndian.PutUint32(b[16:], e.crc)
	b[20], b[21], b[22], b[23] = e.flags, 0, 0, 0
}

func getBixEntry(b []byte) blockEntry {
	return blockEntry{
		off:     int64(binary.LittleEndian.Uint64(b[0:])),
		physLen: binary.LittleEndian.Uint32(b[8:]),
		logLen:  binary.LittleEndian.Uint32(b[12:]),
		crc:     binary.LittleEndian.Uint32(b[16:]),
		flags:   b[20],
	}
}

// encodeBix serialises a sealed segment's block index.
func encodeBix(id uint64, blockSize int, entries []blockEntry) []byte {
	b := make([]byte, bixHeaderSize+len(entries)*bixEntrySize+8)
	copy(b, bixMagic)
	b[7] = bixVersion
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint32(b[16:], uint32(len(entries)))
	binary.LittleEndian.PutUint32(b[20:], uint32(blockSize))
	binary.LittleEndian.PutUint32(b[28:], crc32c(b[:28]))
	body := b[bixHeaderSize : bixHeaderSize+len(entries)*bixEntrySize]
	for i, e := range entries {
		putBixEntry(body[i*bixEntrySize:], e)
	}
	binary.LittleEndian.PutUint32(b[len(b)-8:], crc32c(body))
	return b
}

// checkBix verifies a block-index file and returns its entry count.
func checkBix(b []byte, id uint64, blockSize int) (int, bool) {
	if len(b) < bixHeaderSize+8 || string(b[:7]) != bixMagic || b[7] != bixVersion ||
		binary.LittleEndian.Uint32(b[28:]) != crc32c(b[:28]) ||
		binary.LittleEndian.Uint64(b[8:]) != id ||
		binary.LittleEndian.Uint32(b[20:]) != uint32(blockSize) {
		return 0, false
	}
	n := int(binary.LittleEndian.Uint32(b[16:]))
	if len(b) != bixHeaderSize+n*bixEntrySize+8 {
		return 0, false
	}
	body := b[bixHeaderSize : bixHeaderSize+n*bixEntrySize]
	if binary.LittleEndian.Uint32(b[len(b)-8:]) != crc32c(body) {
		return 0, false
	}
	return n, true
}
