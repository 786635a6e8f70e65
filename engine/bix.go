package engine

import (
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// bixMap is a sealed segment's block index, mapped into memory when the file
// has a descriptor and read into a buffer otherwise (in-memory filesystems).
type bixMap struct {
	data      []byte
	count     int
	entrySize int
	mapped    bool
}

func (m *bixMap) entry(n uint32) (blockEntry, bool) {
	if int(n) >= m.count {
		return blockEntry{}, false
	}
	off := bixHeaderSize + int(n)*m.entrySize
	return getBixEntry(m.data[off : off+m.entrySize]), true
}

func (m *bixMap) close() error {
	if m.mapped {
		m.mapped = false
		return unix.Munmap(m.data)
	}
	return nil
}

// openBix maps and verifies the block index of segment id.
func openBix(fs vfs.FS, path string, id uint64, blockSize int) (*bixMap, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < bixHeaderSize+8 || size > 1<<30 {
		return nil, fmt.Errorf("%w: block index %s has size %d", ErrCorrupt, path, size)
	}
	m := &bixMap{}
	if fd := f.Fd(); fd != vfs.InvalidFd {
		data, err := unix.Mmap(int(fd), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		if err == nil {
			m.data, m.mapped = data, true
		}
	}
	if !m.mapped {
		m.data = make([]byte, size)
		if _, err := f.ReadAt(m.data, 0); err != nil && err != io.EOF {
			return nil, err
		}
	}
	n, entrySize, ok := checkBix(m.data, id, blockSize)
	if !ok {
		m.close()
		return nil, fmt.Errorf("%w: block index %s", ErrCorrupt, path)
	}
	m.count, m.entrySize = n, entrySize
	return m, nil
}

// writeFileSync writes data to path through a temporary name, syncs it,
// renames it into place and syncs the directory.
func writeFileSync(fs vfs.FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp, writeCategory)
	if err != nil {
		return err
	}
	// Write may modify its argument; callers reuse data for other drives.
	if _, err := f.Write(append([]byte(nil), data...)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(fs, fs.PathDir(path))
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
