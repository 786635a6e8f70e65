package engine

// Crash tests on pebble's crash-simulating filesystem (vfs.NewCrashableMem).
//
// A workload of concurrent writers runs against a store while the test takes
// crash clones of its filesystem (CrashClone keeps everything synced and a
// random share of what was not). Every operation is recorded in a model with
// a logical start and acknowledgement time, so for each key the test knows
// which values a recovered store may hold: the last acknowledged one, or one
// from an operation that was in flight at the crash and started after that
// acknowledgement. Each clone is opened, checked (values, metadata, listings,
// uploads, metrics), written to, reopened and checked again; a crash is also
// simulated in the middle of its recovery and right after it.
//
// The seed is printed; replay with LSM_SEED=<seed> (or -lsm.seed=<seed>).
// Concurrency makes a replay approximate: the seed fixes every random choice
// but not the interleaving.

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

var lsmSeedFlag = flag.Uint64("lsm.seed", 0, "seed of the crash and fault tests (0: $LSM_SEED, else random)")

// testSeed returns the seed of a randomized test and logs how to replay it.
func lsmTestSeed(t *testing.T) uint64 {
	t.Helper()
	seed := pickSeed(t, *lsmSeedFlag)
	top, _, _ := strings.Cut(t.Name(), "/")
	msg := fmt.Sprintf("seed %d (replay: LSM_SEED=%d go test -race -run '^%s$' ./engine/)", seed, seed, top)
	t.Log(msg)
	fmt.Fprintf(os.Stderr, "%s: %s\n", t.Name(), msg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with %s", msg)
		}
	})
	return seed
}

// genBody returns the deterministic body of value id: runs of random bytes
// (incompressible) mixed with runs of repeated bytes (compressible).
func crBody(id uint64, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(id, 0x6c736d73746f7265))
	var w [8]byte
	for i := 0; i < size; {
		n := min(size-i, 256+r.IntN(24<<10))
		if r.IntN(3) == 0 {
			c := byte(r.Uint32())
			for j := i; j < i+n; j++ {
				b[j] = c + byte(j>>9)
			}
		} else {
			for j := i; j < i+n; j += 8 {
				binary.LittleEndian.PutUint64(w[:], r.Uint64())
				copy(b[j:i+n], w[:])
			}
		}
		i += n
	}
	return b
}

type crKey struct{ bucket, key string }

func (k crKey) String() string { return k.bucket + "/" + k.key }

type crBodyRef struct {
	id   uint64
	size int
}

// objVal is a value a key may hold (or a multipart part): present with
// these bytes and metadata, or absent.
type crVal struct {
	op        uint64 // the op that writes it; 0 for the initial absence
	present   bool
	size      int64
	md5       [16]byte
	etag      string
	ctype     string
	meta      []Pair
	sums      []Pair
	parts     int
	partSizes []int64
	bodies    []crBodyRef
}

var crAbsent = &crVal{}

func (v *crVal) String() string {
	if !v.present {
		if v.op == 0 {
			return "absent(initial)"
		}
		return fmt.Sprintf("absent(delete op %d)", v.op)
	}
	return fmt.Sprintf("op %d (%d B, etag %s, %d parts)", v.op, v.size, v.etag, v.parts)
}

func (v *crVal) body() []byte {
	var out []byte
	for _, b := range v.bodies {
		out = append(out, crBody(b.id, b.size)...)
	}
	return out
}

// putVal describes the value a Put of body (value id) writes.
func crPutVal(id uint64, body []byte, ctype string, meta, sums []Pair) *crVal {
	sum := md5.Sum(body)
	return &crVal{op: id, present: true, size: int64(len(body)), md5: sum, etag: hex.EncodeToString(sum[:]),
		ctype: ctype, meta: meta, sums: sums, bodies: []crBodyRef{{id, len(body)}}}
}

// completeVal describes the object a Complete of parts writes.
func crCompleteVal(op uint64, ctype string, meta, sums []Pair, parts []*crVal) *crVal {
	v := &crVal{op: op, present: true, ctype: ctype, meta: meta, sums: sums, parts: len(parts)}
	whole, etags := md5.New(), md5.New()
	for _, p := range parts {
		whole.Write(p.body())
		etags.Write(p.md5[:])
		v.size += p.size
		v.partSizes = append(v.partSizes, p.size)
		v.bodies = append(v.bodies, p.bodies...)
	}
	copy(v.md5[:], whole.Sum(nil))
	v.etag = fmt.Sprintf("%x-%d", etags.Sum(nil), len(parts))
	return v
}

func crMetaOp(meta []Pair) uint64 {
	for _, p := range meta {
		if p.Key == "op" {
			n, _ := strconv.ParseUint(p.Value, 10, 64)
			return n
		}
	}
	return 0
}

// event is one operation on a key, a bucket, an upload or a part.
type crEvent struct {
	val        *crVal
	start, end uint64 // logical times; end 0 while in flight
	failed     bool   // returned an error: it may or may not have happened
}

// candidates returns the values a key may hold given its events: the
// initial absence and every acknowledged value not followed by an
// acknowledged op that started after its acknowledgement, and every value
// of an op in flight (or failed: its outcome is unknown).
func crCandidates(evs []*crEvent) []*crVal {
	var last uint64 // latest start of an acknowledged op
	for _, e := range evs {
		if e.end != 0 && !e.failed && e.start > last {
			last = e.start
		}
	}
	var out []*crVal
	if last == 0 {
		out = append(out, crAbsent)
	}
	for _, e := range evs {
		if e.end == 0 || e.end >= last {
			out = append(out, e.val)
		}
	}
	return out
}

type crUpload struct {
	k     crKey
	id    string
	plan  *crVal // op id and metadata of the Complete
	parts map[int][]*crEvent
	end   *crEvent // Complete or Abort
}

// model records every operation of a workload.
type crModel struct {
	mu       sync.Mutex
	clock    uint64
	ids      atomic.Uint64
	keys     map[crKey][]*crEvent
	buckets  map[string]*crEvent
	uploads  map[string]*crUpload
	creating map[crKey]int // CreateMultipartUpload calls in flight
	vals     map[uint64]*crVal
}

func newCrModel() *crModel {
	m := &crModel{keys: map[crKey][]*crEvent{}, buckets: map[string]*crEvent{}, uploads: map[string]*crUpload{},
		creating: map[crKey]int{}, vals: map[uint64]*crVal{}}
	m.ids.Store(1 << 20)
	return m
}

func (m *crModel) newID() uint64 { return m.ids.Add(1) }

func (m *crModel) tick() uint64 { m.clock++; return m.clock }

func (m *crModel) beginKey(k crKey, v *crVal) *crEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := &crEvent{val: v, start: m.tick()}
	m.keys[k] = append(m.keys[k], e)
	m.vals[v.op] = v
	return e
}

func (m *crModel) finish(e *crEvent, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.end = m.tick()
	e.failed = err != nil
}

func (m *crModel) beginBucket(name string) *crEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := &crEvent{start: m.tick()}
	m.buckets[name] = e
	return e
}

func (m *crModel) ackedBuckets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name, e := range m.buckets {
		if e.end != 0 && !e.failed {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// expectation is what a recovered store may hold.
type crExpect struct {
	keys    map[crKey][]*crVal // crCandidates; a key not here must be absent
	buckets map[string]bool    // true: must exist, false: may
	uploads map[string]*crUpExpect
	unknown map[crKey]int // uploads that may exist with an id never returned
	vals    func(op uint64) *crVal
}

type crUpExpect struct {
	k         crKey
	must, may bool
	plan      *crVal
	parts     map[int][]*crVal
}

// expectLocked snapshots the model; m.mu is held.
func (m *crModel) expectLocked() *crExpect {
	x := &crExpect{keys: map[crKey][]*crVal{}, buckets: map[string]bool{}, uploads: map[string]*crUpExpect{},
		unknown: map[crKey]int{}, vals: m.val}
	for k, evs := range m.keys {
		x.keys[k] = crCandidates(evs)
	}
	for name, e := range m.buckets {
		x.buckets[name] = e.end != 0 && !e.failed
	}
	for id, u := range m.uploads {
		ue := &crUpExpect{k: u.k, plan: u.plan, parts: map[int][]*crVal{}}
		switch {
		case u.end == nil:
			ue.must, ue.may = true, true
		case u.end.end == 0 || u.end.failed:
			ue.may = true
		}
		for n, evs := range u.parts {
			ue.parts[n] = crCandidates(evs)
		}
		x.uploads[id] = ue
	}
	for k, n := range m.creating {
		x.unknown[k] = n
	}
	return x
}

func (m *crModel) expect() *crExpect {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.expectLocked()
}

func (m *crModel) val(op uint64) *crVal {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vals[op]
}

// observed is what a check found in a store.
type crObserved struct {
	keys    map[crKey]*crVal
	buckets map[string]bool
	uploads map[string]*crObsUpload
}

type crObsUpload struct {
	k     crKey
	plan  *crVal
	parts map[int]*crVal
}

// exact returns the expectation that a store holds exactly what o saw;
// every key of also that o did not see must be absent.
func (o *crObserved) exact(vals func(uint64) *crVal, also map[crKey][]*crVal) *crExpect {
	x := &crExpect{keys: map[crKey][]*crVal{}, buckets: map[string]bool{}, uploads: map[string]*crUpExpect{},
		unknown: map[crKey]int{}, vals: vals}
	for k := range also {
		x.keys[k] = []*crVal{crAbsent}
	}
	for k, v := range o.keys {
		x.keys[k] = []*crVal{v}
	}
	for b := range o.buckets {
		x.buckets[b] = true
	}
	for id, u := range o.uploads {
		ue := &crUpExpect{k: u.k, must: true, may: true, plan: u.plan, parts: map[int][]*crVal{}}
		for n, p := range u.parts {
			ue.parts[n] = []*crVal{p}
		}
		x.uploads[id] = ue
	}
	return x
}

func (o *crObserved) clone() *crObserved {
	c := &crObserved{keys: map[crKey]*crVal{}, buckets: map[string]bool{}, uploads: map[string]*crObsUpload{}}
	for k, v := range o.keys {
		c.keys[k] = v
	}
	for b := range o.buckets {
		c.buckets[b] = true
	}
	for id, u := range o.uploads {
		cu := &crObsUpload{k: u.k, plan: u.plan, parts: map[int]*crVal{}}
		for n, p := range u.parts {
			cu.parts[n] = p
		}
		c.uploads[id] = cu
	}
	return c
}

type crHashCounter struct {
	h hash.Hash
	n int64
}

func (w *crHashCounter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

// readWhole reads an object fully and checks its length and MD5 against v.
func crReadWhole(s *Store, k crKey, v *crVal) (ObjectInfo, error) {
	hc := &crHashCounter{h: md5.New()}
	info, err := s.Get(k.bucket, k.key, 0, -1, hc)
	if err != nil {
		return info, fmt.Errorf("Get %s: %w", k, err)
	}
	var sum [16]byte
	copy(sum[:], hc.h.Sum(nil))
	if hc.n != v.size || sum != v.md5 {
		var buf bytes.Buffer
		_, err := s.Get(k.bucket, k.key, 0, -1, &buf)
		want := v.body()
		diff := 0
		for diff < min(len(want), buf.Len()) && want[diff] == buf.Bytes()[diff] {
			diff++
		}
		return info, fmt.Errorf("Get %s returned %d bytes (md5 %x), want %d bytes of %v (md5 %x); first difference at offset %d (reread err %v)",
			k, hc.n, sum, v.size, v, v.md5, diff, err)
	}
	return info, nil
}

// listAll lists a whole bucket page by page.
func crListAll(s *Store, bucket string, o ListOptions, page int) ([]ObjectInfo, []string, error) {
	var objs []ObjectInfo
	var cps []string
	o.MaxKeys = page
	for i := 0; ; i++ {
		res, err := s.List(bucket, o)
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, res.Objects...)
		cps = append(cps, res.CommonPrefixes...)
		if !res.IsTruncated {
			return objs, cps, nil
		}
		if res.NextMarker == "" || i > 1<<16 {
			return nil, nil, fmt.Errorf("List %s: truncated page without a usable marker", bucket)
		}
		o.StartAfter = res.NextMarker
	}
}

func crHasAbsent(c []*crVal) bool {
	for _, v := range c {
		if !v.present {
			return true
		}
	}
	return false
}

// crCheckStore verifies that s matches x and returns what it found. Every
// object is read fully (with the block cache off each read verifies every
// block checksum); thorough reads everything a second time and some ranges.
func crCheckStore(t *testing.T, s *Store, x *crExpect, label string, rng *rand.Rand, thorough bool) *crObserved {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s", label, fmt.Sprintf(format, args...))
	}
	obs := &crObserved{keys: map[crKey]*crVal{}, buckets: map[string]bool{}, uploads: map[string]*crObsUpload{}}

	// Buckets.
	bs, err := s.ListBuckets()
	if err != nil {
		fail("ListBuckets: %v", err)
		return obs
	}
	for i, b := range bs {
		if i > 0 && bs[i-1].Name >= b.Name {
			fail("ListBuckets out of order: %q then %q", bs[i-1].Name, b.Name)
		}
		if _, ok := x.buckets[b.Name]; !ok {
			fail("bucket %q exists but was never created", b.Name)
		}
		obs.buckets[b.Name] = true
	}
	for name, must := range x.buckets {
		if must && !obs.buckets[name] {
			fail("acknowledged bucket %q is missing", name)
		}
	}

	// Listings.
	listed := map[crKey]ObjectInfo{}
	var count, bytesTotal int64
	for b := range obs.buckets {
		objs, cps, err := crListAll(s, b, ListOptions{}, 1+rng.IntN(40))
		if err != nil {
			fail("List %s: %v", b, err)
			continue
		}
		if len(cps) != 0 {
			fail("List %s without delimiter returned common prefixes %q", b, cps)
		}
		var top []string
		for i, o := range objs {
			if i > 0 && objs[i-1].Key >= o.Key {
				fail("List %s out of order or repeated: %q then %q", b, objs[i-1].Key, o.Key)
			}
			if o.Bucket != b {
				fail("List %s returned an object of bucket %q", b, o.Bucket)
			}
			listed[crKey{b, o.Key}] = o
			count++
			bytesTotal += o.Size
			name := o.Key
			if i := strings.Index(name, "/"); i >= 0 {
				name = name[:i+1]
			}
			if len(top) == 0 || top[len(top)-1] != name {
				top = append(top, name)
			}
		}
		// The same listing grouped by "/".
		gobjs, gcps, err := crListAll(s, b, ListOptions{Delimiter: "/"}, 1+rng.IntN(5))
		if err != nil {
			fail("List %s with delimiter: %v", b, err)
			continue
		}
		var got []string
		for _, o := range gobjs {
			got = append(got, o.Key)
		}
		got = append(got, gcps...)
		sort.Strings(got)
		if !slices.Equal(got, top) {
			fail("List %s with delimiter / gave %q, want %q", b, got, top)
		}
	}

	// Every key the model knows and every key listed.
	keys := map[crKey]bool{}
	for k := range x.keys {
		keys[k] = true
	}
	for k := range listed {
		keys[k] = true
	}
	for k := range keys {
		cands := x.keys[k]
		if cands == nil {
			cands = []*crVal{crAbsent}
		}
		lo, isListed := listed[k]
		info, err := s.Head(k.bucket, k.key)
		if errors.Is(err, ErrNoSuchKey) || errors.Is(err, ErrNoSuchBucket) {
			if isListed {
				fail("%s is listed but Head says %v", k, err)
			}
			if !crHasAbsent(cands) {
				fail("acknowledged object %s is missing; allowed: %v", k, cands)
			}
			continue
		}
		if err != nil {
			fail("Head %s: %v", k, err)
			continue
		}
		op := crMetaOp(info.UserMeta)
		var v *crVal
		for _, c := range cands {
			if c.present && c.op == op {
				v = c
			}
		}
		if v == nil {
			what := "a value never written"
			if old := x.vals(op); old != nil {
				what = "a value that is not allowed (stale, lost or torn): " + old.String()
			}
			fail("%s holds %s (Head %+v); allowed: %v", k, what, info, cands)
			continue
		}
		if info.Bucket != k.bucket || info.Key != k.key || info.Size != v.size || info.ETag != v.etag ||
			info.ContentType != v.ctype || !slices.Equal(info.UserMeta, v.meta) || !slices.Equal(info.Checksums, v.sums) ||
			info.Parts != v.parts || !slices.Equal(info.PartSizes, v.partSizes) {
			fail("Head %s = %+v, want %v with content type %q, meta %v, checksums %v, part sizes %v",
				k, info, v, v.ctype, v.meta, v.sums, v.partSizes)
		}
		if info.ModTime.Year() < 2020 {
			fail("Head %s: implausible ModTime %v", k, info.ModTime)
		}
		if !isListed {
			fail("Head finds %s but List does not", k)
		} else if !reflect.DeepEqual(lo, info) {
			fail("List says %s is %+v, Head says %+v", k, lo, info)
		}
		ginfo, err := crReadWhole(s, k, v)
		if err != nil {
			fail("%v", err)
		} else if !reflect.DeepEqual(ginfo, info) {
			fail("Get %s info %+v, Head %+v", k, ginfo, info)
		}
		obs.keys[k] = v
	}

	m := s.Metrics()
	if m.Objects != count || m.LogicalBytes != bytesTotal {
		fail("Metrics: %d objects, %d bytes; a full listing has %d objects, %d bytes", m.Objects, m.LogicalBytes, count, bytesTotal)
	}

	// Multipart uploads.
	unknown := map[crKey]int{}
	for k, n := range x.unknown {
		unknown[k] = n
	}
	seen := map[string]bool{}
	for b := range obs.buckets {
		res, err := s.ListUploads(b, ListUploadsOptions{})
		if err != nil {
			fail("ListUploads %s: %v", b, err)
			continue
		}
		if res.IsTruncated {
			fail("ListUploads %s truncated", b)
		}
		for _, u := range res.Uploads {
			k := crKey{u.Bucket, u.Key}
			seen[u.UploadID] = true
			lp, err := s.ListParts(u.Bucket, u.Key, u.UploadID, 0, 0)
			if err != nil {
				fail("ListParts %s %s: %v", k, u.UploadID, err)
				continue
			}
			ue := x.uploads[u.UploadID]
			if ue == nil {
				if unknown[k] == 0 {
					fail("upload %s of %s exists but was never created", u.UploadID, k)
				} else if len(lp.Parts) != 0 {
					fail("upload %s of %s, never acknowledged, has parts %+v", u.UploadID, k, lp.Parts)
				}
				unknown[k]--
				plan := &crVal{op: crMetaOp(u.UserMeta), ctype: u.ContentType, meta: u.UserMeta}
				obs.uploads[u.UploadID] = &crObsUpload{k: k, plan: plan, parts: map[int]*crVal{}}
				continue
			}
			if ue.k != k {
				fail("upload %s belongs to %s, listed under %s", u.UploadID, ue.k, k)
				continue
			}
			if !ue.may {
				fail("upload %s of %s exists after its acknowledged Complete or Abort", u.UploadID, k)
			}
			if u.ContentType != ue.plan.ctype || !slices.Equal(u.UserMeta, ue.plan.meta) {
				fail("upload %s of %s has metadata %q %v, want %q %v", u.UploadID, k, u.ContentType, u.UserMeta, ue.plan.ctype, ue.plan.meta)
			}
			if v := obs.keys[k]; v != nil && v.op == ue.plan.op {
				fail("%s holds the object completed from upload %s, which still exists", k, u.UploadID)
			}
			ou := &crObsUpload{k: k, plan: ue.plan, parts: map[int]*crVal{}}
			if lp.IsTruncated {
				fail("ListParts %s truncated", u.UploadID)
			}
			for _, p := range lp.Parts {
				var v *crVal
				for _, c := range ue.parts[p.Number] {
					if c.present && c.etag == p.ETag && c.size == p.Size {
						v = c
					}
				}
				if v == nil {
					fail("upload %s of %s: part %d is %d B etag %s; allowed: %v", u.UploadID, k, p.Number, p.Size, p.ETag, ue.parts[p.Number])
					continue
				}
				ou.parts[p.Number] = v
			}
			for n, c := range ue.parts {
				if ou.parts[n] == nil && !crHasAbsent(c) {
					fail("upload %s of %s: acknowledged part %d is missing; allowed: %v", u.UploadID, k, n, c)
				}
			}
			obs.uploads[u.UploadID] = ou
		}
	}
	for id, ue := range x.uploads {
		if ue.must && !seen[id] {
			fail("acknowledged upload %s of %s is missing", id, ue.k)
		}
	}

	if !thorough {
		return obs
	}
	// Read everything once more, and a few ranges.
	var present []crKey
	for k, v := range obs.keys {
		present = append(present, k)
		if _, err := crReadWhole(s, k, v); err != nil {
			fail("second read: %v", err)
		}
	}
	sort.Slice(present, func(i, j int) bool { return present[i].String() < present[j].String() })
	for i := 0; i < 3 && len(present) > 0; i++ {
		k := present[rng.IntN(len(present))]
		v := obs.keys[k]
		if v.size == 0 {
			continue
		}
		off := rng.Int64N(v.size)
		n := rng.Int64N(v.size - off + 1)
		var buf bytes.Buffer
		if _, err := s.Get(k.bucket, k.key, off, n, &buf); err != nil {
			fail("Get %s range %d+%d: %v", k, off, n, err)
		} else if !bytes.Equal(buf.Bytes(), v.body()[off:off+n]) {
			fail("Get %s range %d+%d returned wrong bytes", k, off, n)
		}
	}
	return obs
}

// crashRun is one workload with its clones.
type crashRun struct {
	t       *testing.T
	seed    uint64
	fs      *vfs.MemFS
	opts    Options
	s       *Store
	m       *crModel
	buckets atomic.Int32

	midBody chan chan struct{} // a writer paused in the middle of a body
	noPause chan struct{}

	cloneMu   sync.Mutex
	clones    []crashClone
	rotClones atomic.Int32
	maxRot    int32
	nClone    atomic.Int32
}

type crashClone struct {
	fs     *vfs.MemFS
	x      *crExpect
	why    string
	pct    int
	ops    int
	idx    int32
	active uint64
}

var crashPercents = []int{0, 10, 50, 90}

// takeClone simulates a crash now: it clones the filesystem and snapshots
// the model atomically with respect to op starts and acknowledgements.
func (c *crashRun) takeClone(why string) {
	idx := c.nClone.Add(1) - 1
	pct := crashPercents[idx%int32(len(crashPercents))]
	rng := rand.New(rand.NewPCG(c.seed, 1000+uint64(idx)))
	c.m.mu.Lock()
	fs := c.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
	x := c.m.expectLocked()
	ops := int(c.m.clock)
	c.m.mu.Unlock()
	c.cloneMu.Lock()
	c.clones = append(c.clones, crashClone{fs: fs, x: x, why: why, pct: pct, ops: ops, idx: idx, active: c.activeID()})
	c.cloneMu.Unlock()
}

func (c *crashRun) activeID() uint64 { return c.s.crActiveID() }

// pausingReader serves a body and, once, stops at pauseAt until the test
// has taken a clone (or no more clones are wanted).
type crPausingReader struct {
	r       *bytes.Reader
	pos     int64
	pauseAt int64 // -1: no pause
	c       *crashRun
}

func (p *crPausingReader) Read(b []byte) (int, error) {
	if p.pauseAt >= 0 && p.pos >= p.pauseAt {
		p.pauseAt = -1
		rel := make(chan struct{})
		select {
		case p.c.midBody <- rel:
			<-rel
		case <-p.c.noPause:
		}
	}
	if p.pauseAt >= 0 && int64(len(b)) > p.pauseAt-p.pos {
		b = b[:p.pauseAt-p.pos]
	}
	n, err := p.r.Read(b)
	p.pos += int64(n)
	return n, err
}

func (c *crashRun) body(b []byte, rng *rand.Rand) io.Reader {
	if len(b) > 0 && rng.IntN(5) == 0 {
		return &crPausingReader{r: bytes.NewReader(b), pauseAt: rng.Int64N(int64(len(b)) + 1), c: c}
	}
	return bytes.NewReader(b)
}

var crashKeys = func() []string {
	var out []string
	for i := 0; i < 12; i++ {
		out = append(out, []string{"k", "a/k", "a/b/k"}[i%3]+strconv.Itoa(i))
	}
	return out
}()

func (c *crashRun) pick(rng *rand.Rand) crKey {
	bs := c.m.ackedBuckets()
	return crKey{bs[rng.IntN(len(bs))], crashKeys[rng.IntN(len(crashKeys))]}
}

func crashSize(rng *rand.Rand) int {
	switch x := rng.IntN(100); {
	case x < 8:
		return 0
	case x < 25:
		return 1 + rng.IntN(4096)
	case x < 60:
		return 4097 + rng.IntN(60<<10)
	case x < 95:
		return 64<<10 + rng.IntN(192<<10)
	default:
		return 256<<10 + rng.IntN(800<<10)
	}
}

func crashMeta(rng *rand.Rand, op uint64, w int) (string, []Pair, []Pair) {
	ctype := ""
	if rng.IntN(4) != 0 {
		ctype = "application/x-op-" + strconv.FormatUint(op, 10)
	}
	meta := []Pair{{"op", strconv.FormatUint(op, 10)}, {"writer", strconv.Itoa(w)}}
	var sums []Pair
	if rng.IntN(3) == 0 {
		sums = []Pair{{"CRC32C", fmt.Sprintf("%08x==", op)}}
	}
	return ctype, meta, sums
}

func (c *crashRun) writer(w int, stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	rng := rand.New(rand.NewPCG(c.seed, uint64(w)+1))
	for {
		select {
		case <-stop:
			return
		default:
		}
		switch x := rng.IntN(100); {
		case x < 3:
			c.createBucket()
		case x < 58:
			c.put(rng, w)
		case x < 75:
			c.delete(rng)
		default:
			c.multipart(rng, w)
		}
	}
}

func (c *crashRun) createBucket() {
	n := c.buckets.Add(1)
	if n > 3 {
		return
	}
	name := fmt.Sprintf("bkt-%d", n)
	e := c.m.beginBucket(name)
	err := c.s.CreateBucket(name)
	if err != nil {
		c.t.Errorf("CreateBucket %s: %v", name, err)
	}
	c.m.finish(e, err)
}

func (c *crashRun) put(rng *rand.Rand, w int) {
	k := c.pick(rng)
	id := c.m.newID()
	body := crBody(id, crashSize(rng))
	ctype, meta, sums := crashMeta(rng, id, w)
	v := crPutVal(id, body, ctype, meta, sums)
	before := c.activeID()
	e := c.m.beginKey(k, v)
	info, err := c.s.Put(k.bucket, k.key, int64(len(body)), c.body(body, rng), PutOptions{ContentType: ctype, UserMeta: meta, Checksums: sums})
	c.m.finish(e, err)
	if err != nil {
		c.t.Errorf("Put %s: %v", k, err)
		return
	}
	if info.ETag != v.etag || info.Size != v.size {
		c.t.Errorf("Put %s returned %+v, want etag %s size %d", k, info, v.etag, v.size)
	}
	// A put that crossed SegmentSize rotated the segment: crash right
	// after it (the old segment's seal may be running right now).
	if c.activeID() != before && rng.IntN(3) == 0 && c.rotClones.Add(1) <= c.maxRot {
		c.takeClone(fmt.Sprintf("after a rotating put of %d B", len(body)))
	}
}

func (c *crashRun) delete(rng *rand.Rand) {
	k := c.pick(rng)
	e := c.m.beginKey(k, &crVal{op: c.m.newID()})
	err := c.s.Delete(k.bucket, k.key)
	c.m.finish(e, err)
	if err != nil {
		c.t.Errorf("Delete %s: %v", k, err)
	}
}

func (c *crashRun) multipart(rng *rand.Rand, w int) {
	k := c.pick(rng)
	op := c.m.newID()
	ctype, meta, sums := crashMeta(rng, op, w)
	plan := &crVal{op: op, ctype: ctype, meta: meta, sums: sums}

	c.m.mu.Lock()
	c.m.creating[k]++
	c.m.clock++
	c.m.mu.Unlock()
	id, err := c.s.CreateMultipartUpload(k.bucket, k.key, PutOptions{ContentType: ctype, UserMeta: meta})
	c.m.mu.Lock()
	c.m.clock++
	c.m.creating[k]--
	u := &crUpload{k: k, id: id, plan: plan, parts: map[int][]*crEvent{}}
	if err == nil {
		c.m.uploads[id] = u
	}
	c.m.mu.Unlock()
	if err != nil {
		c.t.Errorf("CreateMultipartUpload %s: %v", k, err)
		return
	}

	latest := map[int]*crVal{}
	putPart := func(n int) bool {
		pid := c.m.newID()
		size := rng.IntN(400 << 10)
		if rng.IntN(5) == 0 {
			size = rng.IntN(4097)
		}
		body := crBody(pid, size)
		v := crPutVal(pid, body, "", nil, nil)
		c.m.mu.Lock()
		e := &crEvent{val: v, start: c.m.tick()}
		u.parts[n] = append(u.parts[n], e)
		c.m.mu.Unlock()
		pi, err := c.s.PutPart(k.bucket, k.key, id, n, int64(size), c.body(body, rng), PartOptions{})
		c.m.finish(e, err)
		if err != nil {
			c.t.Errorf("PutPart %s %s %d: %v", k, id, n, err)
			return false
		}
		if pi.ETag != v.etag || pi.Size != v.size || pi.Number != n {
			c.t.Errorf("PutPart %s %d returned %+v, want etag %s size %d", k, n, pi, v.etag, v.size)
		}
		latest[n] = v
		return true
	}
	nparts := 1 + rng.IntN(3)
	for n := 1; n <= nparts; n++ {
		if !putPart(n) {
			return
		}
	}
	if rng.IntN(4) == 0 && !putPart(1+rng.IntN(nparts)) {
		return
	}
	switch x := rng.IntN(100); {
	case x < 75:
		var cps []CompletePart
		var parts []*crVal
		for n := 1; n <= nparts; n++ {
			cps = append(cps, CompletePart{Number: n, ETag: latest[n].etag})
			parts = append(parts, latest[n])
		}
		v := crCompleteVal(op, ctype, meta, sums, parts)
		c.m.mu.Lock()
		e := &crEvent{val: v, start: c.m.tick()}
		c.m.keys[k] = append(c.m.keys[k], e)
		c.m.vals[op] = v
		u.end = e
		c.m.mu.Unlock()
		info, err := c.s.CompleteMultipartUpload(k.bucket, k.key, id, cps, CompleteOptions{Checksums: sums})
		c.m.finish(e, err)
		if err != nil {
			c.t.Errorf("Complete %s %s: %v", k, id, err)
		} else if info.ETag != v.etag || info.Size != v.size || info.Parts != nparts {
			c.t.Errorf("Complete %s returned %+v, want etag %s size %d", k, info, v.etag, v.size)
		}
	case x < 85:
		c.m.mu.Lock()
		e := &crEvent{val: &crVal{}, start: c.m.tick()}
		u.end = e
		c.m.mu.Unlock()
		err := c.s.AbortMultipartUpload(k.bucket, k.key, id)
		c.m.finish(e, err)
		if err != nil {
			c.t.Errorf("Abort %s %s: %v", k, id, err)
		}
	default:
		// Leave the upload open.
	}
}

func crashOpts(fs vfs.FS, rng *rand.Rand) Options {
	return Options{
		FS: fs, Dirs: []string{"d0"},
		SegmentSize: 64 << 10, testingSmallSegments: true,
		BlockSize:      []int{16 << 10, 64 << 10}[rng.IntN(2)],
		ChunkBlocks:    []int{1, 3, 16}[rng.IntN(3)],
		NoInline:       rng.IntN(4) == 0,
		MinPartSize:    -1,
		CacheSize:      4 << 20,
		IndexCacheSize: 4 << 20,
	}
}

// reopenOpts are the options of a store opened to check a clone: no block
// cache, so every read verifies its block on disk.
func crReopenOpts(o Options, fs vfs.FS) Options {
	o.FS = fs
	o.CacheSize = -1
	return o
}

func TestCrashWorkload(t *testing.T) {
	seed := lsmTestSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	fs := vfs.NewCrashableMem()
	opts := crashOpts(fs, rng)
	t.Logf("options: block %d, chunk %d blocks, no inline %v", opts.BlockSize, opts.ChunkBlocks, opts.NoInline)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &crashRun{t: t, seed: seed, fs: fs, opts: opts, s: s, m: newCrModel(),
		midBody: make(chan chan struct{}), noPause: make(chan struct{})}
	// The workload is measured in model events (an op's start and end are
	// two), not time, so slow machines check the same amount of work.
	// Clones are taken at random points of it: timed ones, ones while a
	// writer is paused mid-body, and ones right after rotating puts.
	events, timed, mid := uint64(600), 4, 3
	c.maxRot = 2
	if testing.Short() {
		events, timed, mid, c.maxRot = 260, 2, 1, 1
	}
	targets := func(n int) []uint64 {
		var out []uint64
		for i := 0; i < n; i++ {
			out = append(out, 20+rng.Uint64N(events-20))
		}
		slices.Sort(out)
		return out
	}
	timedAt, midAt := targets(timed), targets(mid)
	clock := func() uint64 {
		c.m.mu.Lock()
		defer c.m.mu.Unlock()
		return c.m.clock
	}

	e := c.m.beginBucket("bkt-0")
	c.m.finish(e, s.CreateBucket("bkt-0"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go c.writer(w, stop, &wg)
	}
	// Stale kicks, as racing submits leave behind: the committer wakes up
	// with nothing queued while writers are mid-body.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
	}()
	deadline := time.After(40 * time.Second)
	tick := time.NewTicker(time.Millisecond)
loop:
	for {
		select {
		case rel := <-c.midBody:
			if len(midAt) > 0 && clock() >= midAt[0] {
				midAt = midAt[1:]
				c.takeClone("while a writer is mid-body")
			}
			close(rel)
		case <-tick.C:
			now := clock()
			if len(timedAt) > 0 && now >= timedAt[0] {
				timedAt = timedAt[1:]
				c.takeClone("at a random time")
			}
			if now >= events {
				break loop
			}
		case <-deadline:
			t.Logf("workload stopped by its deadline at %d of %d events", clock(), events)
			break loop
		}
	}
	tick.Stop()
	close(c.noPause)
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	final := c.m.expect()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("workload: %d model events, %d clones", c.m.clock, len(c.clones))

	// The store that was closed cleanly holds every acknowledged write.
	s, err = Open(crReopenOpts(opts, fs))
	if err != nil {
		t.Fatal(err)
	}
	crCheckStore(t, s, final, "clean reopen", rng, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, cl := range c.clones {
		if t.Failed() {
			break
		}
		st := time.Now()
		c.verifyClone(cl, rng)
		t.Logf("clone %d checked in %v", cl.idx, time.Since(st))
	}
}

// verifyClone recovers one crash clone and checks it, writes to it and
// reopens it, and crashes it during and right after its recovery.
func (c *crashRun) verifyClone(cl crashClone, rng *rand.Rand) {
	t := c.t
	label := fmt.Sprintf("clone %d (%s, %d%% of unsynced data kept, after %d events, active segment %d)", cl.idx, cl.why, cl.pct, cl.ops, cl.active)
	// A clone holds only synced data, so cloning it again copies it: keep
	// a pristine copy for the crash during recovery below.
	work, work2 := cl.fs, cl.fs.CrashClone(vfs.CrashCloneCfg{})
	var counting atomic.Bool
	var nops atomic.Int64
	cfs := errorfs.Wrap(work, errorfs.InjectorFunc(func(errorfs.Op) error {
		if counting.Load() {
			nops.Add(1)
		}
		return nil
	}))
	counting.Store(true)
	s, err := Open(crReopenOpts(c.opts, cfs))
	counting.Store(false)
	if err != nil {
		t.Fatalf("%s: Open: %v", label, err)
	}
	// A crash right after recovery, before anything else is synced.
	var afterOpen *vfs.MemFS
	if cl.idx%2 == 0 {
		afterOpen = work.CrashClone(vfs.CrashCloneCfg{})
	}
	obs := crCheckStore(t, s, cl.x, label, rng, true)
	exact := obs.exact(c.m.val, cl.x.keys)

	// Writes after recovery: a new object, a delete, and the completion of
	// an upload from the parts that survived.
	post := obs.clone()
	nk := crKey{"bkt-0", fmt.Sprintf("post/%d", cl.idx)}
	id := c.m.newID()
	body := crBody(id, rng.IntN(300<<10))
	ctype, meta, sums := crashMeta(rng, id, 99)
	v := crPutVal(id, body, ctype, meta, sums)
	c.m.mu.Lock()
	c.m.vals[id] = v
	c.m.mu.Unlock()
	if _, err := s.Put(nk.bucket, nk.key, int64(len(body)), bytes.NewReader(body), PutOptions{ContentType: ctype, UserMeta: meta, Checksums: sums}); err != nil {
		t.Fatalf("%s: Put after recovery: %v", label, err)
	}
	post.keys[nk] = v
	var present []crKey
	for k := range obs.keys {
		present = append(present, k)
	}
	sort.Slice(present, func(i, j int) bool { return present[i].String() < present[j].String() })
	if len(present) > 0 {
		k := present[rng.IntN(len(present))]
		if err := s.Delete(k.bucket, k.key); err != nil {
			t.Fatalf("%s: Delete after recovery: %v", label, err)
		}
		delete(post.keys, k)
	}
	var ids []string
	for id, u := range obs.uploads {
		if len(u.parts) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	// Complete the surviving uploads (but one, left open): that reads the
	// parts' bytes, which no listing does.
	if len(ids) > 1 {
		i := rng.IntN(len(ids))
		ids = slices.Delete(ids, i, i+1)
	}
	for _, uid := range ids {
		u := obs.uploads[uid]
		var nums []int
		for n := range u.parts {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		var cps []CompletePart
		var parts []*crVal
		for _, n := range nums {
			cps = append(cps, CompletePart{Number: n, ETag: u.parts[n].etag})
			parts = append(parts, u.parts[n])
		}
		cv := crCompleteVal(u.plan.op, u.plan.ctype, u.plan.meta, u.plan.sums, parts)
		info, err := s.CompleteMultipartUpload(u.k.bucket, u.k.key, uid, cps, CompleteOptions{Checksums: u.plan.sums})
		if err != nil {
			t.Fatalf("%s: Complete of surviving upload %s: %v", label, uid, err)
		}
		if info.ETag != cv.etag || info.Size != cv.size {
			t.Errorf("%s: Complete of surviving upload returned %+v, want etag %s size %d", label, info, cv.etag, cv.size)
		}
		if _, err := crReadWhole(s, u.k, cv); err != nil {
			t.Errorf("%s: object completed from surviving upload %s: %v", label, uid, err)
		}
		post.keys[u.k] = cv
		delete(post.uploads, uid)
	}
	postVals := func(op uint64) *crVal { return c.m.val(op) }
	if err := s.Close(); err != nil {
		t.Fatalf("%s: Close: %v", label, err)
	}
	// Recovery is idempotent: reopen and find exactly the same state.
	s, err = Open(crReopenOpts(c.opts, work))
	if err != nil {
		t.Fatalf("%s: second Open: %v", label, err)
	}
	crCheckStore(t, s, post.exact(postVals, exact.keys), label+", reopened after writes", rng, false)
	if err := s.Close(); err != nil {
		t.Fatalf("%s: Close: %v", label, err)
	}

	// Crash right after the first recovery finished (every other clone:
	// the crash during recovery below may land there too).
	if afterOpen != nil {
		s, err = Open(crReopenOpts(c.opts, afterOpen))
		if err != nil {
			t.Fatalf("%s: Open after a crash right after recovery: %v", label, err)
		}
		crCheckStore(t, s, exact, label+", crashed right after recovery", rng, false)
		s.Close()
	}

	// Crash in the middle of recovery: at a random filesystem operation of
	// the same recovery, keeping some of what it had not synced.
	if nops.Load() == 0 {
		t.Fatalf("%s: recovery made no filesystem operations", label)
	}
	k := rng.Int64N(nops.Load())
	pct := []int{0, 50}[rng.IntN(2)]
	crng := rand.New(rand.NewPCG(c.seed, 2000+uint64(cl.idx)))
	var mid atomic.Pointer[vfs.MemFS]
	var n atomic.Int64
	wfs := errorfs.Wrap(work2, errorfs.InjectorFunc(func(errorfs.Op) error {
		if n.Add(1) == k+1 {
			mid.Store(work2.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: crng}))
		}
		return nil
	}))
	s, err = Open(crReopenOpts(c.opts, wfs))
	if err != nil {
		t.Fatalf("%s: Open (for the crash during recovery): %v", label, err)
	}
	s.Close()
	crashed := mid.Load()
	if crashed == nil {
		// Background work made the first recovery longer than this one.
		t.Logf("%s: recovery made fewer than %d operations this time; crashing after it", label, k+1)
		crashed = work2.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: crng})
	}
	ro := crReopenOpts(c.opts, crashed)
	var logs strings.Builder
	var logMu sync.Mutex
	ro.Logf = func(f string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(&logs, f+"\n", a...)
	}
	s, err = Open(ro)
	if err != nil {
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("%s: Open after a crash at operation %d of %d of recovery: %v\nthe store logged:\n%s", label, k, nops.Load(), err, logs.String())
	}
	crCheckStore(t, s, exact, fmt.Sprintf("%s, crashed at operation %d of %d of recovery (%d%% kept)", label, k, nops.Load(), pct), rng, false)
	s.Close()
}

// TestCrashRotatedSegmentSyncedBeforeAck: a writer appends blocks to the
// active segment, the committer wakes with nothing to commit (a stale kick),
// then the writer's last chunk rotates the segment and its record lands in
// the next one. The acknowledgement must cover the blocks in the rotated
// segment.
func TestCrashRotatedSegmentSyncedBeforeAck(t *testing.T) {
	fs := vfs.NewCrashableMem()
	const bs = 4 << 10
	opts := Options{FS: fs, Dirs: []string{"d0"}, SegmentSize: 64 << 10, testingSmallSegments: true,
		BlockSize: bs, ChunkBlocks: 2, DisableCompression: true, CacheSize: -1, IndexCacheSize: 4 << 20}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	s.appendMu.Lock()
	start := s.active.size.Load()
	s.appendMu.Unlock()
	chunk := int64(2 * (bs + frameHeaderSize))
	k := (opts.SegmentSize - start) / chunk // whole chunks that still fit
	size := (2*k + 2) * bs                  // one chunk more than fits
	body := crBody(7, int(size))
	c := &crashRun{midBody: make(chan chan struct{}), noPause: make(chan struct{})}
	r := &crPausingReader{r: bytes.NewReader(body), pauseAt: 2 * k * bs, c: c}
	done := make(chan error, 1)
	go func() {
		_, err := s.Put("bkt", "obj", size, r, PutOptions{})
		done <- err
	}()
	rel := <-c.midBody
	first := s.crActiveID()
	// Stale kicks: the third send returns only once the committer has
	// finished a round for the first.
	for i := 0; i < 3; i++ {
		s.kick <- struct{}{}
	}
	close(rel)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.crActiveID() == first {
		t.Fatalf("the put did not rotate segment %d", first)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s2, err := Open(crReopenOpts(opts, crashed))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var out bytes.Buffer
	if _, err := s2.Get("bkt", "obj", 0, -1, &out); err != nil {
		t.Fatalf("acknowledged object lost after a crash: %v", err)
	}
	if !bytes.Equal(out.Bytes(), body) {
		t.Fatalf("acknowledged object has wrong bytes after a crash")
	}
}

func (s *Store) crActiveID() uint64 {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	return s.active.id
}
