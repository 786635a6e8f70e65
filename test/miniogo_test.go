package test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func minioClient(t testing.TB, s *server) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestMinioGoBasics(t *testing.T) {
	s := startServer(t)
	c := minioClient(t, s)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "milvus-bucket", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	ok, err := c.BucketExists(ctx, "milvus-bucket")
	if err != nil || !ok {
		t.Fatalf("bucket exists: %v %v", ok, err)
	}
	data := randBytes(1, 3<<20+5)
	info, err := c.PutObject(ctx, "milvus-bucket", "files/stats_log/1/2/3/4/100", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{UserMetadata: map[string]string{"Foo": "bar"}})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	if info.ETag != hex.EncodeToString(sum[:]) {
		t.Fatalf("etag %s", info.ETag)
	}
	obj, err := c.GetObject(ctx, "milvus-bucket", "files/stats_log/1/2/3/4/100", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v, equal %v", err, bytes.Equal(got, data))
	}
	st, err := obj.Stat()
	if err != nil || st.UserMetadata["Foo"] != "bar" {
		t.Fatalf("stat: %+v %v", st.UserMetadata, err)
	}
	opts := minio.GetObjectOptions{}
	opts.SetRange(1000, 1000+4095)
	opts.SetMatchETag(info.ETag)
	obj, err = c.GetObject(ctx, "milvus-bucket", "files/stats_log/1/2/3/4/100", opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data[1000:1000+4096]) {
		t.Fatalf("ranged get: %v len %d", err, len(got))
	}
	n := 0
	for o := range c.ListObjects(ctx, "milvus-bucket", minio.ListObjectsOptions{Prefix: "files/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("listed %d", n)
	}
	if err := c.RemoveObject(ctx, "milvus-bucket", "files/stats_log/1/2/3/4/100", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveObject(ctx, "milvus-bucket", "missing", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}
