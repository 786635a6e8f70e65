// Package test holds end-to-end tests: they build lsmd, start it as a real
// process on a free loopback port, and drive it with real S3 clients.
package test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

const (
	accessKey = "lsmtestaccess"
	secretKey = "lsmtestsecret0123456789"
)

// server is a running lsmd process.
type server struct {
	cmd      *exec.Cmd
	Addr     string // host:port
	Endpoint string // http://host:port
	Dir      string
	log      *os.File
	// HTTPClient reaches the server (it trusts the server's TLS certificate
	// when TLS is on).
	HTTPClient *http.Client
	tls        bool
}

var lsmdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lsmd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lsmdBin = filepath.Join(dir, "lsmd")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-race", "-o", lsmdBin, "./cmd/lsmd")
	build.Dir = filepath.Dir(filepath.Dir(file))
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lsmd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts lsmd on a fresh data directory (or dir, if given) and
// stops it when the test ends.
func startServer(t testing.TB, extraArgs ...string) *server {
	t.Helper()
	s := &server{Dir: t.TempDir()}
	return s.start(t, extraArgs...)
}

func (s *server) start(t testing.TB, extraArgs ...string) *server {
	t.Helper()
	s.Addr = freePort(t)
	s.Endpoint = "http://" + s.Addr
	if s.HTTPClient == nil {
		s.HTTPClient = http.DefaultClient
	}
	if s.tls {
		s.Endpoint = "https://" + s.Addr
	}
	args := append([]string{"--address", s.Addr, "--log-level", "warn", "--cache-size", "64MiB"}, extraArgs...)
	args = append(args, s.Dir)
	s.cmd = exec.Command(lsmdBin, args...)
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+accessKey, "MINIO_ROOT_PASSWORD="+secretKey)
	logf, err := os.CreateTemp(t.TempDir(), "lsmd-*.log")
	if err != nil {
		t.Fatal(err)
	}
	s.log = logf
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.HTTPClient.Get(s.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop(t)
			t.Fatalf("lsmd did not become healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop sends SIGTERM and waits; lsmd must exit cleanly.
func (s *server) stop(t testing.TB) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	cmd := s.cmd
	s.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("lsmd exited with %v; log:\n%s", err, s.logText())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("lsmd did not stop within 30 s of SIGTERM; log:\n%s", s.logText())
	}
}

// restart stops lsmd and starts it again on the same data.
func (s *server) restart(t testing.TB) {
	t.Helper()
	s.stop(t)
	s.start(t)
}

func (s *server) logText() string {
	if s.log == nil {
		return ""
	}
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}
