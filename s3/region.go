package s3

// checkScopeRegion refuses a request whose credential scope names
// us-east-1 when the server's region differs, unless it asks
// GetBucketLocation: clients ask a bucket's location in us-east-1 before
// they know its region, as on AWS, which answers other operations signed
// for the wrong region with AuthorizationHeaderMalformed. The verifier
// accepts only the server's region, the empty region (MinIO's admin
// client) and us-east-1; r.op must be known.
func (s *Server) checkScopeRegion(r *request) error {
	if r.auth == nil || r.auth.Region != "us-east-1" || s.cfg.Region == "us-east-1" || r.op == "GetBucketLocation" {
		return nil
	}
	return r.auth.WrongRegion(s.cfg.Region)
}
