package bench

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
)

// Action is one step of a profile: one or more requests.
type Action struct {
	Name   string
	Weight int
	Do     func(w *Worker) error
}

// Profile is a workload: a weighted mix of actions.
type Profile struct {
	Name    string
	Doc     string
	Actions []Action
	// Micro profiles have one request class whose body size the ceiling
	// server can reproduce.
	Micro bool
	// Writes profiles write under lsmbench/RunID/ and clean up after.
	Writes bool
	// Setup runs before the warm-up, unmeasured; Teardown after the run.
	Setup    func(s *session) error
	Teardown func(s *session) error

	total int
}

func (p *Profile) pick(r *rand.Rand) *Action {
	if p.total == 0 {
		for _, a := range p.Actions {
			p.total += a.Weight
		}
	}
	n := r.IntN(p.total)
	for i := range p.Actions {
		if n < p.Actions[i].Weight {
			return &p.Actions[i]
		}
		n -= p.Actions[i].Weight
	}
	return &p.Actions[len(p.Actions)-1]
}

// objects picks the objects of the given kinds within the hot set.
func (w *Worker) objects(kinds ...Kind) []*Object {
	return w.s.env.Layout.Of(w.s.cfg.HotFraction, kinds...)
}

// objectCache memoises Worker.objects per kind list for a session.
type objectCache struct {
	slices, parquet, small, large []*Object
}

func (w *Worker) sets() *objectCache {
	if w.cache != nil {
		return w.cache
	}
	w.cache = w.s.objectSets(w)
	return w.cache
}

func (s *session) objectSets(w *Worker) *objectCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.shared.(*objectCache); ok {
		return c
	}
	if st, ok := s.shared.(*gcState); ok && st.objs != nil {
		return st.objs
	}
	c := &objectCache{
		slices:  w.objects(KindIndexSlice),
		parquet: w.objects(KindParquet),
		small:   w.objects(KindStatsLog, KindDeltaLog, KindBM25, KindIndexMeta),
		large:   w.objects(KindIndexSlice, KindParquet),
	}
	switch st := s.shared.(type) {
	case *gcState:
		st.objs = c
	case nil:
		s.shared = c
	}
	return c
}

func pickObj(r *rand.Rand, objs []*Object) *Object { return objs[r.IntN(len(objs))] }

func (w *Worker) key(parts ...any) string {
	k := "lsmbench/" + w.s.cfg.RunID
	for _, p := range parts {
		k += "/" + fmt.Sprint(p)
	}
	return k
}

// streamBody is a body for a streaming-signed PUT: no hash needed up front.
func (w *Worker) streamBody(size int64) *Body {
	p := w.s.env.Pool
	off := w.Rng.Int64N(int64(len(p)) - size + 1)
	return &Body{Data: p[off : off+size]}
}

// Profiles are the workloads, by name.
var Profiles = map[string]*Profile{}

// ProfileNames lists the profiles in a stable order.
func ProfileNames() []string {
	names := make([]string, 0, len(Profiles))
	for n := range Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func register(p *Profile) { Profiles[p.Name] = p }

// putRing is how many keys each worker of a PUT profile overwrites in turn,
// so a long run does not fill the disk.
const putRing = 8

func init() {
	for _, n := range []int64{4 * KiB, 16 * KiB, 64 * KiB, 1 * MiB} {
		name := "get-range-" + sizeName(n)
		register(&Profile{
			Name:  name,
			Doc:   fmt.Sprintf("ranged GET of %s at a random offset inside a 16 MiB index slice", HumanBytes(n)),
			Micro: true,
			Actions: []Action{{Name: name, Weight: 1, Do: func(w *Worker) error {
				return w.getRandomRange(name, pickObj(w.Rng, w.sets().slices), n)
			}}},
		})
	}
	register(&Profile{
		Name:  "get-small",
		Doc:   "whole GET of a small stats, delta or BM25 log or index meta file (256 B-64 KiB)",
		Micro: true,
		Actions: []Action{{Name: "get-small", Weight: 1, Do: func(w *Worker) error {
			return w.getWhole("get-small", pickObj(w.Rng, w.sets().small))
		}}},
	})
	for _, n := range []int64{64 * KiB, 1 * MiB, 16 * MiB} {
		name := "put-" + sizeName(n)
		register(&Profile{
			Name:   name,
			Doc:    fmt.Sprintf("PUT of %s with a hex SHA-256 payload hash and Content-MD5, as aws-sdk-cpp sends", HumanBytes(n)),
			Micro:  true,
			Writes: true,
			Setup: func(s *session) error {
				for v := range BodyVariants {
					s.env.Body(n, v)
				}
				return nil
			},
			Actions: []Action{{Name: name, Weight: 1, Do: func(w *Worker) error {
				i := w.Rng.IntN(1 << 30)
				return w.put(name, w.key(name, "w"+strconv.Itoa(w.ID), i%putRing), w.s.env.Body(n, i), payloadSHA256, false, 200)
			}}},
		})
	}

	register(&Profile{
		Name: "load",
		Doc:  "collection load: HEAD + whole GET of a 16 MiB index slice, or a Parquet open (HEAD + 64 KiB tail GET, twice)",
		Actions: []Action{
			{Name: "index-slice", Weight: 1, Do: func(w *Worker) error {
				o := pickObj(w.Rng, w.sets().slices)
				if err := w.head("head", o); err != nil {
					return err
				}
				return w.getWhole("get-whole-16m", o)
			}},
			{Name: "parquet-open", Weight: 1, Do: func(w *Worker) error {
				o := pickObj(w.Rng, w.sets().parquet)
				if err := w.head("head", o); err != nil {
					return err
				}
				for range 2 {
					if err := w.getTail("get-tail-64k", o, 64*KiB); err != nil {
						return err
					}
				}
				return nil
			}},
		},
	})

	register(&Profile{
		Name: "random-read",
		Doc:  "tiered-storage reads over Parquet files and index slices: 20% HEAD, 20% 64 KiB tail, 30% 1-4 MiB, 20% 4-256 KiB, 10% 16 MiB ranges",
		Actions: []Action{
			{Name: "head", Weight: 20, Do: func(w *Worker) error {
				return w.head("head", pickObj(w.Rng, w.sets().large))
			}},
			{Name: "get-tail-64k", Weight: 20, Do: func(w *Worker) error {
				return w.getTail("get-tail-64k", pickObj(w.Rng, w.sets().large), 64*KiB)
			}},
			{Name: "get-range-1m-4m", Weight: 30, Do: func(w *Worker) error {
				return w.getRandomRange("get-range-1m-4m", pickObj(w.Rng, w.sets().large), MiB+w.Rng.Int64N(3*MiB+1))
			}},
			{Name: "get-range-4k-256k", Weight: 20, Do: func(w *Worker) error {
				return w.getRandomRange("get-range-4k-256k", pickObj(w.Rng, w.sets().large), logUniform(w.Rng, 4*KiB, 256*KiB))
			}},
			{Name: "get-range-16m", Weight: 10, Do: func(w *Worker) error {
				return w.getRandomRange("get-range-16m", pickObj(w.Rng, w.sets().slices), 16*MiB)
			}},
		},
	})

	register(&Profile{
		Name:   "ingest",
		Doc:    "ingest and compaction: streaming-signed 1 KiB-1 MiB PUTs (minio-go), 10 MiB multipart parts (3 per upload), 16 MiB index PUTs, and 10 MiB binlog reads, about 1:1 by bytes",
		Writes: true,
		Setup: func(s *session) error {
			for v := range BodyVariants {
				s.env.Body(PartSize, v)
				s.env.Body(IndexSliceSize, v)
			}
			return nil
		},
		Actions: []Action{
			{Name: "put-stream-small", Weight: 50, Do: func(w *Worker) error {
				n := w.Rng.IntN(1 << 30)
				return w.put("put-stream-small", w.key("ingest", "stats_log", "w"+strconv.Itoa(w.ID), n%16),
					w.streamBody(logUniform(w.Rng, KiB, MiB)), payloadStreaming, false, 200)
			}},
			{Name: "multipart-part", Weight: 20, Do: ingestPart},
			{Name: "put-16m", Weight: 5, Do: func(w *Worker) error {
				n := w.Rng.IntN(1 << 30)
				return w.put("put-16m", w.key("ingest", "index_files", "w"+strconv.Itoa(w.ID), n%putRing), w.s.env.Body(IndexSliceSize, n), payloadSHA256, false, 200)
			}},
			{Name: "get-binlog-10m", Weight: 25, Do: func(w *Worker) error {
				return w.getRandomRange("get-binlog-10m", pickObj(w.Rng, w.sets().parquet), PartSize)
			}},
		},
	})

	register(&Profile{
		Name:   "wal",
		Doc:    "woodpecker WAL: streaming-signed 0.1-2 MiB PUTs of new keys with If-None-Match: * (200), and 5% repeats of a written key (412)",
		Writes: true,
		Actions: []Action{
			{Name: "wal-put", Weight: 95, Do: walPut},
			{Name: "wal-conflict", Weight: 5, Do: func(w *Worker) error {
				st, _ := w.state.(*walState)
				if st == nil || st.last == "" {
					return walPut(w)
				}
				return w.put("wal-conflict", st.last, w.streamBody(4*KiB), payloadStreaming, true, 412)
			}},
		},
	})

	register(&Profile{
		Name:     "list-gc",
		Doc:      "garbage collection: recursive and delimiter ListObjectsV2 over the data set's key tree (all pages), and deletes of 10 objects of one prefix at a time",
		Writes:   true,
		Setup:    gcSetup,
		Teardown: gcTeardown,
		Actions: []Action{
			{Name: "list-recursive", Weight: 40, Do: func(w *Worker) error {
				prefixes := []string{RootPath + "/", RootPath + "/insert_log/", RootPath + "/stats_log/", RootPath + "/delta_log/", RootPath + "/index_files/"}
				return w.listAll("list-recursive", prefixes[w.Rng.IntN(len(prefixes))], "")
			}},
			{Name: "list-delimiter", Weight: 40, Do: listDelimiter},
			{Name: "delete-10", Weight: 20, Do: func(w *Worker) error {
				st := w.s.shared.(*gcState)
				var batch []string
				select {
				case batch = <-st.batches:
				default:
					return listDelimiter(w)
				}
				for i, k := range batch {
					if err := w.del("delete", k); err != nil {
						if err == errStop {
							st.putBack(batch[i:])
						}
						return err
					}
				}
				return nil
			}},
		},
	})
}

// listAll pages through a listing.
func (w *Worker) listAll(class, prefix, delimiter string) error {
	token := ""
	for {
		next, err := w.list(class, prefix, delimiter, token)
		if err != nil || next == "" {
			return err
		}
		token = next
	}
}

func listDelimiter(w *Worker) error {
	st := w.s.shared.(*gcState)
	return w.listAll("list-delimiter", st.prefixes[w.Rng.IntN(len(st.prefixes))], "/")
}

type ingestState struct {
	key, id string
	etags   []string
}

// ingestPart uploads the next 10 MiB part of the worker's multipart upload,
// starting one first and completing it after the third part.
func ingestPart(w *Worker) error {
	st, _ := w.state.(*ingestState)
	if st == nil || st.id == "" {
		n := w.Rng.IntN(1 << 30)
		st = &ingestState{key: w.key("ingest", "insert_log", "w"+strconv.Itoa(w.ID), n%putRing)}
		id, err := w.multipartCreate("multipart-create", st.key)
		if err != nil {
			return err
		}
		st.id = id
		w.state = st
	}
	etag, err := w.multipartPart("multipart-part-10m", st.key, st.id, len(st.etags)+1, w.s.env.Body(PartSize, w.Rng.IntN(BodyVariants)))
	if err != nil {
		return err
	}
	st.etags = append(st.etags, etag)
	if len(st.etags) == 3 {
		err = w.multipartComplete("multipart-complete", st.key, st.id, st.etags)
		w.state = nil
	}
	return err
}

type walState struct {
	seq  int
	last string
}

func walPut(w *Worker) error {
	st, _ := w.state.(*walState)
	if st == nil {
		st = &walState{}
		w.state = st
	}
	st.seq++
	key := w.key("wp", "log"+strconv.Itoa(w.ID), fmt.Sprintf("%08d", st.seq))
	err := w.put("wal-put", key, w.streamBody(100*KiB+w.Rng.Int64N(1948*KiB)), payloadStreaming, true, 200)
	if err == nil {
		st.last = key
	}
	return err
}

// gcState holds the objects list-gc deletes, 10 per prefix.
type gcState struct {
	batches  chan []string
	prefixes []string
	objs     *objectCache
}

func (st *gcState) putBack(b []string) {
	select {
	case st.batches <- b:
	default:
	}
}

// GCBatches is how many prefixes of 10 small objects list-gc writes before
// its measured window, for its deletes (a soak asks for as many as it needs).
var GCBatches = 300

func gcSetup(s *session) error {
	n := GCBatches
	if s.gcBatches > 0 {
		n = s.gcBatches
	}
	st := &gcState{batches: make(chan []string, n), prefixes: s.env.Layout.Prefixes()}
	s.shared = st
	keys := make([][]string, n)
	for b := range keys {
		for i := range 10 {
			keys[b] = append(keys[b], fmt.Sprintf("lsmbench/%s/gc/%04d/%d", s.cfg.RunID, b, i))
		}
	}
	err := s.parallel(s.cfg.Concurrency, n*10, func(w *Worker, i int) error {
		return w.put("setup", keys[i/10][i%10], w.streamBody(KiB), payloadStreaming, false, 200)
	})
	for _, b := range keys {
		st.batches <- b
	}
	return err
}

func gcTeardown(s *session) error {
	st := s.shared.(*gcState)
	var left []string
	for {
		select {
		case b := <-st.batches:
			left = append(left, b...)
			continue
		default:
		}
		break
	}
	return s.parallel(s.cfg.Concurrency, len(left), func(w *Worker, i int) error {
		return w.del("cleanup", left[i])
	})
}
