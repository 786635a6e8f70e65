package engine

// Erasure layout of a sealed segment: the segment's bytes are cut into rows
// of k shard-blocks of B bytes; shard-block i of a row goes to data shard
// i, and parity shards k..k+m-1 hold each row's parity. Whole blocks stay
// together, so a small range lives on one shard (two at a shard-block edge).

// shardExtent is one piece of a segment range: length bytes at offset off
// of data shard `shard`, landing at bufOff in the caller's buffer.
type shardExtent struct {
	shard  int
	off    int64 // offset in the shard's data
	length int
	bufOff int
}

// mapRange maps the segment range [off, off+n) onto data shards for k data
// shards of shard-blocks of size b. The extents cover the range exactly,
// in order.
func mapRange(off int64, n int, k int, b int64) []shardExtent {
	var out []shardExtent
	bufOff := 0
	for n > 0 {
		row := off / (int64(k) * b)
		within := off % (int64(k) * b)
		shard := int(within / b)
		inBlock := within % b
		l := int(min(int64(n), b-inBlock))
		out = append(out, shardExtent{shard: shard, off: row*b + inBlock, length: l, bufOff: bufOff})
		off += int64(l)
		n -= l
		bufOff += l
	}
	return out
}

// shardRows is how many rows a segment of size bytes needs.
func shardRows(size int64, k int, b int64) int64 {
	return (size + int64(k)*b - 1) / (int64(k) * b)
}

// parityFor is the default parity for n drives.
func parityFor(n int) int {
	switch {
	case n <= 1:
		return 0
	case n <= 3:
		return 1
	case n <= 11:
		return 2
	default:
		return 4
	}
}
