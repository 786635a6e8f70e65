package sigv4

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
	"strings"
)

// BodyOptions tunes [NewBody].
type BodyOptions struct {
	// MD5 computes the MD5 of the payload (for the ETag) even when the
	// request has no Content-MD5.
	MD5 bool
	// Checksum is computed when the request names no checksum itself,
	// e.g. the algorithm chosen at CreateMultipartUpload.
	Checksum Algorithm
	// MaxChunkSize caps one aws-chunked chunk; 0 means DefaultMaxChunkSize.
	MaxChunkSize int64
	// IgnoreChecksumHeaders leaves x-amz-checksum-* request headers alone:
	// on CompleteMultipartUpload they describe the object, not the payload.
	IgnoreChecksumHeaders bool
}

// Body reads a request's payload and verifies it. It decodes aws-chunked
// framing and checks chunk and trailer signatures, the hex payload hash,
// Content-MD5 and x-amz-checksum-* values. Any mismatch is returned by Read
// in place of io.EOF, so only a read that ends in io.EOF proves the payload.
type Body struct {
	r      io.Reader
	chunks *chunkReader // nil unless aws-chunked

	sha     hash.Hash // for a hex x-amz-content-sha256
	wantSHA [sha256.Size]byte

	md5     hash.Hash
	wantMD5 []byte // nil when Content-MD5 is absent
	md5Sum  []byte

	alg     Algorithm
	sum     hash.Hash
	want    []byte // checksum header value, decoded
	trailer bool   // checksum comes from the trailer
	value   string // computed checksum, base64

	err error
}

// NewBody wraps body, the raw request body of r, according to the request's
// payload mode. a is the result of Verify; it may be nil for anonymous
// requests, which then cannot use signed streaming payloads. Header errors
// (bad Content-MD5, checksum values, decoded length) are returned here.
func NewBody(r *Request, a *Auth, body io.Reader, opt BodyOptions) (*Body, error) {
	payload := r.header("x-amz-content-sha256")
	if a != nil {
		payload = a.PayloadHash
	}
	if payload == "" {
		payload = UnsignedPayload
	}
	kind, perr := classifyPayload(payload)
	if perr != nil {
		return nil, perr
	}
	b := &Body{r: body}
	if v := r.header("content-md5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != md5.Size {
			return nil, errMD5Invalid
		}
		b.wantMD5 = want
		b.md5 = md5.New()
	} else if opt.MD5 {
		b.md5 = md5.New()
	}
	headerAlgs := Algorithms
	if opt.IgnoreChecksumHeaders {
		headerAlgs = nil
	}
	for _, alg := range headerAlgs {
		v := r.header(alg.Header())
		if v == "" {
			continue
		}
		if b.alg != "" {
			return nil, errTwoChecksums
		}
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != alg.size() {
			return nil, newErr(CodeInvalidArgument, "Value for "+alg.Header()+" header is invalid.")
		}
		b.alg, b.want = alg, want
	}
	switch kind {
	case payloadHex:
		b.sha = sha256.New()
		if _, err := hex.Decode(b.wantSHA[:], []byte(payload)); err != nil {
			return nil, errBadSHAHeader
		}
	case payloadStreamSigned, payloadStreamSignedTrailer, payloadStreamUnsignedTrailer:
		if kind != payloadStreamUnsignedTrailer && (a == nil || a.key == nil) {
			return nil, errNoCredStream
		}
		dl := r.header("x-amz-decoded-content-length")
		if dl == "" {
			return nil, errNoDecodedLen
		}
		declared, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || declared < 0 {
			return nil, errBadDecodedLn
		}
		var trailer string
		if kind != payloadStreamSigned {
			if t := strings.TrimSpace(r.header("x-amz-trailer")); t != "" {
				alg, ok := trailerAlgorithm(t)
				if !ok {
					return nil, errBadTrailerHd
				}
				if b.alg != "" {
					return nil, errTwoChecksums
				}
				b.alg, b.trailer, trailer = alg, true, alg.Header()
			}
		}
		max := opt.MaxChunkSize
		if max <= 0 {
			max = DefaultMaxChunkSize
		}
		b.chunks = newChunkReader(body, kind, a, declared, max, trailer)
		b.r = b.chunks
	}
	if b.alg == "" && opt.Checksum != "" {
		b.alg = opt.Checksum
	}
	if b.alg != "" {
		if b.sum = b.alg.New(); b.sum == nil {
			return nil, newErr(CodeInvalidArgument, "Unsupported checksum algorithm "+string(b.alg))
		}
	}
	return b, nil
}

// trailerAlgorithm maps an x-amz-trailer value to its checksum algorithm.
func trailerAlgorithm(name string) (Algorithm, bool) {
	for _, alg := range Algorithms {
		if strings.EqualFold(name, alg.Header()) {
			return alg, true
		}
	}
	return "", false
}

// Read reads decoded payload bytes. A verification failure replaces io.EOF.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if n > 0 {
		q := p[:n]
		if b.sha != nil {
			b.sha.Write(q)
		}
		if b.md5 != nil {
			b.md5.Write(q)
		}
		if b.sum != nil {
			b.sum.Write(q)
		}
	}
	if err == io.EOF {
		if verr := b.verify(); verr != nil {
			err = verr
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *Body) verify() error {
	if b.sha != nil {
		var got [sha256.Size]byte
		if !bytes.Equal(b.sha.Sum(got[:0]), b.wantSHA[:]) {
			return errSHAMismatch
		}
	}
	if b.md5 != nil {
		b.md5Sum = b.md5.Sum(nil)
		if b.wantMD5 != nil && !bytes.Equal(b.md5Sum, b.wantMD5) {
			return errMD5Mismatch
		}
	}
	if b.sum != nil {
		got := b.sum.Sum(nil)
		want := b.want
		if b.trailer {
			w, err := base64.StdEncoding.DecodeString(b.chunks.value)
			if err != nil || len(w) != b.alg.size() {
				return newErr(CodeInvalidArgument, "Value for "+b.alg.Header()+" trailing header is invalid.")
			}
			want = w
		}
		if want != nil && !bytes.Equal(got, want) {
			return newErr(CodeBadDigest, "The "+string(b.alg)+" you specified did not match the calculated checksum.")
		}
		b.value = base64.StdEncoding.EncodeToString(got)
	}
	return nil
}

// Checksum returns the checksum algorithm and its base64 value computed over
// the payload, once Read has returned io.EOF; ("", "") when none applies.
func (b *Body) Checksum() (Algorithm, string) {
	if b.value == "" {
		return "", ""
	}
	return b.alg, b.value
}

// MD5 returns the payload's MD5 once Read has returned io.EOF, if it was
// computed (Content-MD5 present or BodyOptions.MD5 set).
func (b *Body) MD5() []byte { return b.md5Sum }

// ContentEncoding drops "aws-chunked" from a Content-Encoding value: it
// describes the upload, not the stored object.
func ContentEncoding(v string) string {
	if !strings.Contains(strings.ToLower(v), "aws-chunked") {
		return v
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			out = append(out, e)
		}
	}
	return strings.Join(out, ",")
}
