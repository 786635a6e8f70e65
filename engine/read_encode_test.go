package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestReadRacesEncode: a read that chose a sealed segment's mirrors while
// the segment was being encoded reads them even if the encode finishes
// (and drops the mirrors from the segment) before the read gets to them.
func TestReadRacesEncode(t *testing.T) {
	o := ecOpts(4)
	s := openMem(t, vfs.NewMem(), o)
	defer s.Close()
	encoding, release := make(chan uint64, 1), make(chan struct{})
	s.testing.duringEncode = func(seg uint64, row int64) {
		if row == 0 {
			select {
			case encoding <- seg:
				<-release
			default:
			}
		}
	}
	s.CreateBucket("bkt")
	r := rand.New(rand.NewPCG(5, 5))
	want := map[string][]byte{}
	var seg uint64
	for i := 0; seg == 0; i++ {
		if i == 100 {
			t.Fatal("no segment was sealed and encoded after 100 puts")
		}
		key := fmt.Sprintf("k%d", i)
		data := randomBytes(r, 20<<10+r.IntN(20<<10))
		mustPut(t, s, "bkt", key, data)
		want[key] = data
		select {
		case seg = <-encoding:
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The encoder is paused on segment seg; k0 is in it. The read lets
	// the encoder finish once it has picked the mirrors.
	var sg *segment
	s.segMu.RLock()
	sg = s.segs[seg]
	s.segMu.RUnlock()
	var hooked atomic.Bool
	s.testing.mirrorRead = func(id uint64) {
		if id != seg || !hooked.CompareAndSwap(false, true) {
			return
		}
		close(release)
		for deadline := time.Now().Add(20 * time.Second); !sg.encoded(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the encode did not finish")
				return
			}
		}
	}
	var b bytes.Buffer
	if _, err := s.Get("bkt", "k0", 0, -1, &b); err != nil {
		t.Fatalf("k0: %v", err)
	}
	if !bytes.Equal(b.Bytes(), want["k0"]) {
		t.Fatal("k0: wrong bytes")
	}
	if !hooked.Load() {
		t.Fatal("the read did not go to the mirrors")
	}
	s.WaitSealed()
	readAll(t, s, want)
}
