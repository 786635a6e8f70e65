// Command lsmd is the LSMStore server: an S3 endpoint over the LSMStore
// engine, shaped like MinIO's server command so deployments translate one to
// one: lsmd [--address HOST:PORT] DIR...
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/s3"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type config struct {
	address      string
	dirs         []string
	cacheSize    string
	logLevel     string
	logFormat    string
	tlsCert      string
	tlsKey       string
	parity       int
	segSize      string
	reserve      string // --free-space-reserve
	compactEvery time.Duration
	region       string
	domain       string
	// metricsAuth: the Prometheus endpoints need the root credentials (a
	// SigV4 signature or a bearer token).
	metricsAuth bool
	pprofAddr   string
	accessKey   string
	secretKey   string
	defaults    bool // credentials are MinIO's well-known defaults
	// Connection and request limits (s3.Config has their defaults).
	headerTimeout, bodyStall, requestWait time.Duration
	maxConnsPerIP, maxRequests            int
	putBuffer                             string
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := pflag.NewFlagSet("lsmd", pflag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: lsmd [flags] [DIR...]\n\nDIR are the data directories, one per drive (default ./data).\n"+
			"Credentials: LSMD_ACCESS_KEY/LSMD_SECRET_KEY, MINIO_ROOT_USER/MINIO_ROOT_PASSWORD or MINIO_ACCESS_KEY/MINIO_SECRET_KEY.\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.address, "address", envOr("LSMD_ADDRESS", ":9000"), "listen address HOST:PORT (env LSMD_ADDRESS)")
	fs.StringVar(&c.cacheSize, "cache-size", envOr("LSMD_CACHE_SIZE", "1GiB"), "block cache size (env LSMD_CACHE_SIZE)")
	fs.StringVar(&c.logLevel, "log-level", envOr("LSMD_LOG_LEVEL", "info"), "debug, info, warn or error (env LSMD_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", envOr("LSMD_LOG_FORMAT", "console"), "console or json (env LSMD_LOG_FORMAT)")
	fs.StringVar(&c.tlsCert, "tls-cert", os.Getenv("LSMD_TLS_CERT"), "TLS certificate file; serves HTTPS with --tls-key (env LSMD_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", os.Getenv("LSMD_TLS_KEY"), "TLS private key file (env LSMD_TLS_KEY)")
	fs.StringVar(&c.segSize, "segment-size", envOr("LSMD_SEGMENT_SIZE", "256MiB"), "size at which a segment is sealed and erasure-coded, 1MiB to 4GiB (env LSMD_SEGMENT_SIZE)")
	fs.StringVar(&c.reserve, "free-space-reserve", envOr("LSMD_FREE_SPACE_RESERVE", "auto"), reserveUsage)
	fs.DurationVar(&c.compactEvery, "compaction-interval", time.Minute, "how often background compaction looks for segments to reclaim; 0 turns it off (lsmctl compact still works)")
	fs.StringVar(&c.pprofAddr, "pprof", os.Getenv("LSMD_PPROF"), "serve Go's pprof profiles on this loopback address, e.g. 127.0.0.1:6060 (env LSMD_PPROF)")
	fs.IntVar(&c.parity, "parity", 0, "drive losses to survive (default by drive count: 1 drive 0, 2-3 drives 1, 4-11 drives 2, 12+ drives 4)")
	fs.StringVar(&c.region, "region", envOr("MINIO_REGION", envOr("MINIO_SITE_REGION", "us-east-1")), "region reported to clients (env MINIO_REGION)")
	fs.StringVar(&c.domain, "domain", os.Getenv("MINIO_DOMAIN"), "enables virtual-host-style requests BUCKET.DOMAIN (env MINIO_DOMAIN)")
	fs.DurationVar(&c.headerTimeout, "header-timeout", envDuration("LSMD_HEADER_TIMEOUT", 10*time.Second), "time a request's headers may take to arrive; negative: none (env LSMD_HEADER_TIMEOUT)")
	fs.DurationVar(&c.bodyStall, "body-stall-timeout", envDuration("LSMD_BODY_STALL_TIMEOUT", 20*time.Second), "time a request body may send nothing before it is cut (a flowing body never is); negative: none (env LSMD_BODY_STALL_TIMEOUT)")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", envInt("LSMD_MAX_CONNS_PER_IP", 1024), "connections open from one client IP; more get 503 SlowDown; negative: no cap (env LSMD_MAX_CONNS_PER_IP)")
	fs.IntVar(&c.maxRequests, "max-requests", envInt("LSMD_MAX_REQUESTS", 0), "S3 requests served at once, 0: 64 per CPU; more wait --request-wait, then get 503 SlowDown; negative: no cap (env LSMD_MAX_REQUESTS)")
	fs.DurationVar(&c.requestWait, "request-wait", envDuration("LSMD_REQUEST_WAIT", 100*time.Millisecond), "how long a request over --max-requests waits for a slot (env LSMD_REQUEST_WAIT)")
	fs.StringVar(&c.putBuffer, "put-buffer", envOr("LSMD_PUT_BUFFER", "1MiB"), "memory a PUT or UploadPart body may hold while it is written, 64KiB to 16MiB in 64KiB blocks (env LSMD_PUT_BUFFER)")
	metricsAuth, err := prometheusAuth(os.Getenv("MINIO_PROMETHEUS_AUTH_TYPE"))
	if err != nil {
		return c, err
	}
	fs.BoolVar(&c.metricsAuth, "metrics-auth", metricsAuth, "/metrics and /minio/v2/metrics/cluster need the root credentials: a SigV4 signature or the bearer token of 'lsmctl prometheus generate' or 'mc admin prometheus generate' (env MINIO_PROMETHEUS_AUTH_TYPE: jwt (default) or sigv4 true, public false)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.dirs = fs.Args()
	if len(c.dirs) == 0 {
		c.dirs = []string{"data"}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, errors.New("--tls-cert and --tls-key go together")
	}
	c.accessKey, c.secretKey, c.defaults = s3.EnvCredentials()
	return c, nil
}

// prometheusAuth maps MINIO_PROMETHEUS_AUTH_TYPE to --metrics-auth: unset,
// "jwt" (MinIO's default) and "sigv4" require the root credentials (either
// a bearer token or a signature is accepted), "public" none.
func prometheusAuth(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "public":
		return false, nil
	case "", "jwt", "sigv4":
		return true, nil
	}
	return false, fmt.Errorf("MINIO_PROMETHEUS_AUTH_TYPE %q: want public, jwt or sigv4", v)
}

func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Sampling = nil
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	switch format {
	case "json":
	case "console":
		zc.Encoding = "console"
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	default:
		return nil, fmt.Errorf("log format %q: want console or json", format)
	}
	return zc.Build()
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lsmd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	c, err := parseFlags(args)
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync()
	cache, err := humanize.ParseBytes(c.cacheSize)
	if err != nil {
		return fmt.Errorf("--cache-size: %w", err)
	}
	if c.defaults {
		log.Warn("DEFAULT CREDENTIALS IN USE: access key and secret key are both 'minioadmin'. " +
			"Anyone who can reach this port can read and write every object. " +
			"Set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD (or LSMD_ACCESS_KEY and LSMD_SECRET_KEY) before exposing it.")
	}
	cacheSize := int64(cache)
	if cacheSize == 0 {
		cacheSize = -1
	}
	sugar := log.Sugar()
	segSize, err := humanize.ParseBytes(c.segSize)
	if err != nil {
		return fmt.Errorf("--segment-size: %w", err)
	}
	reserve, err := parseReserve(c.reserve)
	if err != nil {
		return err
	}
	compactEvery := c.compactEvery
	if compactEvery <= 0 {
		compactEvery = -1 // the engine's "off"
	}
	if c.pprofAddr != "" {
		if err := servePprof(c.pprofAddr, log); err != nil {
			return err
		}
	}
	putBuffer, err := humanize.ParseBytes(c.putBuffer)
	if err != nil || putBuffer%engine.DefaultBlockSize != 0 {
		return fmt.Errorf("--put-buffer %q: want a multiple of 64KiB", c.putBuffer)
	}
	store, err := engine.Open(engine.Options{Dirs: c.dirs, Parity: c.parity, CacheSize: cacheSize, SegmentSize: int64(segSize),
		FreeSpaceReserve: reserve, CompactionInterval: compactEvery, Logf: sugar.Infof, ChunkBlocks: int(putBuffer / engine.DefaultBlockSize)})
	if err != nil {
		return err
	}
	srv := s3.NewServer(s3.Config{Store: store, Logger: log, AccessKey: c.accessKey, SecretKey: c.secretKey,
		Region: c.region, Domain: c.domain, Version: version, MetricsPublic: !c.metricsAuth,
		HeaderTimeout: c.headerTimeout, BodyStallTimeout: c.bodyStall, MaxConnsPerIP: c.maxConnsPerIP,
		MaxRequests: c.maxRequests, RequestWait: c.requestWait})
	ln, err := net.Listen("tcp", c.address)
	if err != nil {
		store.Close()
		return err
	}
	scheme := "http"
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			store.Close()
			return err
		}
		ln = tls.NewListener(ln, serverTLS(cert))
		scheme = "https"
	}
	log.Info("lsmd serving", zap.String("endpoint", scheme+"://"+ln.Addr().String()), zap.Strings("drives", c.dirs), zap.String("access_key", c.accessKey))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("draining requests and closing the store")
		err = srv.Shutdown()
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		log.Info("lsmd stopped cleanly")
	}
	return err
}

// serverTLS is lsmd's TLS configuration: TLS 1.2 or later and, for TLS
// 1.2, only ECDHE suites with an AEAD cipher (AES-GCM, ChaCha20-Poly1305):
// no CBC-SHA1 suites. Go does not let TLS 1.3 suites be chosen; all are
// AEAD.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// servePprof serves net/http/pprof on a loopback address, for profiling a
// running server (go tool pprof http://ADDR/debug/pprof/profile).
func servePprof(addr string, log *zap.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--pprof %s: profiles are served on loopback addresses only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.Serve(ln, mux); err != nil {
			log.Warn("pprof server stopped", zap.Error(err))
		}
	}()
	log.Info("pprof profiles served", zap.String("address", ln.Addr().String()))
	return nil
}
