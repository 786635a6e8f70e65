package engine

// Model-based randomized test: thousands of random operations run against a
// real Store and against an in-memory model (maps), and every result is
// compared. Replay a failure with the seed its message names:
//
//	go test -race ./engine/ -run 'TestModel/tiny-segments$' -seed 1234
//
// The seed comes from -seed, else $LSM_SEED, else the clock; the number of
// operations per subtest from -ops, else $LSM_OPS.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2/vfs"
)

var (
	flagModelSeed = flag.Uint64("seed", 0, "model tests: random seed (0: $LSM_SEED, else time-based)")
	flagModelOps  = flag.Int("ops", 0, "model tests: operations per subtest (0: $LSM_OPS, else a default)")
)

const (
	modelDefaultOps = 1200
	modelShortOps   = 250
	modelMinPart    = 64 << 10 // Options.MinPartSize of every model store
	modelPoolSize   = 5 << 20  // largest body the test draws
)

func modelSeed(t *testing.T) uint64 {
	seed := pickSeed(t, *flagModelSeed)
	t.Logf("seed %d (replay: -seed %d or LSM_SEED=%d)", seed, seed, seed)
	return seed
}

func modelOpCount(t *testing.T) int {
	n := *flagModelOps
	if n == 0 {
		if v := os.Getenv("LSM_OPS"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				t.Fatalf("LSM_OPS=%q: %v", v, err)
			}
		}
	}
	if n <= 0 {
		n = modelDefaultOps
		if testing.Short() {
			n = modelShortOps
		}
	}
	return n
}

// modelRNG derives a subtest's generator from the seed and the subtest name,
// so one subtest replays alone.
func modelRNG(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// ---------------------------------------------------------------------------
// Data

// modelData holds the bytes bodies are cut from: random (incompressible) and
// text-like (compressible). It is fixed, so a seed replays exactly.
var modelData = sync.OnceValue(func() (d struct{ random, text []byte }) {
	r := rand.New(rand.NewPCG(7, 11))
	d.random = randomBytes(r, modelPoolSize)
	words := []string{"insert_log", "vector", "0.125", "-3.5e-2", "segment", "row", "id", "\n", ",", " ", "float", "milvus", "12345", "binlog"}
	t := make([]byte, 0, modelPoolSize+32)
	for len(t) < modelPoolSize {
		t = append(t, words[r.IntN(len(words))]...)
		if r.IntN(8) == 0 {
			t = append(t, byte('a'+r.IntN(26)))
		}
	}
	d.text = t[:modelPoolSize:modelPoolSize]
	return d
})

// modelKeyTree is a small Milvus-like key tree: keys collide, overwrite and
// group under delimiters often. It includes keys that are prefixes of other
// keys, keys ending in the delimiter and neighbours of '/' in byte order
// ('-' and '.' sort before it, '0' after).
func modelKeyTree() []string {
	var ks []string
	for c := 1; c <= 2; c++ {
		for p := 10; p <= 11; p++ {
			for sg := 100; sg <= 101; sg++ {
				for _, f := range []int{0, 1, 101} {
					for l := 1; l <= 2; l++ {
						ks = append(ks, fmt.Sprintf("files/insert_log/%d/%d/%d/%d/%d", c, p, sg, f, l))
					}
				}
			}
		}
	}
	ks = append(ks,
		"files/delta_log/1/10/100/1", "files/delta_log/1/10/100/2", "files/delta_log/2/11/101/1",
		"files/stats_log/1/10/100/0/1", "files/stats_log/1/10/101/0/1",
		"files/index_files/7/1/10/100/HNSW", "files/index_files/7/1/10/100/HNSW_meta",
		"files/index_files/7/2/10/100/HNSW", "files/index_files/8/1/11/101/IVF_FLAT",
		"files/insert_log", "files/insert_log/1", "files/insert_log/", "files/insert_log-bak/1",
		"files/insert_log.tmp", "files/insert_log0/x", "files/", "files", "a", "zz/top",
		"files/ünï/1", "files/sp ace/1",
	)
	return ks
}

var modelListPrefixes = []string{
	"", "", "", "f", "files", "files/", "files/", "files/insert_log", "files/insert_log/",
	"files/insert_log/1/", "files/insert_log/1/10/", "files/insert_log/2/11/101/",
	"files/index_files/", "files/index_files/7/1/10/100/HNSW", "files/ü", "zz", "nope/",
}

var modelDelimiters = []string{"", "", "/", "/", "/", "/", "_", "log/", "/1"}

// ---------------------------------------------------------------------------
// Model

type mObject struct {
	data     []byte
	etag     string
	ctype    string
	meta     []Pair
	sums     []Pair
	mtime    int64 // unix nanoseconds
	parts    int
	partEnds []int64 // multipart: end offset of each part
}

type mPart struct {
	data  []byte
	etag  string
	sums  []Pair
	mtime int64
}

type mUpload struct {
	bucket, key, id string
	ctype           string
	meta, sums      []Pair
	init0, init1    int64 // Initiated lies in [init0, init1]
	parts           map[int]*mPart
	seq             int // creation order: choices never depend on random ids
}

type mBucket struct {
	created0, created1 int64
	objects            map[string]*mObject
	configs            map[string][]byte // bucket configuration documents (nil map: none)
}

type mState struct {
	buckets  map[string]*mBucket
	uploads  map[string]*mUpload // active, by id
	finished []*mUpload          // completed or aborted
	seq      int
}

// uploadsBySeq returns the active uploads in creation order.
func (m *mState) uploadsBySeq() []*mUpload {
	out := slices.Collect(maps.Values(m.uploads))
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func newMState() *mState {
	return &mState{buckets: map[string]*mBucket{}, uploads: map[string]*mUpload{}}
}

func (m *mState) totals() (objects, bytes int64) {
	for _, b := range m.buckets {
		for _, o := range b.objects {
			objects++
			bytes += int64(len(o.data))
		}
	}
	return
}

func (m *mState) bucketUploads(bucket string) []*mUpload {
	var out []*mUpload
	for _, u := range m.uploads {
		if u.bucket == bucket {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].key != out[j].key {
			return out[i].key < out[j].key
		}
		return out[i].id < out[j].id
	})
	return out
}

// mListEntry is one name of a listing: a key or a common prefix (for uploads,
// with the upload id).
type mListEntry struct {
	name     string
	id       string
	isPrefix bool
}

// mGroupName returns the common prefix key belongs to under prefix and
// delimiter, if any.
func mGroupName(key, prefix, delimiter string) (string, bool) {
	if delimiter == "" {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delimiter)], true
}

// listObjects is the brute-force listing: keys with prefix, grouped by
// delimiter, names strictly after startAfter, in byte order.
func (b *mBucket) listObjects(o ListOptions) []mListEntry {
	seen := map[string]bool{}
	var all []mListEntry
	for k := range b.objects {
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		e := mListEntry{name: k}
		if cp, ok := mGroupName(k, o.Prefix, o.Delimiter); ok {
			e = mListEntry{name: cp, isPrefix: true}
		}
		if e.name <= o.StartAfter || seen[e.name] {
			continue
		}
		seen[e.name] = true
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	return all
}

// listUploads is the brute-force upload listing: uploads ordered by key then
// id, grouped by delimiter; an upload is after the markers when its key is
// after KeyMarker, or equal to it with an id after a given UploadIDMarker; a
// common prefix when it is after KeyMarker.
func (m *mState) listUploads(bucket string, o ListUploadsOptions) []mListEntry {
	seen := map[string]bool{}
	var all []mListEntry
	for _, u := range m.bucketUploads(bucket) {
		if !strings.HasPrefix(u.key, o.Prefix) {
			continue
		}
		if cp, ok := mGroupName(u.key, o.Prefix, o.Delimiter); ok {
			if cp > o.KeyMarker && !seen[cp] {
				seen[cp] = true
				all = append(all, mListEntry{name: cp, isPrefix: true})
			}
			continue
		}
		if u.key > o.KeyMarker || (u.key == o.KeyMarker && o.UploadIDMarker != "" && u.id > o.UploadIDMarker) {
			all = append(all, mListEntry{name: u.key, id: u.id})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].name != all[j].name {
			return all[i].name < all[j].name
		}
		return all[i].id < all[j].id
	})
	return all
}

func mMD5(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func mMultipartETag(parts []*mPart) string {
	h := md5.New()
	for _, p := range parts {
		s, _ := hex.DecodeString(p.etag)
		h.Write(s)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
}

// mPairsEqual compares pair lists in order; nil and empty are the same list.
func mPairsEqual(a, b []Pair) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

// ---------------------------------------------------------------------------
// Runner

// modelRun drives one store and its model.
type modelRun struct {
	t      *testing.T
	name   string
	seed   uint64
	rng    *rand.Rand
	opts   Options // as given to Open (reopen uses them again)
	eff    Options // with defaults
	s      *Store
	m      *mState
	keys   []string
	scope  string // every key starts with it (workers of the concurrent test)
	worker bool   // runs on its own goroutine, shares s: no bucket ops, no reopen
	replay string // -run pattern that replays this run
	step   int
	recent []string
}

func newModelRun(t *testing.T, name string, seed uint64, opts Options, scope string) *modelRun {
	r := &modelRun{t: t, name: name, seed: seed, rng: modelRNG(seed, name), opts: opts, eff: opts.EnsureDefaults(), m: newMState(), scope: scope,
		replay: "^" + strings.ReplaceAll(t.Name(), "/", "$/^") + "$"}
	for _, k := range modelKeyTree() {
		r.keys = append(r.keys, scope+k)
	}
	return r
}

// fail reports a mismatch with everything needed to replay it and stops
// this run.
func (r *modelRun) fail(format string, args ...any) {
	r.t.Helper()
	msg := fmt.Sprintf("seed %d, %s, step %d: %s\nreplay: go test -race ./engine/ -run '%s' -seed %d\nlast operations:\n  %s",
		r.seed, r.name, r.step, fmt.Sprintf(format, args...), r.replay, r.seed, strings.Join(r.recent, "\n  "))
	if r.worker {
		r.t.Error(msg)
		runtime.Goexit()
	}
	r.t.Fatal(msg)
}

func (r *modelRun) note(format string, args ...any) {
	if len(r.recent) == 24 {
		r.recent = r.recent[1:]
	}
	r.recent = append(r.recent, fmt.Sprintf("#%d ", r.step)+fmt.Sprintf(format, args...))
}

// wantErr checks an operation's error against the model's expectation.
func (r *modelRun) wantErr(what string, got, want error) {
	r.t.Helper()
	if want == nil && got != nil {
		r.fail("%s: unexpected error %v", what, got)
	}
	if want != nil && !errors.Is(got, want) {
		r.fail("%s: got error %v, want %v", what, got, want)
	}
}

func (r *modelRun) inWindow(what string, got time.Time, lo, hi int64) {
	r.t.Helper()
	if ns := got.UnixNano(); ns < lo || ns > hi {
		r.fail("%s: time %v outside [%v, %v]", what, got, time.Unix(0, lo), time.Unix(0, hi))
	}
}

type modelOp struct {
	name   string
	weight int
	fn     func(*modelRun)
}

// modelOps is the op table of the sequential test. Workers of the concurrent
// test use the entries marked shared.
var modelOps = []struct {
	modelOp
	shared bool
}{
	{modelOp{"put", 160, (*modelRun).opPut}, true},
	{modelOp{"get", 150, (*modelRun).opGet}, true},
	{modelOp{"head", 50, (*modelRun).opHead}, true},
	{modelOp{"delete", 60, (*modelRun).opDelete}, true},
	{modelOp{"list", 60, (*modelRun).opList}, true},
	{modelOp{"snapshot", 15, (*modelRun).opSnapshot}, true},
	{modelOp{"create-upload", 30, (*modelRun).opCreateUpload}, true},
	{modelOp{"put-part", 65, (*modelRun).opPutPart}, true},
	{modelOp{"list-parts", 20, (*modelRun).opListParts}, true},
	{modelOp{"list-uploads", 25, (*modelRun).opListUploads}, true},
	{modelOp{"complete", 35, (*modelRun).opComplete}, true},
	{modelOp{"abort", 10, (*modelRun).opAbort}, true},
	{modelOp{"create-bucket", 12, (*modelRun).opCreateBucket}, false},
	{modelOp{"delete-bucket", 10, (*modelRun).opDeleteBucket}, false},
	{modelOp{"drain-bucket", 2, (*modelRun).opDrainBucket}, false},
	{modelOp{"list-buckets", 5, (*modelRun).opListBuckets}, false},
	{modelOp{"reopen", 5, (*modelRun).opReopen}, false},
	{modelOp{"compact", 6, (*modelRun).opCompact}, false},
	{modelOp{"bucket-config", 8, (*modelRun).opBucketConfig}, false},
}

func (r *modelRun) runOps(n int) {
	var table []modelOp
	total := 0
	for _, o := range modelOps {
		if o.shared || !r.worker {
			table = append(table, o.modelOp)
			total += o.weight
		}
	}
	for i := 0; i < n; i++ {
		r.step++
		x := r.rng.IntN(total)
		for _, o := range table {
			if x < o.weight {
				o.fn(r)
				break
			}
			x -= o.weight
		}
		if !r.worker && r.step%50 == 0 {
			r.checkMetrics(false)
		}
	}
}

// ---------------------------------------------------------------------------
// Choices

var modelBucketNames = []string{"bkt-a", "bkt-b", "milvus-bucket"}

const modelMissingBucket = "no-such-bucket"

// pickBucket mostly returns an existing bucket.
func (r *modelRun) pickBucket() string {
	if r.rng.IntN(30) == 0 {
		return modelMissingBucket
	}
	var have []string
	for b := range r.m.buckets {
		have = append(have, b)
	}
	if len(have) == 0 || r.rng.IntN(20) == 0 {
		return modelBucketNames[r.rng.IntN(len(modelBucketNames))]
	}
	slices.Sort(have)
	return have[r.rng.IntN(len(have))]
}

func (r *modelRun) pickKey() string { return r.keys[r.rng.IntN(len(r.keys))] }

// pickObject returns an existing object's bucket and key when there is one
// (most of the time), else any bucket and key.
func (r *modelRun) pickObject() (string, string) {
	if r.rng.IntN(5) > 0 {
		var bs []string
		for b, mb := range r.m.buckets {
			if len(mb.objects) > 0 {
				bs = append(bs, b)
			}
		}
		if len(bs) > 0 {
			slices.Sort(bs)
			b := bs[r.rng.IntN(len(bs))]
			ks := make([]string, 0, len(r.m.buckets[b].objects))
			for k := range r.m.buckets[b].objects {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			return b, ks[r.rng.IntN(len(ks))]
		}
	}
	return r.pickBucket(), r.pickKey()
}

func (r *modelRun) object(bucket, key string) *mObject {
	if b := r.m.buckets[bucket]; b != nil {
		return b.objects[key]
	}
	return nil
}

// objectSize is biased to sizes where block, chunk and inline edges lie.
// Bodies of a MiB or more are rare: under -race every byte moved costs.
func (r *modelRun) objectSize() int {
	bs := r.eff.BlockSize
	edges := []int{0, 1, bs - 1, bs, bs + 1, 2*bs + 1}
	if inl := r.eff.InlineThreshold; inl > 0 {
		edges = append(edges, inl-1, inl, inl+1)
	}
	chunk := r.eff.ChunkBlocks * bs
	switch x := r.rng.IntN(200); {
	case x < 70:
		return edges[r.rng.IntN(len(edges))]
	case x < 73:
		return chunk - 1 + r.rng.IntN(3)
	case x < 75:
		return (1+r.rng.IntN(3))<<20 + r.rng.IntN(bs) - bs/2
	case x < 90:
		return r.rng.IntN(3*bs + 1)
	default:
		return r.rng.IntN(2 << 10)
	}
}

// partSize is biased to the MinPartSize edge and to empty parts.
func (r *modelRun) partSize() int {
	bs := r.eff.BlockSize
	if r.eff.MinPartSize < 0 {
		// Any part may be small: parts end off block edges, and empty parts
		// sit between others.
		switch x := r.rng.IntN(10); {
		case x < 2:
			return 0
		case x < 5:
			return []int{1, bs - 1, bs, bs + 1}[r.rng.IntN(4)]
		default:
			return r.rng.IntN(3 * bs)
		}
	}
	switch x := r.rng.IntN(200); {
	case x < 80:
		return modelMinPart + r.rng.IntN(bs/2)
	case x < 100:
		return modelMinPart
	case x < 115:
		return modelMinPart - 1
	case x < 135:
		return 0
	case x < 160:
		return r.rng.IntN(bs + 2)
	case x < 162:
		return 1<<20 + r.rng.IntN(bs)
	default:
		return r.rng.IntN(2 * modelMinPart)
	}
}

// body returns n bytes: random, compressible, or a mix of runs of both.
// Slices of the pool are shared and never written.
func (r *modelRun) body(n int) []byte {
	d := modelData()
	cut := func(src []byte, n int) []byte {
		off := r.rng.IntN(len(src) - n + 1)
		return src[off : off+n : off+n]
	}
	switch r.rng.IntN(4) {
	case 0:
		return cut(d.random, n)
	case 1:
		return cut(d.text, n)
	}
	buf := make([]byte, 0, n)
	for len(buf) < n {
		src := d.random
		if r.rng.IntN(2) == 0 {
			src = d.text
		}
		buf = append(buf, cut(src, min(n-len(buf), 1+r.rng.IntN(2*r.eff.BlockSize)))...)
	}
	return buf
}

func (r *modelRun) pairs(names []string, max int) []Pair {
	var out []Pair
	for i := r.rng.IntN(max + 1); i > 0; i-- {
		out = append(out, Pair{Key: names[r.rng.IntN(len(names))], Value: strconv.FormatUint(r.rng.Uint64(), 36)})
	}
	return out
}

func (r *modelRun) userMeta() []Pair {
	return r.pairs([]string{"a", "collection", "x-tag", "segment-id", "b"}, 3)
}

func (r *modelRun) checksums() []Pair {
	return r.pairs([]string{"CRC32C", "CRC32", "SHA256", "CRC64NVME"}, 2)
}

func (r *modelRun) contentType() string {
	return []string{"", "", "application/octet-stream", "text/plain; charset=utf-8", "binary/octet-stream"}[r.rng.IntN(5)]
}

// wrongETag returns an ETag that is not etag.
func (r *modelRun) wrongETag(etag string) string {
	for {
		var w string
		switch r.rng.IntN(3) {
		case 0:
			w = mMD5([]byte(strconv.Itoa(r.rng.Int())))
		case 1:
			w = mMD5(nil)
		default:
			w = mMD5([]byte("x")) + "-2"
		}
		if w != etag {
			return w
		}
	}
}

// pickRange returns a byte range for Get (n < 0: to the end) and whether it
// is valid; it favours block and part edges and includes invalid ranges.
func (r *modelRun) pickRange(size int64, partEnds []int64) (off, n int64, valid bool) {
	bs := int64(r.eff.BlockSize)
	switch x := r.rng.IntN(100); {
	case x < 20:
		off, n = 0, -1
	case x < 24:
		off, n = size+1+r.rng.Int64N(3), []int64{-1, 0, 1}[r.rng.IntN(3)]
	case x < 28:
		off = r.rng.Int64N(size + 1)
		n = size - off + 1 + r.rng.Int64N(3)
	case x < 30:
		off, n = -1-r.rng.Int64N(2), r.rng.Int64N(size+1)
	case x < 34:
		off, n = size, []int64{-1, 0}[r.rng.IntN(2)]
	case x < 60:
		edges := []int64{0, size}
		if size > 0 {
			edges = append(edges, r.rng.Int64N(size/bs+1)*bs)
		}
		edges = append(edges, partEnds...)
		off = edges[r.rng.IntN(len(edges))] + r.rng.Int64N(5) - 2
		off = max(0, min(off, size))
		n = r.rng.Int64N(min(size-off, 3*bs) + 1)
	case x < 70:
		off = r.rng.Int64N(size + 1)
		n = -1
	default:
		off = r.rng.Int64N(size + 1)
		n = r.rng.Int64N(min(size-off, 2*bs) + 1)
	}
	end := n
	if n < 0 {
		end = size - off
	}
	return off, n, off >= 0 && off <= size && end >= 0 && end <= size-off
}

// ---------------------------------------------------------------------------
// Checks

func (r *modelRun) checkInfo(what string, got ObjectInfo, bucket, key string, want *mObject) {
	r.t.Helper()
	if got.Bucket != bucket || got.Key != key || got.Size != int64(len(want.data)) || got.ETag != want.etag ||
		got.ContentType != want.ctype || !mPairsEqual(got.UserMeta, want.meta) || !mPairsEqual(got.Checksums, want.sums) ||
		got.Parts != want.parts || got.ModTime.UnixNano() != want.mtime || got.ModTime.Location() != time.UTC {
		r.fail("%s %s/%s: info\n got %+v\nwant size=%d etag=%s ctype=%q meta=%v sums=%v parts=%d mtime=%v",
			what, bucket, key, got, len(want.data), want.etag, want.ctype, want.meta, want.sums, want.parts, time.Unix(0, want.mtime).UTC())
	}
}

func (r *modelRun) checkBytes(what string, got, want []byte) {
	r.t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		r.fail("%s: %d bytes, want %d; first difference at %d", what, len(got), len(want), i)
	}
}

// checkMetrics compares the store's object count and logical bytes with the
// model and checks every segment's accounting; empty also wants no live
// bytes anywhere.
func (r *modelRun) checkMetrics(empty bool) {
	r.t.Helper()
	m := r.s.Metrics()
	objs, logical := r.m.totals()
	if m.Objects != objs || m.LogicalBytes != logical {
		r.fail("metrics: %d objects of %d bytes, model has %d of %d", m.Objects, m.LogicalBytes, objs, logical)
	}
	var live int64
	for _, sg := range m.Segments {
		if sg.Live < 0 || sg.Garbage < 0 || (empty && sg.Live != 0) {
			r.fail("metrics: segment %016x: live %d garbage %d size %d (empty store: %v)\n%v", sg.ID, sg.Live, sg.Garbage, sg.Size, empty, m)
		}
		live += sg.Live
	}
	if live != m.LiveBytes {
		r.fail("metrics: LiveBytes %d, segments sum to %d", m.LiveBytes, live)
	}
}

// verifyAll compares every bucket, object (metadata and bytes), upload and
// part with the model.
func (r *modelRun) verifyAll() {
	r.t.Helper()
	if !r.worker {
		r.opListBucketsCheck()
	}
	var names []string
	for b := range r.m.buckets {
		names = append(names, b)
	}
	slices.Sort(names)
	for _, b := range names {
		mb := r.m.buckets[b]
		for k, o := range mb.objects {
			info, err := r.s.Head(b, k)
			r.wantErr("verify head "+b+"/"+k, err, nil)
			r.checkInfo("verify head", info, b, k, o)
			var buf bytes.Buffer
			buf.Grow(len(o.data))
			info, err = r.s.Get(b, k, 0, -1, &buf)
			r.wantErr("verify get "+b+"/"+k, err, nil)
			r.checkInfo("verify get", info, b, k, o)
			r.checkBytes("verify get "+b+"/"+k, buf.Bytes(), o.data)
		}
		r.listAndCompare(b, ListOptions{Prefix: r.scope})
		r.listUploadsAndCompare(b, ListUploadsOptions{Prefix: r.scope})
		if !r.worker {
			for _, name := range modelConfigNames {
				r.checkConfig(b, name)
			}
		}
	}
	for _, u := range r.m.uploads {
		r.listPartsAndCompare(u, 0, 0)
	}
}

// ---------------------------------------------------------------------------
// Object operations

func (r *modelRun) opPut() {
	b, k := r.pickBucket(), r.pickKey()
	if r.rng.IntN(3) == 0 {
		b, k = r.pickObject()
	}
	data := r.body(r.objectSize())
	po := PutOptions{ContentType: r.contentType(), UserMeta: r.userMeta(), Checksums: r.checksums()}
	old := r.object(b, k)
	var want error
	switch x := r.rng.IntN(100); {
	case r.m.buckets[b] == nil:
		want = ErrNoSuchBucket
	case x < 12:
		po.Condition.IfNoneMatchStar = true
		if old != nil {
			want = ErrPreconditionFailed
		}
	case x < 20 && old != nil:
		po.Condition.IfMatch = old.etag
	case x < 26:
		po.Condition.IfMatch = r.wrongETag("")
		if old == nil {
			want = ErrNoSuchKey
		} else if po.Condition.IfMatch != old.etag {
			want = ErrPreconditionFailed
		}
	}
	// A body that ends early or runs long fails and leaves garbage only.
	var rd io.Reader = bytes.NewReader(data)
	declared := int64(len(data))
	if want == nil && r.rng.IntN(40) == 0 {
		if len(data) > 0 && r.rng.IntN(2) == 0 {
			declared++
			want = ErrIncompleteBody
		} else {
			declared = max(0, declared-1)
			rd = bytes.NewReader(append(slices.Clip(data), 'x'))
			if declared < int64(len(data)) {
				data = data[:declared]
			}
			want = ErrBodyTooLong
		}
	}
	r.note("put %s/%s size=%d declared=%d cond=%+v want=%v", b, k, len(data), declared, po.Condition, want)
	t0 := time.Now().UnixNano()
	info, err := r.s.Put(b, k, declared, rd, po)
	t1 := time.Now().UnixNano()
	r.wantErr("put "+b+"/"+k, err, want)
	if err != nil {
		return
	}
	r.inWindow("put mtime", info.ModTime, t0, t1)
	o := &mObject{data: data, etag: mMD5(data), ctype: po.ContentType, meta: po.UserMeta, sums: po.Checksums, mtime: info.ModTime.UnixNano()}
	r.checkInfo("put", info, b, k, o)
	r.m.buckets[b].objects[k] = o
}

func (r *modelRun) opGet() {
	b, k := r.pickObject()
	o := r.object(b, k)
	var size int64
	var ends []int64
	if o != nil {
		size, ends = int64(len(o.data)), o.partEnds
	}
	off, n, valid := r.pickRange(size, ends)
	var want error
	switch {
	case r.m.buckets[b] == nil:
		want = ErrNoSuchBucket
	case o == nil:
		want = ErrNoSuchKey
	case !valid:
		want = ErrInvalidRange
	}
	r.note("get %s/%s [%d+%d] of %d want=%v", b, k, off, n, size, want)
	var buf bytes.Buffer
	buf.Grow(int(max(n, size-off, 0)))
	info, err := r.s.Get(b, k, off, n, &buf)
	what := fmt.Sprintf("get %s/%s [%d+%d] of %d", b, k, off, n, size)
	r.wantErr(what, err, want)
	if err != nil {
		if buf.Len() != 0 {
			r.fail("%s: failed get wrote %d bytes", what, buf.Len())
		}
		return
	}
	r.checkInfo("get", info, b, k, o)
	end := off + n
	if n < 0 {
		end = size
	}
	r.checkBytes(what, buf.Bytes(), o.data[off:end])
}

func (r *modelRun) opHead() {
	b, k := r.pickObject()
	o := r.object(b, k)
	var want error
	if r.m.buckets[b] == nil {
		want = ErrNoSuchBucket
	} else if o == nil {
		want = ErrNoSuchKey
	}
	r.note("head %s/%s want=%v", b, k, want)
	info, err := r.s.Head(b, k)
	r.wantErr("head "+b+"/"+k, err, want)
	if err == nil {
		r.checkInfo("head", info, b, k, o)
	}
}

func (r *modelRun) opDelete() {
	b, k := r.pickObject()
	var want error
	if r.m.buckets[b] == nil {
		want = ErrNoSuchBucket
	}
	r.note("delete %s/%s (exists %v) want=%v", b, k, r.object(b, k) != nil, want)
	r.wantErr("delete "+b+"/"+k, r.s.Delete(b, k), want)
	if want == nil {
		delete(r.m.buckets[b].objects, k)
	}
}

// opSnapshot opens an object, then deletes or overwrites the key, and reads
// the opened object: it must still yield the old bytes.
func (r *modelRun) opSnapshot() {
	b, k := r.pickObject()
	o := r.object(b, k)
	if o == nil {
		return
	}
	r.note("snapshot %s/%s size=%d", b, k, len(o.data))
	obj, err := r.s.Open(b, k)
	r.wantErr("open "+b+"/"+k, err, nil)
	defer obj.Close()
	r.checkInfo("open", obj.Info(), b, k, o)
	if r.rng.IntN(2) == 0 {
		r.wantErr("snapshot delete", r.s.Delete(b, k), nil)
		delete(r.m.buckets[b].objects, k)
	} else {
		data := r.body(r.objectSize())
		info, err := r.s.Put(b, k, int64(len(data)), bytes.NewReader(data), PutOptions{})
		r.wantErr("snapshot overwrite", err, nil)
		r.m.buckets[b].objects[k] = &mObject{data: data, etag: mMD5(data), mtime: info.ModTime.UnixNano()}
	}
	var buf bytes.Buffer
	_, err = obj.WriteRange(&buf, 0, int64(len(o.data)))
	r.wantErr("snapshot read", err, nil)
	r.checkBytes("snapshot read "+b+"/"+k, buf.Bytes(), o.data)
	off, n, valid := r.pickRange(int64(len(o.data)), o.partEnds)
	if valid && n >= 0 {
		buf.Reset()
		_, err = obj.WriteRange(&buf, off, n)
		r.wantErr("snapshot range read", err, nil)
		r.checkBytes(fmt.Sprintf("snapshot read %s/%s [%d+%d]", b, k, off, n), buf.Bytes(), o.data[off:off+n])
	}
}

func (r *modelRun) randomListOptions() ListOptions {
	o := ListOptions{Prefix: r.scope + modelListPrefixes[r.rng.IntN(len(modelListPrefixes))]}
	if r.rng.IntN(5) == 0 {
		k := r.pickKey()
		o.Prefix = mCutUTF8(k, len(r.scope)+r.rng.IntN(len(k)-len(r.scope)+1))
	}
	o.Delimiter = modelDelimiters[r.rng.IntN(len(modelDelimiters))]
	switch r.rng.IntN(8) {
	case 0, 1, 2:
	case 3, 4:
		o.StartAfter = r.pickKey()
	case 5:
		k := r.pickKey()
		o.StartAfter = mCutUTF8(k, r.rng.IntN(len(k)+1))
	case 6:
		o.StartAfter = r.scope + modelListPrefixes[r.rng.IntN(len(modelListPrefixes))]
	case 7:
		o.StartAfter = r.pickKey() + "/"
	}
	if r.rng.IntN(5) > 0 {
		o.MaxKeys = 1 + r.rng.IntN(7)
	}
	return o
}

// mCutUTF8 returns the longest prefix of s of at most n bytes that is valid
// UTF-8.
func mCutUTF8(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (r *modelRun) opList() {
	b := r.pickBucket()
	o := r.randomListOptions()
	r.note("list %s %+v", b, o)
	if r.m.buckets[b] == nil {
		_, err := r.s.List(b, o)
		r.wantErr("list "+b, err, ErrNoSuchBucket)
		return
	}
	r.listAndCompare(b, o)
}

// listAndCompare pages through a listing with NextMarker and compares every
// page with the model's page for the same StartAfter.
func (r *modelRun) listAndCompare(b string, o ListOptions) {
	r.t.Helper()
	mb := r.m.buckets[b]
	max := o.MaxKeys
	if max <= 0 {
		max = 1000
	}
	for page := 0; ; page++ {
		what := fmt.Sprintf("list %s %+v page %d", b, o, page)
		if page > len(mb.objects)+2 {
			r.fail("%s: pagination does not end", what)
		}
		res, err := r.s.List(b, o)
		r.wantErr(what, err, nil)
		all := mb.listObjects(o)
		want := all[:min(max, len(all))]
		truncated := len(all) > max
		var wantObjs, wantCPs []string
		for _, e := range want {
			if e.isPrefix {
				wantCPs = append(wantCPs, e.name)
			} else {
				wantObjs = append(wantObjs, e.name)
			}
		}
		var gotObjs []string
		for _, oi := range res.Objects {
			gotObjs = append(gotObjs, oi.Key)
		}
		wantNext := ""
		if truncated {
			wantNext = want[len(want)-1].name
		}
		if !slices.Equal(gotObjs, wantObjs) || !slices.Equal(res.CommonPrefixes, wantCPs) ||
			res.IsTruncated != truncated || res.NextMarker != wantNext {
			r.fail("%s:\n got objects %q prefixes %q truncated %v next %q\nwant objects %q prefixes %q truncated %v next %q",
				what, gotObjs, res.CommonPrefixes, res.IsTruncated, res.NextMarker, wantObjs, wantCPs, truncated, wantNext)
		}
		for _, oi := range res.Objects {
			r.checkInfo(what, oi, b, oi.Key, mb.objects[oi.Key])
		}
		if !res.IsTruncated {
			return
		}
		o.StartAfter = res.NextMarker
	}
}

// ---------------------------------------------------------------------------
// Bucket operations

func (r *modelRun) opCreateBucket() {
	b := modelBucketNames[r.rng.IntN(len(modelBucketNames))]
	if r.rng.IntN(20) == 0 {
		b = []string{"Bad_Name", "ab", "-bkt", "192.168.1.1"}[r.rng.IntN(4)]
		r.note("create-bucket %s (invalid)", b)
		r.wantErr("create bucket "+b, r.s.CreateBucket(b), ErrInvalidBucketName)
		return
	}
	var want error
	if r.m.buckets[b] != nil {
		want = ErrBucketExists
	}
	r.note("create-bucket %s want=%v", b, want)
	t0 := time.Now().UnixNano()
	err := r.s.CreateBucket(b)
	t1 := time.Now().UnixNano()
	r.wantErr("create bucket "+b, err, want)
	if want == nil {
		r.m.buckets[b] = &mBucket{created0: t0, created1: t1, objects: map[string]*mObject{}}
	}
	ok, err := r.s.BucketExists(b)
	if err != nil || !ok {
		r.fail("bucket exists %s: %v %v", b, ok, err)
	}
}

func (r *modelRun) bucketHoldsUploads(b string) bool {
	for _, u := range r.m.uploads {
		if u.bucket == b {
			return true
		}
	}
	return false
}

func (r *modelRun) opDeleteBucket() {
	b := r.pickBucket()
	var want error
	switch mb := r.m.buckets[b]; {
	case mb == nil:
		want = ErrNoSuchBucket
	case len(mb.objects) > 0 || r.bucketHoldsUploads(b):
		want = ErrBucketNotEmpty
	}
	r.note("delete-bucket %s want=%v", b, want)
	r.wantErr("delete bucket "+b, r.s.DeleteBucket(b), want)
	if want == nil {
		delete(r.m.buckets, b)
	}
	ok, err := r.s.BucketExists(b)
	if err != nil || ok != (r.m.buckets[b] != nil) {
		r.fail("bucket exists %s: %v %v", b, ok, err)
	}
}

var modelConfigNames = []string{"policy", "cors"}

// opBucketConfig sets, deletes or reads back one configuration document of
// a bucket (which may not exist).
func (r *modelRun) opBucketConfig() {
	b := r.pickBucket()
	name := modelConfigNames[r.rng.IntN(len(modelConfigNames))]
	mb := r.m.buckets[b]
	var want error
	if mb == nil {
		want = ErrNoSuchBucket
	}
	switch r.rng.IntN(4) {
	case 0, 1:
		doc := r.body(1 + r.rng.IntN(300))
		if r.rng.IntN(15) == 0 {
			doc = r.body(MaxConfigSize + 1 + r.rng.IntN(10))
			r.note("bucket-config set %s %s %d bytes (too large)", b, name, len(doc))
			r.wantErr("put config", r.s.PutBucketConfig(b, name, doc), ErrConfigTooLarge)
			break
		}
		r.note("bucket-config set %s %s %d bytes want=%v", b, name, len(doc), want)
		r.wantErr("put config", r.s.PutBucketConfig(b, name, doc), want)
		if mb != nil {
			if mb.configs == nil {
				mb.configs = map[string][]byte{}
			}
			mb.configs[name] = doc
		}
	case 2:
		r.note("bucket-config delete %s %s want=%v", b, name, want)
		r.wantErr("delete config", r.s.DeleteBucketConfig(b, name), want)
		if mb != nil {
			delete(mb.configs, name)
		}
	default:
		r.note("bucket-config get %s %s", b, name)
		r.checkConfig(b, name)
	}
}

func (r *modelRun) checkConfig(b, name string) {
	r.t.Helper()
	got, err := r.s.BucketConfig(b, name)
	mb := r.m.buckets[b]
	switch {
	case mb == nil:
		r.wantErr("get config "+b+" "+name, err, ErrNoSuchBucket)
	case mb.configs[name] == nil:
		r.wantErr("get config "+b+" "+name, err, ErrNoSuchConfig)
	default:
		r.wantErr("get config "+b+" "+name, err, nil)
		r.checkBytes("config "+b+" "+name, got, mb.configs[name])
	}
}

// opDrainBucket deletes every object and aborts every upload of a bucket,
// then deletes it.
func (r *modelRun) opDrainBucket() {
	b := r.pickBucket()
	mb := r.m.buckets[b]
	if mb == nil {
		return
	}
	r.note("drain-bucket %s: %d objects", b, len(mb.objects))
	for k := range mb.objects {
		r.wantErr("drain delete "+b+"/"+k, r.s.Delete(b, k), nil)
		delete(mb.objects, k)
	}
	for _, u := range r.m.bucketUploads(b) {
		r.wantErr("drain abort "+u.id, r.s.AbortMultipartUpload(b, u.key, u.id), nil)
		r.finishUpload(u)
	}
	r.wantErr("drain delete bucket "+b, r.s.DeleteBucket(b), nil)
	delete(r.m.buckets, b)
}

func (r *modelRun) opListBuckets() {
	r.note("list-buckets")
	r.opListBucketsCheck()
}

func (r *modelRun) opListBucketsCheck() {
	r.t.Helper()
	got, err := r.s.ListBuckets()
	r.wantErr("list buckets", err, nil)
	var names, want []string
	for _, bi := range got {
		names = append(names, bi.Name)
	}
	for b := range r.m.buckets {
		want = append(want, b)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		r.fail("list buckets: got %q, want %q", names, want)
	}
	for _, bi := range got {
		mb := r.m.buckets[bi.Name]
		r.inWindow("bucket "+bi.Name+" created", bi.Created, mb.created0, mb.created1)
	}
}

// ---------------------------------------------------------------------------
// Multipart operations

func (r *modelRun) opCreateUpload() {
	b, k := r.pickBucket(), r.pickKey()
	po := PutOptions{ContentType: r.contentType(), UserMeta: r.userMeta(), Checksums: r.checksums()}
	var want error
	if r.m.buckets[b] == nil {
		want = ErrNoSuchBucket
	}
	r.note("create-upload %s/%s want=%v", b, k, want)
	t0 := time.Now().UnixNano()
	id, err := r.s.CreateMultipartUpload(b, k, po)
	t1 := time.Now().UnixNano()
	r.wantErr("create upload "+b+"/"+k, err, want)
	if err != nil {
		return
	}
	if len(id) != uploadIDLen || r.m.uploads[id] != nil {
		r.fail("create upload: bad or repeated id %q", id)
	}
	r.note("  → upload %s", id)
	r.m.seq++
	r.m.uploads[id] = &mUpload{bucket: b, key: k, id: id, ctype: po.ContentType, meta: po.UserMeta, sums: po.Checksums, init0: t0, init1: t1, parts: map[int]*mPart{}, seq: r.m.seq}
}

// pickUpload returns an active upload most of the time (u != nil), else a
// finished one or an id that never existed (u == nil).
func (r *modelRun) pickUpload() (b, k, id string, u *mUpload) {
	x := r.rng.IntN(100)
	if x < 85 && len(r.m.uploads) > 0 {
		ups := r.m.uploadsBySeq()
		u = ups[r.rng.IntN(len(ups))]
		if r.rng.IntN(40) == 0 {
			// The right id under another key is no upload.
			if k := r.pickKey(); k != u.key {
				return u.bucket, k, u.id, nil
			}
		}
		return u.bucket, u.key, u.id, u
	}
	if x < 95 && len(r.m.finished) > 0 {
		f := r.m.finished[r.rng.IntN(len(r.m.finished))]
		return f.bucket, f.key, f.id, nil
	}
	id = hex.EncodeToString(fmt.Appendf(nil, "%016x", r.rng.Uint64()))
	return r.pickBucket(), r.pickKey(), id, nil
}

func (r *modelRun) finishUpload(u *mUpload) {
	delete(r.m.uploads, u.id)
	r.m.finished = append(r.m.finished, u)
}

// uploadErr is the error an operation on a non-active upload returns.
func (r *modelRun) uploadErr(b string, u *mUpload) error {
	if r.m.buckets[b] == nil {
		return ErrNoSuchBucket
	}
	if u == nil {
		return ErrNoSuchUpload
	}
	return nil
}

func (r *modelRun) opPutPart() {
	b, k, id, u := r.pickUpload()
	n := 1 + r.rng.IntN(8)
	if u != nil && len(u.parts) > 0 && r.rng.IntN(4) == 0 {
		// Upload an existing number again.
		nums := slices.Sorted(maps.Keys(u.parts))
		n = nums[r.rng.IntN(len(nums))]
	}
	if r.rng.IntN(50) == 0 {
		n = MaxParts
	}
	want := r.uploadErr(b, u)
	if r.rng.IntN(60) == 0 {
		n = []int{0, -1, MaxParts + 1}[r.rng.IntN(3)]
		want = ErrInvalidPartNumber
	}
	data := r.body(r.partSize())
	sums := r.checksums()
	r.note("put-part %s/%s %s #%d size=%d want=%v", b, k, id, n, len(data), want)
	t0 := time.Now().UnixNano()
	pi, err := r.s.PutPart(b, k, id, n, int64(len(data)), bytes.NewReader(data), PartOptions{Checksums: sums})
	t1 := time.Now().UnixNano()
	r.wantErr(fmt.Sprintf("put part %s/%s %s #%d", b, k, id, n), err, want)
	if err != nil {
		return
	}
	r.inWindow("part mtime", pi.ModTime, t0, t1)
	p := &mPart{data: data, etag: mMD5(data), sums: sums, mtime: pi.ModTime.UnixNano()}
	r.checkPart("put part", pi, n, p)
	u.parts[n] = p
}

func (r *modelRun) checkPart(what string, got PartInfo, n int, want *mPart) {
	r.t.Helper()
	if got.Number != n || got.Size != int64(len(want.data)) || got.ETag != want.etag ||
		got.ModTime.UnixNano() != want.mtime || !mPairsEqual(got.Checksums, want.sums) {
		r.fail("%s #%d:\n got %+v\nwant size=%d etag=%s mtime=%v sums=%v", what, n, got, len(want.data), want.etag, time.Unix(0, want.mtime).UTC(), want.sums)
	}
}

func (r *modelRun) checkUpload(what string, got UploadInfo, u *mUpload) {
	r.t.Helper()
	if got.Bucket != u.bucket || got.Key != u.key || got.UploadID != u.id || got.ContentType != u.ctype ||
		!mPairsEqual(got.UserMeta, u.meta) || !mPairsEqual(got.Checksums, u.sums) {
		r.fail("%s:\n got %+v\nwant %s/%s %s ctype=%q meta=%v sums=%v", what, got, u.bucket, u.key, u.id, u.ctype, u.meta, u.sums)
	}
	r.inWindow(what+" initiated", got.Initiated, u.init0, u.init1)
}

func (r *modelRun) opListParts() {
	b, k, id, u := r.pickUpload()
	marker := []int{0, 0, 0, 1, 2, 3, 5, 9, -1}[r.rng.IntN(9)]
	max := r.rng.IntN(5)
	r.note("list-parts %s/%s %s marker=%d max=%d", b, k, id, marker, max)
	if u == nil {
		_, err := r.s.ListParts(b, k, id, marker, max)
		r.wantErr("list parts", err, r.uploadErr(b, u))
		return
	}
	r.listPartsAndCompare(u, marker, max)
}

// listPartsAndCompare pages through an upload's parts with
// NextPartNumberMarker.
func (r *modelRun) listPartsAndCompare(u *mUpload, marker, max int) {
	r.t.Helper()
	nums := slices.Sorted(maps.Keys(u.parts))
	limit := max
	if limit <= 0 {
		limit = 1000
	}
	for page := 0; ; page++ {
		what := fmt.Sprintf("list parts %s/%s %s marker=%d max=%d page %d", u.bucket, u.key, u.id, marker, max, page)
		if page > len(nums)+2 {
			r.fail("%s: pagination does not end", what)
		}
		res, err := r.s.ListParts(u.bucket, u.key, u.id, marker, max)
		r.wantErr(what, err, nil)
		r.checkUpload(what, res.Upload, u)
		var after []int
		for _, n := range nums {
			if n > marker {
				after = append(after, n)
			}
		}
		want := after[:min(limit, len(after))]
		truncated := len(after) > limit
		var got []int
		for _, p := range res.Parts {
			got = append(got, p.Number)
		}
		if !slices.Equal(got, want) || res.IsTruncated != truncated || (truncated && res.NextPartNumberMarker != want[len(want)-1]) {
			r.fail("%s: got parts %v truncated %v next %d, want %v truncated %v", what, got, res.IsTruncated, res.NextPartNumberMarker, want, truncated)
		}
		for _, p := range res.Parts {
			r.checkPart(what, p, p.Number, u.parts[p.Number])
		}
		if !res.IsTruncated {
			return
		}
		marker = res.NextPartNumberMarker
	}
}

func (r *modelRun) opListUploads() {
	b := r.pickBucket()
	lo := r.randomListOptions()
	o := ListUploadsOptions{Prefix: lo.Prefix, Delimiter: lo.Delimiter, KeyMarker: lo.StartAfter, MaxUploads: lo.MaxKeys}
	if o.KeyMarker != "" && r.rng.IntN(3) == 0 {
		// An upload id marker: one of the key's uploads, or any id.
		o.UploadIDMarker = hex.EncodeToString(fmt.Appendf(nil, "%016x", r.rng.Uint64()))
		for _, u := range r.m.uploadsBySeq() {
			if u.bucket == b && u.key == o.KeyMarker && r.rng.IntN(2) == 0 {
				o.UploadIDMarker = u.id
			}
		}
	}
	r.note("list-uploads %s %+v", b, o)
	if r.m.buckets[b] == nil {
		_, err := r.s.ListUploads(b, o)
		r.wantErr("list uploads "+b, err, ErrNoSuchBucket)
		return
	}
	r.listUploadsAndCompare(b, o)
}

// listUploadsAndCompare pages through uploads with NextKeyMarker and
// NextUploadIDMarker, comparing each page with the model.
func (r *modelRun) listUploadsAndCompare(b string, o ListUploadsOptions) {
	r.t.Helper()
	limit := o.MaxUploads
	if limit <= 0 {
		limit = 1000
	}
	for page := 0; ; page++ {
		what := fmt.Sprintf("list uploads %s %+v page %d", b, o, page)
		if page > len(r.m.uploads)+2 {
			r.fail("%s: pagination does not end", what)
		}
		res, err := r.s.ListUploads(b, o)
		r.wantErr(what, err, nil)
		all := r.m.listUploads(b, o)
		want := all[:min(limit, len(all))]
		truncated := len(all) > limit
		var wantUps, wantCPs, gotUps []string
		for _, e := range want {
			if e.isPrefix {
				wantCPs = append(wantCPs, e.name)
			} else {
				wantUps = append(wantUps, e.name+" "+e.id)
			}
		}
		for _, u := range res.Uploads {
			gotUps = append(gotUps, u.Key+" "+u.UploadID)
		}
		var nextKey, nextID string
		if truncated {
			nextKey, nextID = want[len(want)-1].name, want[len(want)-1].id
		}
		if !slices.Equal(gotUps, wantUps) || !slices.Equal(res.CommonPrefixes, wantCPs) || res.IsTruncated != truncated ||
			res.NextKeyMarker != nextKey || res.NextUploadIDMarker != nextID {
			r.fail("%s:\n got uploads %q prefixes %q truncated %v next %q %q\nwant uploads %q prefixes %q truncated %v next %q %q",
				what, gotUps, res.CommonPrefixes, res.IsTruncated, res.NextKeyMarker, res.NextUploadIDMarker,
				wantUps, wantCPs, truncated, nextKey, nextID)
		}
		for _, ui := range res.Uploads {
			r.checkUpload(what, ui, r.m.uploads[ui.UploadID])
		}
		if !res.IsTruncated {
			return
		}
		o.KeyMarker, o.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// completeRequest builds a part list from an upload's parts, sometimes with
// one defect: a wrong ETag, a part never uploaded, or a wrong order.
func (r *modelRun) completeRequest(u *mUpload) []CompletePart {
	var req []CompletePart
	if u != nil {
		for _, n := range slices.Sorted(maps.Keys(u.parts)) {
			if r.rng.IntN(5) > 0 {
				req = append(req, CompletePart{Number: n, ETag: u.parts[n].etag})
			}
		}
	}
	if len(req) == 0 || r.rng.IntN(10) == 0 {
		n := 1 + r.rng.IntN(9)
		etag := mMD5(nil)
		if u != nil && u.parts[n] != nil {
			etag = u.parts[n].etag
		}
		i, _ := slices.BinarySearchFunc(req, n, func(p CompletePart, n int) int { return p.Number - n })
		if i == len(req) || req[i].Number != n {
			req = slices.Insert(req, i, CompletePart{Number: n, ETag: etag})
		}
	}
	switch x := r.rng.IntN(100); {
	case x < 8:
		i := r.rng.IntN(len(req))
		req[i].ETag = r.wrongETag(req[i].ETag)
	case x < 14 && len(req) > 1:
		i := r.rng.IntN(len(req) - 1)
		req[i], req[i+1] = req[i+1], req[i]
	case x < 17:
		i := r.rng.IntN(len(req))
		req = slices.Insert(req, i, req[i])
	case x < 19:
		req = nil
	case x < 20:
		req[r.rng.IntN(len(req))].Number = []int{0, MaxParts + 1}[r.rng.IntN(2)]
	}
	return req
}

// expectComplete is the model of CompleteMultipartUpload: the part list is
// checked up front, then the bucket and upload, then each listed part in
// order (order, presence, ETag, minimum size of all but the last), then the
// condition.
func (r *modelRun) expectComplete(b, k string, u *mUpload, req []CompletePart, cond Condition) error {
	if len(req) == 0 {
		return ErrInvalidPart
	}
	for _, p := range req {
		if p.Number < 1 || p.Number > MaxParts {
			return ErrInvalidPart
		}
	}
	if err := r.uploadErr(b, u); err != nil {
		return err
	}
	for i, cp := range req {
		if i > 0 && cp.Number <= req[i-1].Number {
			return ErrInvalidPartOrder
		}
		p := u.parts[cp.Number]
		if p == nil || p.etag != cp.ETag {
			return ErrInvalidPart
		}
		if min := r.eff.MinPartSize; i < len(req)-1 && min > 0 && int64(len(p.data)) < min {
			return ErrEntityTooSmall
		}
	}
	old := r.object(b, k)
	switch {
	case cond.IfNoneMatchStar && old != nil:
		return ErrPreconditionFailed
	case cond.IfMatch != "" && old == nil:
		return ErrNoSuchKey
	case cond.IfMatch != "" && old.etag != cond.IfMatch:
		return ErrPreconditionFailed
	}
	return nil
}

func (r *modelRun) opComplete() {
	b, k, id, u := r.pickUpload()
	req := r.completeRequest(u)
	co := CompleteOptions{Checksums: r.checksums()}
	switch x := r.rng.IntN(10); {
	case x == 0:
		co.Condition.IfNoneMatchStar = true
	case x == 1:
		co.Condition.IfMatch = r.wrongETag("")
		if old := r.object(b, k); old != nil && r.rng.IntN(2) == 0 {
			co.Condition.IfMatch = old.etag
		}
	}
	want := r.expectComplete(b, k, u, req, co.Condition)
	r.note("complete %s/%s %s parts=%v cond=%+v want=%v", b, k, id, req, co.Condition, want)
	t0 := time.Now().UnixNano()
	info, err := r.s.CompleteMultipartUpload(b, k, id, slices.Clone(req), co)
	t1 := time.Now().UnixNano()
	r.wantErr(fmt.Sprintf("complete %s/%s %s %v", b, k, id, req), err, want)
	if err != nil {
		return
	}
	r.inWindow("complete mtime", info.ModTime, t0, t1)
	o := &mObject{ctype: u.ctype, meta: u.meta, sums: co.Checksums, mtime: info.ModTime.UnixNano(), parts: len(req)}
	var parts []*mPart
	for _, cp := range req {
		p := u.parts[cp.Number]
		parts = append(parts, p)
		o.data = append(o.data, p.data...)
		o.partEnds = append(o.partEnds, int64(len(o.data)))
	}
	o.etag = mMultipartETag(parts)
	r.checkInfo("complete", info, b, k, o)
	r.m.buckets[b].objects[k] = o
	r.finishUpload(u)
	// The upload is gone.
	_, err = r.s.PutPart(b, k, id, 1, 0, bytes.NewReader(nil), PartOptions{})
	r.wantErr("put part after complete", err, ErrNoSuchUpload)
	_, err = r.s.ListParts(b, k, id, 0, 0)
	r.wantErr("list parts after complete", err, ErrNoSuchUpload)
	_, err = r.s.CompleteMultipartUpload(b, k, id, req, CompleteOptions{})
	r.wantErr("complete after complete", err, ErrNoSuchUpload)
}

func (r *modelRun) opAbort() {
	b, k, id, u := r.pickUpload()
	want := r.uploadErr(b, u)
	r.note("abort %s/%s %s want=%v", b, k, id, want)
	r.wantErr("abort "+id, r.s.AbortMultipartUpload(b, k, id), want)
	if want != nil {
		return
	}
	r.finishUpload(u)
	r.wantErr("abort after abort", r.s.AbortMultipartUpload(b, k, id), ErrNoSuchUpload)
	_, err := r.s.ListParts(b, k, id, 0, 0)
	r.wantErr("list parts after abort", err, ErrNoSuchUpload)
}

// ---------------------------------------------------------------------------
// Compaction

// opCompact runs a compaction pass, over the segments above a random garbage
// threshold or over one sealed segment. With nothing racing it, every chosen
// segment must be emptied and deleted; the bytes are checked by the ops that
// follow and by every reopen.
func (r *modelRun) opCompact() {
	// Background sealing decides which segments are candidates: wait for
	// it so that a seed replays the same pass.
	r.s.WaitSealed()
	o := CompactOptions{Threshold: []float64{0.05, 0.3, 0.7}[r.rng.IntN(3)]}
	if r.rng.IntN(4) == 0 {
		var sealed []uint64
		for _, sg := range r.s.Metrics().Segments {
			if sg.Sealed {
				sealed = append(sealed, sg.ID)
			}
		}
		if len(sealed) > 0 {
			o = CompactOptions{Segment: sealed[r.rng.IntN(len(sealed))]}
		}
	}
	r.note("compact %+v", o)
	res, err := r.s.Compact(context.Background(), o)
	r.wantErr("compact", err, nil)
	r.note("  → chosen %d deleted %d relocated %d lost %d copied %d", len(res.Chosen), len(res.Deleted), res.Relocated, res.Lost, res.BytesCopied)
	if !slices.Equal(res.Chosen, res.Deleted) || res.Lost != 0 {
		r.fail("compact %+v: chose %x, deleted %x, lost %d runs, with nothing racing it\n%v", o, res.Chosen, res.Deleted, res.Lost, r.s.Metrics())
	}
	m := r.s.Metrics()
	for _, sg := range m.Segments {
		if slices.Contains(res.Deleted, sg.ID) {
			r.fail("compact: deleted segment %016x still listed\n%v", sg.ID, m)
		}
	}
	r.checkMetrics(false)
}

// ---------------------------------------------------------------------------
// Reopen

func (r *modelRun) opReopen() {
	r.note("reopen")
	r.reopen()
}

// reopen closes the store, checks it refuses work, opens it again on the
// same filesystem and compares everything with the model.
func (r *modelRun) reopen() {
	r.t.Helper()
	old := r.s
	r.wantErr("close", old.Close(), nil)
	_, err := old.Put("bkt-a", "k", 0, bytes.NewReader(nil), PutOptions{})
	r.wantErr("put after close", err, ErrClosed)
	_, err = old.Head("bkt-a", "k")
	r.wantErr("head after close", err, ErrClosed)
	s, err := Open(r.opts)
	if err != nil {
		r.fail("reopen: %v", err)
	}
	r.s = s
	r.checkMetrics(false)
	r.verifyAll()
}

// cleanup deletes everything, checks no segment holds live bytes, and
// checks that this survives a reopen.
func (r *modelRun) cleanup() {
	r.t.Helper()
	r.step++
	r.note("cleanup")
	for _, u := range r.m.uploads {
		r.wantErr("cleanup abort", r.s.AbortMultipartUpload(u.bucket, u.key, u.id), nil)
		r.finishUpload(u)
	}
	for b, mb := range r.m.buckets {
		for k := range mb.objects {
			r.wantErr("cleanup delete", r.s.Delete(b, k), nil)
			delete(mb.objects, k)
		}
		r.wantErr("cleanup delete bucket", r.s.DeleteBucket(b), nil)
		delete(r.m.buckets, b)
	}
	r.checkMetrics(true)
	r.reopen()
	r.checkMetrics(true)
}

// ---------------------------------------------------------------------------
// Tests

func modelOptions(fs vfs.FS, o Options) Options {
	o.FS = fs
	if len(o.Dirs) == 0 {
		o.Dirs = []string{"d0"}
	}
	if o.MinPartSize == 0 {
		o.MinPartSize = modelMinPart
	}
	o.IndexCacheSize = 8 << 20
	// Compaction runs when an op asks for it, at full speed.
	o.CompactionInterval = -1
	o.CompactionRate = -1
	return o
}

func TestModel(t *testing.T) {
	seed := modelSeed(t)
	ops := modelOpCount(t)
	cases := []struct {
		name string
		opts Options
	}{
		{"tiny-segments", Options{SegmentSize: 64 << 10, testingSmallSegments: true, CacheSize: 256 << 10}},
		{"no-inline", Options{NoInline: true, SegmentSize: 2 << 20}},
		{"default", Options{}},
		{"inline-64k", Options{InlineThreshold: 64 << 10, SegmentSize: 2 << 20}},
		{"no-compression", Options{DisableCompression: true, SegmentSize: 2 << 20}},
		{"no-cache", Options{CacheSize: -1, EntryCacheSize: -1, SegmentSize: 1 << 20}},
		// Evicts index entries all the time.
		{"tiny-entry-cache", Options{EntryCacheSize: 4 << 10, SegmentSize: 1 << 20}},
		{"chunk-1", Options{ChunkBlocks: 1, SegmentSize: 256 << 10, testingSmallSegments: true}},
		// Without a minimum part size, parts of any size (empty ones too)
		// sit between others, off block edges.
		{"block-4k-no-min-part", Options{BlockSize: 4096, SegmentSize: 256 << 10, testingSmallSegments: true, MinPartSize: -1}},
		// Mirrored open segments, erasure-coded sealed ones (k=2, m=1).
		{"three-drives", Options{Dirs: []string{"d0", "d1", "d2"}, SegmentSize: 256 << 10, testingSmallSegments: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newModelRun(t, c.name, seed, modelOptions(vfs.NewMem(), c.opts), "")
			s, err := Open(r.opts)
			if err != nil {
				r.fail("open: %v", err)
			}
			r.s = s
			defer func() { r.s.Close() }()
			for _, b := range []string{"bkt-a", "milvus-bucket"} {
				t0 := time.Now().UnixNano()
				r.wantErr("create bucket", r.s.CreateBucket(b), nil)
				r.m.buckets[b] = &mBucket{created0: t0, created1: time.Now().UnixNano(), objects: map[string]*mObject{}}
			}
			r.runOps(ops)
			r.step++
			r.note("final verify")
			r.checkMetrics(false)
			r.verifyAll()
			r.reopen()
			r.cleanup()
		})
	}
}

// TestModelConcurrent runs workers on disjoint key sets of one bucket, each
// against its own model, while other goroutines upload the parts of one
// shared multipart upload and a watcher lists and reads metrics. Block runs
// of one block and tiny segments make writers interleave and segments
// rotate under them.
func TestModelConcurrent(t *testing.T) {
	seed := modelSeed(t)
	ops := modelOpCount(t) / 3
	const (
		workers   = 4
		uploaders = 3
		sharedN   = 9 // parts of the shared upload
		bucket    = "conc"
	)
	opts := modelOptions(vfs.NewMem(), Options{SegmentSize: 64 << 10, testingSmallSegments: true, ChunkBlocks: 1, CacheSize: 1 << 20})
	lead := newModelRun(t, "concurrent", seed, opts, "")
	s, err := Open(opts)
	if err != nil {
		lead.fail("open: %v", err)
	}
	lead.s = s
	defer func() { lead.s.Close() }()
	t0 := time.Now().UnixNano()
	lead.wantErr("create bucket", s.CreateBucket(bucket), nil)
	created := &mBucket{created0: t0, created1: time.Now().UnixNano(), objects: map[string]*mObject{}}
	lead.m.buckets[bucket] = created

	const sharedKey = "shared/index_files/1/HNSW"
	t0 = time.Now().UnixNano()
	sharedID, err := s.CreateMultipartUpload(bucket, sharedKey, PutOptions{ContentType: "application/octet-stream"})
	lead.wantErr("create shared upload", err, nil)
	shared := &mUpload{bucket: bucket, key: sharedKey, id: sharedID, ctype: "application/octet-stream", init0: t0, init1: time.Now().UnixNano(), parts: map[int]*mPart{}}
	sharedParts := make([]*mPart, sharedN+1)

	var wg sync.WaitGroup
	runs := make([]*modelRun, workers)
	for i := range runs {
		w := newModelRun(t, fmt.Sprintf("concurrent/w%d", i), seed, opts, fmt.Sprintf("w%d/", i))
		w.worker, w.s = true, s
		w.m.buckets[bucket] = &mBucket{created0: created.created0, created1: created.created1, objects: map[string]*mObject{}}
		runs[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runOps(ops)
		}()
	}
	for g := 0; g < uploaders; g++ {
		u := newModelRun(t, fmt.Sprintf("concurrent/u%d", g), seed, opts, "")
		u.worker, u.s = true, s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := g + 1; n <= sharedN; n += uploaders {
				for again := 0; again <= u.rng.IntN(2); again++ {
					size := modelMinPart + u.rng.IntN(3*u.eff.BlockSize)
					if n == sharedN {
						size = u.rng.IntN(modelMinPart)
					}
					data := u.body(size)
					u.step++
					u.note("shared part #%d size=%d", n, size)
					pi, err := s.PutPart(bucket, sharedKey, sharedID, n, int64(size), bytes.NewReader(data), PartOptions{})
					u.wantErr("shared part", err, nil)
					p := &mPart{data: data, etag: mMD5(data), mtime: pi.ModTime.UnixNano()}
					u.checkPart("shared part", pi, n, p)
					sharedParts[n] = p
				}
			}
		}()
	}
	// The watcher checks what holds at every moment: listings are sorted,
	// a read's bytes match the ETag and size it reports (an overwrite racing
	// it never mixes versions), and segment accounting is never negative.
	var stop atomic.Bool
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		wr := modelRNG(seed, "concurrent/watcher")
		var keys []string
		for _, w := range runs {
			keys = append(keys, w.keys...)
		}
		for !stop.Load() {
			o := ListOptions{MaxKeys: 1 + wr.IntN(50)}
			prev := ""
			for {
				res, err := s.List(bucket, o)
				if err != nil {
					t.Errorf("seed %d: watcher list: %v", seed, err)
					return
				}
				for _, oi := range res.Objects {
					if oi.Key <= prev {
						t.Errorf("seed %d: watcher list: %q after %q", seed, oi.Key, prev)
						return
					}
					prev = oi.Key
				}
				if !res.IsTruncated {
					break
				}
				o.StartAfter = res.NextMarker
			}
			for i := 0; i < 20; i++ {
				k := keys[wr.IntN(len(keys))]
				var buf bytes.Buffer
				info, err := s.Get(bucket, k, 0, -1, &buf)
				if errors.Is(err, ErrNoSuchKey) {
					continue
				}
				if err != nil || int64(buf.Len()) != info.Size || (info.Parts == 0 && mMD5(buf.Bytes()) != info.ETag) {
					t.Errorf("seed %d: watcher get %s: %d bytes, md5 %s; info %+v; err %v", seed, k, buf.Len(), mMD5(buf.Bytes()), info, err)
					return
				}
			}
			for _, sg := range s.Metrics().Segments {
				if sg.Live < 0 || sg.Garbage < 0 {
					t.Errorf("seed %d: watcher: segment %016x live %d garbage %d", seed, sg.ID, sg.Live, sg.Garbage)
					return
				}
			}
		}
	}()
	// The compactor relocates runs under the workers' overwrites and
	// deletes and the watcher's reads.
	compactor := make(chan struct{})
	go func() {
		defer close(compactor)
		cr := modelRNG(seed, "concurrent/compactor")
		for !stop.Load() {
			res, err := s.Compact(context.Background(), CompactOptions{Threshold: []float64{0.05, 0.3}[cr.IntN(2)]})
			if err != nil {
				t.Errorf("seed %d: compactor: %v (%+v)", seed, err, res)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	stop.Store(true)
	<-watcher
	<-compactor
	if t.Failed() {
		return
	}

	// Merge the workers' models and check the whole store against it.
	for _, w := range runs {
		for k, o := range w.m.buckets[bucket].objects {
			created.objects[k] = o
		}
		for id, u := range w.m.uploads {
			lead.m.uploads[id] = u
		}
		lead.m.finished = append(lead.m.finished, w.m.finished...)
	}
	lead.m.uploads[sharedID] = shared
	for n := 1; n <= sharedN; n++ {
		shared.parts[n] = sharedParts[n]
	}
	lead.step++
	lead.note("verify after concurrent phase")
	lead.checkMetrics(false)
	lead.verifyAll()
	lead.opCompact()
	lead.verifyAll()
	var req []CompletePart
	var parts []*mPart
	for n := 1; n <= sharedN; n++ {
		req = append(req, CompletePart{Number: n, ETag: sharedParts[n].etag})
		parts = append(parts, sharedParts[n])
	}
	info, err := s.CompleteMultipartUpload(bucket, sharedKey, sharedID, req, CompleteOptions{})
	lead.wantErr("complete shared upload", err, nil)
	o := &mObject{ctype: shared.ctype, mtime: info.ModTime.UnixNano(), parts: sharedN, etag: mMultipartETag(parts)}
	for _, p := range parts {
		o.data = append(o.data, p.data...)
		o.partEnds = append(o.partEnds, int64(len(o.data)))
	}
	lead.checkInfo("complete shared", info, bucket, sharedKey, o)
	created.objects[sharedKey] = o
	lead.finishUpload(shared)
	lead.verifyAll()
	for round := 0; round < 4; round++ {
		lead.conditionalContest(bucket, fmt.Sprintf("contest/%d", round))
		lead.completeRace(bucket, fmt.Sprintf("race/%d", round))
	}
	lead.verifyAll()
	lead.reopen()
	lead.cleanup()
}

// race runs f(0..n-1) on n goroutines released together.
func race(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// conditionalContest races conditional puts on one key: of several
// IfNoneMatchStar puts exactly one wins, then of several IfMatch puts naming
// the winner's ETag exactly one wins; the key holds the last winner.
func (r *modelRun) conditionalContest(bucket, key string) {
	r.step++
	r.note("contest %s/%s", bucket, key)
	const n = 4
	bodies := make([][]byte, n)
	// Bodies with ETags distinct from each other and from the current one,
	// so that one IfMatch put cannot satisfy the next.
	newBodies := func(current string) {
		seen := map[string]bool{current: true}
		for i := range bodies {
			for bodies[i] = nil; bodies[i] == nil || seen[mMD5(bodies[i])]; {
				bodies[i] = r.body(r.objectSize() % (256 << 10))
			}
			seen[mMD5(bodies[i])] = true
		}
	}
	cond := Condition{IfNoneMatchStar: true}
	if old := r.object(bucket, key); old != nil {
		cond = Condition{IfMatch: old.etag}
	}
	newBodies(cond.IfMatch)
	for phase := 0; phase < 2; phase++ {
		infos := make([]ObjectInfo, n)
		errs := make([]error, n)
		race(n, func(i int) {
			infos[i], errs[i] = r.s.Put(bucket, key, int64(len(bodies[i])), bytes.NewReader(bodies[i]), PutOptions{Condition: cond})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				r.fail("contest %s %+v: puts %d and %d both won", key, cond, winner, i)
			case !errors.Is(err, ErrPreconditionFailed):
				r.fail("contest %s %+v: put %d: %v", key, cond, i, err)
			}
		}
		if winner < 0 {
			r.fail("contest %s %+v: no put won", key, cond)
		}
		w := &mObject{data: bodies[winner], etag: mMD5(bodies[winner]), mtime: infos[winner].ModTime.UnixNano()}
		r.checkInfo("contest winner", infos[winner], bucket, key, w)
		r.m.buckets[bucket].objects[key] = w
		info, err := r.s.Head(bucket, key)
		r.wantErr("contest head", err, nil)
		r.checkInfo("contest head", info, bucket, key, w)
		cond = Condition{IfMatch: w.etag}
		newBodies(w.etag)
	}
}

// completeRace races a Complete naming parts 1 and 2 against a re-upload of
// part 2 and an upload of part 3. Either the Complete applies first (the
// object holds the old part 2; both part uploads find no upload) or the
// re-upload of part 2 does (the Complete fails with ErrInvalidPart). Then an
// Abort races another part upload.
func (r *modelRun) completeRace(bucket, key string) {
	r.step++
	r.note("complete race %s/%s", bucket, key)
	id, err := r.s.CreateMultipartUpload(bucket, key, PutOptions{})
	r.wantErr("race create upload", err, nil)
	var parts [4]*mPart
	for n := 1; n <= 2; n++ {
		data := r.body(modelMinPart + r.rng.IntN(3*r.eff.BlockSize))
		_, err := r.s.PutPart(bucket, key, id, n, int64(len(data)), bytes.NewReader(data), PartOptions{})
		r.wantErr("race put part", err, nil)
		parts[n] = &mPart{data: data, etag: mMD5(data)}
	}
	newPart := [4][]byte{2: r.body(modelMinPart), 3: r.body(r.rng.IntN(3 * r.eff.BlockSize))}
	var info ObjectInfo
	var cerr error
	var perr [4]error
	race(3, func(i int) {
		if i == 0 {
			info, cerr = r.s.CompleteMultipartUpload(bucket, key, id, []CompletePart{{1, parts[1].etag}, {2, parts[2].etag}}, CompleteOptions{})
			return
		}
		n := i + 1
		_, perr[n] = r.s.PutPart(bucket, key, id, n, int64(len(newPart[n])), bytes.NewReader(newPart[n]), PartOptions{})
	})
	what := fmt.Sprintf("complete race %s: complete %v, part 2 %v, part 3 %v", key, cerr, perr[2], perr[3])
	switch {
	case cerr == nil:
		if !errors.Is(perr[2], ErrNoSuchUpload) {
			r.fail("%s: the re-upload of part 2 succeeded though the Complete used the old one", what)
		}
		if perr[3] != nil && !errors.Is(perr[3], ErrNoSuchUpload) {
			r.fail("%s", what)
		}
		o := &mObject{data: append(slices.Clip(parts[1].data), parts[2].data...), etag: mMultipartETag(parts[1:3]), mtime: info.ModTime.UnixNano(), parts: 2}
		o.partEnds = []int64{int64(len(parts[1].data)), int64(len(o.data))}
		r.checkInfo("complete race", info, bucket, key, o)
		r.m.buckets[bucket].objects[key] = o
		_, err := r.s.ListParts(bucket, key, id, 0, 0)
		r.wantErr(what+": list parts", err, ErrNoSuchUpload)
	case errors.Is(cerr, ErrInvalidPart):
		if perr[2] != nil || perr[3] != nil {
			r.fail("%s: the Complete failed but a part upload did too", what)
		}
		// The upload is intact with the new parts 2 and 3: abort it
		// against one more part upload.
		res, err := r.s.ListParts(bucket, key, id, 0, 0)
		r.wantErr(what+": list parts", err, nil)
		if len(res.Parts) != 3 || res.Parts[1].ETag != mMD5(newPart[2]) || res.Parts[2].ETag != mMD5(newPart[3]) {
			r.fail("%s: parts %+v", what, res.Parts)
		}
		var aerr, p4err error
		p4 := r.body(modelMinPart)
		race(2, func(i int) {
			if i == 0 {
				aerr = r.s.AbortMultipartUpload(bucket, key, id)
			} else {
				_, p4err = r.s.PutPart(bucket, key, id, 4, modelMinPart, bytes.NewReader(p4), PartOptions{})
			}
		})
		if aerr != nil || (p4err != nil && !errors.Is(p4err, ErrNoSuchUpload)) {
			r.fail("%s: abort %v, part 4 %v", what, aerr, p4err)
		}
		_, err = r.s.ListParts(bucket, key, id, 0, 0)
		r.wantErr(what+": list parts after abort", err, ErrNoSuchUpload)
	default:
		r.fail("%s", what)
	}
}
