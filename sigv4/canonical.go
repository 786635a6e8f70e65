package sigv4

import (
	"net/url"
	"slices"
	"strings"
)

const upperHex = "0123456789ABCDEF"

// unreserved reports the RFC 3986 unreserved set that SigV4 never escapes.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// escape URI-encodes s per SigV4, keeping '/' when keepSlash is set.
func escape(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && !(keepSlash && s[i] == '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(b)
}

// EncodePath URI-encodes an unescaped object path the way S3 clients do for
// signing: every byte outside A-Z a-z 0-9 - _ . ~ / becomes %XX.
func EncodePath(path string) string { return escape(path, true) }

// queryParam is one query parameter in raw and canonical form.
type queryParam struct {
	key, value string // canonical (decoded, then SigV4-encoded)
	rawValue   string // as sent
}

// canonicalComponent decodes one query component and SigV4-encodes it.
// Invalid escapes are kept literally (and so re-encoded).
func canonicalComponent(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		s = d
	}
	return escape(s, false)
}

// parseQuery splits a raw query into canonical parameters. Empty segments are
// skipped; "a" and "a=" both yield key "a" with an empty value.
func parseQuery(raw string, dst []queryParam) []queryParam {
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		dst = append(dst, queryParam{key: canonicalComponent(k), value: canonicalComponent(v), rawValue: v})
	}
	return dst
}

// appendCanonicalQuery sorts params by key then value and appends them,
// leaving out any parameter whose key is skip.
func appendCanonicalQuery(b []byte, params []queryParam, skip string) []byte {
	slices.SortFunc(params, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	first := true
	for _, p := range params {
		if p.key == skip && skip != "" {
			continue
		}
		if !first {
			b = append(b, '&')
		}
		first = false
		b = append(b, p.key...)
		b = append(b, '=')
		b = append(b, p.value...)
	}
	return b
}

// wsMode is how inner white space of a header value is canonicalised.
type wsMode uint8

const (
	// wsAll collapses every run of white space (spaces, tabs) to one
	// space, as botocore does (' '.join(value.split()) in
	// botocore/auth.py, SigV4Auth._header_value) and minio-go
	// (strings.Fields in pkg/signer/utils.go, signV4TrimAll).
	wsAll wsMode = iota
	// wsSpaces collapses runs of spaces only and keeps other white space,
	// as aws-sdk-go-v2 does (StripExcessSpaces in
	// aws/signer/internal/v4/util.go).
	wsSpaces
)

// appendHeaderValue appends a canonical header value: each value trimmed of
// surrounding white space with inner white space collapsed per ws, values
// joined by ",". other is as for appendCollapsed.
func appendHeaderValue(b []byte, values []string, ws wsMode) (_ []byte, other bool) {
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		var o bool
		b, o = appendCollapsed(b, v, ws)
		other = other || o
	}
	return b, other
}

// isSpace reports ASCII white space, the set Python's str.split() and Go's
// strings.Fields split on below 0x80.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// appendCollapsed appends one header value trimmed of surrounding white
// space, with inner runs of white space (wsAll) or of spaces (wsSpaces)
// collapsed to one space. other reports inner white space other than
// spaces: the only values whose canonical forms differ between the modes.
func appendCollapsed(b []byte, v string, ws wsMode) (_ []byte, other bool) {
	v = strings.TrimSpace(v)
	space := false
	for j := 0; j < len(v); j++ {
		c := v[j]
		sp := c == ' '
		if !sp && isSpace(c) {
			other = true
			sp = ws == wsAll
		}
		if sp {
			if space {
				continue
			}
			space = true
			c = ' '
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b, other
}
