package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"
)

// Long maintenance operations (compaction, verify, heal) run as jobs in the
// server: the admin API starts them, clients poll their progress, and a
// cancel stops them through their context. One job of each kind runs at a
// time; finished jobs are kept (the last maxFinishedJobs) for clients to
// read their result.

// Job kinds.
const (
	JobCompact = "compact"
	JobVerify  = "verify"
	JobHeal    = "heal"
)

// Job states. A canceled job reports JobCanceling until it has unwound.
const (
	JobRunning   = "running"
	JobCanceling = "canceling"
	JobDone      = "done"
	JobFailed    = "failed"
	JobCanceled  = "canceled"
)

// cancelWait is how long a cancel request waits for the job to unwind
// before it answers with the job still canceling.
const cancelWait = time.Second

const maxFinishedJobs = 32

// JobStatus is a job as the admin API reports it.
type JobStatus struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	Started    time.Time  `json:"started"`
	Finished   *time.Time `json:"finished,omitempty"`
	BytesDone  int64      `json:"bytes_done"`
	BytesTotal int64      `json:"bytes_total"`
	// Rate is bytes per second since the start; ETA the seconds left at
	// that rate (0 when unknown or done).
	Rate       float64 `json:"rate_bytes_per_sec"`
	ETASeconds float64 `json:"eta_seconds"`
	Error      string  `json:"error,omitempty"`
	// Result is the engine's result (CompactResult, ScrubResult or
	// HealResult) once the job has ended.
	Result any `json:"result,omitempty"`
}

type job struct {
	mu        sync.Mutex
	st        JobStatus
	canceling bool // a cancel was requested while it ran
	cancel    context.CancelFunc
	done      chan struct{}
}

// requestCancel cancels the job and waits up to wait for it to end.
func (j *job) requestCancel(wait time.Duration) {
	j.mu.Lock()
	j.canceling = j.st.State == JobRunning
	j.mu.Unlock()
	j.cancel()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-j.done:
	case <-t.C:
	}
}

func (j *job) progress(done, total int64) {
	j.mu.Lock()
	j.st.BytesDone, j.st.BytesTotal = done, total
	j.mu.Unlock()
}

func (j *job) running() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st.State == JobRunning
}

func (j *job) status() JobStatus {
	j.mu.Lock()
	st, canceling := j.st, j.canceling
	j.mu.Unlock()
	if st.State == JobRunning {
		if canceling {
			st.State = JobCanceling
		}
		if el := time.Since(st.Started).Seconds(); el > 0 {
			st.Rate = float64(st.BytesDone) / el
		}
		if st.Rate > 0 && st.BytesTotal > st.BytesDone {
			st.ETASeconds = float64(st.BytesTotal-st.BytesDone) / st.Rate
		}
	} else if st.Finished != nil {
		if el := st.Finished.Sub(st.Started).Seconds(); el > 0 {
			st.Rate = float64(st.BytesDone) / el
		}
	}
	return st
}

// jobs is the server's job table.
type jobs struct {
	mu    sync.Mutex
	all   map[string]*job
	order []string // ids, oldest first
	wg    sync.WaitGroup
}

// errJobRunning is returned when a job of the same kind is under way.
var errJobRunning = &apiError{"JobRunning", "A job of this kind is already running.", 409}

// start runs fn as a job of kind. fn reports progress through report and
// returns the engine's result.
func (js *jobs) start(kind string, fn func(ctx context.Context, report func(done, total int64)) (any, error)) (JobStatus, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.all == nil {
		js.all = map[string]*job{}
	}
	for _, j := range js.all {
		if j.st.Kind == kind && j.running() {
			return JobStatus{}, errJobRunning
		}
	}
	id := make([]byte, 8)
	rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{st: JobStatus{ID: hex.EncodeToString(id), Kind: kind, State: JobRunning, Started: time.Now().UTC()}, cancel: cancel, done: make(chan struct{})}
	js.all[j.st.ID] = j
	js.order = append(js.order, j.st.ID)
	js.trim()
	js.wg.Add(1)
	go func() {
		defer js.wg.Done()
		defer close(j.done)
		defer cancel()
		res, err := fn(ctx, j.progress)
		now := time.Now().UTC()
		j.mu.Lock()
		j.st.Finished, j.st.Result = &now, res
		switch {
		case err != nil && ctx.Err() != nil:
			j.st.State, j.st.Error = JobCanceled, err.Error()
		case err != nil:
			j.st.State, j.st.Error = JobFailed, err.Error()
		default:
			j.st.State = JobDone
			if j.st.BytesTotal < j.st.BytesDone {
				j.st.BytesTotal = j.st.BytesDone
			}
		}
		j.mu.Unlock()
	}()
	return j.status(), nil
}

// trim forgets the oldest finished jobs beyond maxFinishedJobs.
func (js *jobs) trim() {
	finished := 0
	for _, id := range js.order {
		if !js.all[id].running() {
			finished++
		}
	}
	keep := js.order[:0]
	for _, id := range js.order {
		if finished > maxFinishedJobs && !js.all[id].running() {
			delete(js.all, id)
			finished--
			continue
		}
		keep = append(keep, id)
	}
	js.order = keep
}

func (js *jobs) get(id string) (*job, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.all[id]
	return j, ok
}

// list returns every known job, newest first.
func (js *jobs) list() []JobStatus {
	js.mu.Lock()
	out := make([]JobStatus, 0, len(js.order))
	for _, id := range js.order {
		out = append(out, js.all[id].status())
	}
	js.mu.Unlock()
	sort.SliceStable(out, func(i, k int) bool { return out[i].Started.After(out[k].Started) })
	return out
}

// stop cancels every running job and waits for them.
func (js *jobs) stop() {
	js.mu.Lock()
	for _, j := range js.all {
		j.cancel()
	}
	js.mu.Unlock()
	js.wg.Wait()
}

// jobStatuses returns every known job, newest first (for metrics).
func (s *Server) jobStatuses() []JobStatus { return s.jobs.list() }
