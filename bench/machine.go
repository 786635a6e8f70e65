package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes where a benchmark ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemBytes  int64  `json:"mem_bytes"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Disk      string `json:"disk"`
	Load      string `json:"loadavg"`
}

// DescribeMachine reads /proc and /sys; dir names the disk to describe.
func DescribeMachine(dir string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			if k, v, ok := bytes.Cut(line, []byte{':'}); ok && strings.TrimSpace(string(k)) == "model name" {
				m.CPUModel = strings.TrimSpace(string(v))
				break
			}
		}
	}
	if st := readStatusFile("/proc/meminfo"); st != nil {
		m.MemBytes = st["MemTotal"]
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	m.Disk = describeDisk(dir)
	return m
}

func readStatusFile(p string) map[string]int64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 2 && string(f[1]) == "kB" {
			var n int64
			fmt.Sscan(string(f[0]), &n)
			out[string(k)] = n * 1024
		}
	}
	return out
}

// describeDisk names the block device holding dir: name, size, rotational.
func describeDisk(dir string) string {
	var st unix.Stat_t
	if dir == "" || unix.Stat(dir, &st) != nil {
		return ""
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return fmt.Sprintf("device %d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	}
	name := filepath.Base(real)
	read := func(p string) string {
		b, _ := os.ReadFile(filepath.Join(real, p))
		return strings.TrimSpace(string(b))
	}
	// a partition's queue lives in its parent
	queue := real
	if _, err := os.Stat(filepath.Join(real, "queue")); err != nil {
		queue = filepath.Dir(real)
	}
	rot, _ := os.ReadFile(filepath.Join(queue, "queue", "rotational"))
	kind := "SSD or virtual"
	if strings.TrimSpace(string(rot)) == "1" {
		kind = "rotational"
	}
	var sectors int64
	fmt.Sscan(read("size"), &sectors)
	return fmt.Sprintf("%s, %s, %s", name, HumanBytes(sectors*512), kind)
}
