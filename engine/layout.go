package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// layout is what every drive records at first open: the options that shape
// the on-disk format and the drive's place in its set.
type layout struct {
	Format     int    `json:"format"`
	BlockSize  int    `json:"block_size"`
	Drives     int    `json:"drives"`
	Replicas   int    `json:"replicas"`    // parity + 1: drives holding an open segment
	ShardBlock int    `json:"shard_block"` // erasure shard-block size
	SetID      string `json:"set_id"`
	Drive      int    `json:"drive"`
}

const (
	layoutFile    = "LSMSTORE"
	formatVersion = 1
)

// replicasFor is how many drives hold each open segment: parity+1, with the
// default parity for n drives.
func replicasFor(n int) int { return parityFor(n) + 1 }

// dataShards is k: the data shards of a sealed segment.
func (l layout) dataShards() int { return l.Drives - (l.Replicas - 1) }

// parityShards is m.
func (l layout) parityShards() int { return l.Replicas - 1 }

// encodeLayout writes the layout as JSON followed by a CRC32C line.
func encodeLayout(l layout) []byte {
	j, _ := json.Marshal(l)
	return fmt.Appendf(nil, "%s\ncrc32c %08x\n", j, crc32c(j))
}

func decodeLayout(b []byte) (layout, error) {
	var l layout
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return l, fmt.Errorf("%w: layout file has no checksum line", ErrCorrupt)
	}
	j, rest := b[:i], bytes.TrimSpace(b[i+1:])
	want, ok := bytes.CutPrefix(rest, []byte("crc32c "))
	v, err := strconv.ParseUint(string(want), 16, 32)
	if !ok || err != nil || uint32(v) != crc32c(j) {
		return l, fmt.Errorf("%w: layout file checksum", ErrCorrupt)
	}
	if err := json.Unmarshal(j, &l); err != nil {
		return l, fmt.Errorf("%w: layout file: %v", ErrCorrupt, err)
	}
	return l, nil
}

func readLayout(fs vfs.FS, dir string) (layout, bool, error) {
	f, err := fs.Open(fs.PathJoin(dir, layoutFile))
	if err != nil {
		if isNotExist(err) {
			return layout{}, false, nil
		}
		return layout{}, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<16))
	if err != nil {
		return layout{}, false, err
	}
	l, err := decodeLayout(b)
	return l, true, err
}

// loadLayout reads the layout of every drive, writes it on a new store, and
// checks that the drives form one set opened with compatible options. A
// drive whose layout marker is unreadable or corrupt is failed, one with
// none is new (replaced); more of them than parity is refused. New drives
// get their marker from writeFreshLayouts once Open has checked the rest.
func loadLayout(o Options) (layout, *driveFaults, error) {
	fs := o.FS
	replicas := replicasFor(len(o.Dirs))
	if o.Parity > 0 {
		replicas = o.Parity + 1
	} else if o.Parity < 0 {
		replicas = 1
	}
	want := layout{Format: formatVersion, BlockSize: o.BlockSize, Drives: len(o.Dirs), Replicas: replicas, ShardBlock: o.ShardBlockSize}
	df := newDriveFaults(o.Dirs)
	var found []layout
	var at []int // at[j]: the drive found[j] was read from
	for i, d := range o.Dirs {
		if err := mkdirAllSynced(fs, d); err != nil {
			df.fail(i, "drive directory: "+err.Error())
			continue
		}
		l, ok, err := readLayout(fs, d)
		switch {
		case err != nil:
			df.fail(i, "layout marker: "+err.Error())
		case !ok:
			df.fresh[i] = true
		default:
			found, at = append(found, l), append(at, i)
		}
	}
	if len(found) == 0 && len(df.failedDrives()) == 0 {
		id := make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return layout{}, nil, err
		}
		want.SetID = hex.EncodeToString(id)
		for i, d := range o.Dirs {
			l := want
			l.Drive = i
			if err := writeFileSync(fs, fs.PathJoin(d, layoutFile), encodeLayout(l)); err != nil {
				return layout{}, nil, err
			}
			df.fresh[i] = false
		}
		return want, df, nil
	}
	if len(found) == 0 {
		return layout{}, nil, df.budget(want.Replicas - 1)
	}
	for j, l := range found {
		d, i := o.Dirs[at[j]], at[j]
		switch {
		case l.Format != formatVersion:
			return layout{}, nil, fmt.Errorf("%w: drive %s has format %d, this build reads %d", ErrIncompatibleLayout, d, l.Format, formatVersion)
		case l.BlockSize != o.BlockSize:
			return layout{}, nil, fmt.Errorf("%w: drive %s was written with block size %d, not %d", ErrIncompatibleLayout, d, l.BlockSize, o.BlockSize)
		case l.ShardBlock != o.ShardBlockSize:
			return layout{}, nil, fmt.Errorf("%w: drive %s was written with shard-block size %d, not %d", ErrIncompatibleLayout, d, l.ShardBlock, o.ShardBlockSize)
		case l.Drives != len(o.Dirs):
			return layout{}, nil, fmt.Errorf("%w: drive %s belongs to a set of %d drives, opened with %d", ErrIncompatibleLayout, d, l.Drives, len(o.Dirs))
		case o.Parity != 0 && l.Replicas != want.Replicas:
			return layout{}, nil, fmt.Errorf("%w: the drives were set up with parity %d, opened with parity %d", ErrIncompatibleLayout, l.Replicas-1, want.Replicas-1)
		case l.SetID != found[0].SetID:
			return layout{}, nil, fmt.Errorf("%w: drive %s belongs to set %s, drive %s to set %s", ErrIncompatibleLayout, d, l.SetID, o.Dirs[at[0]], found[0].SetID)
		case l.Replicas != found[0].Replicas:
			return layout{}, nil, fmt.Errorf("%w: drive %s was set up with parity %d, drive %s with parity %d", ErrIncompatibleLayout, d, l.Replicas-1, o.Dirs[at[0]], found[0].Replicas-1)
		case l.Drive != i:
			return layout{}, nil, fmt.Errorf("%w: drive %s is drive %d of its set, given as drive %d", ErrIncompatibleLayout, d, l.Drive, i)
		}
	}
	// Parity left at its default takes what the drives recorded.
	want.SetID, want.Replicas = found[0].SetID, found[0].Replicas
	if err := df.budget(want.Replicas - 1); err != nil {
		return layout{}, nil, err
	}
	return want, df, nil
}

// writeFreshLayouts gives each new (replaced) drive the set's layout
// marker; Heal rebuilds its data.
func (s *Store) writeFreshLayouts() error {
	for i, d := range s.opts.Dirs {
		s.drives.mu.RLock()
		fresh := s.drives.fresh[i]
		s.drives.mu.RUnlock()
		if !fresh {
			continue
		}
		l := s.layout
		l.Drive = i
		if err := writeFileSync(s.fs, s.fs.PathJoin(d, layoutFile), encodeLayout(l)); err != nil {
			return fmt.Errorf("drive %s: write layout marker: %w", d, err)
		}
		s.opts.Logf("engine: drive %s is new to set %s: run heal to rebuild its data", d, l.SetID)
	}
	return nil
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// mkdirAllSynced creates dir and any missing parents, then syncs every
// parent whose entries changed (up to the closest existing ancestor), so a
// directory the engine creates survives a crash.
func mkdirAllSynced(fs vfs.FS, dir string) error {
	var parents []string
	for p := fs.PathDir(dir); ; p = fs.PathDir(p) {
		parents = append(parents, p)
		if fs.PathDir(p) == p {
			break
		}
		if _, err := fs.Stat(p); err == nil {
			break
		} else if !isNotExist(err) {
			return err
		}
	}
	if _, err := fs.Stat(dir); err == nil {
		return nil
	} else if !isNotExist(err) {
		return err
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range parents {
		if err := syncDir(fs, p); err != nil {
			return err
		}
	}
	return nil
}
