package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// server is a child process serving S3 on a loopback port: lsmd, MinIO or
// the ceiling server. It runs in its own process group and dies with us.
type server struct {
	name    string
	bin     string
	args    func(addr string) []string
	env     []string
	dir     string // data directory ("" for none)
	addr    string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
}

// freePort picks a free port on 127.0.0.1.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start launches the process on a fresh port and waits until
// /minio/health/ready answers 200.
func (s *server) start(ctx context.Context) error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	s.addr = addr
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, s.args(addr)...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	return s.waitReady(ctx, 90*time.Second)
}

func (s *server) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// waitReady polls the readiness probe.
func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	c := &fasthttp.Client{ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + s.addr + "/minio/health/ready")
		err := c.DoTimeout(req, resp, 2*time.Second)
		ok := err == nil && resp.StatusCode() == 200
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		if ok {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited during start-up; its log is %s", s.name, s.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s; its log is %s", s.name, limit, s.logPath)
		}
	}
}

// pause stops the process (SIGSTOP) so it takes no CPU while the other
// target runs; resume continues it and waits until it answers again.
func (s *server) pause() error {
	if s.cmd == nil || s.paused {
		return nil
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	s.paused = true
	return nil
}

func (s *server) resume(ctx context.Context) error {
	if s.cmd == nil || !s.paused {
		return nil
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	s.paused = false
	return s.waitReady(ctx, 30*time.Second)
}

// stop ends the process: SIGTERM, then SIGKILL after 20 seconds.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	select {
	case <-s.exited:
		return nil
	default:
	}
	if s.paused {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.paused = false
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(20 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return errors.New(s.name + " did not stop on SIGTERM within 20s; killed")
}

func lsmdServer(bin, dir, logDir, access, secret string) *server {
	return &server{
		name: "lsmd", bin: bin, dir: dir, logPath: filepath.Join(logDir, "lsmd.log"),
		args: func(addr string) []string {
			return []string{"--address", addr, "--log-level", "warn", dir}
		},
		env: []string{"MINIO_ROOT_USER=" + access, "MINIO_ROOT_PASSWORD=" + secret,
			"LSMD_ACCESS_KEY=" + access, "LSMD_SECRET_KEY=" + secret},
	}
}

func minioServer(bin, dir, logDir, access, secret string) *server {
	s := &server{
		name: "minio", bin: bin, dir: dir, logPath: filepath.Join(logDir, "minio.log"),
		env: []string{"MINIO_ROOT_USER=" + access, "MINIO_ROOT_PASSWORD=" + secret,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off"},
	}
	s.args = func(addr string) []string {
		// the console gets its own free port, bound to loopback too
		console, err := freePort()
		if err != nil {
			console = "127.0.0.1:0"
		}
		return []string{"server", "--quiet", "--address", addr, "--console-address", console, dir}
	}
	return s
}

func ceilingServer(self string, seed uint64, size int64, logDir string) *server {
	return &server{
		name: "ceiling", bin: self, logPath: filepath.Join(logDir, "ceiling.log"),
		args: func(addr string) []string {
			return []string{"ceiling-server", "--address", addr, "--seed", strconv.FormatUint(seed, 10), "--data-size", strconv.FormatInt(size, 10)}
		},
	}
}
