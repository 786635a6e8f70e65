package bench

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// CeilingServer is a trivial fasthttp S3 look-alike that answers every
// request from memory: GET and HEAD of the data set's objects (whole or one
// range) from the content pool, PUT and multipart by reading and dropping the
// body, DELETE with 204, listings with an empty page. It checks no signature
// and stores nothing, so a profile run against it measures what the HTTP
// stack and the generator allow on this machine: the ceiling a real server
// can be stated as a fraction of.
type CeilingServer struct {
	env *Env
	srv *fasthttp.Server
	ln  net.Listener
}

// StartCeiling serves on addr ("127.0.0.1:0" picks a port).
func StartCeiling(env *Env, addr string) (*CeilingServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &CeilingServer{env: env, ln: ln}
	c.srv = &fasthttp.Server{
		Handler:                      c.handle,
		Name:                         "ceiling",
		MaxRequestBodySize:           int(env.Layout.PoolSize) + MiB,
		ReadTimeout:                  2 * time.Minute,
		WriteTimeout:                 2 * time.Minute,
		NoDefaultDate:                false,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
	}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// Addr is the address the server listens on.
func (c *CeilingServer) Addr() string { return c.ln.Addr().String() }

// Close stops the server.
func (c *CeilingServer) Close() error { return c.srv.Shutdown() }

var ceilingETag = []byte(`"00000000000000000000000000000000"`)

func (c *CeilingServer) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if strings.HasPrefix(path, "/minio/health/") {
		return
	}
	_, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	key := rest
	h := &ctx.Response.Header
	h.Set("x-amz-request-id", "ceiling")
	args := ctx.QueryArgs()
	switch {
	case ctx.IsGet() && key == "":
		h.SetContentType("application/xml")
		ctx.SetBodyString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>`)
	case ctx.IsGet() || ctx.IsHead():
		o, ok := c.env.Layout.Lookup(key)
		if !ok {
			ctx.SetStatusCode(404)
			if ctx.IsGet() {
				h.SetContentType("application/xml")
				ctx.SetBodyString(`<Error><Code>NoSuchKey</Code></Error>`)
			}
			return
		}
		h.SetContentType("application/octet-stream")
		h.SetBytesV("ETag", ceilingETag)
		h.Set("Accept-Ranges", "bytes")
		h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		off, n := int64(0), o.Size
		if r := ctx.Request.Header.Peek("Range"); len(r) > 0 {
			a, b, ok := parseRange(r, o.Size)
			if !ok {
				ctx.SetStatusCode(416)
				return
			}
			off, n = a, b-a+1
			ctx.SetStatusCode(206)
			h.Set("Content-Range", "bytes "+strconv.FormatInt(a, 10)+"-"+strconv.FormatInt(b, 10)+"/"+strconv.FormatInt(o.Size, 10))
		}
		if ctx.IsHead() {
			h.SetContentLength(int(n))
			return
		}
		ctx.Response.SetBodyRaw(c.env.Pool.Bytes(o, off, n))
	case ctx.IsPost() && args.Has("uploads"):
		h.SetContentType("application/xml")
		ctx.SetBodyString(`<InitiateMultipartUploadResult><UploadId>ceiling</UploadId></InitiateMultipartUploadResult>`)
	case ctx.IsPost():
		h.SetContentType("application/xml")
		ctx.SetBodyString(`<CompleteMultipartUploadResult><ETag>"0-1"</ETag></CompleteMultipartUploadResult>`)
	case ctx.IsPut():
		h.SetBytesV("ETag", ceilingETag)
	case ctx.IsDelete():
		ctx.SetStatusCode(204)
	default:
		ctx.SetStatusCode(405)
	}
}

// parseRange parses "bytes=a-b", "bytes=a-" and "bytes=-n" against size.
func parseRange(r []byte, size int64) (int64, int64, bool) {
	spec, ok := bytes.CutPrefix(r, []byte("bytes="))
	if !ok {
		return 0, 0, false
	}
	as, bs, ok := bytes.Cut(spec, []byte("-"))
	if !ok {
		return 0, 0, false
	}
	if len(as) == 0 {
		n, err := strconv.ParseInt(string(bs), 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		return max(0, size-n), size - 1, true
	}
	a, err := strconv.ParseInt(string(as), 10, 64)
	if err != nil || a >= size {
		return 0, 0, false
	}
	b := size - 1
	if len(bs) > 0 {
		if b, err = strconv.ParseInt(string(bs), 10, 64); err != nil || b < a {
			return 0, 0, false
		}
		b = min(b, size-1)
	}
	return a, b, true
}
