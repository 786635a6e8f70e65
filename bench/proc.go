package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ProcSample is a process's CPU time (user + system) and memory.
type ProcSample struct {
	CPU time.Duration
	RSS int64 // resident set, bytes
	HWM int64 // peak resident set, bytes
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

// SampleProc reads /proc/PID/stat and /proc/PID/status.
func SampleProc(pid int) (ProcSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, err
	}
	return parseProc(b, readStatus(pid))
}

// parseProc parses a /proc/PID/stat line: the command may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseProc(stat []byte, status map[string]int64) (ProcSample, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ProcSample{}, fmt.Errorf("malformed /proc stat")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15, rss 24.
	if len(f) < 22 {
		return ProcSample{}, fmt.Errorf("short /proc stat")
	}
	field := func(n int) int64 {
		v, _ := strconv.ParseInt(string(f[n-3]), 10, 64)
		return v
	}
	ticks := field(14) + field(15)
	s := ProcSample{
		CPU: time.Duration(ticks) * time.Second / clockTick,
		RSS: field(24) * int64(os.Getpagesize()),
	}
	if v, ok := status["VmRSS"]; ok {
		s.RSS = v
	}
	s.HWM = status["VmHWM"]
	return s, nil
}

// readStatus returns the kB fields of /proc/PID/status in bytes.
func readStatus(pid int) map[string]int64 {
	return readStatusFile(fmt.Sprintf("/proc/%d/status", pid))
}

// SelfCPU is this process's CPU time so far (user + system).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
