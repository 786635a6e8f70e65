package s3

// checkScopeRegion decides, once the operation r.op is known, whether the
// credential scope's region may sign it: the server's region; the empty
// region (MinIO's admin client signs "AK/date//s3/aws4_request");
// us-east-1 for GetBucketLocation and ListBuckets, which clients send in
// us-east-1 before they know the region (minio-go does when no region is
// configured; MinIO skips its region check for exactly these two:
// cmd/auth-handler.go, checkRequestAuthTypeCredential); and, on a server
// in us-east-1, which acts as AWS's global endpoint, any region for
// CreateBucket, which clients sign for the bucket's location constraint
// (minio-go's MakeBucket with a region). Other requests get AWS's
// AuthorizationHeaderMalformed (AuthorizationQueryParametersError when
// presigned), with the server's region in x-amz-bucket-region as AWS sends
// it: minio-go then retries in that region (a bucket it made with another
// region is cached with that region).
func (s *Server) checkScopeRegion(r *request) error {
	if r.auth == nil {
		return nil
	}
	switch region := r.auth.Region; {
	case region == s.cfg.Region || region == "":
		return nil
	case region == "us-east-1" && (r.op == "GetBucketLocation" || r.op == "ListBuckets"):
		return nil
	case r.op == "CreateBucket" && s.cfg.Region == "us-east-1":
		return nil
	}
	r.ctx.Response.Header.Set("x-amz-bucket-region", s.cfg.Region)
	return r.auth.WrongRegion(s.cfg.Region)
}
