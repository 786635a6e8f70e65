package s3

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// TestRedactf: fasthttp's messages keep their shape and addresses but not
// the request bytes they quote, nor anything that looks like a credential.
func TestRedactf(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}
	const sig = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		format string
		args   []any
		keep   []string
	}{
		{"error when serving connection %q<->%q: %v", []any{addr, addr, errors.New(`error when reading request headers: invalid header value "AWS4-HMAC-SHA256 Credential=ak/x, Signature=` + sig + `\x01"`)},
			[]string{`"127.0.0.1:9000"<->"127.0.0.1:9000"`, "invalid header value", "bytes withheld"}},
		{"%v", []any{errors.New(`invalid request uri "/b/k?X-Amz-Signature=` + sig + `\x01"`)}, []string{"invalid request uri"}},
		{"%s", []any{"Authorization: AWS4-HMAC-SHA256 Credential=ak/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig}, []string{"[REDACTED]"}},
		{"%s", []any{"GET /b/k?X-Amz-Credential=ak%2F2025&X-Amz-Signature=" + sig + "&x=1"}, []string{"X-Amz-Signature=[REDACTED]", "&x=1"}},
		{"%s", []any{"Authorization: Bearer eyJ.eyJ.sig"}, []string{"Authorization: [REDACTED]"}},
		{"%s", []any{"token is Bearer eyJ.eyJ.sig"}, []string{"Bearer [REDACTED]"}},
	} {
		got := redactf(tc.format, tc.args...)
		for _, bad := range []string{sig, "ak/20250101", "ak%2F2025", "eyJ.eyJ.sig"} {
			if strings.Contains(got, bad) {
				t.Errorf("redactf(%q) = %q: holds %q", tc.format, got, bad)
			}
		}
		for _, k := range tc.keep {
			if !strings.Contains(got, k) {
				t.Errorf("redactf(%q) = %q: lost %q", tc.format, got, k)
			}
		}
	}
}
