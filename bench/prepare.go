package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// PrepareResult says what Prepare found and wrote.
type PrepareResult struct {
	Objects       int                 `json:"objects"`
	Bytes         int64               `json:"bytes"`
	Uploaded      int                 `json:"uploaded"`
	UploadedBytes int64               `json:"uploaded_bytes"`
	Skipped       int                 `json:"skipped"`
	Seconds       float64             `json:"seconds"`
	ByKind        map[string][2]int64 `json:"by_kind"` // objects, bytes
}

// Prepare creates the bucket and uploads every object of the layout that is
// not there yet with its size, each the way its Milvus client writes it:
// index files as single PUTs with a SHA-256 payload hash and Content-MD5
// (aws-sdk-cpp), Parquet files as multipart uploads of 10 MiB parts (Arrow),
// small logs as streaming-signed PUTs (minio-go). It is idempotent: a second
// call only sends HEADs.
func Prepare(ctx context.Context, cfg Config, env *Env, progress func(done, total int64)) (*PrepareResult, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" || cfg.Concurrency <= 0 {
		return nil, errors.New("bench: prepare needs an endpoint, a bucket and a concurrency")
	}
	start := time.Now()
	s := newSession(ctx, cfg, env)
	defer s.client.CloseIdleConnections()
	l := env.Layout
	res := &PrepareResult{Objects: len(l.Objects), Bytes: l.Bytes(), ByKind: l.Describe()}

	w := newWorker(s, -1, cfg.Seed, false)
	st, err := w.do(&op{class: "create-bucket", method: fasthttp.MethodPut, body: newBody([]byte{}), payload: payloadSHA256, want: 200, expectLen: -1})
	if err != nil && !(st == 409 && xmlValue(w.body, "Code") == "BucketAlreadyOwnedByYou") {
		return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}

	var done, uploaded, upBytes, skipped atomic.Int64
	total := l.Bytes()
	stopProgress := make(chan struct{})
	if progress != nil {
		go func() {
			t := time.NewTicker(2 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					progress(done.Load(), total)
				case <-stopProgress:
					return
				}
			}
		}()
	}
	err = s.parallel(cfg.Concurrency, len(l.Objects), func(w *Worker, i int) error {
		o := &l.Objects[i]
		defer done.Add(o.Size)
		st, err := w.do(&op{class: "head", method: fasthttp.MethodHead, key: o.Key, want: 200, expectLen: -1})
		if err == nil && int64(w.resp.Header.ContentLength()) == o.Size {
			skipped.Add(1)
			return nil
		}
		if err != nil && st != 404 {
			return fmt.Errorf("HEAD %s: %w", o.Key, err)
		}
		if err := upload(w, o); err != nil {
			return fmt.Errorf("upload %s: %w", o.Key, err)
		}
		uploaded.Add(1)
		upBytes.Add(o.Size)
		return nil
	})
	close(stopProgress)
	res.Uploaded, res.UploadedBytes, res.Skipped = int(uploaded.Load()), upBytes.Load(), int(skipped.Load())
	res.Seconds = time.Since(start).Seconds()
	return res, err
}

func upload(w *Worker, o *Object) error {
	data := w.s.env.Pool.Bytes(o, 0, o.Size)
	switch o.Kind {
	case KindIndexSlice, KindIndexMeta:
		return w.put("put", o.Key, newBody(data), payloadSHA256, false, 200)
	case KindParquet:
		id, err := w.multipartCreate("multipart-create", o.Key)
		if err != nil {
			return err
		}
		var etags []string
		for off := int64(0); off < o.Size; off += PartSize {
			etag, err := w.multipartPart("multipart-part", o.Key, id, len(etags)+1, newBody(data[off:min(off+PartSize, o.Size)]))
			if err != nil {
				_ = w.multipartAbort("multipart-abort", o.Key, id)
				return err
			}
			etags = append(etags, etag)
		}
		return w.multipartComplete("multipart-complete", o.Key, id, etags)
	default:
		return w.put("put", o.Key, &Body{Data: data}, payloadStreaming, false, 200)
	}
}

// ReadAll GETs every object of the data set once, unmeasured (and checks the
// bytes when cfg.Verify is set): after a restart it fills the server's own
// read cache, if it has one, the way a warm query node would have.
func ReadAll(ctx context.Context, cfg Config, env *Env) error {
	s := newSession(ctx, cfg, env)
	defer s.client.CloseIdleConnections()
	l := env.Layout
	return s.parallel(cfg.Concurrency, len(l.Objects), func(w *Worker, i int) error {
		return w.getWhole("read-all", &l.Objects[i])
	})
}
