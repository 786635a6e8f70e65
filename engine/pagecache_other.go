//go:build !linux

package engine

func dropPages(fd uintptr, off, n int64) {}
