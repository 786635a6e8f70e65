// Package engine is LSMStore's storage engine: buckets, objects and multipart
// uploads kept in append-only segment files, with a Pebble key index.
//
// It owns the on-disk layout (segments of checksummed block and record
// frames, block-index files of sealed segments, the layout marker), group
// commit, crash recovery, garbage accounting and the read path that serves
// byte ranges block by block through the block cache. It knows nothing of
// HTTP; every file it touches goes through a pebble vfs.FS so that tests can
// hand it crash-simulating and fault-injecting filesystems.
//
// Write path: a body is cut into fixed logical blocks (Options.BlockSize);
// each block becomes a block frame (CRC32C, zstd when that saves at least an
// eighth) appended to the open segment in runs of up to ChunkBlocks blocks, so
// concurrent writers interleave without holding a lock for a whole body. The
// mutation itself (put, delete, part, complete, ...) is then appended as a
// record frame. The group committer fdatasyncs every dirty segment once for
// all waiting writers, then applies their records in log order to one Pebble
// batch that also stores the applied log position. Recovery replays records
// past that position through the same apply code, so a Pebble batch need not
// be synced on its own: the segment fsync makes a write durable.
// Once synced, segment bytes older than the newest 64 MiB (and all of a
// sealed segment) are dropped from the page cache, as MinIO's O_DIRECT
// writes do: appends then reuse pages instead of faulting in fresh memory,
// and a stream of writes does not evict what readers keep hot. Recently
// written data is read from disk the first time, then from the block cache.
//
// Read path: the object's index entry (from the entry cache of hot objects,
// which group commit invalidates, or a Pebble lookup) yields its extents; a
// byte range maps to block numbers by arithmetic; each block comes from the
// cache or from one positioned read located by the segment's block index,
// verified by CRC32C.
// Uncompressed blocks also carry a CRC32C per 4 KiB chunk, so a range that
// touches at most half of a block reads, verifies and caches only its
// chunks: a cold 4 KiB read fetches 4 or 8 KiB, not the 64 KiB block.
//
// Drives: an open segment is mirrored to parity+1 drives and, once sealed,
// erasure-coded into data and parity shard files, one per drive (ec.go);
// the index is kept as identical copies on the first parity+1 drives
// (index.go): a segment's mirror drives only when its id is a multiple of
// the drive count or parity+1 is every drive. A drive whose layout marker or index copy is unreadable or
// corrupt at Open is failed and left alone, up to parity drives
// (drivefault.go); Scrub and heal (heal.go) verify and rebuild shards,
// mirrors and block indexes, and heal brings failed drives back
// (reinstate.go); compaction (compact.go) moves live runs out of
// segments that are mostly garbage.
//
// Full drives (space.go): new object data is refused with ErrStorageFull
// when it would eat into the free-space reserve, and ENOSPC from an append
// abandons that append (the segment is cut back and sealed) instead of
// failing the store; deletes and compaction go on in the reserve.
package engine
