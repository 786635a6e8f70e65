package engine

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestDropSegmentWithWriterInFlight: a segment rotated away while a PUT
// has blocks in it but no applied record looks wholly dead to compaction.
// Dropping it must not mark it deleting (readers of the object, once the
// PUT commits, would retry on it until the writer let go) and must not
// remove it; the object reads back whole.
func TestDropSegmentWithWriterInFlight(t *testing.T) {
	o := Options{BlockSize: 4 << 10, ChunkBlocks: 1, CompactionInterval: -1, CacheSize: -1}
	s := openMem(t, vfs.NewMem(), o)
	defer s.Close()
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(rand.New(rand.NewPCG(5, 5)), 64<<10)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put("bkt", "k", int64(len(data)), pr, PutOptions{})
		done <- err
	}()
	// The first chunks reach the active segment; the writer then waits for
	// the rest of its body.
	if _, err := pw.Write(data[:16<<10]); err != nil {
		t.Fatal(err)
	}
	first := s.activeSegment()
	deadline := time.Now().Add(5 * time.Second)
	for first.writers.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the writer appended nothing")
		}
		time.Sleep(time.Millisecond)
	}
	a, err := s.rotateActive()
	if err != nil || a != first {
		t.Fatalf("rotate: %v, %v", a, err)
	}
	s.WaitSealed()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ok, err := s.dropSegment(ctx, first.id)
	if ok || err != nil {
		t.Fatalf("dropSegment with a writer in flight: dropped %v, err %v", ok, err)
	}
	if first.deleting.Load() {
		t.Fatal("the segment stays marked deleting")
	}
	if _, err := pw.Write(data[16<<10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "bkt", "k", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, want %d", len(got), len(data))
	}
	// Applied now: the segment is live and compaction keeps it.
	if ok, err := s.dropSegment(context.Background(), first.id); ok || err != nil {
		t.Fatalf("dropSegment of a live segment: dropped %v, err %v", ok, err)
	}
	if got := mustGet(t, s, "bkt", "k", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("read back wrong bytes after the second drop")
	}
}
