package sigv4

import "unsafe"

// Request is what verification and body decoding need of an HTTP request.
type Request struct {
	Method   string
	Path     string // escaped path exactly as on the request line, e.g. "/bucket/a%20b" (fasthttp: URI().PathOriginal())
	RawQuery string // query string as sent, without '?'
	// Host is the Host header value as sent (with port if any). When
	// empty, the "host" header is read.
	Host string

	// Headers, when set, is used instead of Header and Values: a server
	// whose headers are byte slices (*fasthttp.RequestHeader implements
	// it) is read without a string conversion per header.
	Headers Headers

	// Header returns the first value of the named header, "" when absent.
	// Names are passed in lowercase; the lookup must ignore case.
	Header func(name string) string

	// Values returns all values of the named header in order. It is used
	// only for signed headers, whose repeated values are joined with ",".
	// When nil, Header is used instead.
	Values func(name string) []string

	// Names returns the name of every header of the request, in any case,
	// when Headers is nil. Verification must see every header (an unsigned
	// x-amz-* header is refused), so a signed request with neither Headers
	// nor Names is refused.
	Names func() []string
}

// Headers reads a request's headers as byte slices. Names are passed in
// lowercase; lookups must ignore case. Verify and NewBody never keep a
// returned slice (nor any string sharing its memory) once they return, so
// the slices need only stay unchanged during the call.
type Headers interface {
	// Peek returns the first value of the named header, empty when absent.
	Peek(name string) []byte
	// PeekAll returns all values of the named header in order. The result
	// is used before the next Peek or PeekAll.
	PeekAll(name string) [][]byte
	// AppendNames appends to dst the name of every header of the request
	// (every header the server may act on), in any case, each followed by
	// '\n', and returns the extended slice. A name may appear more than
	// once.
	AppendNames(dst []byte) []byte
}

// header returns a header value that the caller keeps: a copy.
func (r *Request) header(name string) string {
	if r.Headers != nil {
		return string(r.Headers.Peek(name))
	}
	if r.Header == nil {
		return ""
	}
	return r.Header(name)
}

// headerView returns a header value that the caller may only read until it
// returns: with Headers it shares the header's memory. Nothing derived from
// it may be kept (Auth's strings are copies or interned).
func (r *Request) headerView(name string) string {
	if r.Headers != nil {
		return viewString(r.Headers.Peek(name))
	}
	return r.header(name)
}

// appendNames appends the request's header names as Headers.AppendNames
// does; ok is false when the request cannot list them.
func (r *Request) appendNames(b []byte) (_ []byte, ok bool) {
	switch {
	case r.Headers != nil:
		return r.Headers.AppendNames(b), true
	case r.Names != nil:
		for _, n := range r.Names() {
			b = append(b, n...)
			b = append(b, '\n')
		}
		return b, true
	}
	return b, false
}

// appendValues appends the canonical value of a signed header: all its
// values trimmed, joined by ","; see appendCollapsed for ws. other reports
// a value holding white space other than spaces, whose form depends on ws.
func (r *Request) appendValues(b []byte, name string, ws wsMode) (_ []byte, other bool) {
	switch {
	case r.Headers != nil:
		for i, v := range r.Headers.PeekAll(name) {
			if i > 0 {
				b = append(b, ',')
			}
			var o bool
			b, o = appendCollapsed(b, viewString(v), ws)
			other = other || o
		}
		return b, other
	case r.Values != nil:
		return appendHeaderValue(b, r.Values(name), ws)
	default:
		return appendHeaderValue(b, []string{r.header(name)}, ws)
	}
}

// viewString returns b as a string without copying. The string must not be
// used after b changes, nor kept.
func viewString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
