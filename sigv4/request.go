package sigv4

// Request is what verification and body decoding need of an HTTP request.
type Request struct {
	Method   string
	Path     string // escaped path exactly as on the request line, e.g. "/bucket/a%20b" (fasthttp: URI().PathOriginal())
	RawQuery string // query string as sent, without '?'
	Host     string // Host header value as sent (with port if any)

	// Header returns the first value of the named header, "" when absent.
	// Names are passed in lowercase; the lookup must ignore case.
	Header func(name string) string

	// Values returns all values of the named header in order. It is used
	// only for signed headers, whose repeated values are joined with ",".
	// When nil, Header is used instead.
	Values func(name string) []string
}

func (r *Request) header(name string) string {
	if r.Header == nil {
		return ""
	}
	return r.Header(name)
}
