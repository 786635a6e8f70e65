package s3

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lsmstore/lsmstore/engine"
)

// TestAdminJobs: a rate-limited verify runs as a job that reports its
// progress, a second one is refused while it runs, and a cancel stops it.
// Admin errors are JSON; unsigned calls are refused.
func TestAdminJobs(t *testing.T) {
	st, err := engine.Open(engine.Options{FS: vfs.NewMem(), Dirs: []string{"d0", "d1", "d2"}, SegmentSize: 1 << 20,
		CacheSize: -1, IndexCacheSize: 8 << 20, CompactionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := serveInProcess(t, st, Config{}, nil)
	if err := st.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 4; i++ {
		data := make([]byte, 1<<20) // incompressible: the scrub has bytes to read
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		if _, err := st.Put("bkt", strings.Repeat("k", i+1), int64(len(data)), bytes.NewReader(data), engine.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st.WaitSealed()
	base := c.EndpointURL().String() + lsmAdminPrefix

	resp, body := anon(t, "GET", base+"stats", nil, nil)
	if resp.StatusCode != 403 || !strings.Contains(body, `"code":"AccessDenied"`) {
		t.Fatalf("unsigned admin call: %d %s", resp.StatusCode, body)
	}
	resp, body = signed(t, "POST", base+"compact?threshold=7", nil)
	if resp.StatusCode != 400 || !strings.Contains(body, `"code":"InvalidArgument"`) {
		t.Fatalf("bad threshold: %d %s", resp.StatusCode, body)
	}
	resp, body = signed(t, "GET", base+"nothing-here", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown call: %d %s", resp.StatusCode, body)
	}

	resp, body = signed(t, "POST", base+"verify?rate=1048576", nil)
	var job JobStatus
	if resp.StatusCode != 202 || json.Unmarshal([]byte(body), &job) != nil || job.State != JobRunning || job.Kind != JobVerify {
		t.Fatalf("start verify: %d %s", resp.StatusCode, body)
	}
	resp, body = signed(t, "POST", base+"verify", nil)
	if resp.StatusCode != 409 || !strings.Contains(body, "JobRunning") {
		t.Fatalf("second verify: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = signed(t, "GET", base+"jobs/"+job.ID, nil)
		if err := json.Unmarshal([]byte(body), &job); err != nil {
			t.Fatal(err)
		}
		if job.BytesDone > 0 && job.BytesTotal > job.BytesDone && job.Rate > 0 && job.ETASeconds > 0 {
			break
		}
		if job.State != JobRunning || time.Now().After(deadline) {
			t.Fatalf("verify progress: %+v", job)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, body = signed(t, "DELETE", base+"jobs/"+job.ID, nil)
	if err := json.Unmarshal([]byte(body), &job); err != nil || resp.StatusCode != 200 || job.State != JobCanceled || job.Finished == nil {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
	_, body = signed(t, "GET", base+"jobs", nil)
	var list []JobStatus
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0].State != JobCanceled {
		t.Fatalf("jobs: %s", body)
	}
	// With the first one ended, a new verify runs to the end.
	resp, body = signed(t, "POST", base+"verify?rate=-1", nil)
	if resp.StatusCode != 202 || json.Unmarshal([]byte(body), &job) != nil {
		t.Fatalf("start verify: %d %s", resp.StatusCode, body)
	}
	for job.State == JobRunning {
		time.Sleep(10 * time.Millisecond)
		_, body = signed(t, "GET", base+"jobs/"+job.ID, nil)
		json.Unmarshal([]byte(body), &job)
	}
	var res engine.ScrubResult
	b, _ := json.Marshal(job.Result)
	if job.State != JobDone || json.Unmarshal(b, &res) != nil || res.Segments == 0 || len(res.Problems) != 0 || job.BytesDone != job.BytesTotal {
		t.Fatalf("verify result: %+v", job)
	}
}
