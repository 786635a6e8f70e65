package main

import (
	"fmt"

	"github.com/dustin/go-humanize"
)

// reserveUsage documents --free-space-reserve.
const reserveUsage = "free space every drive keeps for deletes, index writes and compaction; new object data that would leave less is refused with 507 XMinioStorageFull. " +
	"Default (auto): 2% of the drive, 64MiB to 2GiB, at most a quarter of the drive; 0 turns it off (env LSMD_FREE_SPACE_RESERVE)"

// parseReserve maps --free-space-reserve to engine.Options.FreeSpaceReserve:
// "auto" is the engine's default (0), "0" turns the reserve off (-1).
func parseReserve(v string) (int64, error) {
	if v == "" || v == "auto" {
		return 0, nil
	}
	n, err := humanize.ParseBytes(v)
	if err != nil {
		return 0, fmt.Errorf("--free-space-reserve %q: want a size such as 1GiB, 0 (off) or auto", v)
	}
	if n == 0 {
		return -1, nil
	}
	if n > 1<<50 {
		return 0, fmt.Errorf("--free-space-reserve %s: too large", v)
	}
	return int64(n), nil
}
