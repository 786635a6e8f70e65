package test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestMilvusPatterns drives lsmd the way Milvus' Go stack (minio-go
// v7.0.73) does: startup bucket check, streaming-signed PUTs over HTTP,
// ≥ 16 MiB multipart with parallel parts, ranged reads pinned by ETag,
// recursive and delimiter listings, 204 deletes, then a restart.
func TestMilvusPatterns(t *testing.T) {
	s := startServer(t)
	c := minioClient(t, s)
	ctx := context.Background()
	const bucket = "a-bucket"
	if ok, err := c.BucketExists(ctx, bucket); err != nil || ok {
		t.Fatalf("fresh bucket exists=%v err=%v", ok, err)
	}
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	// The Helm default leaves the region empty, so minio-go asks for it.
	if loc, err := c.GetBucketLocation(ctx, bucket); err != nil || loc != "us-east-1" {
		t.Fatalf("location %q %v", loc, err)
	}

	want := map[string][]byte{}
	put := func(key string, data []byte, opts minio.PutObjectOptions) {
		t.Helper()
		if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), opts); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		want[key] = data
	}
	for seg := 0; seg < 3; seg++ {
		for field := 100; field < 103; field++ {
			put(fmt.Sprintf("files/insert_log/1/2/%d/%d/%d", seg, field, 7), randBytes(uint64(seg*1000+field), 200<<10), minio.PutObjectOptions{})
			put(fmt.Sprintf("files/stats_log/1/2/%d/%d/%d", seg, field, 8), randBytes(uint64(seg*2000+field), 3000), minio.PutObjectOptions{})
		}
		put(fmt.Sprintf("files/delta_log/1/2/%d/9", seg), []byte{}, minio.PutObjectOptions{})
	}

	// A 40 MiB index file: minio-go uploads 16 MiB parts in parallel.
	big := randBytes(42, 40<<20)
	info, err := c.PutObject(ctx, bucket, "files/index_files/5/1/2/3/HNSW_0", bytes.NewReader(big), int64(len(big)),
		minio.PutObjectOptions{PartSize: 16 << 20, NumThreads: 3})
	if err != nil {
		t.Fatal(err)
	}
	want["files/index_files/5/1/2/3/HNSW_0"] = big
	var sums []byte
	for i := 0; i < len(big); i += 16 << 20 {
		m := md5.Sum(big[i:min(i+16<<20, len(big))])
		sums = append(sums, m[:]...)
	}
	if wantETag := fmt.Sprintf("%x-3", md5.Sum(sums)); info.ETag != wantETag {
		t.Fatalf("multipart etag %s, want %s", info.ETag, wantETag)
	}

	check := func() {
		t.Helper()
		for key, data := range want {
			st, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
			if err != nil || st.Size != int64(len(data)) {
				t.Fatalf("stat %s: %v size %d", key, err, st.Size)
			}
			if time.Since(st.LastModified) > time.Hour || st.LastModified.After(time.Now().Add(time.Minute)) {
				t.Fatalf("%s: LastModified %v is not the write time", key, st.LastModified)
			}
			// Parquet-style reads: tail, then exact ranges, pinned by ETag.
			for _, rg := range [][2]int64{{max(0, int64(len(data))-65536), int64(len(data)) - 1}, {int64(len(data)) / 3, int64(len(data))/3 + 4095}} {
				if len(data) == 0 || rg[1] >= int64(len(data)) {
					continue
				}
				o := minio.GetObjectOptions{}
				o.SetRange(rg[0], rg[1])
				o.SetMatchETag(st.ETag)
				obj, err := c.GetObject(ctx, bucket, key, o)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(obj)
				obj.Close()
				if err != nil || !bytes.Equal(got, data[rg[0]:rg[1]+1]) {
					t.Fatalf("range %v of %s: %v (len %d)", rg, key, err, len(got))
				}
			}
		}
		// Recursive listing sees every key, in binary order.
		var keys []string
		for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "files/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		if len(keys) != len(want) || !sort.StringsAreSorted(keys) {
			t.Fatalf("recursive listing: %d keys (want %d), sorted %v", len(keys), len(want), sort.StringsAreSorted(keys))
		}
		// GC walks directories with delimiter listings.
		var dirs []string
		for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "files/insert_log/1/2/", Recursive: false}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			dirs = append(dirs, o.Key)
		}
		wantDirs := map[string]bool{}
		for k := range want {
			if rest, ok := strings.CutPrefix(k, "files/insert_log/1/2/"); ok {
				d, _, _ := strings.Cut(rest, "/")
				wantDirs["files/insert_log/1/2/"+d+"/"] = true
			}
		}
		if len(dirs) != len(wantDirs) || !sort.StringsAreSorted(dirs) {
			t.Fatalf("delimiter listing: %v, want %v", dirs, wantDirs)
		}
		for _, d := range dirs {
			if !wantDirs[d] {
				t.Fatalf("delimiter listing: unexpected %s", d)
			}
		}
	}
	check()

	// An If-Match read of a rewritten object fails with 412.
	st, _ := c.StatObject(ctx, bucket, "files/stats_log/1/2/0/100/8", minio.StatObjectOptions{})
	put("files/stats_log/1/2/0/100/8", randBytes(77, 3001), minio.PutObjectOptions{})
	o := minio.GetObjectOptions{}
	o.SetMatchETag(st.ETag)
	if obj, err := c.GetObject(ctx, bucket, "files/stats_log/1/2/0/100/8", o); err == nil {
		_, err = io.ReadAll(obj)
		if minio.ToErrorResponse(err).Code != "PreconditionFailed" {
			t.Fatalf("stale If-Match: %v", err)
		}
	}

	// GC deletes, ten at a time, and the 204s minio-go insists on.
	objs := make(chan minio.ObjectInfo, 10)
	for i := 0; i < 3; i++ {
		objs <- minio.ObjectInfo{Key: fmt.Sprintf("files/insert_log/1/2/0/%d/7", 100+i)}
		delete(want, fmt.Sprintf("files/insert_log/1/2/0/%d/7", 100+i))
	}
	close(objs)
	for e := range c.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		t.Fatalf("remove objects: %v", e.Err)
	}

	s.restart(t)
	c = minioClient(t, s)
	check()
}

// TestVirtualHostStyle: with --domain, the bucket comes from the host name.
func TestVirtualHostStyle(t *testing.T) {
	s := startServer(t, "--domain", "s3.test")
	dialer := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, s.Addr)
	}}
	_, port, _ := net.SplitHostPort(s.Addr)
	c, err := minio.New("s3.test:"+port, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""),
		BucketLookup: minio.BucketLookupDNS, Transport: tr, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "vhost", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "vhost", "a/b", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// The same object through path style.
	pc := minioClient(t, s)
	obj, err := pc.GetObject(ctx, "vhost", "a/b", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(obj); err != nil || string(got) != "hello" {
		t.Fatalf("path-style read of a virtual-host write: %q %v", got, err)
	}
}
