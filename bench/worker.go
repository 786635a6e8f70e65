package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// errStop ends an action when the run is over.
var errStop = errors.New("run over")

// payload modes of a request body
type payloadMode uint8

const (
	payloadUnsigned  payloadMode = iota // UNSIGNED-PAYLOAD (GET, HEAD, DELETE)
	payloadSHA256                       // hex SHA-256 and Content-MD5 (aws-sdk-cpp)
	payloadStreaming                    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD (minio-go)
)

// op is one S3 request.
type op struct {
	class       string
	method      string
	key         string // "" for a bucket request
	query       string // raw, escaped
	rangeHdr    string
	ifNoneMatch bool
	body        *Body
	payload     payloadMode
	want        int    // expected status
	expect      []byte // expected response body, nil to skip the check
	expectLen   int64  // expected body length, -1 unknown
	keepBody    bool   // keep the response body in w.body
	closeConn   bool   // send Connection: close
	countBytes  int64  // bytes to count for a request body (decoded size)
}

// classStats accumulates one operation class in one worker.
type classStats struct {
	ops, errors, bytes int64
	hist               *Hist
	errs               map[string]int64
}

// Worker issues requests one at a time. Profiles keep their per-worker state
// in it.
type Worker struct {
	ID  int
	Rng *rand.Rand

	s       *session
	measure bool // record into stats and count against the op budget
	stats   map[string]*classStats
	req     fasthttp.Request
	resp    fasthttp.Response
	buf     []byte
	body    []byte // kept response body
	written map[string]struct{}
	uploads map[string]string // key -> open multipart upload ID
	state   any
	cache   *objectCache
}

func newWorker(s *session, id int, seed uint64, measure bool) *Worker {
	return &Worker{
		ID:      id,
		Rng:     rand.New(rand.NewPCG(seed, uint64(id)+1)),
		s:       s,
		measure: measure,
		stats:   map[string]*classStats{},
		buf:     make([]byte, 256*KiB),
		written: map[string]struct{}{},
		uploads: map[string]string{},
	}
}

func (w *Worker) class(name string) *classStats {
	c := w.stats[name]
	if c == nil {
		c = &classStats{hist: NewHist(), errs: map[string]int64{}}
		w.stats[name] = c
	}
	return c
}

// admit reports whether another request may start, and counts it.
func (w *Worker) admit() bool {
	s := w.s
	if s.ctx.Err() != nil || s.stop.Load() {
		return false
	}
	if w.measure && s.measuring.Load() {
		if s.ops.Add(1) > s.cfg.MaxOps {
			s.stop.Store(true)
			s.stoppedBy.CompareAndSwap(nil, stopOps)
			return false
		}
	}
	return true
}

var (
	stopOps      = ptr("ops")
	stopDuration = ptr("duration")
	stopCanceled = ptr("canceled")
)

func ptr(s string) *string { return &s }

func (w *Worker) path(key string) string {
	if key == "" {
		return "/" + w.s.cfg.Bucket + "/"
	}
	return "/" + w.s.cfg.Bucket + "/" + key
}

// do sends o and records it under o.class. It returns the status and an
// error when the status or the body is not what o expects.
func (w *Worker) do(o *op) (int, error) {
	if !w.admit() {
		return 0, errStop
	}
	record := w.measure && w.s.measuring.Load()
	req, resp := &w.req, &w.resp
	req.Reset()
	resp.Reset()
	cfg := &w.s.cfg
	uri := w.path(o.key)
	if o.query != "" {
		uri += "?" + o.query
	}
	req.Header.SetMethod(o.method)
	req.SetRequestURI(uri)
	req.URI().DisablePathNormalizing = true
	req.SetHost(cfg.Endpoint)
	if o.rangeHdr != "" {
		req.Header.Set("Range", o.rangeHdr)
	}
	if o.ifNoneMatch {
		req.Header.Set("If-None-Match", "*")
	}
	if o.closeConn {
		req.SetConnectionClose()
	}
	var sent int64
	if o.body != nil {
		sent = int64(len(o.body.Data))
		req.Header.SetContentType("application/octet-stream")
	}
	if o.countBytes > 0 {
		sent = o.countBytes
	} else if o.countBytes < 0 {
		sent = 0
	}
	switch {
	case o.body != nil && o.payload == payloadStreaming && cfg.SignStreaming != nil:
		cfg.SignStreaming(req, o.body.Data)
	case o.body != nil && o.payload == payloadSHA256:
		req.Header.Set("Content-MD5", o.body.MD5)
		req.SetBodyRaw(o.body.Data)
		w.sign(req, o.body.SHA256)
	case o.body != nil:
		req.SetBodyRaw(o.body.Data)
		w.sign(req, UnsignedPayload)
	default:
		w.sign(req, UnsignedPayload)
	}
	resp.StreamBody = !o.keepBody && o.method != fasthttp.MethodHead && (o.expectLen < 0 || o.expectLen > 1*MiB)

	start := time.Now()
	err := w.s.client.DoTimeout(req, resp, cfg.timeout())
	var got int64
	status := resp.StatusCode()
	if err == nil {
		got, err = w.readBody(o, status)
	}
	lat := time.Since(start)

	if err == nil && status != o.want {
		err = statusError(status, w.body)
	}
	if err == nil && o.expectLen >= 0 && status/100 == 2 && o.method != fasthttp.MethodHead && got != o.expectLen {
		err = fmt.Errorf("body of %d bytes, want %d", got, o.expectLen)
	}
	if err == nil && o.method == fasthttp.MethodHead && o.expectLen >= 0 && int64(resp.Header.ContentLength()) != o.expectLen {
		err = fmt.Errorf("HEAD Content-Length %d, want %d", resp.Header.ContentLength(), o.expectLen)
	}
	if record {
		c := w.class(o.class)
		c.ops++
		c.hist.Record(lat)
		if err != nil {
			c.errors++
			if len(c.errs) < 8 {
				c.errs[err.Error()]++
			} else if _, ok := c.errs[err.Error()]; ok {
				c.errs[err.Error()]++
			}
		} else {
			c.bytes += got + sent
		}
		if obs := w.s.observe; obs != nil {
			obs(lat, err != nil)
		}
	}
	return status, err
}

func (w *Worker) sign(req *fasthttp.Request, hash string) {
	if f := w.s.cfg.Sign; f != nil {
		f(req, hash)
	}
}

// readBody drains the response body, checking it against o.expect when the
// status is a success; error bodies and kept bodies land in w.body.
func (w *Worker) readBody(o *op, status int) (int64, error) {
	resp := &w.resp
	w.body = w.body[:0]
	ok := status/100 == 2
	r := resp.BodyStream()
	if r == nil {
		b := resp.Body()
		if o.keepBody || !ok {
			w.body = append(w.body, b...)
		}
		if ok && o.expect != nil && w.s.cfg.Verify && !bytes.Equal(b, o.expect) {
			return int64(len(b)), errors.New("body differs from the data written")
		}
		return int64(len(b)), nil
	}
	defer resp.CloseBodyStream()
	var n int64
	var bad bool
	for {
		k, err := r.Read(w.buf)
		if k > 0 {
			if !ok || o.keepBody {
				if len(w.body) < 64*KiB {
					w.body = append(w.body, w.buf[:k]...)
				}
			} else if o.expect != nil && w.s.cfg.Verify && !bad {
				if n+int64(k) > int64(len(o.expect)) || !bytes.Equal(w.buf[:k], o.expect[n:n+int64(k)]) {
					bad = true
				}
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if bad {
		return n, errors.New("body differs from the data written")
	}
	return n, nil
}

// statusError names an unexpected status with the S3 error code of body.
func statusError(status int, body []byte) error {
	if code := xmlValue(body, "Code"); code != "" {
		return fmt.Errorf("status %d %s", status, code)
	}
	return fmt.Errorf("status %d", status)
}

// xmlValue returns the text of the first <tag> element of b, or "".
func xmlValue(b []byte, tag string) string {
	open := "<" + tag + ">"
	i := bytes.Index(b, []byte(open))
	if i < 0 {
		return ""
	}
	b = b[i+len(open):]
	j := bytes.Index(b, []byte("</"+tag+">"))
	if j < 0 {
		return ""
	}
	return string(b[:j])
}

// ---- request helpers used by the profiles and the prepare phase ----

func (w *Worker) head(class string, o *Object) error {
	_, err := w.do(&op{class: class, method: fasthttp.MethodHead, key: o.Key, want: 200, expectLen: o.Size})
	return err
}

func (w *Worker) getWhole(class string, o *Object) error {
	_, err := w.do(&op{class: class, method: fasthttp.MethodGet, key: o.Key, want: 200,
		expect: w.s.env.Pool.Bytes(o, 0, o.Size), expectLen: o.Size})
	return err
}

// getRange reads n bytes from off (clamped to the object).
func (w *Worker) getRange(class string, o *Object, off, n int64) error {
	n = min(n, o.Size-off)
	_, err := w.do(&op{class: class, method: fasthttp.MethodGet, key: o.Key, want: 206,
		rangeHdr: "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10),
		expect:   w.s.env.Pool.Bytes(o, off, n), expectLen: n})
	return err
}

// getRandomRange reads n bytes at a random offset.
func (w *Worker) getRandomRange(class string, o *Object, n int64) error {
	n = min(n, o.Size)
	return w.getRange(class, o, w.Rng.Int64N(o.Size-n+1), n)
}

// getTail reads the last n bytes with a suffix range, as Parquet readers do.
func (w *Worker) getTail(class string, o *Object, n int64) error {
	n2 := min(n, o.Size)
	_, err := w.do(&op{class: class, method: fasthttp.MethodGet, key: o.Key, want: 206,
		rangeHdr: "bytes=-" + strconv.FormatInt(n, 10),
		expect:   w.s.env.Pool.Bytes(o, o.Size-n2, n2), expectLen: n2})
	return err
}

// put writes b to key in the given encoding and remembers key for cleanup.
// A PUT expected to fail closes its connection: MinIO closes it after
// answering 412 without saying so (no Connection: close), and the next
// request on it would fail.
func (w *Worker) put(class, key string, b *Body, mode payloadMode, ifNoneMatch bool, want int) error {
	w.written[key] = struct{}{}
	_, err := w.do(&op{class: class, method: fasthttp.MethodPut, key: key, body: b, payload: mode,
		ifNoneMatch: ifNoneMatch, want: want, expectLen: -1, closeConn: want/100 != 2})
	return err
}

func (w *Worker) del(class, key string) error {
	_, err := w.do(&op{class: class, method: fasthttp.MethodDelete, key: key, want: 204, expectLen: -1})
	if err == nil {
		delete(w.written, key)
	}
	return err
}

// multipartCreate starts an upload and returns its ID.
func (w *Worker) multipartCreate(class, key string) (string, error) {
	_, err := w.do(&op{class: class, method: fasthttp.MethodPost, key: key, query: "uploads=", want: 200, keepBody: true, expectLen: -1})
	if err != nil {
		return "", err
	}
	id := xmlValue(w.body, "UploadId")
	if id == "" {
		return "", errors.New("no UploadId in the answer")
	}
	w.uploads[key] = id
	return id, nil
}

// multipartPart uploads part n and returns its ETag.
func (w *Worker) multipartPart(class, key, id string, n int, b *Body) (string, error) {
	_, err := w.do(&op{class: class, method: fasthttp.MethodPut, key: key, body: b, payload: payloadSHA256,
		query: "partNumber=" + strconv.Itoa(n) + "&uploadId=" + queryEscape(id), want: 200, expectLen: -1})
	if err != nil {
		return "", err
	}
	return string(w.resp.Header.Peek("ETag")), nil
}

// multipartComplete commits the parts whose ETags are given, in order.
func (w *Worker) multipartComplete(class, key, id string, etags []string) error {
	var x bytes.Buffer
	x.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&x, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	x.WriteString("</CompleteMultipartUpload>")
	w.written[key] = struct{}{}
	_, err := w.do(&op{class: class, method: fasthttp.MethodPost, key: key, body: newBody(x.Bytes()), payload: payloadSHA256,
		query: "uploadId=" + queryEscape(id), want: 200, keepBody: true, expectLen: -1, countBytes: -1})
	if err == nil && bytes.Contains(w.body, []byte("<Error>")) {
		err = statusError(200, w.body)
	}
	delete(w.uploads, key)
	return err
}

func (w *Worker) multipartAbort(class, key, id string) error {
	_, err := w.do(&op{class: class, method: fasthttp.MethodDelete, key: key, query: "uploadId=" + queryEscape(id), want: 204, expectLen: -1})
	delete(w.uploads, key)
	return err
}

// list sends one ListObjectsV2 page and returns the continuation token of
// the next one ("" when done).
func (w *Worker) list(class, prefix, delimiter, token string) (string, error) {
	q := "delimiter=" + queryEscape(delimiter) + "&encoding-type=url&fetch-owner=true&list-type=2&max-keys=1000&prefix=" + queryEscape(prefix)
	if token != "" {
		q = "continuation-token=" + queryEscape(token) + "&" + q
	}
	_, err := w.do(&op{class: class, method: fasthttp.MethodGet, query: q, want: 200, keepBody: true, expectLen: -1})
	if err != nil {
		return "", err
	}
	if xmlValue(w.body, "IsTruncated") != "true" {
		return "", nil
	}
	return xmlValue(w.body, "NextContinuationToken"), nil
}

// queryEscape escapes s the way SigV4 canonical queries do (RFC 3986).
func queryEscape(s string) string {
	const hexd = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b = append(b, c)
		} else {
			b = append(b, '%', hexd[c>>4], hexd[c&15])
		}
	}
	return string(b)
}

// runState flags shared by the workers of one run.
type runFlags struct {
	measuring atomic.Bool
	stop      atomic.Bool
	ops       atomic.Int64
	stoppedBy atomic.Pointer[string]
}
