package engine

import (
	"context"
	"fmt"
)

// driveShard marks a Problem with a whole drive (its layout marker or index
// copy) rather than with one segment.
const driveShard = -2

// reinstateDrives brings the drives that failed at Open back into service,
// first thing in a heal: each gets its index copy re-created (when it holds
// one) and its layout marker rewritten, and its shard and mirror files that
// still open are attached again; the heal's scrub then checks them and
// rebuilds what is missing or damaged. Open segments lack a replica on a
// drive that was failed: they are sealed now, so that they are encoded
// onto every drive (or, mirrored, healed like the other sealed segments).
func (s *Store) reinstateDrives(ctx context.Context, res *HealResult) error {
	failed := s.drives.failedDrives()
	if len(failed) == 0 {
		return nil
	}
	for _, i := range failed {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := s.opts.Dirs[i]
		s.drives.mu.RLock()
		reason := s.drives.failed[i]
		s.drives.mu.RUnlock()
		pr := Problem{Shard: driveShard, Drive: d, What: "failed at open: " + reason}
		res.Found = append(res.Found, pr)
		if err := s.reinstateDrive(i); err != nil {
			return fmt.Errorf("healing drive %s: %w", d, err)
		}
		pr.What += " (layout marker rewritten"
		if i < s.layout.Replicas {
			pr.What += ", index copy re-created"
		}
		pr.What += ")"
		res.Repaired = append(res.Repaired, pr)
		s.opts.Logf("engine: drive %s is back in service; healing its segments", d)
	}
	if err := s.completeActive(); err != nil {
		return err
	}
	s.WaitSealed()
	return s.writable()
}

// reinstateDrive rewrites drive i's metadata and puts it back in service.
// The layout marker is written last: a crash before it leaves the drive
// failed at the next Open, as it was.
func (s *Store) reinstateDrive(i int) error {
	d := s.opts.Dirs[i]
	if err := mkdirAllSynced(s.fs, s.segDir(d)); err != nil {
		return err
	}
	if s.locks[i] == nil {
		lk, err := s.fs.Lock(s.fs.PathJoin(d, "LOCK"))
		if err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		s.locks[i] = lk
	}
	if i < s.layout.Replicas {
		if err := s.idx.addCopy(s, s.fs.PathJoin(d, indexDirName)); err != nil {
			return err
		}
	}
	l := s.layout
	l.Drive = i
	if err := writeFileSync(s.fs, s.fs.PathJoin(d, layoutFile), encodeLayout(l)); err != nil {
		return err
	}
	// Under appendMu: a segment created from now on has a replica here.
	s.appendMu.Lock()
	s.drives.reinstate(i)
	s.appendMu.Unlock()
	s.attachDrive(d)
	return nil
}

// attachDrive opens the shard and mirror files a reinstated drive holds
// for the sealed segments. Those that do not open stay missing for the
// heal to rebuild; those that open are verified by its scrub.
func (s *Store) attachDrive(d string) {
	for _, sg := range s.sealedSegments() {
		sg.maint.Lock()
		sg.mu.RLock()
		ec, files, bix := sg.ec, sg.files, sg.bix
		sg.mu.RUnlock()
		if ec != nil {
			for j := 0; j < ec.k+ec.m; j++ {
				if s.shardDrive(sg.id, j) != d || ec.file(j) != nil {
					continue
				}
				if f, crcs, err := s.openShard(sg.id, j, ec); err == nil {
					ec.mu.Lock()
					ec.files[j], ec.crcs[j] = f, crcs
					ec.mu.Unlock()
				}
			}
		} else {
			for r, rd := range s.replicaDrives(sg.id) {
				if rd != d || r >= len(files) || files[r] != nil {
					continue
				}
				if f, err := s.fs.Open(s.fs.PathJoin(s.segDir(d), segmentName(sg.id))); err == nil {
					sg.setMirror(r, f)
				}
			}
		}
		if bix != nil && bix.count == 0 && len(bix.data) == 0 {
			// No block index verified at open: this drive's may.
			if m, err := openBix(s.fs, s.fs.PathJoin(s.segDir(d), bixName(sg.id)), sg.id, s.opts.BlockSize); err == nil {
				sg.mu.Lock()
				sg.bix = m
				sg.mu.Unlock()
			}
		}
		sg.maint.Unlock()
	}
}

// completeActive gives the active segment its replicas on reinstated
// drives: an empty one gets the file now, one holding data is rotated so
// that it is sealed (and encoded) with every drive in service.
func (s *Store) completeActive() error {
	s.appendMu.Lock()
	a := s.active
	drives := s.replicaDrives(a.id)
	var missing []int
	for j, f := range a.files {
		if f == nil && !s.driveFailed(drives[j]) {
			missing = append(missing, j)
		}
	}
	if len(missing) == 0 {
		s.appendMu.Unlock()
		return nil
	}
	if a.size.Load() <= segHeaderSize {
		defer s.appendMu.Unlock()
		for _, j := range missing {
			p := s.fs.PathJoin(s.segDir(drives[j]), segmentName(a.id))
			f, err := s.fs.Create(p, writeCategory)
			if err != nil {
				return err
			}
			if _, err := f.Write(segHeader(a.id, s.opts.BlockSize)); err != nil {
				f.Close()
				return err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			a.setMirror(j, f)
			if err := syncDir(s.fs, s.segDir(drives[j])); err != nil {
				return err
			}
		}
		return nil
	}
	s.appendMu.Unlock()
	_, err := s.rotateActive()
	return err
}
