package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signer signs requests with one access key, for tests and load generators.
// It is safe for concurrent use and must not be copied after first use.
type Signer struct {
	AccessKey, SecretKey, Region string

	keys keyCache
}

// Message is a request to sign.
type Message struct {
	Method   string
	Host     string // Host header value
	Path     string // escaped path exactly as it will be sent; see EncodePath
	RawQuery string // query as it will be sent, without '?'
	// Header holds the headers to send (an http.Header works). Every header
	// except Authorization, User-Agent, Expect, Transfer-Encoding and
	// X-Amzn-Trace-Id is signed, plus host. Sign and SignStreaming add their
	// own headers (allocating the map if nil); Presign leaves it alone.
	Header map[string][]string
}

// StreamOptions selects an aws-chunked encoding for SignStreaming.
type StreamOptions struct {
	Unsigned  bool      // STREAMING-UNSIGNED-PAYLOAD-TRAILER instead of signed chunks
	Trailer   Algorithm // checksum sent as a trailer; "" for none
	ChunkSize int       // data bytes per chunk; 0 means 64 KiB
}

func unsignedHeader(lower string) bool {
	switch lower {
	case "authorization", "user-agent", "expect", "transfer-encoding", "x-amzn-trace-id":
		return true
	}
	return false
}

// setHeader replaces every case variant of name in h with one value.
func setHeader(h map[string][]string, name, value string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
	if value != "" {
		h[name] = []string{value}
	}
}

// canonicalHeaders returns the signed-headers list and the canonical headers.
func canonicalHeaders(host string, h map[string][]string) (signed string, canon []byte) {
	values := map[string][]string{"host": {host}}
	names := []string{"host"}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		lower := strings.ToLower(k)
		if unsignedHeader(lower) || lower == "host" {
			continue
		}
		if _, ok := values[lower]; !ok {
			names = append(names, lower)
		}
		values[lower] = append(values[lower], h[k]...)
	}
	slices.Sort(names)
	for _, n := range names {
		canon = append(canon, n...)
		canon = append(canon, ':')
		canon, _ = appendHeaderValue(canon, values[n], wsSpaces) // as aws-sdk-go-v2 signs
		canon = append(canon, '\n')
	}
	return strings.Join(names, ";"), canon
}

// sign returns the hex signature of a canonical request.
func (s *Signer) sign(key []byte, amzDate, scope, method, path string, query []byte, canon []byte, signed, payload string) string {
	if path == "" {
		path = "/"
	}
	b := make([]byte, 0, 512)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n')
	b = append(b, query...)
	b = append(b, '\n')
	b = append(b, canon...)
	b = append(b, '\n')
	b = append(b, signed...)
	b = append(b, '\n')
	b = append(b, payload...)
	sum := sha256.Sum256(b)
	sts := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(key, sts))
}

func (s *Signer) scope(t time.Time) (amzDate, scope string, key []byte) {
	amzDate = t.UTC().Format(timeFormat)
	date := amzDate[:8]
	return amzDate, date + "/" + s.Region + "/" + service + "/" + terminator, s.keys.get(s.SecretKey, date, s.Region)
}

// Sign signs m in the Authorization header with the given payload hash (hex
// SHA-256, UnsignedPayload or a streaming value). It sets X-Amz-Date,
// X-Amz-Content-Sha256 and Authorization in m.Header and returns the
// signature.
func (s *Signer) Sign(m *Message, payloadHash string, t time.Time) string {
	amzDate, scope, key := s.scope(t)
	if m.Header == nil {
		m.Header = map[string][]string{}
	}
	setHeader(m.Header, "Authorization", "")
	setHeader(m.Header, "X-Amz-Date", amzDate)
	setHeader(m.Header, "X-Amz-Content-Sha256", payloadHash)
	signed, canon := canonicalHeaders(m.Host, m.Header)
	query := appendCanonicalQuery(nil, parseQuery(m.RawQuery, nil), "")
	sig := s.sign(key, amzDate, scope, m.Method, m.Path, query, canon, signed, payloadHash)
	setHeader(m.Header, "Authorization", algorithm+" Credential="+s.AccessKey+"/"+scope+
		", SignedHeaders="+signed+", Signature="+sig)
	return sig
}

// Presign returns the query string of a presigned URL for m, valid for
// expires from t: m.RawQuery plus the X-Amz-* parameters. The payload is
// UNSIGNED-PAYLOAD. m.Header is not changed; its headers must be sent too.
func (s *Signer) Presign(m *Message, expires time.Duration, t time.Time) string {
	amzDate, scope, key := s.scope(t)
	signed, canon := canonicalHeaders(m.Host, m.Header)
	params := parseQuery(m.RawQuery, nil)
	add := func(k, v string) {
		params = append(params, queryParam{key: k, value: escape(v, false)})
	}
	add("X-Amz-Algorithm", algorithm)
	add("X-Amz-Credential", s.AccessKey+"/"+scope)
	add("X-Amz-Date", amzDate)
	add("X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10))
	add("X-Amz-SignedHeaders", signed)
	query := appendCanonicalQuery(nil, params, "")
	sig := s.sign(key, amzDate, scope, m.Method, m.Path, query, canon, signed, UnsignedPayload)
	return string(query) + "&X-Amz-Signature=" + sig
}

// SignStreaming signs m for an aws-chunked upload of size bytes read from
// body, and returns the framed body and its length. It sets
// X-Amz-Decoded-Content-Length, Content-Length, X-Amz-Trailer (with a
// trailer) and the headers Sign sets.
func (s *Signer) SignStreaming(m *Message, body io.Reader, size int64, opt StreamOptions, t time.Time) (io.Reader, int64) {
	chunk := opt.ChunkSize
	if chunk <= 0 {
		chunk = 64 << 10
	}
	mode := StreamingPayload
	switch {
	case opt.Unsigned:
		mode = StreamingUnsignedTrailer
	case opt.Trailer != "":
		mode = StreamingPayloadTrailer
	}
	framed := framedLength(size, int64(chunk), !opt.Unsigned, opt.Trailer)
	if m.Header == nil {
		m.Header = map[string][]string{}
	}
	setHeader(m.Header, "X-Amz-Decoded-Content-Length", strconv.FormatInt(size, 10))
	setHeader(m.Header, "Content-Length", strconv.FormatInt(framed, 10))
	if opt.Trailer != "" {
		setHeader(m.Header, "X-Amz-Trailer", opt.Trailer.Header())
	} else {
		setHeader(m.Header, "X-Amz-Trailer", "")
	}
	seed := s.Sign(m, mode, t)
	amzDate, scope, key := s.scope(t)
	e := &chunkEncoder{
		body:   io.LimitReader(body, size),
		left:   size,
		buf:    make([]byte, 0, chunk+128),
		size:   chunk,
		signed: !opt.Unsigned,
		alg:    opt.Trailer,
		date:   amzDate,
		scope:  scope,
		prev:   seed,
	}
	if e.signed {
		e.mac = hmac.New(sha256.New, key)
	}
	if e.alg != "" {
		e.sum = e.alg.New()
	}
	return e, framed
}

// framedLength is the aws-chunked length of size data bytes.
func framedLength(size, chunk int64, signed bool, trailer Algorithm) int64 {
	const sigExt = int64(len(";chunk-signature=") + 64)
	line := func(n int64) int64 {
		l := int64(len(strconv.FormatInt(n, 16))) + 2
		if signed {
			l += sigExt
		}
		return l
	}
	var total int64
	if full := size / chunk; full > 0 {
		total += full * (line(chunk) + chunk + 2)
	}
	if rest := size % chunk; rest > 0 {
		total += line(rest) + rest + 2
	}
	total += line(0)
	if trailer != "" {
		total += int64(len(trailer.Header())+1+base64.StdEncoding.EncodedLen(trailer.size())) + 2
		if signed {
			total += int64(len(trailerSignature)+1+64) + 2
		}
	}
	return total + 2
}

// chunkEncoder produces an aws-chunked body.
type chunkEncoder struct {
	body   io.Reader
	left   int64
	size   int
	buf    []byte // current frame
	off    int
	done   bool
	err    error
	signed bool
	mac    hash.Hash
	date   string
	scope  string
	prev   string
	alg    Algorithm
	sum    hash.Hash
}

func (e *chunkEncoder) Read(p []byte) (int, error) {
	for e.off == len(e.buf) {
		if e.err != nil {
			return 0, e.err
		}
		if e.done {
			return 0, io.EOF
		}
		e.fill()
	}
	n := copy(p, e.buf[e.off:])
	e.off += n
	return n, nil
}

func (e *chunkEncoder) chunkSig(data []byte) string {
	h := sha256.Sum256(data)
	e.mac.Reset()
	io.WriteString(e.mac, "AWS4-HMAC-SHA256-PAYLOAD\n"+e.date+"\n"+e.scope+"\n"+e.prev+"\n"+EmptySHA256+"\n"+hex.EncodeToString(h[:]))
	e.prev = hex.EncodeToString(e.mac.Sum(nil))
	return e.prev
}

// fill builds the next frame in e.buf.
func (e *chunkEncoder) fill() {
	n := int(min(int64(e.size), e.left))
	b := e.buf[:cap(e.buf)][:n]
	if _, err := io.ReadFull(e.body, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		e.err = err
		e.buf, e.off = e.buf[:0], 0
		return
	}
	e.left -= int64(n)
	if e.sum != nil {
		e.sum.Write(b)
	}
	head := strconv.FormatInt(int64(n), 16)
	if e.signed {
		head += ";chunk-signature=" + e.chunkSig(b)
	}
	head += "\r\n"
	// frame = head + data + CRLF; the data is moved up in place
	out := e.buf[:cap(e.buf)]
	if need := len(head) + n + 2; need > len(out) {
		out = make([]byte, need)
	}
	copy(out[len(head):], b)
	copy(out, head)
	out = out[:len(head)+n]
	if n > 0 {
		out = append(out, '\r', '\n')
	} else {
		e.done = true
		if e.alg != "" {
			tr := e.alg.Header() + ":" + base64.StdEncoding.EncodeToString(e.sum.Sum(nil))
			out = append(out, tr+"\r\n"...)
			if e.signed {
				th := sha256.Sum256([]byte(tr + "\n"))
				e.mac.Reset()
				io.WriteString(e.mac, "AWS4-HMAC-SHA256-TRAILER\n"+e.date+"\n"+e.scope+"\n"+e.prev+"\n"+hex.EncodeToString(th[:]))
				out = append(out, trailerSignature+":"+hex.EncodeToString(e.mac.Sum(nil))+"\r\n"...)
			}
		}
		out = append(out, '\r', '\n')
	}
	e.buf, e.off = out, 0
}
