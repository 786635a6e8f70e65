package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
)

// mountTmpfs mounts a tmpfs of size bytes under a temporary directory and
// unmounts it when the test ends (after servers started later stop). Where
// mounting is not permitted the test is skipped, except under CI=true.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): %v: %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fsUsed returns the bytes used on the filesystem holding dir.
func fsUsed(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize
}

// TestHardeningDiskFull is issue 12's item 9 on a real filesystem: lsmd on
// a 16 MiB tmpfs takes 512 KiB PUTs until one does not fit, which gets 507
// XMinioStorageFull (never 500 or 503); every acknowledged object reads
// back intact; HEAD, LIST and the readiness probe go on; deletes work;
// lsmctl compact --wait gives the space back and PUTs work again, all
// without a restart.
func TestHardeningDiskFull(t *testing.T) {
	dir := mountTmpfs(t, 16<<20)
	// Defaults on a 16 MiB drive: a 4 MiB reserve (a quarter of the
	// drive) and 1 MiB segments (1/16 of it).
	srv := (&server{Dir: dir}).start(t, "--compaction-interval", "0")
	c := minioClient(t, srv)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "full", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const size = 512 << 10
	put := func(key string, seed uint64) error {
		data := randBytes(seed, size)
		_, err := c.PutObject(ctx, "full", key, bytes.NewReader(data), size, minio.PutObjectOptions{})
		return err
	}
	var acked []int
	refused := 0
	for i := 0; i < 100 && refused < 3; i++ {
		err := put(fmt.Sprintf("obj/%03d", i), uint64(i))
		if err == nil {
			if refused > 0 {
				t.Fatalf("PUT %d acknowledged after a refusal on a full disk", i)
			}
			acked = append(acked, i)
			continue
		}
		er := minio.ToErrorResponse(err)
		if er.StatusCode != 507 || er.Code != "XMinioStorageFull" {
			t.Fatalf("PUT %d on a full disk: status %d code %q (%v), want 507 XMinioStorageFull", i, er.StatusCode, er.Code, err)
		}
		refused++
	}
	if refused == 0 {
		t.Fatalf("%d PUTs of 512 KiB fit on a 16 MiB tmpfs", len(acked))
	}
	usedFull := fsUsed(t, dir)
	t.Logf("%d PUTs of 512 KiB acknowledged, then %d refused with 507 XMinioStorageFull; tmpfs used %.1f MiB of 16", len(acked), refused, float64(usedFull)/(1<<20))

	check := func(label string, keep func(i int) bool) {
		t.Helper()
		n := 0
		for _, i := range acked {
			if !keep(i) {
				continue
			}
			n++
			key := fmt.Sprintf("obj/%03d", i)
			o, err := c.GetObject(ctx, "full", key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatalf("%s: GET %s: %v", label, key, err)
			}
			got, err := io.ReadAll(o)
			o.Close()
			if err != nil || !bytes.Equal(got, randBytes(uint64(i), size)) {
				t.Fatalf("%s: GET %s: %d bytes, err %v: not what was acknowledged", label, key, len(got), err)
			}
			if _, err := c.StatObject(ctx, "full", key, minio.StatObjectOptions{}); err != nil {
				t.Fatalf("%s: HEAD %s: %v", label, key, err)
			}
		}
		listed := 0
		for o := range c.ListObjects(ctx, "full", minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("%s: LIST: %v", label, o.Err)
			}
			listed++
		}
		if listed < n {
			t.Fatalf("%s: LIST shows %d objects, want at least %d", label, listed, n)
		}
	}
	all := func(int) bool { return true }
	check("full", all)
	resp, err := srv.HTTPClient.Get(srv.Endpoint + "/minio/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readiness on a full disk: %d, want 200 (the store is not failed)", resp.StatusCode)
	}

	// Delete the first third (wholly dead segments) and every other
	// object after it (half-dead ones).
	gone := func(i int) bool { return i < len(acked)/3 || i%2 == 0 }
	for _, i := range acked {
		if gone(i) {
			if err := c.RemoveObject(ctx, "full", fmt.Sprintf("obj/%03d", i), minio.RemoveObjectOptions{}); err != nil {
				t.Fatalf("DELETE on a full disk: %v", err)
			}
		}
	}
	kept := func(i int) bool { return !gone(i) }
	check("after deletes", kept)
	r := lsmctl(t, "--endpoint", srv.Endpoint, "compact", "--wait")
	if r.code != 0 {
		t.Fatalf("lsmctl compact --wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	usedAfter := fsUsed(t, dir)
	t.Logf("tmpfs used %.1f MiB full, %.1f MiB after deletes and lsmctl compact --wait", float64(usedFull)/(1<<20), float64(usedAfter)/(1<<20))
	if usedAfter > usedFull*3/4 {
		t.Fatalf("compaction left %.1f of %.1f MiB used after deleting over half", float64(usedAfter)/(1<<20), float64(usedFull)/(1<<20))
	}
	check("after compaction", kept)
	for i := 1000; i < 1010; i++ {
		if err := put(fmt.Sprintf("obj/%03d", i), uint64(i)); err != nil {
			t.Fatalf("PUT after compaction: %v", err)
		}
		acked = append(acked, i)
	}
	check("after new PUTs", kept)
}
