package engine

import (
	"fmt"
	"strings"
	"sync"
)

// Drive states, as Drives and Metrics report them.
const (
	// DriveOK: the drive is in service and nothing wrong is known.
	DriveOK = "ok"
	// DriveFailed: Open found the drive unusable (its layout marker or
	// index copy unreadable or corrupt, or the drive itself unreadable).
	// The store neither reads nor writes it until Heal reinstates it;
	// reads of its shards are rebuilt from the other drives meanwhile.
	DriveFailed = "failed"
	// DriveDamaged: the drive is in service, but some of its files (a
	// block index, shard or mirror) were found missing or corrupt, or it
	// is a new drive; Heal rebuilds them.
	DriveDamaged = "damaged"
)

// DriveFault is a drive out of service or holding damage Heal will repair.
type DriveFault struct {
	Path   string
	Index  int    // place in the set
	State  string // DriveFailed or DriveDamaged
	Reason string
}

// maxDamageNotes bounds the damage remembered per drive; beyond it only a
// count grows.
const maxDamageNotes = 64

// driveFaults tracks which drives are out of service and what damage was
// found on the others.
type driveFaults struct {
	paths []string
	mu    sync.RWMutex
	// failed holds the reason a drive is out of service; "" in service.
	failed []string
	// fresh marks drives that had no layout marker at Open (replaced).
	fresh []bool
	// damage lists damage found per drive, oldest first; extra counts
	// what did not fit.
	damage [][]string
	extra  []int
}

func newDriveFaults(paths []string) *driveFaults {
	n := len(paths)
	return &driveFaults{paths: paths, failed: make([]string, n), fresh: make([]bool, n),
		damage: make([][]string, n), extra: make([]int, n)}
}

// index returns the place of drive path in the set, or -1.
func (d *driveFaults) index(path string) int {
	for i, p := range d.paths {
		if p == path {
			return i
		}
	}
	return -1
}

// fail takes drive i out of service.
func (d *driveFaults) fail(i int, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed[i] == "" {
		d.failed[i] = reason
	}
}

// isFailed reports whether drive path is out of service.
func (d *driveFaults) isFailed(path string) bool {
	i := d.index(path)
	d.mu.RLock()
	defer d.mu.RUnlock()
	return i >= 0 && d.failed[i] != ""
}

func (d *driveFaults) failedAt(i int) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.failed[i] != ""
}

// failedDrives returns the places of the drives out of service.
func (d *driveFaults) failedDrives() []int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []int
	for i, r := range d.failed {
		if r != "" {
			out = append(out, i)
		}
	}
	return out
}

// reinstate puts drive i back in service.
func (d *driveFaults) reinstate(i int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed[i] = ""
	d.fresh[i] = false
}

// noteDamage records damage found on drive path (in service or not).
func (d *driveFaults) noteDamage(path, what string) {
	i := d.index(path)
	if i < 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.damage[i] {
		if w == what {
			return
		}
	}
	if len(d.damage[i]) >= maxDamageNotes {
		d.extra[i]++
		return
	}
	d.damage[i] = append(d.damage[i], what)
}

// damageMark is how much damage each drive had noted at one moment.
type damageMark []int

func (d *driveFaults) markDamage() damageMark {
	d.mu.RLock()
	defer d.mu.RUnlock()
	m := make(damageMark, len(d.paths))
	for i := range m {
		m[i] = len(d.damage[i]) + d.extra[i]
	}
	return m
}

// clearDamage forgets the damage noted before mark m (a heal repaired it);
// what was noted since stays.
func (d *driveFaults) clearDamage(m damageMark) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, n := range m {
		d.fresh[i] = false
		if n >= len(d.damage[i])+d.extra[i] {
			d.damage[i], d.extra[i] = nil, 0
			continue
		}
		if d.extra[i] > 0 {
			// Which overflowed notes are older is unknown: keep them all.
			continue
		}
		d.damage[i] = append([]string(nil), d.damage[i][n:]...)
	}
}

// faults returns the drives out of service or with damage, in set order.
func (d *driveFaults) faults() []DriveFault {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []DriveFault
	for i, p := range d.paths {
		f := DriveFault{Path: p, Index: i}
		var notes []string
		if d.fresh[i] {
			notes = append(notes, "new drive: heal rebuilds its data")
		}
		notes = append(notes, d.damage[i]...)
		more := ""
		if d.extra[i] > 0 {
			more = fmt.Sprintf(" (and %d more)", d.extra[i])
		}
		switch {
		case d.failed[i] != "":
			f.State, f.Reason = DriveFailed, d.failed[i]
		case len(notes) > 0:
			f.State, f.Reason = DriveDamaged, strings.Join(notes, "; ")+more
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// lost returns the drives that are failed or new, with why, in set order.
func (d *driveFaults) lost() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []string
	for i, p := range d.paths {
		switch {
		case d.failed[i] != "":
			out = append(out, fmt.Sprintf("drive %s: %s", p, d.failed[i]))
		case d.fresh[i]:
			out = append(out, fmt.Sprintf("drive %s: new (no layout marker)", p))
		}
	}
	return out
}

// budget fails when more drives are failed or new than parity covers.
func (d *driveFaults) budget(parity int) error {
	if lost := d.lost(); len(lost) > parity {
		return fmt.Errorf("%w: %d of %d drives are failed or new, parity %d covers %d: %s",
			ErrTooManyDrivesFailed, len(lost), len(d.paths), parity, parity, strings.Join(lost, "; "))
	}
	return nil
}

// driveFailed reports whether drive path is out of service.
func (s *Store) driveFailed(path string) bool { return s.drives.isFailed(path) }

// DriveFaults returns the drives out of service or holding damage Heal will
// repair, in set order; nil when every drive is sound. It does no I/O.
func (s *Store) DriveFaults() []DriveFault { return s.drives.faults() }
