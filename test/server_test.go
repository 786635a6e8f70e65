package test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// selfSigned writes a certificate for 127.0.0.1 and returns the file paths
// and a pool that trusts it.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lsmd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "public.crt"), filepath.Join(dir, "private.key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	s := &server{Dir: t.TempDir(), tls: true, HTTPClient: &http.Client{Transport: tr}}
	s.start(t, "--tls-cert", certPath, "--tls-key", keyPath)
	c, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Secure: true, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "tls-bucket", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(5, 1<<20)
	if _, err := c.PutObject(ctx, "tls-bucket", "k", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, "tls-bucket", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get over TLS: %v", err)
	}
	// Ranges below, inside and above the sizes sent by writev.
	for _, rg := range [][2]int64{{100, 4 << 10}, {70000, 64 << 10}, {5, 300 << 10}} {
		opts := minio.GetObjectOptions{}
		opts.SetRange(rg[0], rg[0]+rg[1]-1)
		obj, err := c.GetObject(ctx, "tls-bucket", "k", opts)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data[rg[0]:rg[0]+rg[1]]) {
			t.Fatalf("range %v over TLS: %v", rg, err)
		}
	}
	// Plain HTTP to the TLS port does not get an S3 answer.
	if resp, err := http.Get("http://" + s.Addr + "/minio/health/live"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
}

// slowReader yields its data in small pieces with pauses.
type slowReader struct {
	data  []byte
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := copy(p[:min(len(p), 256<<10)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestSIGTERMDrains: an upload in flight when SIGTERM arrives completes,
// and the data is there after a restart.
func TestSIGTERMDrains(t *testing.T) {
	s := startServer(t)
	c := minioClient(t, s)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "drain", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(6, 8<<20)
	done := make(chan error, 1)
	go func() {
		_, err := c.PutObject(ctx, "drain", "slow", &slowReader{data: data, pause: 40 * time.Millisecond}, int64(len(data)), minio.PutObjectOptions{DisableMultipart: true})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("upload in flight at SIGTERM: %v", err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("lsmd exit: %v\n%s", err, s.logText())
	}
	s.cmd = nil
	s.start(t)
	c = minioClient(t, s)
	obj, err := c.GetObject(ctx, "drain", "slow", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("drained upload after restart: %v", err)
	}
}

// TestExpectContinue: a PUT that waits for 100 Continue gets it.
func TestExpectContinue(t *testing.T) {
	s := startServer(t)
	c := minioClient(t, s)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "expect", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(7, 2<<20)
	u, err := c.PresignedPutObject(ctx, "expect", "k", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", u.String(), bytes.NewReader(data))
	req.Header.Set("Expect", "100-continue")
	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	start := time.Now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if time.Since(start) > 8*time.Second {
		t.Fatal("the client waited out its Expect timeout: no 100 Continue")
	}
	st, err := c.StatObject(ctx, "expect", "k", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(data)) {
		t.Fatalf("stat: %v %d", err, st.Size)
	}
}
