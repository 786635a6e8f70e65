package s3

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// Bucket CORS configuration, and the CORS headers it puts on responses.
// Matching follows S3: origins match case-sensitively and may hold one
// "*"; request headers match case-insensitively; the first rule that
// matches answers. Preflights (OPTIONS) need no signature. On other
// requests CORS only adds response headers: it never refuses a request.

const (
	configCORS    = "cors"
	maxCORSSize   = 64 << 10 // S3's CORS configuration limit
	maxCORSRules  = 100
	maxCORSRuleID = 255
)

var (
	errNoSuchCORSConfiguration = &apiError{"NoSuchCORSConfiguration", "The CORS configuration does not exist.", 404}
	errCORSForbidden           = &apiError{"AccessForbidden", "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.", 403}
	errCORSDisabled            = &apiError{"AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", 403}
	errCORSBadRequest          = &apiError{"BadRequest", "Insufficient information. Origin and Access-Control-Request-Method request headers needed.", 400}
)

type corsConfiguration struct {
	XMLName xml.Name   `xml:"CORSConfiguration"`
	Xmlns   string     `xml:"xmlns,attr,omitempty"`
	Rules   []corsRule `xml:"CORSRule"`
}

type corsRule struct {
	AllowedHeader []string `xml:"AllowedHeader,omitempty"`
	AllowedMethod []string `xml:"AllowedMethod,omitempty"`
	AllowedOrigin []string `xml:"AllowedOrigin,omitempty"`
	ExposeHeader  []string `xml:"ExposeHeader,omitempty"`
	ID            string   `xml:"ID,omitempty"`
	MaxAgeSeconds int      `xml:"MaxAgeSeconds,omitempty"`
}

var corsMethods = map[string]bool{"GET": true, "PUT": true, "HEAD": true, "POST": true, "DELETE": true}

func invalidCORS(msg string) error { return withMessage(errInvalidRequest, msg) }

// parseCORS parses and validates a CORS configuration.
func parseCORS(doc []byte) (*corsConfiguration, error) {
	var c corsConfiguration
	if err := unmarshalXML(doc, &c); err != nil {
		return nil, errMalformedXML
	}
	if len(c.Rules) == 0 {
		return nil, errMalformedXML
	}
	if len(c.Rules) > maxCORSRules {
		return nil, invalidCORS("The CORS configuration may hold at most 100 rules.")
	}
	for _, rule := range c.Rules {
		if len(rule.AllowedMethod) == 0 || len(rule.AllowedOrigin) == 0 {
			return nil, errMalformedXML
		}
		for _, m := range rule.AllowedMethod {
			if !corsMethods[m] {
				return nil, invalidCORS("Found unsupported HTTP method in CORS config. Unsupported method is " + m)
			}
		}
		for _, o := range rule.AllowedOrigin {
			if strings.Count(o, "*") > 1 {
				return nil, invalidCORS(`AllowedOrigin "` + o + `" can not have more than one wildcard.`)
			}
		}
		for _, h := range rule.AllowedHeader {
			if strings.Count(h, "*") > 1 {
				return nil, invalidCORS(`AllowedHeader "` + h + `" can not have more than one wildcard.`)
			}
		}
		if len(rule.ID) > maxCORSRuleID {
			return nil, invalidCORS("A CORS rule ID may be at most 255 characters long.")
		}
		if rule.MaxAgeSeconds < 0 {
			return nil, invalidCORS("MaxAgeSeconds must not be negative.")
		}
	}
	c.XMLName, c.Xmlns = xml.Name{}, s3NS
	return &c, nil
}

// corsMatch reports whether a CORS pattern with at most one "*" matches s.
func corsMatch(pattern, s string) bool {
	pre, post, star := strings.Cut(pattern, "*")
	if !star {
		return pattern == s
	}
	return len(s) >= len(pre)+len(post) && strings.HasPrefix(s, pre) && strings.HasSuffix(s, post)
}

// match returns the first rule allowing origin and method (and every
// header in headers, already lowercased), and the origin pattern that
// matched.
func (c *corsConfiguration) match(origin, method string, headers []string) (*corsRule, string) {
	for i := range c.Rules {
		rule := &c.Rules[i]
		pattern := ""
		for _, o := range rule.AllowedOrigin {
			if corsMatch(o, origin) {
				pattern = o
				break
			}
		}
		if pattern == "" {
			continue
		}
		methodOK := false
		for _, m := range rule.AllowedMethod {
			if m == method {
				methodOK = true
				break
			}
		}
		if methodOK && rule.allowsHeaders(headers) {
			return rule, pattern
		}
	}
	return nil, ""
}

func (rule *corsRule) allowsHeaders(headers []string) bool {
	for _, h := range headers {
		ok := false
		for _, a := range rule.AllowedHeader {
			if corsMatch(strings.ToLower(a), h) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// requestedHeaders splits Access-Control-Request-Headers into lowercased
// names.
func requestedHeaders(v string) []string {
	var out []string
	for _, h := range strings.Split(v, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// parseCORSFor is parseCORS in the form docCache parses with.
func parseCORSFor(doc []byte, _ string) (*corsConfiguration, error) { return parseCORS(doc) }

// bucketCORS returns a bucket's parsed CORS configuration (shared: never
// modified); nil when it has none.
func (s *Server) bucketCORS(bucket string) *corsConfiguration {
	c, _ := s.cors.get(s.store, bucket)
	return c
}

// setAllowOrigin writes the origin headers of a matched rule: a "*" rule
// allows any origin without credentials, any other echoes the origin.
func setAllowOrigin(h *fasthttp.ResponseHeader, origin, pattern string) {
	h.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	if pattern == "*" {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
}

// preflight answers an OPTIONS request from the bucket's CORS rules.
func (s *Server) preflight(r *request) error {
	r.op = "PreflightCORS"
	origin := r.header("Origin")
	method := r.header("Access-Control-Request-Method")
	if origin == "" || method == "" || r.bucket == "" {
		return errCORSBadRequest
	}
	c := s.bucketCORS(r.bucket)
	if c == nil {
		return errCORSDisabled
	}
	headers := requestedHeaders(r.header("Access-Control-Request-Headers"))
	rule, pattern := c.match(origin, method, headers)
	if rule == nil {
		return errCORSForbidden
	}
	h := &r.ctx.Response.Header
	setAllowOrigin(h, origin, pattern)
	h.Set("Access-Control-Allow-Methods", method)
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(headers, ","))
	}
	if rule.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	}
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	h.SetContentLength(0)
	return nil
}

// corsHeaders adds the CORS response headers of an actual (not preflight)
// request from a browser: the method is the one the browser asked about
// if it sent Access-Control-Request-Method, else the request's own.
func (s *Server) corsHeaders(r *request, origin string) {
	c := s.bucketCORS(r.bucket)
	if c == nil {
		return
	}
	method := r.header("Access-Control-Request-Method")
	if method == "" {
		method = string(r.ctx.Method())
	}
	rule, pattern := c.match(origin, method, nil)
	if rule == nil {
		return
	}
	h := &r.ctx.Response.Header
	setAllowOrigin(h, origin, pattern)
	if len(rule.ExposeHeader) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeader, ","))
	}
}

func (s *Server) getBucketCors(r *request) error {
	return s.getBucketConfig(r, configCORS, errNoSuchCORSConfiguration, "application/xml")
}

func (s *Server) putBucketCors(r *request) error {
	body, err := s.readSmallBody(r, maxCORSSize)
	if err != nil {
		return err
	}
	if err := s.bucketMustExist(r.bucket); err != nil {
		return err
	}
	c, err := parseCORS(body)
	if err != nil {
		return err
	}
	var doc bytes.Buffer
	doc.WriteString(xml.Header)
	if err := xml.NewEncoder(&doc).Encode(c); err != nil {
		return err
	}
	if err := s.store.PutBucketConfig(r.bucket, configCORS, doc.Bytes()); err != nil {
		return err
	}
	s.forgetDoc(r.bucket, configCORS)
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	return nil
}

func (s *Server) deleteBucketCors(r *request) error {
	return s.deleteBucketConfig(r, configCORS)
}
