package s3

import "github.com/valyala/fasthttp"

// Health endpoints answer without authentication, as MinIO's do, so compose
// files and Helm probes work unchanged.
const (
	pathHealthLive  = "/minio/health/live"
	pathHealthReady = "/minio/health/ready"
)

// serveHealth answers a health probe; it reports false for other paths.
// path is the request's specialPath.
func (s *Server) serveHealth(ctx *fasthttp.RequestCtx, path []byte) bool {
	switch string(path) {
	case pathHealthLive:
		ctx.SetStatusCode(fasthttp.StatusOK)
	case pathHealthReady:
		s.driveHealthHeaders(ctx)
		if s.ready() {
			ctx.SetStatusCode(fasthttp.StatusOK)
		} else {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		}
	default:
		return false
	}
	ctx.Response.Header.Set("Server", serverName)
	return true
}
