package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// driveFiles lists every regular file on a drive: its layout marker, its
// index copy and its segment directory.
func driveFiles(t *testing.T, fs vfs.FS, drive string) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{drive, drive + "/index", drive + "/segments"} {
		names, err := fs.List(dir)
		if err != nil {
			continue
		}
		for _, n := range names {
			p := dir + "/" + n
			if st, err := fs.Stat(p); err == nil && !st.IsDir() && st.Size() > 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// flipBytes flips n random bytes of a file in place.
func flipBytes(t *testing.T, fs *vfs.MemFS, path string, r *rand.Rand, n int) {
	t.Helper()
	buf, err := fs.UnsafeGetFileDataBuffer(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n && len(buf) > 0; i++ {
		buf[r.IntN(len(buf))] ^= byte(1 + r.IntN(255))
	}
}

// rewrite replaces a file's contents.
func rewrite(t *testing.T, fs vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fs.Create(path, writeCategory)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// driveDamage is one kind of damage done to a stopped store's drive.
type driveDamage struct {
	name string
	// atOpen: Open sees the damage (the drive is failed); otherwise reads
	// and scrubs find it.
	atOpen bool
	// maybeStale: the damage can look like a copy a crash left behind,
	// which Open rebuilds at once; on every index drive it goes unseen.
	maybeStale bool
	do         func(t *testing.T, fs *vfs.MemFS, drive string, r *rand.Rand)
}

func filesWith(t *testing.T, fs vfs.FS, drive, sub string, match func(string) bool) []string {
	var out []string
	for _, p := range driveFiles(t, fs, drive) {
		if strings.HasPrefix(p, drive+"/"+sub) && match(p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no file to damage under %s", drive, sub)
	}
	return out
}

var driveDamages = []driveDamage{
	{"layout-garbage", true, false, func(t *testing.T, fs *vfs.MemFS, d string, r *rand.Rand) {
		rewrite(t, fs, d+"/"+layoutFile, randomBytes(r, 100))
	}},
	{"layout-flipped", true, false, func(t *testing.T, fs *vfs.MemFS, d string, r *rand.Rand) {
		flipBytes(t, fs, d+"/"+layoutFile, r, 8)
	}},
	{"index-truncated", true, true, func(t *testing.T, fs *vfs.MemFS, d string, r *rand.Rand) {
		for _, p := range filesWith(t, fs, d, "index", func(string) bool { return true }) {
			buf, _ := fs.UnsafeGetFileDataBuffer(p)
			rewrite(t, fs, p, buf[:len(buf)/2])
		}
	}},
	{"index-garbage", true, false, func(t *testing.T, fs *vfs.MemFS, d string, r *rand.Rand) {
		for _, p := range filesWith(t, fs, d, "index", func(string) bool { return true }) {
			buf, _ := fs.UnsafeGetFileDataBuffer(p)
			rewrite(t, fs, p, randomBytes(r, len(buf)))
		}
	}},
	{"index-sstables-flipped", true, false, func(t *testing.T, fs *vfs.MemFS, d string, r *rand.Rand) {
		for _, p := range filesWith(t, fs, d, "index", func(p string) bool { return strings.HasSuffix(p, ".sst") }) {
			flipBytes(t, fs, p, r, 8)
		}
	}},
	{"bix-flipped", false, false, func(t *testing.T, fs *vfs.MemFS, d string, r *rand.Rand) {
		for _, p := range filesWith(t, fs, d, "segments", func(p string) bool { return strings.HasSuffix(p, ".bix") }) {
			flipBytes(t, fs, p, r, 8)
		}
	}},
	{"shards-and-mirrors-flipped", false, false, func(t *testing.T, fs *vfs.MemFS, d string, r *rand.Rand) {
		for _, p := range filesWith(t, fs, d, "segments", func(p string) bool {
			return strings.HasSuffix(p, ".shd") || strings.HasSuffix(p, ".seg")
		}) {
			flipBytes(t, fs, p, r, 8)
		}
	}},
}

// TestDamagedDrivesAtOpen: per-drive damage on up to parity drives of a
// 4+2 store leaves it serving every object; the drives are reported with a
// reason, Heal repairs them, and a later Open finds every drive healthy.
// Damage Open can see on parity+1 drives makes Open fail naming them.
func TestDamagedDrivesAtOpen(t *testing.T) {
	for i, dmg := range driveDamages {
		t.Run(dmg.name, func(t *testing.T) {
			fs := vfs.NewMem()
			o := ecOpts(6) // 4+2; index copies on d0, d1, d2
			want := ecFill(t, fs, o, uint64(90+i))
			flushIndex(t, fs, o)
			bad := []string{o.Dirs[0], o.Dirs[1]} // the primary index copy and another
			r := rand.New(rand.NewPCG(uint64(i), 77))
			for _, d := range bad {
				dmg.do(t, fs, d, r)
			}
			s, err := Open(withFS(o, fs))
			if err != nil {
				t.Fatalf("open with %s on %v: %v", dmg.name, bad, err)
			}
			readAll(t, s, want)
			if !dmg.atOpen {
				if _, err := s.Scrub(context.Background(), MaintenanceOptions{Rate: -1}); err != nil {
					t.Fatal(err)
				}
			}
			faults := s.Metrics().DriveFaults
			reported := 0
			for _, d := range bad {
				f, ok := faultOf(faults, d)
				if ok && f.Reason != "" && (!dmg.atOpen || f.State == DriveFailed) {
					reported++
					continue
				}
				// An index copy cut short can look like one a crash left
				// behind: Open then rebuilds it from the primary at once.
				if dmg.maybeStale && !ok && indexCopyInUse(s, d) {
					continue
				}
				t.Fatalf("drive %s not reported (state %q, reason %q): %+v", d, f.State, f.Reason, faults)
			}
			if len(faults) != reported || (reported == 0 && !dmg.maybeStale) {
				t.Fatalf("faults on %d drives, %d of them damaged: %+v", len(faults), reported, faults)
			}
			t.Logf("reported: %+v", faults)
			// Writes go on meanwhile, and read back.
			extra := randomBytes(r, 100<<10)
			mustPut(t, s, "bkt", "written-while-degraded", extra)
			want["written-while-degraded"] = extra
			res, err := s.Heal(context.Background(), MaintenanceOptions{Rate: -1})
			if err != nil {
				t.Fatalf("heal: %v", err)
			}
			if len(res.Repaired) != len(res.Found) || (len(res.Found) == 0 && reported > 0) {
				t.Fatalf("heal found %d, repaired %d", len(res.Found), len(res.Repaired))
			}
			if f := s.Metrics().DriveFaults; len(f) != 0 {
				t.Fatalf("faults after heal: %+v", f)
			}
			readAll(t, s, want)
			s.WaitSealed()
			s.Close()

			s = openMem(t, fs, o)
			if f := s.Metrics().DriveFaults; len(f) != 0 {
				t.Fatalf("faults after heal and reopen: %+v", f)
			}
			for _, d := range s.Drives() {
				if d.State != DriveOK {
					t.Fatalf("drive %s: %s (%s) after heal", d.Path, d.State, d.Reason)
				}
			}
			readAll(t, s, want)
			if n := s.Metrics().DegradedReads; n != 0 {
				t.Fatalf("%d degraded reads after heal", n)
			}
			if sc, err := s.Scrub(context.Background(), MaintenanceOptions{Rate: -1}); err != nil || len(sc.Problems) != 0 {
				t.Fatalf("scrub after heal: %v %v", sc.Problems, err)
			}
			s.Close()
			// The healed drives carry their share: with two other drives
			// lost, every object still reads.
			replaceDrive(t, fs, o.Dirs[4])
			replaceDrive(t, fs, o.Dirs[5])
			s = openMem(t, fs, o)
			readAll(t, s, want)
			s.Close()

			if !dmg.atOpen || dmg.maybeStale {
				return
			}
			// parity+1 drives: damage d0, d1 again and d2 as well.
			for _, d := range o.Dirs[:3] {
				dmg.do(t, fs, d, r)
			}
			s, err = Open(withFS(o, fs))
			if err == nil {
				s.Close()
				t.Fatal("opened with 3 damaged drives and parity 2")
			}
			if !errors.Is(err, ErrTooManyDrivesFailed) {
				t.Fatalf("open with 3 damaged drives: %v", err)
			}
			for _, d := range o.Dirs[:3] {
				if !strings.Contains(err.Error(), "drive "+d+":") {
					t.Fatalf("error does not name drive %s: %v", d, err)
				}
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestFailedDriveWithNewDrive: a replaced (empty) drive and a damaged one
// together use up parity 2; one more damaged drive is refused.
func TestFailedDriveWithNewDrive(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(6)
	want := ecFill(t, fs, o, 99)
	r := rand.New(rand.NewPCG(5, 5))
	replaceDrive(t, fs, o.Dirs[4])
	rewrite(t, fs, o.Dirs[1]+"/"+layoutFile, []byte("garbage"))
	s := openMem(t, fs, o)
	readAll(t, s, want)
	if _, err := s.Heal(context.Background(), MaintenanceOptions{Rate: -1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openMem(t, fs, o)
	readAll(t, s, want)
	s.Close()

	replaceDrive(t, fs, o.Dirs[4])
	rewrite(t, fs, o.Dirs[1]+"/"+layoutFile, []byte("garbage"))
	flipBytes(t, fs, o.Dirs[5]+"/"+layoutFile, r, 8)
	if s, err := Open(withFS(o, fs)); err == nil {
		s.Close()
		t.Fatal("opened with a new drive and two damaged ones at parity 2")
	} else if !errors.Is(err, ErrTooManyDrivesFailed) || !strings.Contains(err.Error(), "drive d4:") {
		t.Fatalf("open: %v", err)
	}
}

// TestFailedDriveMirrored: with 1+1 drives (sealed segments stay
// mirrored) a failed drive is brought back by Heal with every mirror,
// the active segment's included, so that it then serves alone.
func TestFailedDriveMirrored(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(2)
	want := ecFill(t, fs, o, 31)
	rewrite(t, fs, o.Dirs[1]+"/"+layoutFile, []byte("{}\ncrc32c 00000000\n"))
	s := openMem(t, fs, o)
	readAll(t, s, want)
	if f := s.Metrics().DriveFaults; len(f) != 1 || f[0].Path != o.Dirs[1] || f[0].State != DriveFailed {
		t.Fatalf("faults: %+v", f)
	}
	r := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 3; i++ {
		k := fmt.Sprintf("while-failed/%d", i)
		want[k] = randomBytes(r, 50<<10)
		mustPut(t, s, "bkt", k, want[k])
	}
	if _, err := s.Heal(context.Background(), MaintenanceOptions{Rate: -1}); err != nil {
		t.Fatal(err)
	}
	k := "after-heal"
	want[k] = randomBytes(r, 50<<10)
	mustPut(t, s, "bkt", k, want[k])
	s.Close()
	replaceDrive(t, fs, o.Dirs[0])
	s = openMem(t, fs, o)
	defer s.Close()
	readAll(t, s, want)
}

func withFS(o Options, fs vfs.FS) Options {
	o.FS = fs
	o.IndexCacheSize = 8 << 20
	return o
}

func faultOf(fs []DriveFault, path string) (DriveFault, bool) {
	for _, f := range fs {
		if f.Path == path {
			return f, true
		}
	}
	return DriveFault{}, false
}

// flushIndex flushes every index copy, so that each holds sstables.
func flushIndex(t *testing.T, fs vfs.FS, o Options) {
	t.Helper()
	s := openMem(t, fs, o)
	defer s.Close()
	for _, db := range s.idx.dbs {
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// indexCopyInUse reports whether drive d's index copy is in the set, at the
// primary's write.
func indexCopyInUse(s *Store, d string) bool {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	for i, dir := range s.idx.dirs {
		if dir == d+"/"+indexDirName {
			seq, err := readSeq(s.idx.dbs[i])
			return err == nil && seq == s.idx.seq
		}
	}
	return false
}
