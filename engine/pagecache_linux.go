package engine

import "golang.org/x/sys/unix"

// dropPages asks the kernel to drop n clean page cache bytes of fd from
// off on.
func dropPages(fd uintptr, off, n int64) {
	_ = unix.Fadvise(int(fd), off, n, unix.FADV_DONTNEED)
}
