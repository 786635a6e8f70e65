package s3

import (
	"encoding/base64"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

// S3's checksum types. A single PUT's checksum is of the whole object; a
// multipart object's is either a checksum of the parts' checksums (value
// "<base64>-N") or, for the CRCs, the whole object's combined from the
// parts'. The type is not stored: a composite value is the one with "-N".
const (
	checksumTypeKey    = "x-amz-checksum-type"
	checksumComposite  = "COMPOSITE"
	checksumFullObject = "FULL_OBJECT"
)

// checksumsXML holds a checksum per algorithm, named as S3 names the
// elements; it is embedded in the XML types that carry checksums.
type checksumsXML struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumMD5       string `xml:"ChecksumMD5,omitempty"`
	ChecksumSHA512    string `xml:"ChecksumSHA512,omitempty"`
	ChecksumXXHASH64  string `xml:"ChecksumXXHASH64,omitempty"`
	ChecksumXXHASH3   string `xml:"ChecksumXXHASH3,omitempty"`
	ChecksumXXHASH128 string `xml:"ChecksumXXHASH128,omitempty"`
}

func (c *checksumsXML) field(a sigv4.Algorithm) *string {
	switch a {
	case sigv4.CRC32:
		return &c.ChecksumCRC32
	case sigv4.CRC32C:
		return &c.ChecksumCRC32C
	case sigv4.CRC64NVME:
		return &c.ChecksumCRC64NVME
	case sigv4.SHA1:
		return &c.ChecksumSHA1
	case sigv4.SHA256:
		return &c.ChecksumSHA256
	case sigv4.MD5:
		return &c.ChecksumMD5
	case sigv4.SHA512:
		return &c.ChecksumSHA512
	case sigv4.XXHASH64:
		return &c.ChecksumXXHASH64
	case sigv4.XXHASH3:
		return &c.ChecksumXXHASH3
	case sigv4.XXHASH128:
		return &c.ChecksumXXHASH128
	}
	return new(string)
}

// get returns the value given for algorithm a.
func (c *checksumsXML) get(a sigv4.Algorithm) string { return *c.field(a) }

// set fills in the checksums among sums; it returns the type of the last.
func (c *checksumsXML) set(sums []engine.Pair) string {
	typ := ""
	for _, p := range sums {
		if a, ok := headerAlgorithm(p.Key); ok {
			*c.field(a) = p.Value
			typ = checksumType(p.Value)
		}
	}
	return typ
}

// headerAlgorithm maps "x-amz-checksum-crc32c" to CRC32C.
func headerAlgorithm(key string) (sigv4.Algorithm, bool) {
	name, ok := strings.CutPrefix(strings.ToLower(key), "x-amz-checksum-")
	if !ok {
		return "", false
	}
	a, ok := sigv4.ParseAlgorithm(name)
	return a, ok && a.Header() == strings.ToLower(key)
}

// objectChecksum returns the checksum stored among sums, if any.
func objectChecksum(sums []engine.Pair) (sigv4.Algorithm, string) {
	for _, p := range sums {
		if a, ok := headerAlgorithm(p.Key); ok {
			return a, p.Value
		}
	}
	return "", ""
}

func checksumType(v string) string {
	if strings.Contains(v, "-") {
		return checksumComposite
	}
	return checksumFullObject
}

// setChecksumHeaders sets the checksum response headers of an object.
func setChecksumHeaders(h *fasthttp.ResponseHeader, sums []engine.Pair) {
	if a, v := objectChecksum(sums); a != "" {
		h.Set(a.Header(), v)
		h.Set(checksumTypeKey, checksumType(v))
	}
}

// requestAlgorithm is the checksum algorithm a write asks for without
// (or before) sending a value: x-amz-checksum-algorithm, or the SDKs'
// x-amz-sdk-checksum-algorithm.
func requestAlgorithm(r *request) (sigv4.Algorithm, error) {
	v := r.header(algorithmKey)
	if v == "" {
		v = r.header("x-amz-sdk-checksum-algorithm")
	}
	if v == "" {
		return "", nil
	}
	a, ok := sigv4.ParseAlgorithm(v)
	if !ok {
		return "", withMessage(errInvalidArgument, "Invalid "+algorithmKey+" "+strconv.Quote(v)+".")
	}
	return a, nil
}

// uploadChecksumType returns the checksum type of an upload with algorithm
// alg: as chosen at CreateMultipartUpload, else S3's default for alg.
func uploadChecksumType(u engine.UploadInfo, alg sigv4.Algorithm) string {
	for _, p := range u.Checksums {
		if p.Key == checksumTypeKey {
			return p.Value
		}
	}
	return defaultChecksumType(alg)
}

func defaultChecksumType(alg sigv4.Algorithm) string {
	switch alg {
	case "":
		return ""
	case sigv4.CRC64NVME:
		return checksumFullObject
	}
	return checksumComposite
}

// hashingReader computes a checksum of what is read through it.
type hashingReader struct {
	r   io.Reader
	alg sigv4.Algorithm
	h   hash.Hash
}

// newHashingReader returns r unchanged when alg is empty.
func newHashingReader(r io.Reader, alg sigv4.Algorithm) *hashingReader {
	hr := &hashingReader{r: r, alg: alg}
	if alg != "" {
		hr.h = alg.New()
	}
	return hr
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	if hr.h != nil {
		hr.h.Write(p[:n])
	}
	return n, err
}

// pairs returns the checksum of everything read, for BodyChecksums.
func (hr *hashingReader) pairs() []engine.Pair {
	if hr.h == nil {
		return nil
	}
	return []engine.Pair{{Key: hr.alg.Header(), Value: base64.StdEncoding.EncodeToString(hr.h.Sum(nil))}}
}

// multipartChecksum computes the checksum of a multipart object from its
// parts' stored checksums: composite or full-object as typ says. Part
// checksums the client listed in CompleteMultipartUpload must match. An
// object some of whose parts lack the checksum gets none.
func (s *Server) multipartChecksum(r *request, id string, alg sigv4.Algorithm, typ string, parts []completePartXML) ([]engine.Pair, error) {
	if alg == "" {
		return nil, nil
	}
	type partSum struct {
		value string
		size  int64
	}
	stored := map[int]partSum{}
	for marker := 0; ; {
		res, err := s.store.ListParts(r.bucket, r.key, id, marker, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range res.Parts {
			for _, c := range p.Checksums {
				if c.Key == alg.Header() {
					stored[p.Number] = partSum{c.Value, p.Size}
				}
			}
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	var (
		composite = alg.New()
		full      []byte
		complete  = true
	)
	for i, p := range parts {
		ps, ok := stored[p.PartNumber]
		if want := p.get(alg); want != "" && (!ok || want != ps.value) {
			return nil, errInvalidPart
		}
		raw, err := base64.StdEncoding.DecodeString(ps.value)
		if !ok || err != nil {
			complete = false
			continue
		}
		composite.Write(raw)
		if typ == checksumFullObject {
			if i == 0 {
				full = raw
			} else if full, ok = alg.Combine(full, raw, ps.size); !ok {
				complete = false
			}
		}
	}
	if !complete {
		return nil, nil
	}
	v := base64.StdEncoding.EncodeToString(composite.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	if typ == checksumFullObject {
		v = base64.StdEncoding.EncodeToString(full)
	}
	return []engine.Pair{{Key: alg.Header(), Value: v}}, nil
}

// checkObjectChecksum verifies the x-amz-checksum-* and x-amz-checksum-type
// headers sent with CompleteMultipartUpload: they describe the whole object
// (a composite value with or without its "-N" suffix).
func checkObjectChecksum(r *request, alg sigv4.Algorithm, typ string, sums []engine.Pair) error {
	if v := r.header(checksumTypeKey); v != "" && alg != "" && !strings.EqualFold(v, typ) {
		return withMessage(errInvalidRequest, "The upload was created using the "+typ+" checksum type; the complete request must use the same type.")
	}
	for _, a := range sigv4.Algorithms {
		want := r.header(a.Header())
		if want == "" {
			continue
		}
		if alg == "" {
			return nil // an upload without checksums: nothing to compare with
		}
		if a != alg {
			return withMessage(errInvalidRequest, "The "+a.Header()+" header does not match the upload's checksum algorithm "+string(alg)+".")
		}
		_, got := objectChecksum(sums)
		got, _, _ = strings.Cut(got, "-")
		if w, _, _ := strings.Cut(want, "-"); got != "" && w != got {
			return withMessage(errBadDigest, "The "+string(alg)+" you specified did not match the calculated checksum.")
		}
	}
	return nil
}
