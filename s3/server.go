package s3

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/lsmstore/lsmstore/engine"
)

const serverName = "LSMStore"

// Config configures a Server.
type Config struct {
	Store  *engine.Store
	Logger *zap.Logger
	// ReadTimeout, WriteTimeout and IdleTimeout protect against slow
	// clients. Defaults: 5 min, 5 min, 2 min.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Server serves the S3 API over fasthttp.
type Server struct {
	cfg      Config
	log      *zap.Logger
	srv      *fasthttp.Server
	draining atomic.Bool
}

// NewServer returns a server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.srv = &fasthttp.Server{
		Handler:           s.handle,
		Name:              serverName,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		StreamRequestBody: true,
		NoDefaultDate:     false,
	}
	return s
}

func (s *Server) ready() bool { return !s.draining.Load() }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	if s.serveHealth(ctx) {
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNotImplemented)
	ctx.SetContentType("application/xml")
	ctx.SetBodyString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>`)
}

// Serve serves connections from ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown() error {
	s.draining.Store(true)
	return s.srv.Shutdown()
}
