package s3

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
)

const listPageMax = 1000

// maxKeysParam parses max-keys style parameters: default 1000, capped at
// 1000, negative or malformed values are an error.
func maxKeysParam(r *request, name string) (int, error) {
	if !r.hasQuery(name) {
		return listPageMax, nil
	}
	v := r.query(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, withMessage(errInvalidArgument, "Argument "+name+" must be an integer between 0 and 2147483647.")
	}
	return min(n, listPageMax), nil
}

// s3URLEncode escapes a key for encoding-type=url: every byte outside the
// unreserved set and '/' becomes %XX.
func s3URLEncode(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
		}
	}
	return b.String()
}

func encodingParam(r *request) (func(string) string, string, error) {
	switch e := r.query("encoding-type"); e {
	case "":
		return func(s string) string { return s }, "", nil
	case "url":
		return s3URLEncode, "url", nil
	default:
		return nil, "", withMessage(errInvalidArgument, "Invalid Encoding Method specified in Request")
	}
}

func (s *Server) list(r *request, startAfter string, maxKeys int) (engine.ListResult, error) {
	prefix, delim := r.query("prefix"), r.query("delimiter")
	if !utf8.ValidString(prefix) || !utf8.ValidString(delim) || !utf8.ValidString(startAfter) {
		return engine.ListResult{}, withMessage(errInvalidArgument, "Listing parameters must be UTF-8.")
	}
	if maxKeys == 0 {
		if err := s.bucketMustExist(r.bucket); err != nil {
			return engine.ListResult{}, err
		}
		return engine.ListResult{}, nil
	}
	return s.store.List(r.bucket, engine.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: startAfter, MaxKeys: maxKeys})
}

func (s *Server) contents(res engine.ListResult, enc func(string) string, withOwner bool) ([]objectXML, []commonPrefix) {
	objs := make([]objectXML, 0, len(res.Objects))
	for _, o := range res.Objects {
		x := objectXML{Key: enc(o.Key), LastModified: isoTime(o.ModTime), ETag: `"` + o.ETag + `"`, Size: o.Size, StorageClass: "STANDARD"}
		if withOwner {
			ow := s.owner()
			x.Owner = &ow
		}
		objs = append(objs, x)
	}
	var cps []commonPrefix
	for _, p := range res.CommonPrefixes {
		cps = append(cps, commonPrefix{Prefix: enc(p)})
	}
	return objs, cps
}

func (s *Server) listObjectsV1(r *request) error {
	maxKeys, err := maxKeysParam(r, "max-keys")
	if err != nil {
		return err
	}
	enc, encType, err := encodingParam(r)
	if err != nil {
		return err
	}
	marker := r.query("marker")
	res, err := s.list(r, marker, maxKeys)
	if err != nil {
		return err
	}
	out := listBucketResult{Xmlns: s3NS, Name: r.bucket, Prefix: enc(r.query("prefix")), Marker: enc(marker),
		MaxKeys: maxKeys, Delimiter: enc(r.query("delimiter")), IsTruncated: res.IsTruncated, EncodingType: encType}
	if res.IsTruncated {
		out.NextMarker = enc(res.NextMarker)
	}
	out.Contents, out.CommonPrefixes = s.contents(res, enc, true)
	writeXML(r.ctx, fasthttp.StatusOK, out)
	return nil
}

func (s *Server) listObjectsV2(r *request) error {
	if r.query("list-type") != "2" {
		return withMessage(errInvalidArgument, "Invalid list-type.")
	}
	maxKeys, err := maxKeysParam(r, "max-keys")
	if err != nil {
		return err
	}
	enc, encType, err := encodingParam(r)
	if err != nil {
		return err
	}
	startAfter := r.query("start-after")
	token := r.query("continuation-token")
	after := startAfter
	if r.hasQuery("continuation-token") {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || token == "" {
			return withMessage(errInvalidArgument, "The continuation token provided is incorrect.")
		}
		after = string(b)
	}
	res, err := s.list(r, after, maxKeys)
	if err != nil {
		return err
	}
	out := listBucketV2Result{Xmlns: s3NS, Name: r.bucket, Prefix: enc(r.query("prefix")), MaxKeys: maxKeys,
		Delimiter: enc(r.query("delimiter")), IsTruncated: res.IsTruncated, EncodingType: encType,
		ContinuationToken: token, StartAfter: enc(startAfter)}
	if res.IsTruncated {
		out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.NextMarker))
	}
	out.Contents, out.CommonPrefixes = s.contents(res, enc, r.query("fetch-owner") == "true")
	out.KeyCount = len(out.Contents) + len(out.CommonPrefixes)
	writeXML(r.ctx, fasthttp.StatusOK, out)
	return nil
}

func (s *Server) listUploads(r *request) error {
	maxUploads, err := maxKeysParam(r, "max-uploads")
	if err != nil {
		return err
	}
	enc, encType, err := encodingParam(r)
	if err != nil {
		return err
	}
	o := engine.ListUploadsOptions{Prefix: r.query("prefix"), Delimiter: r.query("delimiter"),
		KeyMarker: r.query("key-marker"), UploadIDMarker: r.query("upload-id-marker"), MaxUploads: maxUploads}
	out := listMultipartUploadsResult{Xmlns: s3NS, Bucket: r.bucket, KeyMarker: enc(o.KeyMarker), UploadIDMarker: o.UploadIDMarker,
		Delimiter: enc(o.Delimiter), Prefix: enc(o.Prefix), EncodingType: encType, MaxUploads: maxUploads}
	if maxUploads > 0 {
		res, err := s.store.ListUploads(r.bucket, o)
		if err != nil {
			return err
		}
		out.IsTruncated = res.IsTruncated
		out.NextKeyMarker, out.NextUploadIDMarker = enc(res.NextKeyMarker), res.NextUploadIDMarker
		for _, u := range res.Uploads {
			out.Uploads = append(out.Uploads, uploadXML{Key: enc(u.Key), UploadID: u.UploadID, Initiator: s.owner(), Owner: s.owner(),
				StorageClass: "STANDARD", Initiated: isoTime(u.Initiated)})
		}
		for _, p := range res.CommonPrefixes {
			out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: enc(p)})
		}
	} else if err := s.bucketMustExist(r.bucket); err != nil {
		return err
	}
	writeXML(r.ctx, fasthttp.StatusOK, out)
	return nil
}
