package s3

import (
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

func (s *Server) owner() owner {
	return owner{ID: "02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4", DisplayName: "minio"}
}

func (s *Server) listBuckets(r *request) error {
	bs, err := s.store.ListBuckets()
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Xmlns: s3NS, Owner: s.owner(), Buckets: []bucketXML{}}
	for _, b := range bs {
		res.Buckets = append(res.Buckets, bucketXML{Name: b.Name, CreationDate: isoTime(b.Created)})
	}
	writeXML(r.ctx, fasthttp.StatusOK, res)
	return nil
}

func (s *Server) getBucketLocation(r *request) error {
	if ok, err := s.store.BucketExists(r.bucket); err != nil {
		return err
	} else if !ok {
		return errNoSuchBucket
	}
	region := s.cfg.Region
	if region == "us-east-1" {
		region = ""
	}
	writeXML(r.ctx, fasthttp.StatusOK, locationConstraint{Xmlns: s3NS, Region: region})
	return nil
}

func (s *Server) headBucket(r *request) error {
	ok, err := s.store.BucketExists(r.bucket)
	if err != nil {
		return err
	}
	if !ok {
		return errNoSuchBucket
	}
	r.ctx.Response.Header.Set("x-amz-bucket-region", s.cfg.Region)
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	return nil
}

func (s *Server) createBucket(r *request) error {
	if reservedBuckets[r.bucket] {
		return errReservedBucket(r.bucket)
	}
	body, err := s.readSmallBody(r, maxXMLBody)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		var cfg createBucketConfiguration
		if err := unmarshalXML(body, &cfg); err != nil {
			return errMalformedXML
		}
		// With the default region this server acts like AWS's us-east-1
		// (global) endpoint and MinIO without a configured region: it
		// accepts any location constraint, as signatures for any region
		// are accepted too. A server given another region rejects others.
		if lc := cfg.LocationConstraint; lc != "" && lc != s.cfg.Region && s.cfg.Region != "us-east-1" {
			return withMessage(&apiError{"InvalidLocationConstraint", "", 400},
				"The specified location-constraint is not valid for this server's region "+s.cfg.Region+".")
		}
	}
	if err := s.store.CreateBucket(r.bucket); err != nil {
		return err
	}
	r.ctx.Response.Header.Set("Location", "/"+r.bucket)
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	return nil
}

func (s *Server) deleteBucket(r *request) error {
	if err := s.store.DeleteBucket(r.bucket); err != nil {
		return err
	}
	s.forgetDoc(r.bucket, configPolicy)
	s.forgetDoc(r.bucket, configCORS)
	r.ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// readSmallBody reads a request body of at most limit bytes, verifying its
// payload hash, Content-MD5 and checksums.
func (s *Server) readSmallBody(r *request, limit int64) ([]byte, error) {
	return s.readSmallBodyOpts(r, limit, sigv4.BodyOptions{})
}

func (s *Server) readSmallBodyOpts(r *request, limit int64, opt sigv4.BodyOptions) ([]byte, error) {
	n, err := s.bodySize(r)
	if err != nil {
		if n == 0 && errors.Is(err, errMissingContentLength) {
			return nil, nil
		}
		return nil, err
	}
	if n > limit {
		return nil, errMaxMessageLength
	}
	b, err := sigv4.NewBody(&r.sreq, r.auth, r.ctx.RequestBodyStream(), opt)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(b, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errMaxMessageLength
	}
	if int64(len(data)) != n {
		return nil, errIncompleteBody
	}
	return data, nil
}

func (s *Server) deleteObjects(r *request) error {
	body, err := s.readSmallBody(r, maxXMLBody)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := unmarshalXML(body, &req); err != nil || len(req.Objects) == 0 {
		return errMalformedXML
	}
	if len(req.Objects) > maxDeleteKeys {
		return withMessage(errMalformedXML, "The request must contain no more than 1000 keys.")
	}
	if ok, err := s.store.BucketExists(r.bucket); err != nil {
		return err
	} else if !ok {
		return errNoSuchBucket
	}
	var policy *bucketPolicy // decides each key of an anonymous request
	if r.anonymous {
		policy = s.policyFor(r.bucket)
	}
	res := deleteResult{Xmlns: s3NS}
	for _, o := range req.Objects {
		var err error
		switch {
		case o.VersionID != "" && o.VersionID != "null":
			err = withMessage(errNotImplemented, "Versioning is not implemented.")
		case r.anonymous && !policy.allows("s3:DeleteObject", objectARN(r.bucket, o.Key)):
			err = errAccessDenied
		default:
			err = s.store.Delete(r.bucket, o.Key)
		}
		if err != nil {
			ae := toAPIError(err)
			res.Errors = append(res.Errors, deleteErrorXML{Key: o.Key, Code: ae.Code, Message: ae.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedXML{Key: o.Key})
		}
	}
	writeXML(r.ctx, fasthttp.StatusOK, res)
	return nil
}

// bucketMustExist maps a missing bucket to NoSuchBucket for handlers whose
// engine call would not say so itself.
func (s *Server) bucketMustExist(bucket string) error {
	ok, err := s.store.BucketExists(bucket)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidBucketName) {
			return errNoSuchBucket
		}
		return err
	}
	if !ok {
		return errNoSuchBucket
	}
	return nil
}

// getBucketConfig answers a GET of a bucket configuration document (policy,
// CORS) with the stored document, or missing when there is none.
func (s *Server) getBucketConfig(r *request, name string, missing *apiError, contentType string) error {
	doc, err := s.store.BucketConfig(r.bucket, name)
	if errors.Is(err, engine.ErrNoSuchConfig) {
		return missing
	}
	if err != nil {
		return err
	}
	r.ctx.SetContentType(contentType)
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	r.ctx.SetBody(doc)
	return nil
}

// deleteBucketConfig removes a bucket configuration document: 204 whether
// or not there was one, as S3 answers.
func (s *Server) deleteBucketConfig(r *request, name string) error {
	if err := s.store.DeleteBucketConfig(r.bucket, name); err != nil {
		return err
	}
	s.forgetDoc(r.bucket, name)
	r.ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}
