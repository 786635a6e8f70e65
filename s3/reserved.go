package s3

import (
	"bytes"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Routes other than the S3 API (health probes, Prometheus metrics, the
// MinIO and LSMStore admin APIs) live under paths that are also bucket
// names: /minio/..., /metrics, /lsm/.... They match only a path-style
// request whose path, as sent, has no escapes, empty segments or dot
// segments (plainPath): S3 sees such paths unnormalised, as keys, so
// GET /b/../metrics is the object "../metrics" of bucket b, never the
// metrics. The buckets these routes shadow cannot be created.

// reservedBuckets are the bucket names the server's own routes use. MinIO
// reserves "minio" the same way.
var reservedBuckets = map[string]bool{
	"minio":   true, // /minio/health/, /minio/v2/metrics/, /minio/admin/
	"metrics": true, // GET /metrics
	"lsm":     true, // /lsm/admin/v1/
}

// errReservedBucket refuses CreateBucket of a reserved name.
func errReservedBucket(bucket string) *apiError {
	return withMessage(errInvalidBucketName, "The bucket name "+bucket+" is reserved: the server's own routes (health, metrics, admin) use it.")
}

// specialPath returns the request path for matching the non-S3 routes: the
// path as sent, or nil when the request is virtual-host style (its path is
// a key) or the path is not plain.
func (s *Server) specialPath(ctx *fasthttp.RequestCtx) []byte {
	raw := rawRequestPath(ctx)
	if !plainPath(raw) {
		return nil
	}
	if s.cfg.Domain != "" {
		if b, _ := s.splitResource(ctx.Host(), "/"); b != "" {
			return nil // bucket.domain: the path is an object key
		}
	}
	return raw
}

// plainPath reports whether p starts with "/" and has no percent-escape,
// no empty segment ("//") and no "." or ".." segment.
func plainPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' || bytes.IndexByte(p, '%') >= 0 {
		return false
	}
	for rest := p[1:]; ; {
		seg, tail, more := bytes.Cut(rest, []byte("/"))
		if (len(seg) == 0 && more) || string(seg) == "." || string(seg) == ".." {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// warnReservedBuckets logs each existing bucket with a reserved name (made
// before they were refused): it still lists and serves every request that
// no other route takes, but clients should move its objects elsewhere.
func (s *Server) warnReservedBuckets() {
	if s.store == nil {
		return
	}
	buckets, err := s.store.ListBuckets()
	if err != nil {
		return
	}
	for _, b := range buckets {
		if reservedBuckets[b.Name] {
			s.log.Warn("a bucket has a name the server reserves for its own routes; requests those routes take never reach it (e.g. GET /metrics, /minio/admin/..., /lsm/admin/...): copy its objects to another bucket",
				zap.String("bucket", b.Name))
		}
	}
}
