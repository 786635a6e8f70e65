package s3

import (
	"bufio"
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

const algorithmKey = "x-amz-checksum-algorithm"

// uploadAlgorithm returns the checksum algorithm chosen for an upload.
func uploadAlgorithm(u engine.UploadInfo) sigv4.Algorithm {
	for _, p := range u.Checksums {
		if p.Key == algorithmKey {
			if a, ok := sigv4.ParseAlgorithm(p.Value); ok {
				return a
			}
		}
	}
	return ""
}

func (s *Server) createUpload(r *request) error {
	meta, err := metadata(r)
	if err != nil {
		return err
	}
	opts := engine.PutOptions{ContentType: contentType(r), UserMeta: meta}
	a, err := requestAlgorithm(r)
	if err != nil {
		return err
	}
	typ := strings.ToUpper(r.header(checksumTypeKey))
	switch {
	case typ == "":
		typ = defaultChecksumType(a)
	case a == "":
		return withMessage(errInvalidRequest, "The x-amz-checksum-type header requires x-amz-checksum-algorithm.")
	case typ == checksumFullObject && !a.FullObject(), typ == checksumComposite && a == sigv4.CRC64NVME:
		return withMessage(errInvalidRequest, "The "+string(a)+" checksum algorithm does not support the "+typ+" checksum type.")
	case typ != checksumFullObject && typ != checksumComposite:
		return withMessage(errInvalidRequest, "Invalid x-amz-checksum-type.")
	}
	if a != "" {
		opts.Checksums = []engine.Pair{{Key: algorithmKey, Value: string(a)}, {Key: checksumTypeKey, Value: typ}}
		r.ctx.Response.Header.Set(algorithmKey, string(a))
		r.ctx.Response.Header.Set(checksumTypeKey, typ)
	}
	if err := s.bucketMustExist(r.bucket); err != nil {
		return err
	}
	id, err := s.store.CreateMultipartUpload(r.bucket, r.key, opts)
	if err != nil {
		return err
	}
	writeXML(r.ctx, fasthttp.StatusOK, initiateMultipartUploadResult{Xmlns: s3NS, Bucket: r.bucket, Key: r.key, UploadID: id})
	return nil
}

func partNumber(r *request) (int, error) {
	n, err := strconv.Atoi(r.query("partNumber"))
	if err != nil || n < 1 || n > engine.MaxParts {
		return 0, withMessage(errInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
	}
	return n, nil
}

func (s *Server) uploadPart(r *request) error {
	n, err := partNumber(r)
	if err != nil {
		return err
	}
	size, err := s.bodySize(r)
	if err != nil {
		return err
	}
	if size > engine.MaxPartSize {
		return errEntityTooLarge
	}
	id := r.query("uploadId")
	u, err := s.store.Upload(r.bucket, r.key, id)
	if err != nil {
		return err
	}
	body, err := sigv4.NewBody(&r.sreq, r.auth, r.ctx.RequestBodyStream(), sigv4.BodyOptions{Checksum: uploadAlgorithm(u), MD5: true})
	if err != nil {
		return err
	}
	part, err := s.store.PutPart(r.bucket, r.key, id, n, size, body, engine.PartOptions{
		BodyChecksums: func() []engine.Pair { return checksumPairs(body) },
		BodyMD5:       body.MD5,
	})
	if err != nil {
		return err
	}
	h := &r.ctx.Response.Header
	h.Set("ETag", `"`+part.ETag+`"`)
	for _, p := range part.Checksums {
		h.Set(p.Key, p.Value)
	}
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	return nil
}

func (s *Server) uploadPartCopy(r *request) error {
	n, err := partNumber(r)
	if err != nil {
		return err
	}
	id := r.query("uploadId")
	u, err := s.store.Upload(r.bucket, r.key, id)
	if err != nil {
		return err
	}
	src, err := s.openCopySource(r)
	if err != nil {
		return err
	}
	defer src.Close()
	info := src.Info()
	off, size := int64(0), info.Size
	if v := r.header("x-amz-copy-source-range"); v != "" {
		o, k, ok, err := parseRange(v, info.Size)
		if err != nil || !ok || strings.HasPrefix(strings.TrimPrefix(v, "bytes="), "-") {
			return withMessage(errInvalidRange, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
		off, size = o, k
	}
	if size > engine.MaxPartSize {
		return errEntityTooLarge
	}
	body := pipeRange(src, off, size)
	defer body.Close()
	hr := newHashingReader(body, uploadAlgorithm(u))
	part, err := s.store.PutPart(r.bucket, r.key, id, n, size, hr, engine.PartOptions{BodyChecksums: hr.pairs})
	if err != nil {
		return err
	}
	res := copyPartResult{Xmlns: s3NS, LastModified: isoTime(part.ModTime), ETag: `"` + part.ETag + `"`}
	res.set(part.Checksums)
	writeXML(r.ctx, fasthttp.StatusOK, res)
	return nil
}

func (s *Server) abortUpload(r *request) error {
	if err := s.store.AbortMultipartUpload(r.bucket, r.key, r.query("uploadId")); err != nil {
		return err
	}
	r.ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *Server) listParts(r *request) error {
	maxParts, err := maxKeysParam(r, "max-parts")
	if err != nil {
		return err
	}
	marker := 0
	if v := r.query("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return withMessage(errInvalidArgument, "Invalid part-number-marker.")
		}
	}
	id := r.query("uploadId")
	out := listPartsResult{Xmlns: s3NS, Bucket: r.bucket, Key: r.key, UploadID: id, Initiator: s.owner(), Owner: s.owner(),
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: maxParts}
	if maxParts == 0 {
		u, err := s.store.Upload(r.bucket, r.key, id)
		if err != nil {
			return err
		}
		out.ChecksumAlgorithm = string(uploadAlgorithm(u))
		out.ChecksumType = uploadChecksumType(u, uploadAlgorithm(u))
		writeXML(r.ctx, fasthttp.StatusOK, out)
		return nil
	}
	res, err := s.store.ListParts(r.bucket, r.key, id, marker, maxParts)
	if err != nil {
		return err
	}
	out.IsTruncated, out.NextPartNumberMarker = res.IsTruncated, res.NextPartNumberMarker
	out.ChecksumAlgorithm = string(uploadAlgorithm(res.Upload))
	out.ChecksumType = uploadChecksumType(res.Upload, uploadAlgorithm(res.Upload))
	for _, p := range res.Parts {
		x := partXML{PartNumber: p.Number, LastModified: isoTime(p.ModTime), ETag: `"` + p.ETag + `"`, Size: p.Size}
		x.set(p.Checksums)
		out.Parts = append(out.Parts, x)
	}
	writeXML(r.ctx, fasthttp.StatusOK, out)
	return nil
}

type completeResult struct {
	info engine.ObjectInfo
	err  error
}

func (s *Server) completeUpload(r *request) error {
	// x-amz-checksum-* headers here carry the whole object's checksum, not
	// the XML body's; they are checked against the parts below.
	body, err := s.readSmallBodyOpts(r, 4<<20, sigv4.BodyOptions{IgnoreChecksumHeaders: true})
	if err != nil {
		return err
	}
	var req completeMultipartUpload
	if err := unmarshalXML(body, &req); err != nil || len(req.Parts) == 0 {
		return errMalformedXML
	}
	if len(req.Parts) > engine.MaxParts {
		return withMessage(errInvalidArgument, "Part count must be at most 10000.")
	}
	id := r.query("uploadId")
	u, err := s.store.Upload(r.bucket, r.key, id)
	if err != nil {
		return err
	}
	parts := make([]engine.CompletePart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = engine.CompletePart{Number: p.PartNumber, ETag: trimETag(p.ETag)}
	}
	cond, condErr, err := s.putCondition(r)
	if err != nil {
		return err
	}
	alg := uploadAlgorithm(u)
	typ := uploadChecksumType(u, alg)
	sums, err := s.multipartChecksum(r, id, alg, typ, req.Parts)
	if err != nil {
		return err
	}
	if err := checkObjectChecksum(r, alg, typ, sums); err != nil {
		return err
	}
	if alg != "" {
		sums = append(sums, engine.Pair{Key: algorithmKey, Value: string(alg)})
	}
	done := make(chan completeResult, 1)
	bucket, key := r.bucket, r.key // r is recycled when the handler returns
	go func() {
		time.Sleep(s.cfg.testCompleteDelay)
		info, err := s.store.CompleteMultipartUpload(bucket, key, id, parts, engine.CompleteOptions{Checksums: sums, Condition: cond})
		if err != nil {
			err = condErr(err)
		}
		done <- completeResult{info, err}
	}()
	timer := time.NewTimer(s.cfg.CompleteKeepAlive)
	defer timer.Stop()
	select {
	case res := <-done:
		if res.err != nil {
			return res.err
		}
		writeXML(r.ctx, fasthttp.StatusOK, s.completeBody(r, res.info))
		return nil
	case <-timer.C:
	}
	// Slow: answer 200 now and keep the connection busy with whitespace, as
	// S3 does; the outcome (result or error) follows in the body.
	// The body is written after the handler returns, when r is recycled:
	// it uses a copy without the pointers into r.
	reqCopy := *r
	reqCopy.auth, reqCopy.sreq = nil, sigv4.Request{Path: r.sreq.Path}
	s.keptAlive.Add(1)
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	r.ctx.SetContentType("application/xml")
	r.ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		w.WriteString(xml.Header)
		w.Flush()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case res := <-done:
				var v any
				if res.err != nil {
					ae := toAPIError(res.err)
					v = errorResponse{Code: ae.Code, Message: ae.Message, Key: reqCopy.key, BucketName: reqCopy.bucket, Resource: reqCopy.sreq.Path, RequestID: reqCopy.id(), HostID: reqCopy.id()}
				} else {
					v = s.completeBody(&reqCopy, res.info)
				}
				xml.NewEncoder(w).Encode(v)
				w.Flush()
				return
			case <-tick.C:
				w.WriteByte(' ')
				if w.Flush() != nil {
					return
				}
			}
		}
	})
	return nil
}

func (s *Server) completeBody(r *request, info engine.ObjectInfo) completeMultipartUploadResult {
	res := completeMultipartUploadResult{Xmlns: s3NS, Location: "/" + r.bucket + "/" + r.key, Bucket: r.bucket, Key: r.key, ETag: `"` + info.ETag + `"`}
	res.ChecksumType = res.set(info.Checksums)
	return res
}
