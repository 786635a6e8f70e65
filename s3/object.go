package s3

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

// Standard headers stored with an object and returned on GET and HEAD.
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}

// bufferedReadMax: ranges up to this size are read into the response before
// any header is sent, so a read error becomes a proper S3 error; larger
// ranges stream block by block.
const bufferedReadMax = 256 << 10

// bodySize returns the decoded size of the request body.
func (s *Server) bodySize(r *request) (int64, error) {
	h := &r.ctx.Request.Header
	payload := r.header("x-amz-content-sha256")
	if r.auth != nil {
		payload = r.auth.PayloadHash
	}
	if strings.HasPrefix(payload, "STREAMING-") || strings.Contains(strings.ToLower(r.header("Content-Encoding")), "aws-chunked") {
		v := r.header("x-amz-decoded-content-length")
		if v == "" {
			return 0, errMissingContentLength
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, withMessage(errInvalidArgument, "Invalid x-amz-decoded-content-length.")
		}
		if n > maxObjectSize {
			return 0, errEntityTooLarge
		}
		return n, nil
	}
	n := h.ContentLength()
	if n < 0 {
		return 0, errMissingContentLength
	}
	if int64(n) > maxObjectSize {
		return 0, errEntityTooLarge
	}
	return int64(n), nil
}

// metadata collects the stored headers and x-amz-meta-* of a request.
func metadata(r *request) ([]engine.Pair, error) {
	var out []engine.Pair
	user := 0
	var err error
	r.ctx.Request.Header.VisitAll(func(k, v []byte) {
		name := strings.ToLower(string(k))
		if strings.HasPrefix(name, "x-amz-meta-") {
			user += len(name) - len("x-amz-meta-") + len(v)
			out = append(out, engine.Pair{Key: name, Value: string(v)})
		}
	})
	if user > maxUserMeta {
		err = errMetadataTooLarge
	}
	for _, h := range storedHeaders {
		v := r.header(h)
		if h == "Content-Encoding" {
			v = sigv4.ContentEncoding(v)
		}
		if v != "" {
			out = append(out, engine.Pair{Key: h, Value: v})
		}
	}
	return out, err
}

func contentType(r *request) string {
	if ct := r.header("Content-Type"); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// checksumAlgorithm returns the checksum a request names, by header or by
// trailer, for responses that echo it.
func checksumPairs(b *sigv4.Body) []engine.Pair {
	alg, v := b.Checksum()
	if alg == "" {
		return nil
	}
	return []engine.Pair{{Key: alg.Header(), Value: v}}
}

// putCondition returns the engine condition of a write's If-Match and
// If-None-Match headers, and a function mapping the write's error.
//
// If-None-Match with ETags (not "*") is decided on the object's current
// state, which then becomes the condition the engine checks atomically with
// the write: "does not exist" or "still has ETag E" (E not in the list).
// If the engine rejects that, the object changed while the body was being
// written; the write fails with 409 ConditionalRequestConflict, as S3 fails
// conditional writes that race.
func (s *Server) putCondition(r *request) (engine.Condition, func(error) error, error) {
	var c engine.Condition
	same := func(err error) error { return err }
	if v := r.header("If-Match"); v != "" {
		c.IfMatch = trimETag(v)
	}
	inm := strings.TrimSpace(r.header("If-None-Match"))
	if inm == "" {
		return c, same, nil
	}
	var etags []string
	for _, e := range strings.Split(inm, ",") {
		if e = strings.TrimSpace(e); e == "*" {
			c.IfNoneMatchStar = true
			return c, same, nil
		} else if e != "" {
			etags = append(etags, trimETag(e))
		}
	}
	if c.IfMatch != "" { // the object must have that ETag: none other can match
		if slices.Contains(etags, c.IfMatch) {
			return c, same, errPreconditionFailed
		}
		return c, same, nil
	}
	info, err := s.store.Head(r.bucket, r.key)
	switch {
	case errors.Is(err, engine.ErrNoSuchKey):
		c.IfNoneMatchStar = true
	case err != nil:
		return c, same, err
	case slices.Contains(etags, info.ETag):
		return c, same, errPreconditionFailed
	default:
		c.IfMatch = info.ETag
	}
	return c, func(err error) error {
		if errors.Is(err, engine.ErrPreconditionFailed) || errors.Is(err, engine.ErrNoSuchKey) {
			return errConditionalRequestConflict
		}
		return err
	}, nil
}

func trimETag(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	return strings.Trim(v, `"`)
}

func (s *Server) putObject(r *request) error {
	size, err := s.bodySize(r)
	if err != nil {
		return err
	}
	meta, err := metadata(r)
	if err != nil {
		return err
	}
	cond, condErr, err := s.putCondition(r)
	if err != nil {
		return err
	}
	// x-amz-checksum-algorithm without a value (header or trailer): the
	// server computes and stores that checksum.
	alg, err := requestAlgorithm(r)
	if err != nil {
		return err
	}
	// The body's MD5 (computed once, whether or not Content-MD5 asks for
	// it to be checked) is the ETag.
	body, err := sigv4.NewBody(&r.sreq, r.auth, r.ctx.RequestBodyStream(), sigv4.BodyOptions{Checksum: alg, MD5: true})
	if err != nil {
		return err
	}
	info, err := s.store.Put(r.bucket, r.key, size, body, engine.PutOptions{
		ContentType: contentType(r), UserMeta: meta, Condition: cond,
		BodyChecksums: func() []engine.Pair { return checksumPairs(body) },
		BodyMD5:       body.MD5,
	})
	if err != nil {
		return condErr(err)
	}
	h := &r.ctx.Response.Header
	h.Set("ETag", `"`+info.ETag+`"`)
	setChecksumHeaders(h, info.Checksums)
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	return nil
}

func (s *Server) deleteObject(r *request) error {
	err := s.store.Delete(r.bucket, r.key)
	if err != nil && !errors.Is(err, engine.ErrNoSuchKey) {
		return err
	}
	r.ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// etagMatches reports whether an If-Match / If-None-Match list names etag.
func etagMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || trimETag(e) == etag {
			return true
		}
	}
	return false
}

// readConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since as S3 does. notModified means answer 304.
func readConditions(r *request, info engine.ObjectInfo, prefix string) (notModified bool, err error) {
	mod := info.ModTime.Truncate(time.Second)
	im, ius := r.header(prefix+"If-Match"), r.header(prefix+"If-Unmodified-Since")
	if im != "" {
		if !etagMatches(im, info.ETag) {
			return false, errPreconditionFailed
		}
	} else if ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mod.After(t) {
			return false, errPreconditionFailed
		}
	}
	inm, ims := r.header(prefix+"If-None-Match"), r.header(prefix+"If-Modified-Since")
	if inm != "" {
		if etagMatches(inm, info.ETag) {
			return true, nil
		}
	} else if ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mod.After(t) {
			return true, nil
		}
	}
	return false, nil
}

// parseRange parses a Range header against an object size. ok is false when
// the header is absent or ignored (malformed or several ranges, as S3 does).
func parseRange(h string, size int64) (off, n int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return 0, size, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		k, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || k < 0 {
			return 0, size, false, nil
		}
		if k == 0 || size == 0 {
			return 0, 0, false, errInvalidRange
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	a, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || a < 0 {
		return 0, size, false, nil
	}
	end := size - 1
	if last != "" {
		b, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || b < a {
			return 0, size, false, nil
		}
		end = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, errInvalidRange
	}
	return a, end - a + 1, true, nil
}

// objectHeaders sets the headers GET and HEAD share.
func (s *Server) objectHeaders(r *request, info engine.ObjectInfo) {
	h := &r.ctx.Response.Header
	setETagModified(h, info)
	h.SetContentType(info.ContentType)
	for _, p := range info.UserMeta {
		h.Set(p.Key, p.Value)
	}
	if info.Parts > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(info.Parts))
	}
	q := r.ctx.QueryArgs()
	for _, o := range responseOverrides {
		if v := q.Peek(o.param); len(v) > 0 {
			h.Set(o.header, string(v))
		}
	}
}

// responseOverrides are the query parameters of a GET or HEAD that set a
// response header (signed requests only: see anonymous.go).
var responseOverrides = []struct{ param, header string }{
	{"response-content-type", "Content-Type"}, {"response-content-language", "Content-Language"},
	{"response-expires", "Expires"}, {"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"}, {"response-content-encoding", "Content-Encoding"},
}

// setETagModified sets ETag and Last-Modified without allocating.
func setETagModified(h *fasthttp.ResponseHeader, info engine.ObjectInfo) {
	var buf [64]byte
	etag := append(append(append(buf[:0], '"'), info.ETag...), '"')
	h.SetBytesV("ETag", etag)
	h.SetBytesV("Last-Modified", fasthttp.AppendHTTPDate(buf[:0], info.ModTime))
}

// objectRange resolves partNumber and Range to the bytes to send.
func objectRange(r *request, info engine.ObjectInfo) (off, n int64, partial bool, err error) {
	if r.hasQuery("partNumber") {
		pn, perr := strconv.Atoi(r.query("partNumber"))
		if perr != nil || pn < 1 || pn > engine.MaxParts {
			return 0, 0, false, withMessage(errInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
		}
		if r.header("Range") != "" {
			return 0, 0, false, withMessage(errInvalidRequest, "Cannot specify both Range header and partNumber query parameter.")
		}
		if info.Parts == 0 {
			if pn != 1 {
				return 0, 0, false, errInvalidPart
			}
			return 0, info.Size, false, nil
		}
		if pn > len(info.PartSizes) {
			return 0, 0, false, errInvalidPart
		}
		for _, sz := range info.PartSizes[:pn-1] {
			off += sz
		}
		return off, info.PartSizes[pn-1], true, nil
	}
	if h := r.header("Range"); h != "" {
		off, n, ok, err := parseRange(h, info.Size)
		if err != nil {
			r.ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			return 0, 0, false, err
		}
		return off, n, ok, nil
	}
	return 0, info.Size, false, nil
}

func (s *Server) getObject(r *request) error  { return s.readObject(r, true) }
func (s *Server) headObject(r *request) error { return s.readObject(r, false) }

// readObject serves GET and HEAD.
func (s *Server) readObject(r *request, withBody bool) error {
	o, err := s.store.Open(r.bucket, r.key)
	if err != nil {
		return err
	}
	closeObj := true
	defer func() {
		if closeObj {
			o.Close()
		}
	}()
	info := o.Info()
	notModified, err := readConditions(r, info, "")
	if err != nil {
		return err
	}
	if notModified {
		setETagModified(&r.ctx.Response.Header, info)
		r.ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	off, n, partial, err := objectRange(r, info)
	if err != nil {
		return err
	}
	s.objectHeaders(r, info)
	h := &r.ctx.Response.Header
	if strings.EqualFold(r.header("x-amz-checksum-mode"), "ENABLED") {
		if pn, _ := strconv.Atoi(r.query("partNumber")); pn >= 1 && pn <= len(info.PartChecksums) {
			// A part read returns the checksum that part was uploaded with.
			setChecksumHeaders(h, info.PartChecksums[pn-1])
		} else if !partial {
			setChecksumHeaders(h, info.Checksums)
		}
	}
	status := fasthttp.StatusOK
	if partial {
		status = fasthttp.StatusPartialContent
		var buf [64]byte
		cr := strconv.AppendInt(append(buf[:0], "bytes "...), off, 10)
		cr = strconv.AppendInt(append(cr, '-'), off+n-1, 10)
		cr = strconv.AppendInt(append(cr, '/'), info.Size, 10)
		h.SetBytesV("Content-Range", cr)
	}
	if !withBody {
		r.ctx.SetStatusCode(status)
		h.SetContentLength(int(n))
		return nil
	}
	conn := netConn(r.ctx)
	if n <= vectorMin || (n <= bufferedReadMax && conn == nil) {
		// Into the response's pooled body buffer: header and body leave
		// in one write, and a read error is still an S3 error.
		if _, err := o.WriteRange(r.ctx.Response.BodyWriter(), off, n); err != nil {
			r.ctx.Response.ResetBody()
			return err
		}
		r.ctx.SetStatusCode(status)
		return nil
	}
	rs := newRangeStream(o, off, n, conn)
	if n <= bufferedReadMax {
		// Views of the blocks, read and verified before the header goes
		// out (a read error is still an S3 error), sent with one writev.
		if rs.bufs, err = o.AppendSlices(rs.bufs, off, n); err != nil {
			rs.free()
			return err
		}
		rs.gathered = true
	}
	r.ctx.SetStatusCode(status)
	closeObj = false
	r.ctx.SetBodyStream(rs, int(n))
	return nil
}

// vectorMin: ranges up to this size are copied into the response buffer;
// larger ones go out by writev after the header. Measured on loopback at 8
// in flight: 16 KiB ranges were ~25% dearer by writev (two sends, two
// client wake-ups), 64 KiB ranges ~14% cheaper (no copy).
const vectorMin = 32 << 10

type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// rangeStream is a response body that writes an object's range straight
// from the engine (cached blocks are not copied) and releases the object
// when fasthttp closes it. rangeStreams are pooled: fasthttp drops its
// reference when it closes the body stream, and Close frees it.
type rangeStream struct {
	o        *engine.Object
	off, n   int64
	done     bool
	conn     net.Conn    // the client's connection, for vectored writes
	bufs     [][]byte    // views of blocks: the whole range when gathered
	gathered bool        // bufs holds the whole range, read before the header
	nb       net.Buffers // bufs as written (a local one would escape)
}

var rangeStreamPool = sync.Pool{New: func() any {
	return &rangeStream{bufs: make([][]byte, 0, vecBytes/(64<<10)+2)}
}}

func newRangeStream(o *engine.Object, off, n int64, conn net.Conn) *rangeStream {
	rs := rangeStreamPool.Get().(*rangeStream)
	*rs = rangeStream{o: o, off: off, n: n, conn: conn, bufs: rs.bufs[:0]}
	return rs
}

// free returns rs to the pool, dropping its views of cached blocks.
func (rs *rangeStream) free() {
	clear(rs.bufs[:cap(rs.bufs)])
	*rs = rangeStream{bufs: rs.bufs[:0]}
	rangeStreamPool.Put(rs)
}

// vecBytes is how much of a range one writev sends.
const vecBytes = 1 << 20

// WriteTo sends the range. fasthttp hands it the connection's buffered
// writer holding the response header: that is flushed, then the blocks go
// to the connection in writev calls of up to vecBytes, straight from the
// cache — one system call per MiB instead of one or two per block.
func (rs *rangeStream) WriteTo(w io.Writer) (int64, error) {
	if rs.done {
		return 0, nil
	}
	rs.done = true
	bw, ok := w.(*bufio.Writer)
	if !ok || rs.conn == nil {
		return rs.o.WriteRange(w, rs.off, rs.n)
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	if rs.gathered { // gathered (and verified) before the header
		rs.nb = rs.bufs // WriteTo consumes rs.nb, not rs.bufs
		return rs.nb.WriteTo(rs.conn)
	}
	var total int64
	for rs.n > 0 {
		var err error
		if rs.bufs, err = rs.o.AppendSlices(rs.bufs[:0], rs.off, min(rs.n, vecBytes)); err != nil {
			return total, err
		}
		rs.nb = rs.bufs
		m, err := rs.nb.WriteTo(rs.conn)
		total += m
		rs.off += m
		rs.n -= m
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Read is unused by fasthttp (it prefers WriteTo) but keeps rangeStream an
// io.Reader.
func (rs *rangeStream) Read(p []byte) (int, error) {
	if rs.done || rs.n == 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), rs.n)
	buf := make([]byte, 0, k)
	if _, err := rs.o.WriteRange(sliceWriter{&buf}, rs.off, k); err != nil {
		return 0, err
	}
	copy(p, buf)
	rs.off += k
	rs.n -= k
	return int(k), nil
}

// Close releases the object and frees rs. fasthttp closes a body stream
// once and then drops it.
func (rs *rangeStream) Close() error {
	rs.o.Close()
	rs.free()
	return nil
}

// copySource parses x-amz-copy-source.
func copySource(r *request) (string, string, error) {
	v := r.header("x-amz-copy-source")
	v, q, _ := strings.Cut(v, "?")
	if q != "" {
		if vid, ok := strings.CutPrefix(q, "versionId="); ok && vid != "null" {
			return "", "", withMessage(errNotImplemented, "Versioning is not implemented.")
		}
	}
	p, err := unescapePath(v)
	if err != nil {
		return "", "", withMessage(errInvalidArgument, "Invalid copy source.")
	}
	p = strings.TrimPrefix(p, "/")
	b, k, ok := strings.Cut(p, "/")
	if !ok || b == "" || k == "" {
		return "", "", withMessage(errInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return b, k, nil
}

// openCopySource opens the source object and applies the
// x-amz-copy-source-if-* conditions.
func (s *Server) openCopySource(r *request) (*engine.Object, error) {
	sb, sk, err := copySource(r)
	if err != nil {
		return nil, err
	}
	if r.anonymous && !s.anonymousAllowed(sb, "s3:GetObject", sk) {
		return nil, errAccessDenied
	}
	o, err := s.store.Open(sb, sk)
	if err != nil {
		return nil, err
	}
	notModified, err := readConditions(r, o.Info(), "x-amz-copy-source-")
	if err == nil && notModified {
		err = errPreconditionFailed
	}
	if err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// pipeRange streams n bytes of o from off through a pipe for a Put.
func pipeRange(o *engine.Object, off, n int64) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		_, err := o.WriteRange(pw, off, n)
		pw.CloseWithError(err)
	}()
	return pr
}

func (s *Server) copyObject(r *request) error {
	src, err := s.openCopySource(r)
	if err != nil {
		return err
	}
	defer src.Close()
	info := src.Info()
	directive := strings.ToUpper(r.header("x-amz-metadata-directive"))
	opts := engine.PutOptions{ContentType: info.ContentType, UserMeta: info.UserMeta}
	switch directive {
	case "", "COPY":
		if info.Bucket == r.bucket && info.Key == r.key {
			return withMessage(errInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
		}
	case "REPLACE":
		meta, err := metadata(r)
		if err != nil {
			return err
		}
		opts.ContentType, opts.UserMeta = contentType(r), meta
	default:
		return withMessage(errInvalidArgument, "Unknown metadata directive.")
	}
	var condErr func(error) error
	if opts.Condition, condErr, err = s.putCondition(r); err != nil {
		return err
	}
	// The copy's checksum is of the whole copy (a composite checksum of
	// a multipart source does not apply to it), in the algorithm asked
	// for, else the source's.
	alg, err := requestAlgorithm(r)
	if err != nil {
		return err
	}
	if alg == "" {
		alg, _ = objectChecksum(info.Checksums)
	}
	body := pipeRange(src, 0, info.Size)
	defer body.Close()
	hr := newHashingReader(body, alg)
	opts.BodyChecksums = hr.pairs
	out, err := s.store.Put(r.bucket, r.key, info.Size, hr, opts)
	if err != nil {
		return condErr(err)
	}
	res := copyObjectResult{Xmlns: s3NS, LastModified: isoTime(out.ModTime), ETag: `"` + out.ETag + `"`}
	res.ChecksumType = res.set(out.Checksums)
	writeXML(r.ctx, fasthttp.StatusOK, res)
	return nil
}
