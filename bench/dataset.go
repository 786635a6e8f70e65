package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// Size units.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// Kind is the role an object plays in a Milvus deployment.
type Kind uint8

// Object kinds of the Milvus-shaped data set (see shared/MILVUS.md, "Key
// layout").
const (
	KindIndexSlice Kind = iota // 16 MiB vector index slice, HEAD + whole GET (aws-sdk-cpp)
	KindIndexMeta              // small index meta file beside the slices
	KindParquet                // storage-v2 Parquet binlog, 1-64 MiB, multipart (Arrow)
	KindStatsLog               // stats log, KiB (minio-go)
	KindDeltaLog               // delta log, KiB (minio-go)
	KindBM25                   // BM25 stats, KiB (minio-go)
	numKinds
)

var kindNames = [...]string{"index-slice", "index-meta", "parquet", "stats-log", "delta-log", "bm25-stats"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Small reports whether objects of this kind count as small logs.
func (k Kind) Small() bool {
	return k == KindIndexMeta || k == KindStatsLog || k == KindDeltaLog || k == KindBM25
}

// Object is one object of the data set. Its content is the pool's bytes from
// Base on, so any range of it can be checked without storing it.
type Object struct {
	Key  string
	Size int64
	Kind Kind
	Base int64
}

// Layout constants.
const (
	RootPath       = "files"
	IndexSliceSize = 16 * MiB
	SlicesPerIndex = 8
	MinParquet     = 1 * MiB
	MaxParquet     = 64 * MiB
	MinSmall       = 256
	MaxSmall       = 64 * KiB
	PartSize       = 10 * MiB // Arrow's multipart part size
	// MinDataSet is the smallest data set: one index slice and one Parquet file.
	MinDataSet = IndexSliceSize + 2*MinParquet
)

// Layout is a Milvus-shaped data set: the same seed and size always give the
// same keys, sizes and contents.
type Layout struct {
	Seed  uint64
	Total int64 // requested size
	// PoolSize is the size of the content pool the objects are cut from: the
	// largest object (at least 16 MiB, the largest fixed PUT) plus 16 MiB.
	PoolSize int64
	// Objects in upload order.
	Objects []Object
	byKind  [numKinds][]int // indexes into Objects, in a seeded random order
	index   map[string]int
}

// Bytes returns the logical size of the data set.
func (l *Layout) Bytes() int64 {
	var n int64
	for i := range l.Objects {
		n += l.Objects[i].Size
	}
	return n
}

// Lookup finds an object by key.
func (l *Layout) Lookup(key string) (*Object, bool) {
	i, ok := l.index[key]
	if !ok {
		return nil, false
	}
	return &l.Objects[i], true
}

// Of returns the objects of the given kinds, in a seeded random order that
// does not depend on the hot fraction, limited to the first ceil(hot*n) (at
// least one) of each kind. hot <= 0 or >= 1 means all of them.
func (l *Layout) Of(hot float64, kinds ...Kind) []*Object {
	var out []*Object
	for _, k := range kinds {
		idx := l.byKind[k]
		n := len(idx)
		if hot > 0 && hot < 1 && n > 0 {
			n = max(1, int(math.Ceil(hot*float64(n))))
		}
		for _, i := range idx[:n] {
			out = append(out, &l.Objects[i])
		}
	}
	return out
}

// Count returns how many objects of kind k the layout has.
func (l *Layout) Count(k Kind) int { return len(l.byKind[k]) }

// logUniform draws from [lo, hi] with a uniform logarithm, as object sizes
// are spread in practice.
func logUniform(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))
	return min(hi, max(lo, int64(v)))
}

type segment struct{ coll, part, seg int64 }

// NewLayout lays out a data set of about total bytes (at least MinDataSet):
// half of it 16 MiB index slices in groups of 8 under index_files/, 45%
// Parquet files of 1-64 MiB under insert_log/, and 5% (at least 256 objects)
// small stats, delta and BM25 logs and index meta files.
func NewLayout(seed uint64, total int64) *Layout {
	total = max(total, MinDataSet)
	r := rand.New(rand.NewPCG(seed, 0x6c736d62656e6368))
	l := &Layout{Seed: seed, Total: total, index: map[string]int{}}
	id := int64(449000000000000000) + r.Int64N(1e12)
	nextID := func() int64 { id += 1 + r.Int64N(1000); return id }
	add := func(key string, size int64, k Kind) {
		l.index[key] = len(l.Objects)
		l.Objects = append(l.Objects, Object{Key: key, Size: size, Kind: k})
	}

	colls := []int64{nextID(), nextID()}
	var segs []segment
	newSeg := func() segment {
		s := segment{coll: colls[r.IntN(len(colls))], part: nextID(), seg: nextID()}
		segs = append(segs, s)
		return s
	}

	// Parquet binlogs: column groups 0 (scalars) and 100/101 (vectors) per segment.
	parquetBudget := total * 45 / 100
	indexBudget := max(IndexSliceSize, (total/2)/IndexSliceSize*IndexSliceSize)
	parquetBudget = max(parquetBudget, min(total-indexBudget, 2*MinParquet))
	for parquetBudget >= MinParquet {
		s := newSeg()
		for _, group := range []int{0, 100, 101} {
			if parquetBudget < MinParquet {
				break
			}
			size := min(logUniform(r, MinParquet, MaxParquet), parquetBudget)
			parquetBudget -= size
			add(fmt.Sprintf("%s/insert_log/%d/%d/%d/%d/%d", RootPath, s.coll, s.part, s.seg, group, nextID()), size, KindParquet)
		}
	}

	// Index slices: one index build per segment, 8 slices each, plus a meta file.
	for si := 0; indexBudget >= IndexSliceSize; si++ {
		s := segs[si%len(segs)]
		build := nextID()
		for n := 0; n < SlicesPerIndex && indexBudget >= IndexSliceSize; n++ {
			add(fmt.Sprintf("%s/index_files/%d/1/%d/%d/HNSW_%d", RootPath, build, s.part, s.seg, n), IndexSliceSize, KindIndexSlice)
			indexBudget -= IndexSliceSize
		}
		add(fmt.Sprintf("%s/index_files/%d/1/%d/%d/index_meta", RootPath, build, s.part, s.seg), logUniform(r, 200, 2*KiB), KindIndexMeta)
	}

	// Small logs spread over the segments.
	smallBudget := total * 5 / 100
	for n := 0; smallBudget > 0 || n < 256; n++ {
		s := segs[r.IntN(len(segs))]
		size := logUniform(r, MinSmall, MaxSmall)
		smallBudget -= size
		switch p := r.IntN(100); {
		case p < 60:
			add(fmt.Sprintf("%s/stats_log/%d/%d/%d/%d/%d", RootPath, s.coll, s.part, s.seg, 100+r.IntN(4), nextID()), size, KindStatsLog)
		case p < 85:
			add(fmt.Sprintf("%s/delta_log/%d/%d/%d/%d", RootPath, s.coll, s.part, s.seg, nextID()), size, KindDeltaLog)
		default:
			add(fmt.Sprintf("%s/bm25_stats/%d/%d/%d/%d/%d", RootPath, s.coll, s.part, s.seg, 102, nextID()), size, KindBM25)
		}
	}

	largest := int64(IndexSliceSize)
	for i := range l.Objects {
		largest = max(largest, l.Objects[i].Size)
	}
	l.PoolSize = largest + 16*MiB
	for i := range l.Objects {
		o := &l.Objects[i]
		o.Base = r.Int64N(l.PoolSize - o.Size + 1)
		l.byKind[o.Kind] = append(l.byKind[o.Kind], i)
	}
	for k := range l.byKind {
		idx := l.byKind[k]
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	return l
}

// Prefixes returns the distinct "directories" of the key tree (every prefix
// ending in '/'), sorted: the starting points of delimiter listings.
func (l *Layout) Prefixes() []string {
	seen := map[string]bool{}
	for i := range l.Objects {
		k := l.Objects[i].Key
		for j := 0; j < len(k); j++ {
			if k[j] == '/' {
				seen[k[:j+1]] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Describe summarises the layout: objects and bytes per kind.
func (l *Layout) Describe() map[string][2]int64 {
	out := map[string][2]int64{}
	for i := range l.Objects {
		o := &l.Objects[i]
		v := out[o.Kind.String()]
		v[0]++
		v[1] += o.Size
		out[o.Kind.String()] = v
	}
	return out
}

// Pool is the random content every object and PUT body is cut from.
type Pool []byte

// NewPool fills size bytes from seed. Random bytes do not compress, like
// vector index data and compressed Parquet pages.
func NewPool(seed uint64, size int64) Pool {
	p := make([]byte, size)
	var s [32]byte
	for i := range 4 {
		v := seed*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9
		for j := range 8 {
			s[i*8+j] = byte(v >> (8 * j))
		}
	}
	c := rand.NewChaCha8(s)
	_, _ = c.Read(p)
	return p
}

// Bytes returns the content of o from off, n bytes long.
func (p Pool) Bytes(o *Object, off, n int64) []byte {
	return p[o.Base+off : o.Base+off+n]
}

// safeKey reports whether a key needs no escaping in a URL path.
func safeKey(k string) bool {
	return strings.IndexFunc(k, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./~", c))
	}) < 0
}
