package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The Pebble index is kept as identical copies on the first Replicas drives
// (the drives that also mirror open segments), so it survives the loss of
// as many drives as the data does. Every write goes to every copy, in one
// order, and carries a write sequence number (Mseq) in the same batch: two
// copies with the same sequence number hold the same contents. Reads use
// the primary copy. Open takes the most advanced copy as the primary and
// rebuilds missing or stale ones from it with a Pebble checkpoint.

var keySeq = []byte("Mseq") // index write sequence number

const indexDirName = "index"

// indexSet is the open index copies; dbs[0] is the primary.
type indexSet struct {
	mu   sync.Mutex // orders writes identically on every copy
	dbs  []*pebble.DB
	dirs []string // dirs[i] holds dbs[i]
	seq  uint64   // sequence number of the last write
	opts *pebble.Options
}

// indexCopy is one index directory found at Open.
type indexCopy struct {
	dir string
	db  *pebble.DB
	seq uint64
}

func readSeq(db *pebble.DB) (uint64, error) {
	v, closer, err := db.Get(keySeq)
	if err == pebble.ErrNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: index sequence number", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), nil
}

// openIndex opens the index copies on the index drives. It returns the
// set (primary first) and the directories whose copy is missing or stale,
// to rebuild with rebuild once recovery has run.
func (s *Store) openIndex(popts *pebble.Options) (*indexSet, []string, error) {
	var found []indexCopy
	var absent []string
	// Checking a copy reads all of it: check them side by side.
	type opened struct {
		db  *pebble.DB
		seq uint64
		err error
	}
	res := make([]opened, s.layout.Replicas)
	var wg sync.WaitGroup
	for i, d := range s.opts.Dirs[:s.layout.Replicas] {
		if s.drives.failedAt(i) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &res[i]
			r.db, r.seq, r.err = openIndexCopy(s.fs, s.fs.PathJoin(d, indexDirName), popts)
		}()
	}
	wg.Wait()
	for i, d := range s.opts.Dirs[:s.layout.Replicas] {
		if s.drives.failedAt(i) {
			continue
		}
		dir := s.fs.PathJoin(d, indexDirName)
		db, seq, err := res[i].db, res[i].seq, res[i].err
		if errors.Is(err, errIndexAbsent) {
			if _, serr := s.fs.Stat(dir); serr == nil {
				s.opts.Logf("engine: index copy %s is empty (%v): rebuilding it", dir, err)
			}
			absent = append(absent, dir)
			continue
		}
		if err != nil {
			s.opts.Logf("engine: index copy %s is damaged: %v", dir, err)
			s.drives.fail(i, "index copy: "+err.Error())
			continue
		}
		found = append(found, indexCopy{dir: dir, db: db, seq: seq})
	}
	if err := s.drives.budget(s.layout.parityShards()); err != nil {
		for _, c := range found {
			c.db.Close()
		}
		return nil, nil, err
	}
	if len(found) == 0 {
		exist, err := s.anySegmentFiles()
		if err != nil {
			return nil, nil, err
		}
		if exist {
			return nil, nil, fmt.Errorf("%w: no drive holds a readable copy of the index, but segments exist", ErrCorrupt)
		}
		// A new store: create every copy.
		set := &indexSet{opts: popts}
		for _, dir := range absent {
			if err := s.fs.RemoveAll(dir); err != nil {
				set.close()
				return nil, nil, err
			}
			db, err := pebble.Open(dir, popts)
			if err != nil {
				set.close()
				return nil, nil, fmt.Errorf("engine: open index: %w", err)
			}
			set.dbs, set.dirs = append(set.dbs, db), append(set.dirs, dir)
		}
		return set, nil, nil
	}
	best := 0
	for i, c := range found {
		if c.seq > found[best].seq {
			best = i
		}
	}
	set := &indexSet{opts: popts, seq: found[best].seq}
	set.dbs, set.dirs = []*pebble.DB{found[best].db}, []string{found[best].dir}
	for i, c := range found {
		if i == best {
			continue
		}
		if c.seq == found[best].seq {
			set.dbs, set.dirs = append(set.dbs, c.db), append(set.dirs, c.dir)
			continue
		}
		s.opts.Logf("engine: index copy %s is behind (write %d of %d): rebuilding it", c.dir, c.seq, set.seq)
		if err := c.db.Close(); err != nil {
			s.opts.Logf("engine: close stale index copy %s: %v", c.dir, err)
		}
		absent = append(absent, c.dir)
	}
	return set, absent, nil
}

// rebuild replaces each directory in dirs with a checkpoint of the primary
// and adds it to the set. No write may run meanwhile.
func (x *indexSet) rebuild(fs vfs.FS, dirs []string) error {
	for _, dir := range dirs {
		tmp := dir + ".rebuild"
		if err := fs.RemoveAll(tmp); err != nil {
			return err
		}
		if err := x.dbs[0].Checkpoint(tmp, pebble.WithFlushedWAL()); err != nil {
			return fmt.Errorf("engine: checkpoint index to %s: %w", tmp, err)
		}
		if err := fs.RemoveAll(dir); err != nil {
			return err
		}
		if err := fs.Rename(tmp, dir); err != nil {
			return err
		}
		if err := syncDir(fs, fs.PathDir(dir)); err != nil {
			return err
		}
		db, err := pebble.Open(dir, x.opts)
		if err != nil {
			return fmt.Errorf("engine: open rebuilt index %s: %w", dir, err)
		}
		seq, err := readSeq(db)
		if err == nil && seq != x.seq {
			err = fmt.Errorf("%w: rebuilt index %s at write %d, primary at %d", ErrCorrupt, dir, seq, x.seq)
		}
		if err != nil {
			db.Close()
			return err
		}
		x.dbs, x.dirs = append(x.dbs, db), append(x.dirs, dir)
	}
	return nil
}

// commit writes batch b (made on the primary) to every copy with the next
// sequence number.
func (x *indexSet) commit(b *pebble.Batch, opts *pebble.WriteOptions) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	seq := binary.BigEndian.AppendUint64(nil, x.seq+1)
	if err := b.Set(keySeq, seq, nil); err != nil {
		return err
	}
	var repr []byte
	if len(x.dbs) > 1 {
		repr = bytes.Clone(b.Repr())
	}
	if err := b.Commit(opts); err != nil {
		return err
	}
	for _, db := range x.dbs[1:] {
		mb := db.NewBatch()
		err := mb.SetRepr(bytes.Clone(repr))
		if err == nil {
			err = db.Apply(mb, opts)
		}
		mb.Close()
		if err != nil {
			return err
		}
	}
	x.seq++
	return nil
}

// set and del write one key to every copy.
func (x *indexSet) set(k, v []byte, opts *pebble.WriteOptions) error {
	return x.one(opts, func(b *pebble.Batch) error { return b.Set(k, v, nil) })
}

func (x *indexSet) del(k []byte, opts *pebble.WriteOptions) error {
	return x.one(opts, func(b *pebble.Batch) error { return b.Delete(k, nil) })
}

func (x *indexSet) one(opts *pebble.WriteOptions, op func(*pebble.Batch) error) error {
	x.mu.Lock()
	primary := x.dbs[0]
	x.mu.Unlock()
	b := primary.NewBatch()
	defer b.Close()
	if err := op(b); err != nil {
		return err
	}
	return x.commit(b, opts)
}

// sync makes every copy's writes durable.
func (x *indexSet) sync() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for _, db := range x.dbs {
		errs = append(errs, db.LogData(nil, pebble.Sync))
	}
	return errors.Join(errs...)
}

func (x *indexSet) close() error {
	var errs []error
	for _, db := range x.dbs {
		errs = append(errs, db.Close())
	}
	x.dbs = nil
	return errors.Join(errs...)
}

// noPreallocFS is the filesystem the index copies use: Pebble preallocates
// every WAL to 1.1× the memtable size and keeps several, which on a store of
// a few hundred MiB is several percent of bytes on disk. The index WAL is
// written without sync between segment seals, so preallocation (which
// saves metadata updates on fdatasync) buys nothing here.
type noPreallocFS struct{ vfs.FS }

type noPreallocFile struct{ vfs.File }

func (noPreallocFile) Preallocate(offset, length int64) error { return nil }

func (fs noPreallocFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	// Pebble (v2.1.7) creates a new MANIFEST, then the marker naming it,
	// and syncs the directory once after both: a crash in between may keep
	// the marker without the MANIFEST, and the copy does not open. Syncing
	// the directory first makes whatever a marker names durable before it.
	if strings.HasPrefix(fs.PathBase(name), "marker.") {
		if err := syncDir(fs.FS, fs.PathDir(name)); err != nil {
			return nil, err
		}
	}
	f, err := fs.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return noPreallocFile{f}, nil
}

func (fs noPreallocFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	if err != nil {
		return nil, err
	}
	return noPreallocFile{f}, nil
}
