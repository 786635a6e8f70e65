package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/lsmstore/lsmstore/s3"
)

func bytesStr(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// renderStats writes the human table of lsmctl stats.
func renderStats(w io.Writer, a s3.AdminStats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	if a.Version != "" {
		row("server\tlsmd %s, up %s", a.Version, (time.Duration(a.UptimeSeconds) * time.Second).String())
	} else {
		row("server\toffline (data directories opened directly)")
	}
	row("objects\t%d", a.Objects)
	row("logical bytes\t%s", bytesStr(a.LogicalBytes))
	ratio := "-"
	if a.LogicalBytes > 0 {
		ratio = fmt.Sprintf("%.3f× logical", a.DiskRatio)
	}
	row("bytes on disk\t%s (%s)", bytesStr(a.DiskBytes), ratio)
	layout := fmt.Sprintf("%d+%d erasure coding over %d drives", a.Erasure.DataShards, a.Erasure.ParityShards, a.Erasure.Drives)
	if a.Erasure.DataShards <= 1 {
		layout = fmt.Sprintf("%d copies over %d drives (no erasure coding)", a.Erasure.ParityShards+1, a.Erasure.Drives)
	}
	row("layout\t%s", layout)
	row("index\t%d object entries, %s × %d copies", a.Index.ObjectEntries, bytesStr(a.Index.Bytes), a.Index.Copies)
	row("cache\t%s of %s, hit ratio %s (%d hits, %d misses, %d evictions)",
		bytesStr(a.Cache.Bytes), bytesStr(a.Cache.MaxBytes), pct(a.Cache.HitRatio), a.Cache.Hits, a.Cache.Misses, a.Cache.Evictions)
	row("reads\t%d GETs, %d disk reads, %s from disk (%s per GET), %d degraded, %d drive errors",
		a.Reads.Gets, a.Reads.DiskReads, bytesStr(a.Reads.DiskBytesRead), bytesStr(int64(a.Reads.DiskBytesPerGet)), a.Reads.DegradedReads, a.Reads.DriveErrors)
	row("writes\t%d PUTs, %d fsyncs, %d group commits (%.1f ops each)", a.Writes.Puts, a.Writes.Fsyncs, a.Writes.GroupCommits, a.Writes.MeanBatch)
	state := "idle"
	if a.Compact.Running {
		state = "running"
	}
	row("compaction\t%s, %d passes, %s copied", state, a.Compact.Passes, bytesStr(a.Compact.BytesCopied))
	row("segments\t%d open, %d sealed (%d erasure-coded), %s live, %s garbage",
		a.Segments.Open, a.Segments.Sealed, a.Segments.Encoded, bytesStr(a.Segments.LiveBytes), bytesStr(a.Segments.GarbageBytes))
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(a.Segments.Top) > 0 {
		fmt.Fprintf(w, "\nsegments with most garbage\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "segment\tsize\tlive\tgarbage\tratio\t\n")
		for _, g := range a.Segments.Top {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", g.ID, bytesStr(g.Size), bytesStr(g.LiveBytes), bytesStr(g.GarbageBytes), pct(g.GarbageRatio))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\ndrives\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "path\tstate\tindex copy\tfree\ttotal\treason\n")
	for _, d := range a.Drives {
		idx := "no"
		if d.IndexCopy {
			idx = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Path, d.State, idx, humanize.IBytes(d.FreeBytes), humanize.IBytes(d.TotalBytes), d.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(a.Requests) > 0 {
		fmt.Fprintf(w, "\nrequests since start\n")
		ops := make([]string, 0, len(a.Requests))
		for op := range a.Requests {
			ops = append(ops, op)
		}
		sort.Slice(ops, func(i, j int) bool {
			if a.Requests[ops[i]] != a.Requests[ops[j]] {
				return a.Requests[ops[i]] > a.Requests[ops[j]]
			}
			return ops[i] < ops[j]
		})
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "operation\tcount\n")
		for _, op := range ops {
			fmt.Fprintf(tw, "%s\t%d\n", op, a.Requests[op])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// clearScreen is the ANSI sequence --watch writes before each refresh.
const clearScreen = "\x1b[H\x1b[2J"
