package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// replaceDrive empties a drive completely, as a new disk would be.
func replaceDrive(t *testing.T, fs vfs.FS, dir string) {
	t.Helper()
	if err := fs.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestHealReplacedDrives(t *testing.T) {
	for _, drives := range []int{3, 4} {
		t.Run(fmt.Sprintf("%d-drives", drives), func(t *testing.T) {
			fs := vfs.NewMem()
			o := ecOpts(drives)
			want := ecFill(t, fs, o, uint64(40+drives))
			m := parityFor(drives)
			for i := 0; i < m; i++ { // drive 0 holds the primary index copy
				replaceDrive(t, fs, o.Dirs[i])
			}
			s := openMem(t, fs, o)
			defer s.Close()
			readAll(t, s, want)
			scrub, err := s.Scrub(context.Background(), MaintenanceOptions{Rate: -1})
			if err != nil || len(scrub.Problems) == 0 {
				t.Fatalf("scrub after replacing drives: %d problems, %v", len(scrub.Problems), err)
			}
			var progressed int64
			res, err := s.Heal(context.Background(), MaintenanceOptions{Rate: -1, Progress: func(p MaintenanceProgress) { progressed = p.BytesDone }})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Repaired) != len(res.Found) || len(res.Found) == 0 || progressed == 0 {
				t.Fatalf("heal: found %d repaired %d progress %d", len(res.Found), len(res.Repaired), progressed)
			}
			t.Logf("heal: %d problems repaired, %d bytes written", len(res.Repaired), res.BytesWritten)
			scrub, err = s.Scrub(context.Background(), MaintenanceOptions{Rate: -1})
			if err != nil || len(scrub.Problems) != 0 {
				t.Fatalf("scrub after heal: %v %v", scrub.Problems, err)
			}
			// The replaced drives got their block-index replicas back.
			bix := 0
			for i := 0; i < m; i++ {
				names, _ := fs.List(o.Dirs[i] + "/segments")
				for _, n := range names {
					if strings.HasSuffix(n, ".bix") {
						bix++
					}
				}
			}
			if bix == 0 {
				t.Fatal("no block index was rebuilt on the replaced drives")
			}
			degraded := s.Metrics().DegradedReads
			readAll(t, s, want)
			if d := s.Metrics().DegradedReads - degraded; d != 0 {
				t.Fatalf("%d degraded reads after healing", d)
			}
			// After a restart too, the healed shards are used.
			s.Close()
			s = openMem(t, fs, o)
			readAll(t, s, want)
			if s.Metrics().DegradedReads != 0 {
				t.Fatal("degraded reads after restart")
			}
			// Now lose the drives that were never replaced, up to m: the
			// index copies rebuilt on the replaced drives carry the store.
			s.Close()
			for i := m; i < 2*m && i < drives; i++ {
				replaceDrive(t, fs, o.Dirs[i])
			}
			s = openMem(t, fs, o)
			readAll(t, s, want)
		})
	}
}

func TestHealCorruptShardBlocks(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(6)
	want := ecFill(t, fs, o, 51)
	r := rand.New(rand.NewPCG(52, 52))
	files := shardFiles(t, fs, o)
	for _, p := range files[:len(files)/3] {
		buf, _ := fs.UnsafeGetFileDataBuffer(p)
		buf[shardHeaderSize+r.IntN(16<<10)] ^= 0xa5 // first row
	}
	s := openMem(t, fs, o)
	defer s.Close()
	scrub, _ := s.Scrub(context.Background(), MaintenanceOptions{Rate: -1})
	if len(scrub.Problems) == 0 {
		t.Fatal("scrub found nothing")
	}
	if _, err := s.Heal(context.Background(), MaintenanceOptions{Rate: -1}); err != nil {
		t.Fatal(err)
	}
	if scrub, _ = s.Scrub(context.Background(), MaintenanceOptions{Rate: -1}); len(scrub.Problems) != 0 {
		t.Fatalf("after heal: %v", scrub.Problems)
	}
	readAll(t, s, want)
}

func TestHealMirrors(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(2) // 1+1: sealed segments stay mirrored
	want := ecFill(t, fs, o, 61)
	replaceDrive(t, fs, o.Dirs[1])
	s := openMem(t, fs, o)
	defer s.Close()
	readAll(t, s, want)
	res, err := s.Heal(context.Background(), MaintenanceOptions{Rate: -1})
	if err != nil || len(res.Repaired) == 0 {
		t.Fatalf("heal: %+v %v", res, err)
	}
	if scrub, _ := s.Scrub(context.Background(), MaintenanceOptions{Rate: -1}); len(scrub.Problems) != 0 {
		t.Fatalf("after heal: %v", scrub.Problems)
	}
	s.Close()
	// Drive 1, its mirrors healed and its index copy rebuilt at open, now
	// serves alone.
	replaceDrive(t, fs, o.Dirs[0])
	s = openMem(t, fs, o)
	readAll(t, s, want)
}

// TestCrashDuringSealAndHeal takes crash clones while segments are being
// encoded and while shards are being rebuilt: every clone opens with every
// acknowledged object intact.
func TestCrashDuringSealAndHeal(t *testing.T) {
	fs := vfs.NewCrashableMem()
	o := ecOpts(4)
	rng := rand.New(rand.NewPCG(71, 71))
	type clone struct {
		fs    *vfs.MemFS
		acked int64 // keys k0..k(acked-1) were acknowledged before it
	}
	var clones []clone
	var acked atomic.Int64
	var mu sync.Mutex
	s := openMem(t, fs, o)
	s.testing.duringEncode = func(seg uint64, row int64) {
		if row == 1 {
			mu.Lock()
			n := acked.Load()
			clones = append(clones, clone{fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 30, RNG: rng}), n})
			mu.Unlock()
		}
	}
	s.CreateBucket("bkt")
	r := rand.New(rand.NewPCG(72, 72))
	want := map[string][]byte{}
	for i := 0; i < 25; i++ {
		key := fmt.Sprintf("k%d", i)
		data := randomBytes(r, 1+r.IntN(100<<10))
		mustPut(t, s, "bkt", key, data)
		want[key] = data
		acked.Add(1)
	}
	s.WaitSealed()
	s.Close()
	replaceDrive(t, fs, o.Dirs[1])
	s = openMem(t, fs, o)
	s.testing.duringHeal = func(seg uint64, shard int, row int64) {
		if row == 2 {
			clones = append(clones, clone{fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 30, RNG: rng}), 25})
		}
	}
	if _, err := s.Heal(context.Background(), MaintenanceOptions{Rate: -1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(clones) < 2 {
		t.Fatalf("only %d clones taken", len(clones))
	}
	mu.Lock()
	defer mu.Unlock()
	for i, c := range clones {
		sub := map[string][]byte{}
		for j := int64(0); j < c.acked; j++ {
			k := fmt.Sprintf("k%d", j)
			sub[k] = want[k]
		}
		cs := openMem(t, c.fs, o)
		readAll(t, cs, sub)
		if _, err := cs.Heal(context.Background(), MaintenanceOptions{Rate: -1}); err != nil {
			t.Fatalf("clone %d heal: %v", i, err)
		}
		cs.WaitSealed()
		readAll(t, cs, sub)
		cs.Close()
		// The index copies a crash left behind agree: any one can go.
		replaceDrive(t, c.fs, o.Dirs[i%3])
		cs = openMem(t, c.fs, o)
		readAll(t, cs, sub)
		cs.Close()
	}
	t.Logf("%d crash clones verified", len(clones))
}
