package s3

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

// BenchmarkGetObject is a signed, cached GET through Server.handle without
// the network: ranged reads of a 16 MiB object and a whole small object.
// It shows the server's own CPU and allocations per request.
func BenchmarkGetObject(b *testing.B) {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d"}, CacheSize: 64 << 20, IndexCacheSize: 8 << 20, CompactionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.CreateBucket("bkt")
	big := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	if _, err := st.Put("bkt", "big", int64(len(big)), bytes.NewReader(big), engine.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Put("bkt", "small", 16<<10, bytes.NewReader(big[:16<<10]), engine.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	srv := NewServer(Config{Store: st, AccessKey: "ak", SecretKey: "secretsecret"})
	signer := &sigv4.Signer{AccessKey: "ak", SecretKey: "secretsecret", Region: "us-east-1"}
	for _, tc := range []struct {
		name, key string
		n         int
	}{{"range-4k", "big", 4 << 10}, {"range-64k", "big", 64 << 10}, {"small-16k", "small", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			hdr := map[string][]string{}
			signer.Sign(&sigv4.Message{Method: "GET", Host: "127.0.0.1:9000", Path: "/bkt/" + tc.key, Header: hdr}, "UNSIGNED-PAYLOAD", time.Now())
			// Range headers are made up front so that the loop measures
			// the server, not fmt.Sprintf.
			var ranges [][]byte
			if tc.n > 0 {
				ranges = make([][]byte, 4096)
				for i := range ranges {
					off := r.IntN(len(big) - tc.n)
					ranges[i] = fmt.Appendf(nil, "bytes=%d-%d", off, off+tc.n-1)
				}
			}
			var ctx fasthttp.RequestCtx
			// Warm the cache.
			for off := 0; off < len(big); off += 64 << 10 {
				st.Get("bkt", "big", int64(off), 1, &bytes.Buffer{})
			}
			b.ReportAllocs()
			b.SetBytes(int64(max(tc.n, 16<<10)))
			i := 0
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.Header.SetMethod("GET")
				ctx.Request.SetRequestURI("/bkt/" + tc.key)
				ctx.Request.Header.SetHost("127.0.0.1:9000")
				for k, v := range hdr {
					ctx.Request.Header.Set(k, v[0])
				}
				if ranges != nil {
					ctx.Request.Header.SetBytesV("Range", ranges[i%len(ranges)])
					i++
				}
				srv.handle(&ctx)
				if sc := ctx.Response.StatusCode(); sc != 200 && sc != 206 {
					b.Fatalf("status %d: %s", sc, ctx.Response.Body())
				}
			}
		})
	}
}
