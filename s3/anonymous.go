package s3

// Anonymous requests: a request without credentials is decided by its
// bucket's policy (policy.go), within limits no policy lifts. Only the
// owner's credentials manage a bucket: its existence, its policy, its CORS
// configuration, its ACLs and the list of all buckets, whatever a policy
// says (AWS lets only the owner's account touch a bucket policy; MinIO
// guards the ACL reads as the policy). A refusal is 403 AccessDenied and
// never depends on whether the bucket exists.

// ownerOnly are the actions a policy never grants to anonymous users.
var ownerOnly = map[string]bool{
	"s3:ListAllMyBuckets": true,
	"s3:CreateBucket":     true, "s3:DeleteBucket": true,
	"s3:GetBucketPolicy": true, "s3:PutBucketPolicy": true, "s3:DeleteBucketPolicy": true,
	"s3:GetBucketCORS": true, "s3:PutBucketCORS": true, // PutBucketCORS also deletes
	"s3:GetBucketAcl": true, "s3:GetObjectAcl": true,
}

// alsoRequired maps an action to another one an anonymous request needs
// granted too: GetObjectAttributes returns what GetObject would (ETag,
// size, checksums), so AWS requires s3:GetObject for it as well.
var alsoRequired = map[string]string{"s3:GetObjectAttributes": "s3:GetObject"}

// errAnonymousOverrides refuses response-* parameters without credentials,
// as AWS does: they would let anyone serve a public object as, say, HTML.
var errAnonymousOverrides = withMessage(errInvalidRequest, "Request specific response headers cannot be used for anonymous GET requests.")

// authorizeAnonymous decides an unsigned request by its bucket's policy.
func (s *Server) authorizeAnonymous(r *request, rt *route) error {
	if rt.level == levelService || ownerOnly[rt.action] {
		return errAccessDenied
	}
	policy := s.policyFor(r.bucket)
	if rt.action == actionPerKey {
		// DeleteObjects: refused whole unless the policy may let anonymous
		// users delete something; the handler decides each key.
		if !policy.mayAllowObjects(r.bucket, "s3:DeleteObject") {
			return errAccessDenied
		}
		return nil
	}
	res := arnPrefix + r.bucket
	if rt.level == levelObject {
		res = objectARN(r.bucket, r.key)
	}
	if !policy.allows(rt.action, res) {
		return errAccessDenied
	}
	if also := alsoRequired[rt.action]; also != "" && !policy.allows(also, res) {
		return errAccessDenied
	}
	if rt.action == "s3:GetObject" { // GetObject, HeadObject
		for _, o := range responseOverrides {
			if r.hasQuery(o.param) {
				return errAnonymousOverrides
			}
		}
	}
	return nil
}

// anonymousAllowed reports whether bucket's policy grants action on key
// to anyone.
func (s *Server) anonymousAllowed(bucket, action, key string) bool {
	return s.policyFor(bucket).allows(action, objectARN(bucket, key))
}

// policyFor returns bucket's parsed policy (shared: never modified); nil
// when it has none.
func (s *Server) policyFor(bucket string) *bucketPolicy {
	p, _ := s.policies.get(s.store, bucket)
	return p
}

func objectARN(bucket, key string) string { return arnPrefix + bucket + "/" + key }
