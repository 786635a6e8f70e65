package sigv4

import "encoding/binary"

// FullObject reports whether a multipart object's checksum of this
// algorithm can be the checksum of the whole object, combined from the
// parts' checksums (S3's FULL_OBJECT checksum type): true for the CRCs.
func (a Algorithm) FullObject() bool {
	switch a {
	case CRC32, CRC32C, CRC64NVME:
		return true
	}
	return false
}

// Combine returns the checksum of A followed by B from the raw (big-endian)
// checksums of A and B and the length of B. ok is false for an algorithm
// that cannot be combined or a sum of the wrong size.
func (a Algorithm) Combine(sumA, sumB []byte, lenB int64) (sum []byte, ok bool) {
	if !a.FullObject() || len(sumA) != a.size() || len(sumB) != a.size() || lenB < 0 {
		return nil, false
	}
	switch a {
	case CRC32, CRC32C:
		poly := uint64(0xedb88320) // reflected IEEE
		if a == CRC32C {
			poly = 0x82f63b78 // reflected Castagnoli
		}
		c := combineCRC(uint64(binary.BigEndian.Uint32(sumA)), uint64(binary.BigEndian.Uint32(sumB)), lenB, poly, 32)
		return binary.BigEndian.AppendUint32(nil, uint32(c)), true
	default: // CRC64NVME
		c := combineCRC(binary.BigEndian.Uint64(sumA), binary.BigEndian.Uint64(sumB), lenB, crc64NVMEPoly, 64)
		return binary.BigEndian.AppendUint64(nil, c), true
	}
}

// combineCRC is zlib's crc32_combine generalised to a reflected CRC of
// width bits with initial value and final xor all ones: it applies len2
// zero bytes to crc1 through the CRC's GF(2) operator matrix, squared
// repeatedly, then adds crc2.
func combineCRC(crc1, crc2 uint64, len2 int64, poly uint64, width int) uint64 {
	if len2 == 0 {
		return crc1
	}
	var even, odd [64]uint64
	odd[0] = poly // the operator for one zero bit
	row := uint64(1)
	for n := 1; n < width; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(even[:width], odd[:width]) // two zero bits
	gf2Square(odd[:width], even[:width]) // four zero bits
	for {
		gf2Square(even[:width], odd[:width]) // first pass: one zero byte
		if len2&1 != 0 {
			crc1 = gf2Times(even[:width], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(odd[:width], even[:width])
		if len2&1 != 0 {
			crc1 = gf2Times(odd[:width], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}
