package engine

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Limits every caller-controlled size is checked against.
const (
	// MaxKeyLen is the longest object key in bytes (S3's limit).
	MaxKeyLen = 1024
	// MaxMetaBytes caps stored metadata pairs (keys plus values). The S3
	// layer applies S3's 2 KiB rule to x-amz-meta-* within it.
	MaxMetaBytes = 8 << 10
	// MaxObjectSize is the largest object (S3's 5 TiB).
	MaxObjectSize = 5 << 40
	// MaxPartSize is the largest multipart part (S3's 5 GiB).
	MaxPartSize = 5 << 30
	// MaxParts is the highest part number.
	MaxParts = 10000
	// MaxContentTypeLen caps the stored content type.
	MaxContentTypeLen = 1024
	// MaxChecksums caps the number of checksum values stored with an object.
	MaxChecksums = 8
)

// Options configures a Store. The zero value of a field means its default.
type Options struct {
	// Dirs are the drive directories. Default: ["./data"]. The index has a
	// copy on each of the first Parity+1 drives; an open segment is
	// mirrored to Parity+1 drives (starting at drive id mod len(Dirs)),
	// and a sealed one is erasure-coded into a shard on every drive.
	Dirs []string
	// FS is the filesystem all engine I/O goes through. Default: vfs.Default.
	FS vfs.FS
	// Parity is how many drive losses the data survives: an open segment is
	// mirrored to Parity+1 drives, a sealed one keeps Parity parity shards. Default (0): by drive count — 1 drive: 0,
	// 2–3: 1, 4–11: 2, 12 and up: 4. Negative means 0. Persisted at first
	// open.
	Parity int

	// ShardBlockSize is the erasure shard-block size: a sealed segment is
	// cut into rows of k shard-blocks. Default: 1 MiB. Persisted at first
	// open.
	ShardBlockSize int
	// BlockSize is the logical block size: the unit of checksums,
	// compression, caching and reads. Default: 64 KiB. Persisted at first
	// open; reopening with another value fails.
	BlockSize int
	// InlineThreshold: objects of at most this many bytes live in the
	// index value. Default: 4 KiB. Set NoInline to store every object in
	// segments. At most 64 KiB.
	InlineThreshold int
	// NoInline disables inline objects (InlineThreshold is then ignored).
	NoInline bool
	// SegmentSize is the size at which the open segment is rotated.
	// Default: 256 MiB. At least 1 MiB unless set by tests through
	// testingSmallSegments. On a drive smaller than 16 segments, segments
	// are rotated at 1/16 of the smallest drive (at least 1 MiB), so that
	// compaction can copy one segment's live data within the free-space
	// reserve.
	SegmentSize int64
	// ChunkBlocks is how many blocks a writer buffers before appending them
	// as one contiguous run. Default: 16 (1 MiB of 64 KiB blocks).
	ChunkBlocks int
	// DisableCompression stores every block raw. Default: false (zstd is
	// used for a block when it saves at least an eighth).
	DisableCompression bool
	// CacheSize is the block cache size in bytes. Default: 1 GiB. Negative
	// disables the cache.
	CacheSize int64
	// IndexCacheSize is Pebble's block cache size in bytes. Default: 256 MiB.
	IndexCacheSize int64
	// EntryCacheSize bounds the decoded index entries kept for hot objects
	// (entrycache.go), in bytes. Default: 32 MiB. Negative disables it.
	EntryCacheSize int64
	// MinPartSize is the smallest part other than the last that Complete
	// accepts. Default: 5 MiB (S3's rule). Negative means no minimum.
	MinPartSize int64
	// CompactionThreshold is the garbage ratio above which a sealed segment
	// is compacted. Default: 0.3.
	CompactionThreshold float64
	// CompactionRate caps compaction's copying in bytes per second.
	// Default: 64 MiB/s. Negative: unlimited.
	CompactionRate int64
	// CompactionInterval is how often background compaction looks for
	// work. Default: 1 minute. Negative disables background compaction
	// (Compact still works).
	CompactionInterval time.Duration
	// FreeSpaceReserve is the free space, in bytes, every drive keeps for
	// deletes, index writes, sealing and compaction output: new object data
	// is refused with ErrStorageFull when it would leave less (free space
	// is the drive's statfs, through FS.GetDiskUsage). Default (0): 2% of
	// the drive's size, at least 64 MiB and at most 2 GiB. Negative turns
	// the reserve off (ENOSPC is still answered with ErrStorageFull).
	FreeSpaceReserve int64
	// Logf receives rare operational messages (recovery, sealing). Default:
	// discard.
	Logf func(format string, args ...any)

	// testingSmallSegments lets tests use segments below 1 MiB.
	testingSmallSegments bool
}

// Defaults.
const (
	DefaultBlockSize       = 64 << 10
	DefaultInlineThreshold = 4 << 10
	DefaultSegmentSize     = 256 << 20
	DefaultChunkBlocks     = 16
	DefaultCacheSize       = 1 << 30
	DefaultIndexCacheSize  = 256 << 20
	DefaultEntryCacheSize  = 32 << 20
	DefaultMinPartSize     = 5 << 20
)

// EnsureDefaults returns a copy of o with every zero field set to its default.
func (o Options) EnsureDefaults() Options {
	if len(o.Dirs) == 0 {
		o.Dirs = []string{"data"}
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.ShardBlockSize == 0 {
		o.ShardBlockSize = 1 << 20
	}
	if o.InlineThreshold == 0 {
		o.InlineThreshold = DefaultInlineThreshold
	}
	if o.NoInline {
		o.InlineThreshold = -1
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.ChunkBlocks == 0 {
		o.ChunkBlocks = DefaultChunkBlocks
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.EntryCacheSize == 0 {
		o.EntryCacheSize = DefaultEntryCacheSize
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = DefaultIndexCacheSize
	}
	if o.MinPartSize == 0 {
		o.MinPartSize = DefaultMinPartSize
	}
	if o.CompactionThreshold == 0 {
		o.CompactionThreshold = 0.3
	}
	if o.CompactionRate == 0 {
		o.CompactionRate = 64 << 20
	}
	if o.CompactionInterval == 0 {
		o.CompactionInterval = time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Validate reports the first invalid field of o (after EnsureDefaults).
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	if o.BlockSize < 4<<10 || o.BlockSize > 1<<20 || o.BlockSize&(o.BlockSize-1) != 0 {
		return bad("BlockSize %d: want a power of two from 4 KiB to 1 MiB", o.BlockSize)
	}
	if o.ShardBlockSize < 4<<10 || o.ShardBlockSize > 64<<20 || (!o.testingSmallSegments && o.ShardBlockSize < o.BlockSize) {
		return bad("ShardBlockSize %d: want BlockSize to 64 MiB", o.ShardBlockSize)
	}
	if o.InlineThreshold > 64<<10 {
		return bad("InlineThreshold %d: at most 64 KiB", o.InlineThreshold)
	}
	minSeg := int64(1 << 20)
	if o.testingSmallSegments {
		minSeg = 4 << 10
	}
	if o.SegmentSize < minSeg || o.SegmentSize > 4<<30 {
		return bad("SegmentSize %d: want 1 MiB to 4 GiB", o.SegmentSize)
	}
	if o.ChunkBlocks < 1 || o.ChunkBlocks > 256 {
		return bad("ChunkBlocks %d: want 1 to 256", o.ChunkBlocks)
	}
	if o.IndexCacheSize < 1<<20 {
		return bad("IndexCacheSize %d: at least 1 MiB", o.IndexCacheSize)
	}
	if o.MinPartSize > MaxPartSize {
		return bad("MinPartSize %d: at most %d", o.MinPartSize, int64(MaxPartSize))
	}
	if o.Parity >= len(o.Dirs) && o.Parity > 0 {
		return bad("parity %d needs at least %d drives, have %d", o.Parity, o.Parity+1, len(o.Dirs))
	}
	if o.CompactionThreshold < 0 || o.CompactionThreshold >= 1 {
		return bad("CompactionThreshold %v: want a ratio in (0, 1)", o.CompactionThreshold)
	}
	if len(o.Dirs) > 64 {
		return bad("%d drives: at most 64", len(o.Dirs))
	}
	seen := map[string]bool{}
	for _, d := range o.Dirs {
		if d == "" {
			return bad("empty drive directory")
		}
		if seen[d] {
			return bad("drive %q named twice", d)
		}
		seen[d] = true
	}
	return nil
}
