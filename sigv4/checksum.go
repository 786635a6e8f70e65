package sigv4

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// Algorithm is an S3 additional-checksum algorithm.
type Algorithm string

// Checksum algorithms, named as in x-amz-checksum-algorithm.
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
	MD5       Algorithm = "MD5"
	SHA512    Algorithm = "SHA512"
	XXHASH64  Algorithm = "XXHASH64"
	XXHASH3   Algorithm = "XXHASH3"   // XXH3, 64 bits
	XXHASH128 Algorithm = "XXHASH128" // XXH3, 128 bits
)

// Algorithms lists the supported checksum algorithms. Digests that are
// integers (XXHASH*) are sent big-endian, as S3 does.
var Algorithms = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256, MD5, SHA512, XXHASH64, XXHASH3, XXHASH128}

// ParseAlgorithm parses an algorithm name, ignoring case.
func ParseAlgorithm(s string) (Algorithm, bool) {
	for _, a := range Algorithms {
		if strings.EqualFold(s, string(a)) {
			return a, true
		}
	}
	return "", false
}

// Header returns the header (or trailer) name carrying the checksum,
// e.g. "x-amz-checksum-crc32c".
func (a Algorithm) Header() string { return "x-amz-checksum-" + strings.ToLower(string(a)) }

// New returns a hash computing the checksum; Sum gives the raw bytes that S3
// sends base64-encoded. It returns nil for an unknown algorithm.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return new(crc64NVME)
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case MD5:
		return md5.New()
	case SHA512:
		return sha512.New()
	case XXHASH64:
		return xxhash.New()
	case XXHASH3:
		return xxh3.New()
	case XXHASH128:
		return xxh3.New128()
	}
	return nil
}

// size is the length of the raw checksum in bytes.
func (a Algorithm) size() int {
	switch a {
	case CRC32, CRC32C:
		return 4
	case CRC64NVME:
		return 8
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	case MD5:
		return md5.Size
	case SHA512:
		return sha512.Size
	case XXHASH64, XXHASH3:
		return 8
	case XXHASH128:
		return 16
	}
	return 0
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc64NVMEPoly is the reflected CRC-64/NVME polynomial (0xad93d23594c93659
// in normal form). With Go's crc64 conventions (init and xorout all ones) it
// gives the NVMe CRC, whose check value for "123456789" is 0xae8b14860a799888.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// nvmeTable holds slicing-by-8 tables; hash/crc64 would rebuild them on
// every large write for a custom polynomial.
var nvmeTable = func() *[8][256]uint64 {
	t := new([8][256]uint64)
	t[0] = *crc64.MakeTable(crc64NVMEPoly)
	for i := 0; i < 256; i++ {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ crc>>8
			t[j][i] = crc
		}
	}
	return t
}()

func updateNVME(crc uint64, p []byte) uint64 {
	t := nvmeTable
	crc = ^crc
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint64(p)
		crc = t[7][crc&0xff] ^ t[6][crc>>8&0xff] ^ t[5][crc>>16&0xff] ^ t[4][crc>>24&0xff] ^
			t[3][crc>>32&0xff] ^ t[2][crc>>40&0xff] ^ t[1][crc>>48&0xff] ^ t[0][crc>>56]
		p = p[8:]
	}
	for _, c := range p {
		crc = t[0][byte(crc)^c] ^ crc>>8
	}
	return ^crc
}

// crc64NVME is a hash.Hash64 for CRC-64/NVME.
type crc64NVME uint64

func (c *crc64NVME) Write(p []byte) (int, error) {
	*c = crc64NVME(updateNVME(uint64(*c), p))
	return len(p), nil
}
func (c *crc64NVME) Sum(b []byte) []byte { return binary.BigEndian.AppendUint64(b, uint64(*c)) }
func (c *crc64NVME) Sum64() uint64       { return uint64(*c) }
func (c *crc64NVME) Reset()              { *c = 0 }
func (c *crc64NVME) Size() int           { return 8 }
func (c *crc64NVME) BlockSize() int      { return 1 }
