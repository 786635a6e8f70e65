package s3

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lsmstore/lsmstore/engine"
)

// TestAdminCancelAnswersPromptly: DELETE of a job that is slow to unwind
// answers at once with the job canceling; it reports canceled once it has
// ended. An absurdly low rate is refused with 400 before a job starts.
func TestAdminCancelAnswersPromptly(t *testing.T) {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d0"}, CacheSize: -1, IndexCacheSize: 8 << 20, CompactionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, srv := serveInProcess(t, st, Config{}, nil)
	base := c.EndpointURL().String() + lsmAdminPrefix

	for _, q := range []string{"heal?rate=1", "verify?rate=65536", "heal?rate=-5"} {
		resp, body := signed(t, "POST", base+q, nil)
		if resp.StatusCode != 400 || !strings.Contains(body, `"code":"InvalidArgument"`) || !strings.Contains(body, "rate") {
			t.Errorf("POST %s: %d %s, want 400 InvalidArgument", q, resp.StatusCode, body)
		}
	}
	if list := srv.jobs.list(); len(list) != 0 {
		t.Fatalf("refused requests started jobs: %+v", list)
	}

	// A job that notices its cancel only when released, as an engine wait
	// that does not watch the context would.
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	js, err := srv.jobs.start(JobHeal, func(ctx context.Context, report func(done, total int64)) (any, error) {
		<-release
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
	}
	got := make(chan answer, 1)
	sent := time.Now()
	go func() {
		resp, body := signed(t, "DELETE", base+"jobs/"+js.ID, nil)
		got <- answer{resp.StatusCode, body}
	}()
	var a answer
	select {
	case a = <-got:
		t.Logf("DELETE answered after %v", time.Since(sent))
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("DELETE of a job waits for the job to unwind")
	}
	var job JobStatus
	if err := json.Unmarshal([]byte(a.body), &job); err != nil || a.status != 200 || job.State != JobCanceling {
		t.Fatalf("cancel: %d %s, want 200 and state %s", a.status, a.body, JobCanceling)
	}
	resp, body := signed(t, "POST", base+"heal", nil)
	if resp.StatusCode != 409 {
		t.Fatalf("a heal started while one is canceling: %d %s", resp.StatusCode, body)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for job.State != JobCanceled {
		if time.Now().After(deadline) {
			t.Fatalf("job after release: %+v", job)
		}
		time.Sleep(10 * time.Millisecond)
		_, body := signed(t, "GET", base+"jobs/"+js.ID, nil)
		json.Unmarshal([]byte(body), &job)
	}
}
