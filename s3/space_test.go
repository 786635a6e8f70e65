package s3

import (
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/lsmstore/lsmstore/engine"
)

// faultSwitch injects its current error into segment writes (write) or
// segment syncs (sync).
type faultSwitch struct {
	write, sync atomic.Pointer[error]
}

func (f *faultSwitch) String() string { return "faultSwitch" }

func (f *faultSwitch) MaybeError(op errorfs.Op) error {
	if !strings.HasSuffix(op.Path, ".seg") {
		return nil
	}
	if p := f.write.Load(); p != nil && op.Kind == errorfs.OpFileWrite {
		return *p
	}
	if p := f.sync.Load(); p != nil && (op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData) {
		return *p
	}
	return nil
}

// TestStorageFullAndFailedStore: ENOSPC on a segment write answers 507
// XMinioStorageFull and the server stays ready and writable; a failed fsync
// fails the store: writes get 503, reads go on, and the readiness probe
// says not ready.
func TestStorageFullAndFailedStore(t *testing.T) {
	inj := &faultSwitch{}
	st, err := engine.Open(engine.Options{FS: errorfs.Wrap(vfs.NewMem(), inj), Dirs: []string{"d"}, CacheSize: -1, IndexCacheSize: 8 << 20, CompactionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := serveInProcess(t, st, Config{}, nil)
	base := c.EndpointURL().String()
	ready := func() int {
		resp, err := http.Get(base + pathHealthReady)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if resp, body := signed(t, "PUT", base+"/bkt", nil); resp.StatusCode != 200 {
		t.Fatalf("create bucket: %d %s", resp.StatusCode, body)
	}
	data := strings.Repeat("x", 100<<10)
	if resp, body := signed(t, "PUT", base+"/bkt/a", []byte(data)); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}

	var enospc error = &os.PathError{Op: "write", Path: "seg", Err: syscall.ENOSPC}
	inj.write.Store(&enospc)
	for _, size := range []int{100 << 10, 100} {
		resp, body := signed(t, "PUT", base+"/bkt/b", []byte(strings.Repeat("y", size)))
		if resp.StatusCode != 507 || !strings.Contains(body, "<Code>XMinioStorageFull</Code>") {
			t.Fatalf("PUT of %d bytes on a full drive: %d %s, want 507 XMinioStorageFull", size, resp.StatusCode, body)
		}
	}
	if code := ready(); code != 200 {
		t.Fatalf("ready with a full drive: %d, want 200", code)
	}
	inj.write.Store(nil)
	if resp, body := signed(t, "DELETE", base+"/bkt/a", nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE after a full drive: %d %s", resp.StatusCode, body)
	}
	if resp, body := signed(t, "PUT", base+"/bkt/a", []byte(data)); resp.StatusCode != 200 {
		t.Fatalf("PUT once space is back: %d %s", resp.StatusCode, body)
	}

	var syncErr error = &os.PathError{Op: "fsync", Path: "seg", Err: syscall.EIO}
	inj.sync.Store(&syncErr)
	if resp, body := signed(t, "PUT", base+"/bkt/c", []byte(data)); resp.StatusCode != 503 {
		t.Fatalf("PUT with a failing fsync: %d %s, want 503", resp.StatusCode, body)
	}
	inj.sync.Store(nil)
	if resp, body := signed(t, "PUT", base+"/bkt/c", []byte(data)); resp.StatusCode != 503 {
		t.Fatalf("PUT on a failed store: %d %s, want 503", resp.StatusCode, body)
	}
	if resp, body := signed(t, "GET", base+"/bkt/a", nil); resp.StatusCode != 200 || body != data {
		t.Fatalf("GET on a failed store: %d, %d bytes", resp.StatusCode, len(body))
	}
	if code := ready(); code != 503 {
		t.Fatalf("ready on a failed store: %d, want 503", code)
	}
}
