package s3

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

// getBench is a server over an in-memory store holding a 16 MiB object
// ("big") and a 16 KiB one ("small"), with big's blocks cached.
type getBench struct {
	st     *engine.Store
	srv    *Server
	signer *sigv4.Signer
	rnd    *rand.Rand
}

func newGetBench(tb testing.TB) *getBench {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d"}, CacheSize: 64 << 20, IndexCacheSize: 8 << 20, CompactionInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	st.CreateBucket("bkt")
	big := make([]byte, getBigSize)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	if _, err := st.Put("bkt", "big", int64(len(big)), bytes.NewReader(big), engine.PutOptions{}); err != nil {
		tb.Fatal(err)
	}
	if _, err := st.Put("bkt", "small", 16<<10, bytes.NewReader(big[:16<<10]), engine.PutOptions{}); err != nil {
		tb.Fatal(err)
	}
	return &getBench{st: st, srv: NewServer(Config{Store: st, AccessKey: "ak", SecretKey: "secretsecret"}),
		signer: &sigv4.Signer{AccessKey: "ak", SecretKey: "secretsecret", Region: "us-east-1"}, rnd: r}
}

const getBigSize = 16 << 20

// getCase is a signed GET of key, of n-byte ranges at random offsets (the
// whole object when n is 0). The Range headers are made up front so that
// the loop measures the server, not fmt.Sprintf.
type getCase struct {
	key    string
	hdr    map[string][]string
	ranges [][]byte
	next   int
}

func (g *getBench) newCase(key string, n int) *getCase {
	c := &getCase{key: key, hdr: map[string][]string{}}
	g.signer.Sign(&sigv4.Message{Method: "GET", Host: "127.0.0.1:9000", Path: "/bkt/" + key, Header: c.hdr}, "UNSIGNED-PAYLOAD", time.Now())
	if n > 0 {
		c.ranges = make([][]byte, 4096)
		for i := range c.ranges {
			off := g.rnd.IntN(getBigSize - n)
			c.ranges[i] = fmt.Appendf(nil, "bytes=%d-%d", off, off+n-1)
		}
	}
	// Warm the cache with whole blocks (a small read would cache only the
	// chunk it touches).
	for off := 0; off < getBigSize; off += 64 << 10 {
		g.st.Get("bkt", "big", int64(off), 64<<10, io.Discard)
	}
	return c
}

// serve sends the next request of c through Server.handle.
func (g *getBench) serve(tb testing.TB, ctx *fasthttp.RequestCtx, c *getCase) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/bkt/" + c.key)
	ctx.Request.Header.SetHost("127.0.0.1:9000")
	for k, v := range c.hdr {
		ctx.Request.Header.Set(k, v[0])
	}
	if c.ranges != nil {
		ctx.Request.Header.SetBytesV("Range", c.ranges[c.next%len(c.ranges)])
		c.next++
	}
	g.srv.handle(ctx)
	if sc := ctx.Response.StatusCode(); sc != 200 && sc != 206 {
		tb.Fatalf("status %d: %s", sc, ctx.Response.Body())
	}
}

var getCases = []struct {
	name, key string
	n         int
}{{"range-4k", "big", 4 << 10}, {"range-64k", "big", 64 << 10}, {"small-16k", "small", 0}}

// BenchmarkGetObject is a signed, cached GET through Server.handle without
// the network: ranged reads of a 16 MiB object and a whole small object.
// It shows the server's own CPU and allocations per request. Without a
// connection every range is read into the response buffer (see
// BenchmarkGetObjectConn for the writev path of larger ranges).
func BenchmarkGetObject(b *testing.B) {
	g := newGetBench(b)
	for _, tc := range getCases {
		b.Run(tc.name, func(b *testing.B) {
			c := g.newCase(tc.key, tc.n)
			// Like a server's RequestCtx, whose response keeps its body
			// buffer from one request to the next on a connection (a zero
			// RequestCtx returns it to fasthttp's calibrated pool, which
			// drops buffers above the sizes it saw last: a 64 KiB body then
			// regrows one for each request).
			var ctx fasthttp.RequestCtx
			ctx.Init2(nil, nil, false)
			b.ReportAllocs()
			b.SetBytes(int64(max(tc.n, 16<<10)))
			for b.Loop() {
				g.serve(b, &ctx, c)
			}
		})
	}
}

// BenchmarkGetObjectConn is BenchmarkGetObject with a connection, the
// response (header and body) written to it as fasthttp writes it: ranges
// above 32 KiB go out by writev from cached blocks.
func BenchmarkGetObjectConn(b *testing.B) {
	g := newGetBench(b)
	for _, tc := range getCases {
		b.Run(tc.name, func(b *testing.B) {
			c := g.newCase(tc.key, tc.n)
			var ctx fasthttp.RequestCtx
			conn := discardConn{}
			ctx.Init2(conn, nil, false)
			w := bufio.NewWriterSize(conn, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(max(tc.n, 16<<10)))
			for b.Loop() {
				g.serve(b, &ctx, c)
				if err := ctx.Response.Write(w); err != nil {
					b.Fatal(err)
				}
				w.Flush()
			}
			ctx.Response.Reset()
		})
	}
}

// discardConn is a connection that discards what is written to it.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// TestGetObjectAllocs guards the read path's allocations: a signed, cached
// GET allocates only what engine.Store.Open allocates for the object and
// the request path's string.
func TestGetObjectAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes a 16 MiB object; counts allocations (not under -race)")
	}
	g := newGetBench(t)
	for _, tc := range getCases {
		for _, withConn := range []bool{false, true} {
			c := g.newCase(tc.key, tc.n)
			var ctx fasthttp.RequestCtx
			conn := discardConn{}
			ctx.Init2(nil, nil, false)
			if withConn {
				ctx.Init2(conn, nil, false)
			}
			w := bufio.NewWriterSize(conn, 64<<10)
			// Until the cache has admitted the blocks read, and the
			// response buffer has grown, requests allocate more.
			for i := 0; i < 1000; i++ {
				g.serve(t, &ctx, c)
			}
			open := testing.AllocsPerRun(200, func() {
				o, err := g.st.Open("bkt", c.key)
				if err != nil {
					t.Fatal(err)
				}
				o.Close()
			})
			got := testing.AllocsPerRun(200, func() {
				g.serve(t, &ctx, c)
				if withConn {
					if err := ctx.Response.Write(w); err != nil {
						t.Fatal(err)
					}
					w.Flush()
				}
			})
			ctx.Response.Reset()
			// The request path is the server's one allocation.
			if want := open + 1; got > want {
				t.Errorf("%s (connection %v): %v allocs per GET, want at most %v (engine Open %v + the path)", tc.name, withConn, got, want, open)
			}
		}
	}
}
