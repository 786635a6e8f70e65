package bench

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Payload hash values of x-amz-content-sha256.
const (
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	EmptySHA256     = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// SignFunc signs a request in place: the method, URI, Host and every header
// to send are set, and the body is set when payloadHash is a hex SHA-256.
// It must add X-Amz-Date, X-Amz-Content-Sha256 (= payloadHash) and
// Authorization. cmd/lsmbench injects one backed by package sigv4, so this
// package does not import it.
type SignFunc func(req *fasthttp.Request, payloadHash string)

// StreamSignFunc signs req for a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload of
// body (64 KiB chunks with chained signatures, as minio-go sends over plain
// HTTP) and sets the framed body, its Content-Length and
// X-Amz-Decoded-Content-Length.
type StreamSignFunc func(req *fasthttp.Request, body []byte)

// Config says where and how hard to drive an S3 endpoint.
type Config struct {
	Endpoint    string        // host:port of the S3 endpoint (plain HTTP)
	Bucket      string        // bucket holding the data set
	Concurrency int           // requests in flight
	Duration    time.Duration // measured time per run (bounded: > 0)
	Warmup      time.Duration // unmeasured time before it
	MaxOps      int64         // measured requests per run (bounded: > 0)
	Seed        uint64        // data set and request stream seed
	DataSize    int64         // data set size in bytes
	HotFraction float64       // fraction of each object kind that reads touch (0 or 1: all)
	ServerPID   int           // sample this process's CPU time and RSS (0: none)
	Verify      bool          // compare every byte read with the expected content
	Cleanup     bool          // delete what a run wrote when it ends (unmeasured)
	Timeout     time.Duration // per request; 0 means 2 minutes
	RunID       string        // names the keys a run writes (lsmbench/RunID/...)

	Sign          SignFunc       // nil sends unsigned requests
	SignStreaming StreamSignFunc // nil falls back to Sign with UNSIGNED-PAYLOAD
}

func (c *Config) check() error {
	switch {
	case c.Endpoint == "":
		return errors.New("bench: no endpoint")
	case c.Bucket == "":
		return errors.New("bench: no bucket")
	case c.Concurrency <= 0:
		return errors.New("bench: concurrency must be > 0")
	case c.Duration <= 0 || c.MaxOps <= 0:
		return errors.New("bench: both the duration and the op count must be > 0")
	case c.HotFraction < 0 || c.HotFraction > 1:
		return errors.New("bench: hot fraction must be within [0, 1]")
	}
	return nil
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 2 * time.Minute
}

// Env is what runs against one data set share: its layout, the content pool
// and the hashes of fixed PUT bodies. Building it costs a fraction of a
// second, so a suite builds it once.
type Env struct {
	Layout *Layout
	Pool   Pool

	mu     sync.Mutex
	bodies map[[2]int64]*Body
}

// NewEnv lays out the data set of seed and size.
func NewEnv(seed uint64, size int64) *Env {
	l := NewLayout(seed, size)
	return &Env{Layout: l, Pool: NewPool(seed, l.PoolSize), bodies: map[[2]int64]*Body{}}
}

// Body is a PUT body with its precomputed hashes.
type Body struct {
	Data   []byte
	SHA256 string // hex
	MD5    string // base64, for Content-MD5
}

func newBody(data []byte) *Body {
	s := sha256.Sum256(data)
	m := md5.Sum(data)
	return &Body{Data: data, SHA256: hex.EncodeToString(s[:]), MD5: base64.StdEncoding.EncodeToString(m[:])}
}

// BodyVariants is how many distinct bodies of one size PUT profiles cycle
// through, so hashes are computed once and not per request.
const BodyVariants = 8

// Body returns variant v (mod BodyVariants) of a size-byte body.
func (e *Env) Body(size int64, v int) *Body {
	v %= BodyVariants
	k := [2]int64{size, int64(v)}
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.bodies[k]; ok {
		return b
	}
	span := int64(len(e.Pool)) - size + 1
	off := (int64(v)*7919*4096 + size*31) % span
	b := newBody(e.Pool[off : off+size])
	e.bodies[k] = b
	return b
}

func mib(n int64) float64 { return float64(n) / MiB }

func sizeName(n int64) string {
	switch {
	case n >= MiB && n%MiB == 0:
		return fmt.Sprintf("%dm", n/MiB)
	case n >= KiB && n%KiB == 0:
		return fmt.Sprintf("%dk", n/KiB)
	}
	return fmt.Sprintf("%d", n)
}
