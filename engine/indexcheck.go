package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// openIndexCopy opens one index copy and checks it whole: Pebble's open
// replays its manifest and log, its write sequence number reads back, and
// every block of every table verifies against its checksum. A copy that
// fails is not used: its drive counts as failed until Heal re-creates the
// copy. Pebble reports some corruption by panicking; that too is a failure.
func openIndexCopy(fs vfs.FS, dir string, popts *pebble.Options) (db *pebble.DB, seq uint64, err error) {
	o := *popts
	o.ErrorIfNotExists = true
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: index copy %s: %v", ErrCorrupt, dir, r)
			if db != nil {
				closeQuietly(db)
				db = nil
			}
		}
	}()
	db, err = pebble.Open(dir, &o)
	if err != nil {
		if indexAbsent(err) {
			err = fmt.Errorf("%w: %w", errIndexAbsent, err)
		}
		return nil, 0, err
	}
	if seq, err = readSeq(db); err == nil {
		err = checkTables(fs, dir, db)
	}
	if err != nil {
		closeQuietly(db)
		return nil, 0, err
	}
	return db, seq, nil
}

// checkTables verifies the checksum of every block of every table of db
// (which lives in dir). Reading the blocks without decoding their keys costs
// about a read of the index from disk.
//
// Pebble may compact meanwhile: a table gone since it was listed was
// rewritten into new ones (a compaction verifies what it reads), so the
// tables are listed again until every one listed has been checked.
func checkTables(fs vfs.FS, dir string, db *pebble.DB) error {
	checked := map[uint64]bool{}
	for round := 0; ; round++ {
		levels, err := db.SSTables()
		if err != nil {
			return err
		}
		fresh := 0
		for _, level := range levels {
			for _, t := range level {
				num := uint64(t.BackingSSTNum)
				if checked[num] {
					continue
				}
				fresh++
				checked[num] = true
				name := fmt.Sprintf("%06d.sst", num)
				if err := checkTable(fs, fs.PathJoin(dir, name)); err != nil && !isNotExist(err) {
					return fmt.Errorf("table %s: %w", name, err)
				}
			}
		}
		if fresh == 0 || round == 10 {
			return nil
		}
	}
}

func checkTable(fs vfs.FS, path string) error {
	f, err := fs.Open(path)
	if err != nil {
		return err
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		f.Close()
		return err
	}
	r, err := sstable.NewReader(context.Background(), readable, sstable.ReaderOptions{})
	if err != nil {
		readable.Close()
		return err
	}
	err = r.ValidateBlockChecksums()
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}

// closeQuietly closes a copy found damaged; Pebble may panic closing it.
func closeQuietly(db *pebble.DB) {
	defer func() { recover() }()
	db.Close()
}

// errIndexAbsent is returned by openIndexCopy for a copy that is not
// there (a new drive), as opposed to one that is damaged.
var errIndexAbsent = errors.New("engine: no index copy")

// indexAbsent reports whether Pebble failed to open a copy because it is
// not there.
func indexAbsent(err error) bool {
	return errors.Is(err, pebble.ErrDBDoesNotExist) || isNotExist(err)
}

// addCopy re-creates the index copy in dir from the primary and adds it to
// the set. Writes wait meanwhile (the copy takes as long as copying the
// index), so the new copy starts at the same sequence number as the others.
func (x *indexSet) addCopy(s *Store, dir string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, d := range x.dirs {
		if d == dir {
			return nil
		}
	}
	return x.rebuild(s.fs, []string{dir})
}

// copies returns how many index copies are in use.
func (x *indexSet) copies() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.dbs)
}

// indexEvents is the index copies' event listener: Pebble's default for
// corruption it finds is to kill the process; here the damaged copy's drive
// is noted (Open's check then fails it) and the error goes back to the
// caller.
func (s *Store) indexEvents() *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			s.opts.Logf("engine: index corruption in %s: %v", info.Path, info.Details)
			for _, d := range s.opts.Dirs[:s.layout.Replicas] {
				if strings.HasPrefix(info.Path, s.fs.PathJoin(d, indexDirName)+"/") {
					s.drives.noteDamage(d, "index copy: corrupt file "+s.fs.PathBase(info.Path))
				}
			}
		},
	}
}
