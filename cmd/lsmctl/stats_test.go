package main

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/lsmstore/lsmstore/s3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestStatsGolden pins the layout of the stats table.
func TestStatsGolden(t *testing.T) {
	a := s3.AdminStats{
		Version: "v1.2.3", UptimeSeconds: 3725,
		Objects: 1234, LogicalBytes: 5 << 30, DiskBytes: 7<<30 + 512<<20, DiskRatio: 1.5,
		Erasure: s3.ErasureStats{Drives: 6, DataShards: 4, ParityShards: 2},
		Segments: s3.SegmentStats{Open: 1, Sealed: 20, Encoded: 19, LiveBytes: 5 << 30, GarbageBytes: 300 << 20,
			Top: []s3.SegmentGarbage{
				{ID: "17", Size: 256 << 20, LiveBytes: 56 << 20, GarbageBytes: 200 << 20, GarbageRatio: 0.78125, Encoded: true},
				{ID: "3", Size: 256 << 20, LiveBytes: 156 << 20, GarbageBytes: 100 << 20, GarbageRatio: 0.390625, Encoded: true},
			}},
		Drives: []s3.DriveStats{
			{Path: "/mnt/disk1", State: "ok", IndexCopy: true, FreeBytes: 900 << 30, TotalBytes: 1 << 40},
			{Path: "/mnt/disk2", State: "failed", Reason: "layout marker: engine: checksum mismatch: layout file checksum", IndexCopy: true, FreeBytes: 1 << 40, TotalBytes: 1 << 40},
			{Path: "/mnt/disk3", State: "damaged", Reason: "segment 0000000000000011: shard 2", FreeBytes: 1 << 40, TotalBytes: 1 << 40},
		},
		Cache:    s3.CacheStats{MaxBytes: 1 << 30, Bytes: 700 << 20, Hits: 9000, Misses: 1000, Evictions: 12, HitRatio: 0.9},
		Index:    s3.IndexStats{ObjectEntries: 1234, Bytes: 3 << 20, Copies: 3},
		Reads:    s3.ReadStats{Gets: 10000, DiskReads: 1100, DiskBytesRead: 70 << 20, DiskBytesPerGet: 7340.032, DegradedReads: 2, DriveErrors: 1},
		Writes:   s3.WriteStats{Puts: 1300, Fsyncs: 400, GroupCommits: 400, MeanBatch: 3.25},
		Compact:  s3.CompactStats{Running: true, Passes: 4, BytesCopied: 64 << 20},
		Requests: map[string]int64{"GetObject": 10000, "HeadObject": 5000, "PutObject": 1300, "ListObjectsV2": 20},
	}
	var buf bytes.Buffer
	if err := renderStats(&buf, a); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/stats.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("stats table changed (go test ./cmd/lsmctl -update to accept):\n%s\nwant:\n%s", buf.Bytes(), want)
	}
}
