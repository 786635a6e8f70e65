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
// checks that the drives form one set opened with compatible options.
func loadLayout(o Options) (layout, error) {
	fs := o.FS
	replicas := replicasFor(len(o.Dirs))
	if o.Parity > 0 {
		replicas = o.Parity + 1
	} else if o.Parity < 0 {
		replicas = 1
	}
	want := layout{Format: formatVersion, BlockSize: o.BlockSize, Drives: len(o.Dirs), Replicas: replicas, ShardBlock: o.ShardBlockSize}
	var found []layout
	for _, d := range o.Dirs {
		if err := mkdirAllSynced(fs, d); err != nil {
			return layout{}, err
		}
		l, ok, err := readLayout(fs, d)
		if err != nil {
			return layout{}, fmt.Errorf("drive %s: %w", d, err)
		}
		if ok {
			found = append(found, l)
		}
	}
	if len(found) == 0 {
		id := make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return layout{}, err
		}
		want.SetID = hex.EncodeToString(id)
		for i, d := range o.Dirs {
			l := want
			l.Drive = i
			if err := writeFileSync(fs, fs.PathJoin(d, layoutFile), encodeLayout(l)); err != nil {
				return layout{}, err
			}
		}
		return want, nil
	}
	if len(found) != len(o.Dirs) {
		// Replaced drives: accept them when the rest agree and at most
		// parity drives are new; Heal rebuilds their shards.
		ref := found[0]
		if len(o.Dirs)-len(found) > ref.Replicas-1 || ref.Drives != len(o.Dirs) {
			return layout{}, fmt.Errorf("%w: %d of %d drives carry a layout; at most %d may be replaced", ErrIncompatibleLayout, len(found), len(o.Dirs), ref.Replicas-1)
		}
		found = found[:0]
		for i, d := range o.Dirs {
			l, ok, err := readLayout(fs, d)
			if err != nil {
				return layout{}, fmt.Errorf("drive %s: %w", d, err)
			}
			if !ok {
				l = ref
				l.Drive = i
				if err := writeFileSync(fs, fs.PathJoin(d, layoutFile), encodeLayout(l)); err != nil {
					return layout{}, err
				}
				o.Logf("engine: drive %s is new to set %s: run heal to rebuild its data", d, ref.SetID)
			}
			found = append(found, l)
		}
	}
	for i, l := range found {
		switch {
		case l.Format != formatVersion:
			return layout{}, fmt.Errorf("%w: drive %s has format %d, this build reads %d", ErrIncompatibleLayout, o.Dirs[i], l.Format, formatVersion)
		case l.BlockSize != o.BlockSize:
			return layout{}, fmt.Errorf("%w: drive %s was written with block size %d, not %d", ErrIncompatibleLayout, o.Dirs[i], l.BlockSize, o.BlockSize)
		case l.ShardBlock != o.ShardBlockSize:
			return layout{}, fmt.Errorf("%w: drive %s was written with shard-block size %d, not %d", ErrIncompatibleLayout, o.Dirs[i], l.ShardBlock, o.ShardBlockSize)
		case l.Drives != len(o.Dirs):
			return layout{}, fmt.Errorf("%w: drive %s belongs to a set of %d drives, opened with %d", ErrIncompatibleLayout, o.Dirs[i], l.Drives, len(o.Dirs))
		case o.Parity != 0 && l.Replicas != want.Replicas:
			return layout{}, fmt.Errorf("%w: the drives were set up with parity %d, opened with parity %d", ErrIncompatibleLayout, l.Replicas-1, want.Replicas-1)
		case l.SetID != found[0].SetID:
			return layout{}, fmt.Errorf("%w: drive %s belongs to set %s, drive %s to set %s", ErrIncompatibleLayout, o.Dirs[i], l.SetID, o.Dirs[0], found[0].SetID)
		case l.Drive != i:
			return layout{}, fmt.Errorf("%w: drive %s is drive %d of its set, given as drive %d", ErrIncompatibleLayout, o.Dirs[i], l.Drive, i)
		}
	}
	// Parity left at its default takes what the drives recorded.
	want.SetID, want.Replicas = found[0].SetID, found[0].Replicas
	return want, nil
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
