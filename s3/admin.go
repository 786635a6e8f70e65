package s3

import (
	"encoding/json"
	"time"

	"github.com/valyala/fasthttp"
)

const adminPrefix = "/minio/admin/"

// adminInfo answers MinIO's admin info call with the fields
// milvus-operator's health check reads (servers[].state).
func (s *Server) adminInfo(r *request, path string) error {
	if string(r.ctx.Method()) != fasthttp.MethodGet || (path != adminPrefix+"v3/info" && path != adminPrefix+"v3/info/") {
		return errNotImplemented
	}
	m := s.store.Metrics()
	state := "online"
	if !s.ready() {
		state = "offline"
	}
	drives, backend := adminInfoDrives(s.store, string(r.ctx.Host()))
	info := map[string]any{
		"mode":         state,
		"deploymentID": "lsmstore",
		"buckets":      map[string]any{},
		"objects":      map[string]any{"count": m.Objects},
		"usage":        map[string]any{"size": m.LogicalBytes},
		"servers": []map[string]any{{
			"state":    state,
			"endpoint": string(r.ctx.Host()),
			"uptime":   int64(time.Since(s.started).Seconds()),
			"version":  s.cfg.Version,
			"drives":   drives,
		}},
		"backend": backend,
	}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	r.ctx.SetContentType("application/json")
	r.ctx.SetBody(b)
	return nil
}
