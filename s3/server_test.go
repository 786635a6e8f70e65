package s3

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lsmstore/lsmstore/engine"
)

// startInProcess serves s3 over a MemFS engine on a loopback port.
func startInProcess(t *testing.T, cfg Config) (*minio.Client, *Server) {
	t.Helper()
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d"}, CacheSize: 8 << 20, IndexCacheSize: 8 << 20, MinPartSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return serveInProcess(t, st, cfg, nil)
}

// serveInProcess serves st with the test credentials (ak/secretsecret) on a
// loopback port until the test ends, then closes st. prepare, when set,
// adjusts the server before it serves.
func serveInProcess(t *testing.T, st *engine.Store, cfg Config, prepare func(*Server)) (*minio.Client, *Server) {
	t.Helper()
	cfg.Store, cfg.AccessKey, cfg.SecretKey = st, "ak", "secretsecret"
	srv := NewServer(cfg)
	if prepare != nil {
		prepare(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown()
		st.Close()
	})
	c, err := minio.New(ln.Addr().String(), &minio.Options{Creds: credentials.NewStaticV4("ak", "secretsecret", "")})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// TestCompleteKeepAlive: a CompleteMultipartUpload slower than the
// keep-alive threshold answers 200 at once and sends whitespace, then the
// result (or an error) in the body — and clients accept both.
func TestCompleteKeepAlive(t *testing.T) {
	c, srv := startInProcess(t, Config{CompleteKeepAlive: 50 * time.Millisecond, testCompleteDelay: 1500 * time.Millisecond})
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	core := minio.Core{Client: c}
	id, err := core.NewMultipartUpload(ctx, "bkt", "k", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 100<<10)
	p, err := core.PutObjectPart(ctx, "bkt", "k", id, 1, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// An error found after the 200 goes out travels in the body.
	_, err = core.CompleteMultipartUpload(ctx, "bkt", "k", id, []minio.CompletePart{{PartNumber: 1, ETag: "wrong"}}, minio.PutObjectOptions{})
	if minio.ToErrorResponse(err).Code != "InvalidPart" {
		t.Fatalf("complete with a wrong ETag through the keep-alive path: %v", err)
	}
	info, err := core.CompleteMultipartUpload(ctx, "bkt", "k", id, []minio.CompletePart{{PartNumber: 1, ETag: p.ETag}}, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.keptAlive.Load(); n != 2 {
		t.Fatalf("%d of 2 completes took the keep-alive path", n)
	}
	if !strings.HasSuffix(info.ETag, "-1") {
		t.Fatalf("etag %q", info.ETag)
	}
	st, err := c.StatObject(ctx, "bkt", "k", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(data)) {
		t.Fatalf("stat: %v %d", err, st.Size)
	}
}
