package bench

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// session is one run (or prepare phase) against one endpoint.
type session struct {
	ctx    context.Context
	cfg    Config
	env    *Env
	client *fasthttp.HostClient
	runFlags

	mu     sync.Mutex
	shared any // profile state shared by the workers
	// observe, when set, also gets every measured request's latency and
	// whether it failed (the soak's per-interval latencies).
	observe func(lat time.Duration, failed bool)
	// gcBatches, when set, is how many batches list-gc writes instead of
	// GCBatches.
	gcBatches int
}

func newSession(ctx context.Context, cfg Config, env *Env) *session {
	return &session{ctx: ctx, cfg: cfg, env: env, client: NewClient(cfg.Endpoint, cfg.Concurrency, cfg.timeout())}
}

// NewClient returns the keep-alive client the generator uses: one
// connection per request in flight, no retries (every failure is counted).
func NewClient(addr string, conc int, timeout time.Duration) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "lsmbench",
		MaxConns:                  conc + 4,
		MaxIdleConnDuration:       time.Minute,
		ReadTimeout:               timeout,
		WriteTimeout:              timeout,
		MaxIdemponentCallAttempts: 1,
		ReadBufferSize:            16 * KiB,
		WriteBufferSize:           64 * KiB,
		MaxResponseBodySize:       0,
	}
}

// parallel runs fn(w, i) for i in [0, n) on conc unmeasured workers and
// returns the first error; the others stop at their next request.
func (s *session) parallel(conc, n int, fn func(w *Worker, i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for k := range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(s, 10000+k, s.cfg.Seed^0x5e70, false)
			for {
				i := int(next.Add(1) - 1)
				if i >= n || s.stop.Load() {
					return
				}
				if err := fn(w, i); err != nil {
					once.Do(func() { first = err })
					s.stop.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && s.ctx.Err() != nil {
		first = s.ctx.Err()
	}
	return first
}

// Run drives profile p against cfg.Endpoint for cfg.Warmup unmeasured, then
// until cfg.Duration has passed or cfg.MaxOps requests were sent, whichever
// comes first. The data set must be prepared (see Prepare) for reading
// profiles.
func Run(ctx context.Context, cfg Config, env *Env, p *Profile) (*RunResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.RunID == "" {
		cfg.RunID = time.Now().UTC().Format("20060102T150405.000000000")
	}
	s := newSession(ctx, cfg, env)
	defer s.client.CloseIdleConnections()
	if p.Setup != nil {
		if err := p.Setup(s); err != nil {
			return nil, err
		}
		s.stop.Store(false)
	}

	h := fnv.New64a()
	h.Write([]byte(p.Name))
	seed := cfg.Seed ^ h.Sum64()
	workers := make([]*Worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = newWorker(s, i, seed, true)
	}

	var (
		mu                 sync.Mutex
		measureStart       time.Time
		procBefore         ProcSample
		procErr            error
		clientBefore       time.Duration
		measureTimer       *time.Timer
		stopTimer          *time.Timer
		startMeasureLocked = func() {
			measureStart = time.Now()
			clientBefore = SelfCPU()
			if cfg.ServerPID > 0 {
				procBefore, procErr = SampleProc(cfg.ServerPID)
			}
			s.measuring.Store(true)
		}
	)
	stop := func() {
		s.stoppedBy.CompareAndSwap(nil, stopDuration)
		s.stop.Store(true)
	}
	if cfg.Warmup > 0 {
		measureTimer = time.AfterFunc(cfg.Warmup, func() {
			mu.Lock()
			defer mu.Unlock()
			startMeasureLocked()
			stopTimer = time.AfterFunc(cfg.Duration, stop)
		})
	} else {
		mu.Lock()
		startMeasureLocked()
		stopTimer = time.AfterFunc(cfg.Duration, stop)
		mu.Unlock()
	}
	cancelWatch := context.AfterFunc(ctx, func() {
		s.stoppedBy.CompareAndSwap(nil, stopCanceled)
		s.stop.Store(true)
	})
	defer cancelWatch()

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !s.stop.Load() {
				a := p.pick(w.Rng)
				if err := a.Do(w); errors.Is(err, errStop) {
					return
				}
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	clientAfter := SelfCPU()

	mu.Lock()
	if measureTimer != nil {
		measureTimer.Stop()
	}
	if stopTimer != nil {
		stopTimer.Stop()
	}
	started := measureStart
	mu.Unlock()

	res := &RunResult{Profile: p.Name, Concurrency: cfg.Concurrency, Started: started}
	if sb := s.stoppedBy.Load(); sb != nil {
		res.StoppedBy = *sb
	}
	if !started.IsZero() {
		res.Seconds = end.Sub(started).Seconds()
		if cfg.ServerPID > 0 {
			after, err := SampleProc(cfg.ServerPID)
			if procErr == nil {
				procErr = err
			}
			if procErr == nil {
				res.Server = &ServerUsage{
					PID:            cfg.ServerPID,
					CPUSeconds:     (after.CPU - procBefore.CPU).Seconds(),
					RSSBeforeBytes: procBefore.RSS,
					RSSAfterBytes:  after.RSS,
					RSSPeakBytes:   after.HWM,
				}
			} else {
				res.Warnings = append(res.Warnings, "server CPU and RSS: "+procErr.Error())
			}
		}
		res.ClientCPUSeconds = (clientAfter - clientBefore).Seconds()
	}
	res.finish(workers)

	if cfg.Cleanup && ctx.Err() == nil {
		s.stop.Store(false)
		s.measuring.Store(false)
		if err := cleanup(s, workers); err != nil {
			res.Warnings = append(res.Warnings, "cleanup: "+err.Error())
		}
		if p.Teardown != nil {
			if err := p.Teardown(s); err != nil {
				res.Warnings = append(res.Warnings, "teardown: "+err.Error())
			}
		}
	}
	return res, ctx.Err()
}

// cleanup deletes what the workers wrote and aborts their open uploads.
func cleanup(s *session, workers []*Worker) error {
	type item struct{ key, upload string }
	var items []item
	for _, w := range workers {
		for k := range w.written {
			items = append(items, item{key: k})
		}
		for k, id := range w.uploads {
			items = append(items, item{key: k, upload: id})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	return s.parallel(s.cfg.Concurrency, len(items), func(w *Worker, i int) error {
		it := items[i]
		if it.upload != "" {
			_ = w.multipartAbort("cleanup", it.key, it.upload)
			return nil
		}
		return w.del("cleanup", it.key)
	})
}
