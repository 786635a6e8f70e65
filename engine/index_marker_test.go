package engine

import (
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestIndexMarkerAfterManifestDurable: when Pebble points its manifest
// marker at a new MANIFEST, that MANIFEST's directory entry is already
// durable. Pebble v2.1.7 creates both files and syncs the directory once,
// after the marker: a crash in between may keep the marker and lose the
// MANIFEST, and the index copy then does not open ("could not open manifest
// file"), which TestCrashWorkload hit in its crashes during recovery.
func TestIndexMarkerAfterManifestDurable(t *testing.T) {
	mem := vfs.NewCrashableMem()
	var mu sync.Mutex
	checked := 0
	var problems []string
	fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		base := mem.PathBase(op.Path)
		if op.Kind != errorfs.OpCreate || !strings.HasPrefix(base, "marker.manifest.") {
			return nil
		}
		// marker.manifest.<iter>.<MANIFEST-n>, about to be created: take
		// the crash state from just before it.
		parts := strings.SplitN(base, ".", 4)
		manifest := mem.PathJoin(mem.PathDir(op.Path), parts[3])
		c := mem.CrashClone(vfs.CrashCloneCfg{})
		mu.Lock()
		defer mu.Unlock()
		checked++
		if _, err := c.Stat(manifest); err != nil {
			problems = append(problems, manifest+": "+err.Error())
		}
		return nil
	}))
	o := Options{Dirs: []string{"d0"}, CompactionInterval: -1}
	for i := 0; i < 3; i++ {
		s := openMem(t, fs, o)
		if i == 0 {
			s.CreateBucket("bkt")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if checked < 2 {
		t.Fatalf("only %d manifest marker moves seen", checked)
	}
	for _, p := range problems {
		t.Errorf("a crash before the marker's creation loses the MANIFEST it names: %s", p)
	}
	t.Logf("%d manifest marker moves checked", checked)
}
