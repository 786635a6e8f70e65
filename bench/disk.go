package bench

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DiskUsage is the space a directory tree takes.
type DiskUsage struct {
	Files     int64 `json:"files"`
	Apparent  int64 `json:"apparent_bytes"`  // sum of file sizes
	Allocated int64 `json:"allocated_bytes"` // sum of allocated blocks
}

// DirUsage walks dir and adds up its regular files, like du.
func DirUsage(dir string) (DiskUsage, error) {
	var u DiskUsage
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			u.Allocated += st.Blocks * 512
		}
		if info.Mode().IsRegular() {
			u.Files++
			u.Apparent += info.Size()
		}
		return nil
	})
	return u, err
}

// EvictDir drops the page cache of every file under dir
// (POSIX_FADV_DONTNEED after an fdatasync), so the next reads come from the
// disk. Pages a process has mapped stay.
func EvictDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		_ = unix.Fdatasync(int(f.Fd()))
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
}

// ODirectResult is the raw random-read rate of the disk holding a directory.
type ODirectResult struct {
	Dir         string  `json:"dir"`
	FileBytes   int64   `json:"file_bytes"`
	BlockSize   int     `json:"block_size"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	Reads       int64   `json:"reads"`
	IOPS        float64 `json:"iops"`
	LatencyMs   Latency `json:"latency_ms"`
}

// ODirectProbe writes a fileSize temporary file in dir, then reads random
// 4 KiB-aligned 4 KiB blocks from it with O_DIRECT preads at the given
// concurrency for d: the disk's random-read IOPS with no cache in the way.
// The file is removed afterwards.
func ODirectProbe(ctx context.Context, dir string, fileSize int64, conc int, d time.Duration, seed uint64) (*ODirectResult, error) {
	const bs = 4096
	fileSize = max(fileSize/bs*bs, 64*bs)
	f, err := os.CreateTemp(dir, "lsmbench-odirect-*")
	if err != nil {
		return nil, err
	}
	name := f.Name()
	defer os.Remove(name)
	pool := NewPool(seed, min(fileSize, 8*MiB))
	for off := int64(0); off < fileSize; {
		n := min(int64(len(pool)), fileSize-off)
		if _, err := f.WriteAt(pool[:n], off); err != nil {
			f.Close()
			return nil, err
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	f.Close()

	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)

	var stop atomic.Bool
	var reads atomic.Int64
	var firstErr error
	var once sync.Once
	hists := make([]*Hist, conc)
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for i := range conc {
		hists[i] = NewHist()
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := make([]byte, 2*bs)
			buf := raw[alignOffset(raw, bs):][:bs]
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			blocks := fileSize / bs
			for !stop.Load() && ctx.Err() == nil {
				off := r.Int64N(blocks) * bs
				t := time.Now()
				if _, err := unix.Pread(fd, buf, off); err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				hists[i].Record(time.Since(t))
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if firstErr != nil {
		return nil, firstErr
	}
	h := NewHist()
	for _, x := range hists {
		h.Merge(x)
	}
	return &ODirectResult{Dir: dir, FileBytes: fileSize, BlockSize: bs, Concurrency: conc, Seconds: el,
		Reads: reads.Load(), IOPS: float64(reads.Load()) / el, LatencyMs: latencyOf(h)}, ctx.Err()
}

// alignOffset is how far into b the first align-aligned address is.
func alignOffset(b []byte, align int) int {
	a := int(uintptr(unsafe.Pointer(&b[0])) & uintptr(align-1))
	if a == 0 {
		return 0
	}
	return align - a
}

// WarmDir reads every file under dir once, so the page cache holds it: warm
// runs then compare servers on the same footing whether or not they wrote
// with O_DIRECT.
func WarmDir(dir string) error {
	buf := make([]byte, 1*MiB)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		for {
			if _, err := f.Read(buf); err != nil {
				return nil
			}
		}
	})
}
