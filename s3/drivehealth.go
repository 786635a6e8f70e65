package s3

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
)

// Drive health on the readiness probe: a store serving with failed drives
// is ready (every object is still served), so the counts go in headers a
// monitor can read without credentials; which drives and why is in the
// signed admin API (stats, drives, MinIO's admin info) and the metrics.
const (
	hdrDrivesFailed  = "X-Lsm-Drives-Failed"
	hdrDrivesDamaged = "X-Lsm-Drives-Damaged"
)

func (s *Server) driveHealthHeaders(ctx *fasthttp.RequestCtx) {
	if s.store == nil {
		return
	}
	failed, damaged := driveCounts(s.store.DriveFaults())
	ctx.Response.Header.Set(hdrDrivesFailed, strconv.Itoa(failed))
	ctx.Response.Header.Set(hdrDrivesDamaged, strconv.Itoa(damaged))
}

func driveCounts(faults []engine.DriveFault) (failed, damaged int) {
	for _, f := range faults {
		switch f.State {
		case engine.DriveFailed:
			failed++
		case engine.DriveDamaged:
			damaged++
		}
	}
	return failed, damaged
}

// adminInfoDrives is the drives part of MinIO's admin info: each drive
// with MinIO's state names (ok, or faulty when failed), and the online and
// offline counts of its backend section.
func adminInfoDrives(st *engine.Store, endpoint string) (drives []map[string]any, backend map[string]any) {
	online, offline := 0, 0
	for _, d := range st.Drives() {
		state := "ok"
		switch d.State {
		case engine.DriveFailed:
			state = "faulty"
			offline++
		default: // a damaged drive is in service: "ok", with its reason
			online++
		}
		drives = append(drives, map[string]any{
			"endpoint": endpoint, "path": d.Path, "state": state, "reason": d.Reason,
			"totalspace": d.TotalBytes, "availspace": d.FreeBytes, "usedspace": d.TotalBytes - d.FreeBytes,
		})
	}
	return drives, map[string]any{"backendType": "Erasure", "onlineDisks": online, "offlineDisks": offline}
}
