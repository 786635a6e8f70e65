package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// Limits on aws-chunked framing.
const (
	MaxChunkLine        = 4 << 10  // chunk-size line, including extensions
	DefaultMaxChunkSize = 16 << 20 // one chunk's data
	MaxTrailerSize      = 16 << 10 // all trailer lines together
)

// chunkBufSize is the read buffer of a chunk decoder; it bounds its memory.
const chunkBufSize = 32 << 10

const trailerSignature = "x-amz-trailer-signature"

// chunkReader decodes an aws-chunked body. Chunk data is passed through as
// it arrives and each chunk's signature is checked when the chunk ends, so
// only io.EOF proves that the whole body was verified.
type chunkReader struct {
	br       *bufio.Reader
	signed   bool   // chunk and trailer signatures required
	trailers bool   // trailer lines allowed after the final chunk
	trailer  string // trailer that must be present, "" for none
	value    string // its value, once read

	maxChunk int64
	declared int64 // X-Amz-Decoded-Content-Length
	n        int64 // sum of chunk sizes seen
	left     int64 // data bytes left in the current chunk
	inChunk  bool
	err      error // sticky

	// signed mode
	mac   hash.Hash // HMAC-SHA256 with the signing key
	sha   hash.Hash // hash of the current chunk's data
	date  [len(timeFormat)]byte
	scope string
	prev  [2 * sha256.Size]byte // previous signature, hex
	want  [sha256.Size]byte     // signature claimed for the current chunk
	sum   [sha256.Size]byte
	sts   []byte // string-to-sign scratch
	canon []byte // canonical trailer scratch
}

func newChunkReader(body io.Reader, kind payloadKind, a *Auth, declared, maxChunk int64, trailer string) *chunkReader {
	c := &chunkReader{
		br:       bufio.NewReaderSize(body, chunkBufSize),
		signed:   kind != payloadStreamUnsignedTrailer,
		trailers: kind != payloadStreamSigned,
		trailer:  trailer,
		maxChunk: maxChunk,
		declared: declared,
	}
	if c.signed {
		c.mac = hmac.New(sha256.New, a.key)
		c.sha = sha256.New()
		c.date, c.scope = a.amzDate, a.scope
		copy(c.prev[:], a.sig[:])
		c.sts = make([]byte, 0, 256)
	}
	return c
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.left == 0 {
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		if c.signed {
			c.sha.Write(p[:n])
		}
		c.left -= int64(n)
	}
	if err != nil {
		c.err = ioErr(err)
		if n == 0 {
			return 0, c.err
		}
	}
	return n, nil
}

// ioErr reports an end of input inside the framing as a truncated body.
func ioErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errTruncated
	}
	return err
}

// next finishes the current chunk and reads the next chunk header. After
// the final chunk it returns io.EOF once everything has been verified.
func (c *chunkReader) next() error {
	if c.inChunk {
		if err := c.crlf(); err != nil {
			return err
		}
		if c.signed {
			if err := c.verifyChunk(c.sha.Sum(c.sum[:0])); err != nil {
				return err
			}
		}
		c.inChunk = false
	}
	line, err := c.readLine(MaxChunkLine, errChunkLong)
	if err != nil {
		return ioErr(err)
	}
	size, err := c.parseChunkLine(line)
	if err != nil {
		return err
	}
	if size > c.maxChunk {
		return errChunkSize
	}
	if size > c.declared-c.n {
		return errLength
	}
	c.n += size
	if size == 0 {
		return c.finish()
	}
	c.left, c.inChunk = size, true
	if c.signed {
		c.sha.Reset()
	}
	return nil
}

// readLine returns the next CRLF-terminated line without its CRLF. It
// returns io.EOF only at a clean end of input.
func (c *chunkReader) readLine(max int, tooLong error) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, tooLong
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		if len(line) > max {
			return nil, tooLong
		}
		return nil, errTruncated
	case err != nil:
		return nil, err
	case len(line) > max+2:
		return nil, tooLong
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, errChunkLine
	}
	return line[:len(line)-2], nil
}

func (c *chunkReader) crlf() error {
	b, err := c.br.Peek(2)
	if len(b) < 2 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return ioErr(err)
	}
	if b[0] != '\r' || b[1] != '\n' {
		return errChunkEnd
	}
	c.br.Discard(2)
	return nil
}

// parseChunkLine parses "hex-size[;ext]" and, in signed mode, requires the
// single extension "chunk-signature=<64 hex>".
func (c *chunkReader) parseChunkLine(line []byte) (int64, error) {
	sz, ext, hasExt := bytes.Cut(line, []byte{';'})
	if len(sz) == 0 || len(sz) > 15 {
		return 0, errChunkLine
	}
	var size int64
	for _, ch := range sz {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, errChunkLine
		}
		size = size<<4 | int64(d)
	}
	if !c.signed {
		return size, nil
	}
	const key = "chunk-signature="
	if !hasExt || !bytes.HasPrefix(ext, []byte(key)) {
		return 0, errSignature
	}
	sig := ext[len(key):]
	if len(sig) != 2*sha256.Size {
		return 0, errSignature
	}
	if _, err := hex.Decode(c.want[:], sig); err != nil {
		return 0, errSignature
	}
	return size, nil
}

// verifyChunk checks the claimed signature of a chunk whose data hashes to
// sum, and makes it the previous signature.
func (c *chunkReader) verifyChunk(sum []byte) error {
	b := append(c.sts[:0], "AWS4-HMAC-SHA256-PAYLOAD\n"...)
	b = append(b, c.date[:]...)
	b = append(b, '\n')
	b = append(b, c.scope...)
	b = append(b, '\n')
	b = append(b, c.prev[:]...)
	b = append(b, "\n"+EmptySHA256+"\n"...)
	b = hex.AppendEncode(b, sum)
	c.sts = b
	return c.verify(b)
}

func (c *chunkReader) verify(sts []byte) error {
	c.mac.Reset()
	c.mac.Write(sts)
	got := c.mac.Sum(c.sum[:0])
	if !hmac.Equal(got, c.want[:]) {
		return errSignature
	}
	hex.Encode(c.prev[:], got)
	return nil
}

var emptySum = sha256.Sum256(nil)

// finish handles everything after the final zero-size chunk header.
func (c *chunkReader) finish() error {
	if c.signed {
		if err := c.verifyChunk(emptySum[:]); err != nil {
			return err
		}
	}
	if c.n != c.declared {
		return errLength
	}
	if err := c.readTrailers(); err != nil {
		return err
	}
	return io.EOF
}

// readTrailers reads the rest of the body: trailer lines ending in "\n" or
// "\r\n" and any number of empty lines (minio-go writes "name:value\n\r\n"
// before the trailer signature). It checks the trailer signature in signed
// mode.
func (c *chunkReader) readTrailers() error {
	total := 0
	haveSig, haveValue := false, false
	canon := c.canon[:0]
	for {
		line, err := c.br.ReadSlice('\n')
		if total += len(line); total > MaxTrailerSize || err == bufio.ErrBufferFull {
			return errTrailerLong
		}
		if err == io.EOF {
			if len(line) > 0 {
				return errTruncated
			}
			break
		}
		if err != nil {
			return err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !c.trailers || !ok || haveSig {
			return errTrailerBad
		}
		name = bytes.ToLower(bytes.TrimSpace(name))
		value = bytes.TrimSpace(value)
		if string(name) == trailerSignature {
			if !c.signed || len(value) != 2*sha256.Size {
				return errTrailerBad
			}
			if _, err := hex.Decode(c.want[:], value); err != nil {
				return errSignature
			}
			haveSig = true
			continue
		}
		if string(name) == c.trailer {
			if haveValue {
				return errTrailerBad
			}
			c.value, haveValue = string(value), true
		}
		canon = append(canon, name...)
		canon = append(canon, ':')
		canon = append(canon, value...)
		canon = append(canon, '\n')
	}
	c.canon = canon
	if c.signed && c.trailers {
		if !haveSig {
			return errSignature
		}
		sum := sha256.Sum256(canon)
		b := append(c.sts[:0], "AWS4-HMAC-SHA256-TRAILER\n"...)
		b = append(b, c.date[:]...)
		b = append(b, '\n')
		b = append(b, c.scope...)
		b = append(b, '\n')
		b = append(b, c.prev[:]...)
		b = append(b, '\n')
		b = hex.AppendEncode(b, sum[:])
		c.sts = b
		if err := c.verify(b); err != nil {
			return err
		}
	}
	if c.trailer != "" && !haveValue {
		return errTrailerMiss
	}
	return nil
}
