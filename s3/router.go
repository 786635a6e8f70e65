package s3

import "github.com/valyala/fasthttp"

// Resource levels a route applies to.
const (
	levelService = iota // "/"
	levelBucket         // "/bucket"
	levelObject         // "/bucket/key"
)

type handler func(s *Server, r *request) error

// route maps a method, a resource level and the query parameters (or a
// header) that must be present to a handler. The first match wins.
type route struct {
	method string
	level  int
	query  []string
	header string
	name   string
	action string // the IAM action a bucket policy grants or denies
	h      handler
}

var routes = []route{
	{"GET", levelService, nil, "", "ListBuckets", "s3:ListAllMyBuckets", (*Server).listBuckets},

	{"GET", levelBucket, []string{"location"}, "", "GetBucketLocation", "s3:GetBucketLocation", (*Server).getBucketLocation},
	{"GET", levelBucket, []string{"acl"}, "", "GetBucketAcl", "s3:GetBucketAcl", (*Server).getACL},
	{"GET", levelBucket, []string{"policy"}, "", "GetBucketPolicy", "s3:GetBucketPolicy", (*Server).getBucketPolicy},
	{"PUT", levelBucket, []string{"policy"}, "", "PutBucketPolicy", "s3:PutBucketPolicy", (*Server).putBucketPolicy},
	{"DELETE", levelBucket, []string{"policy"}, "", "DeleteBucketPolicy", "s3:DeleteBucketPolicy", (*Server).deleteBucketPolicy},
	{"GET", levelBucket, []string{"cors"}, "", "GetBucketCors", "s3:GetBucketCORS", (*Server).getBucketCors},
	{"PUT", levelBucket, []string{"cors"}, "", "PutBucketCors", "s3:PutBucketCORS", (*Server).putBucketCors},
	{"DELETE", levelBucket, []string{"cors"}, "", "DeleteBucketCors", "s3:PutBucketCORS", (*Server).deleteBucketCors},
	{"GET", levelBucket, []string{"uploads"}, "", "ListMultipartUploads", "s3:ListBucketMultipartUploads", (*Server).listUploads},
	{"GET", levelBucket, []string{"list-type"}, "", "ListObjectsV2", "s3:ListBucket", (*Server).listObjectsV2},
	{"GET", levelBucket, nil, "", "ListObjectsV1", "s3:ListBucket", (*Server).listObjectsV1},
	{"HEAD", levelBucket, nil, "", "HeadBucket", "s3:ListBucket", (*Server).headBucket},
	{"PUT", levelBucket, nil, "", "CreateBucket", "s3:CreateBucket", (*Server).createBucket},
	{"DELETE", levelBucket, nil, "", "DeleteBucket", "s3:DeleteBucket", (*Server).deleteBucket},
	{"POST", levelBucket, []string{"delete"}, "", "DeleteObjects", actionPerKey, (*Server).deleteObjects},

	{"GET", levelObject, []string{"uploadId"}, "", "ListParts", "s3:ListMultipartUploadParts", (*Server).listParts},
	{"GET", levelObject, []string{"acl"}, "", "GetObjectAcl", "s3:GetObjectAcl", (*Server).getACL},
	{"GET", levelObject, []string{"attributes"}, "", "GetObjectAttributes", "s3:GetObjectAttributes", (*Server).getObjectAttributes},
	{"GET", levelObject, nil, "", "GetObject", "s3:GetObject", (*Server).getObject},
	{"HEAD", levelObject, nil, "", "HeadObject", "s3:GetObject", (*Server).headObject},
	{"PUT", levelObject, []string{"partNumber", "uploadId"}, "x-amz-copy-source", "UploadPartCopy", "s3:PutObject", (*Server).uploadPartCopy},
	{"PUT", levelObject, []string{"partNumber", "uploadId"}, "", "UploadPart", "s3:PutObject", (*Server).uploadPart},
	{"PUT", levelObject, nil, "x-amz-copy-source", "CopyObject", "s3:PutObject", (*Server).copyObject},
	{"PUT", levelObject, nil, "", "PutObject", "s3:PutObject", (*Server).putObject},
	{"DELETE", levelObject, []string{"uploadId"}, "", "AbortMultipartUpload", "s3:AbortMultipartUpload", (*Server).abortUpload},
	{"DELETE", levelObject, nil, "", "DeleteObject", "s3:DeleteObject", (*Server).deleteObject},
	{"POST", levelObject, []string{"uploads"}, "", "CreateMultipartUpload", "s3:PutObject", (*Server).createUpload},
	{"POST", levelObject, []string{"uploadId"}, "", "CompleteMultipartUpload", "s3:PutObject", (*Server).completeUpload},
}

// actionPerKey marks a route whose handler authorizes each key it touches
// (DeleteObjects: s3:DeleteObject per key).
const actionPerKey = "per-key"

// getOnly are sub-resources implemented for GET only (GetObjectAcl,
// GetBucketAcl, GetObjectAttributes); other methods get NotImplemented.
var getOnly = map[string]bool{"acl": true, "attributes": true}

// unsupported are S3 sub-resources this server does not implement: a
// request naming one gets NotImplemented, never a wrong success.
var unsupported = map[string]bool{
	"accelerate": true, "analytics": true,
	"encryption": true, "intelligent-tiering": true, "inventory": true, "legal-hold": true,
	"lifecycle": true, "logging": true, "metadata-table": true, "metrics": true,
	"notification": true, "object-lock": true, "ownershipControls": true,
	"policyStatus": true, "publicAccessBlock": true, "replication": true, "requestPayment": true,
	"restore": true, "retention": true, "select": true, "session": true, "tagging": true,
	"torrent": true, "versioning": true, "versions": true, "website": true, "renameObject": true,
}

// unsupportedHeaders are request headers that ask for features this server
// does not implement.
var unsupportedHeaders = []string{
	"x-amz-server-side-encryption", "x-amz-server-side-encryption-customer-algorithm",
	"x-amz-server-side-encryption-aws-kms-key-id", "x-amz-object-lock-mode",
	"x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold",
	"x-amz-tagging", "x-amz-website-redirect-location", "x-amz-bucket-object-lock-enabled",
	"x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp", "x-amz-grant-write", "x-amz-grant-write-acp",
}

// storageClasses are S3's storage classes. Objects are stored alike
// whatever the class; an unknown class is an error, as on S3.
var storageClasses = map[string]bool{
	"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true, "ONEZONE_IA": true,
	"INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "OUTPOSTS": true,
	"GLACIER_IR": true, "SNOW": true, "EXPRESS_ONEZONE": true,
}

func (s *Server) match(r *request) (*route, error) {
	level := levelService
	switch {
	case r.key != "":
		level = levelObject
	case r.bucket != "":
		level = levelBucket
	}
	args := r.ctx.QueryArgs()
	var bad error
	args.VisitAll(func(k, v []byte) {
		if unsupported[string(k)] || getOnly[string(k)] && !r.ctx.IsGet() {
			bad = errNotImplemented
		}
		if string(k) == "versionId" && string(v) != "null" && string(v) != "" {
			bad = withMessage(errNotImplemented, "Versioning is not implemented.")
		}
	})
	if bad != nil {
		return nil, bad
	}
	for _, h := range unsupportedHeaders {
		if v := r.ctx.Request.Header.Peek(h); len(v) > 0 {
			if h == "x-amz-bucket-object-lock-enabled" && string(v) != "true" {
				continue
			}
			return nil, withMessage(errNotImplemented, "The "+h+" header is not implemented.")
		}
	}
	if v := r.ctx.Request.Header.Peek("x-amz-storage-class"); len(v) > 0 && !storageClasses[string(v)] {
		return nil, errInvalidStorageClass
	}
	method := string(r.ctx.Method())
	for i := range routes {
		rt := &routes[i]
		if rt.method != method || rt.level != level {
			continue
		}
		ok := true
		for _, q := range rt.query {
			if !args.Has(q) {
				ok = false
				break
			}
		}
		if ok && rt.header != "" && len(r.ctx.Request.Header.Peek(rt.header)) == 0 {
			ok = false
		}
		if ok {
			return rt, nil
		}
	}
	switch method {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPut, fasthttp.MethodPost, fasthttp.MethodDelete:
		return nil, errMethodNotAllowed
	}
	return nil, errNotImplemented
}
