package main

import (
	"bytes"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/bench"
	"github.com/lsmstore/lsmstore/sigv4"
)

// signers adapts the project's SigV4 signer to fasthttp requests, for
// package bench (which must not import sigv4).
func signers(accessKey, secretKey, region string) (bench.SignFunc, bench.StreamSignFunc) {
	s := &sigv4.Signer{AccessKey: accessKey, SecretKey: secretKey, Region: region}
	message := func(req *fasthttp.Request) sigv4.Message {
		h := make(map[string][]string, 8)
		for k, v := range req.Header.All() {
			switch strings.ToLower(string(k)) {
			case "host", "content-length", "user-agent", "connection":
				continue
			}
			h[string(k)] = append(h[string(k)], string(v))
		}
		u := req.URI()
		return sigv4.Message{
			Method:   string(req.Header.Method()),
			Host:     string(req.Host()),
			Path:     string(u.PathOriginal()),
			RawQuery: string(u.QueryString()),
			Header:   h,
		}
	}
	apply := func(req *fasthttp.Request, m *sigv4.Message) {
		for k, v := range m.Header {
			if strings.EqualFold(k, "Content-Length") || len(v) == 0 {
				continue
			}
			req.Header.Set(k, v[0])
		}
	}
	sign := func(req *fasthttp.Request, payloadHash string) {
		m := message(req)
		s.Sign(&m, payloadHash, time.Now())
		apply(req, &m)
	}
	stream := func(req *fasthttp.Request, body []byte) {
		m := message(req)
		r, n := s.SignStreaming(&m, bytes.NewReader(body), int64(len(body)), sigv4.StreamOptions{}, time.Now())
		apply(req, &m)
		req.SetBodyStream(r, int(n))
	}
	return sign, stream
}
