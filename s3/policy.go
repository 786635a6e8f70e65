package s3

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Bucket policies. The root credentials own every bucket, so a policy only
// decides anonymous requests: it can make a bucket (or part of it) public,
// but never lets anyone else manage it (anonymous.go). Statements are
// evaluated as IAM does for one principal: an explicit Deny wins, then any
// Allow, else the request is denied.
// Conditions and NotPrincipal are refused as NotImplemented rather than
// ignored, so a policy never grants more than it says.

const (
	configPolicy  = "policy"
	maxPolicySize = 20 << 10 // S3's bucket policy limit
	arnPrefix     = "arn:aws:s3:::"
)

var (
	errMalformedPolicy    = &apiError{"MalformedPolicy", "Policies must be valid JSON.", 400}
	errPolicyTooLarge     = &apiError{"PolicyTooLarge", "Policy exceeds the maximum allowed document size.", 400}
	errNoSuchBucketPolicy = &apiError{"NoSuchBucketPolicy", "The bucket policy does not exist.", 404}
)

// s3Actions are the actions a policy may name (patterns must match one).
var s3Actions = []string{
	"s3:AbortMultipartUpload", "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy",
	"s3:DeleteObject", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketLocation",
	"s3:GetBucketPolicy", "s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectAttributes",
	"s3:ListAllMyBuckets", "s3:ListBucket", "s3:ListBucketMultipartUploads",
	"s3:ListMultipartUploadParts", "s3:PutBucketCORS", "s3:PutBucketPolicy", "s3:PutObject",
}

// stringList is a JSON string or array of strings, as IAM allows.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

type policyDoc struct {
	Version   string          `json:"Version"`
	ID        string          `json:"Id"`
	Statement json.RawMessage `json:"Statement"`
}

type policyStatementDoc struct {
	Sid          string          `json:"Sid"`
	Effect       string          `json:"Effect"`
	Principal    json.RawMessage `json:"Principal"`
	NotPrincipal json.RawMessage `json:"NotPrincipal"`
	Action       stringList      `json:"Action"`
	NotAction    stringList      `json:"NotAction"`
	Resource     stringList      `json:"Resource"`
	NotResource  stringList      `json:"NotResource"`
	Condition    json.RawMessage `json:"Condition"`
}

// bucketPolicy is a validated policy reduced to what decides anonymous
// requests.
type bucketPolicy struct {
	statements []policyStatement
}

type policyStatement struct {
	allow     bool
	anonymous bool     // the principal includes everyone ("*")
	actions   []string // lowercased
	notAction bool     // actions lists what the statement does not apply to
	resources []string
	notRes    bool
}

func malformedPolicy(msg string) error { return withMessage(errMalformedPolicy, msg) }

// parsePolicy validates a policy document for bucket.
func parsePolicy(doc []byte, bucket string) (*bucketPolicy, error) {
	if len(doc) > maxPolicySize {
		return nil, errPolicyTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var pd policyDoc
	if err := dec.Decode(&pd); err != nil {
		return nil, malformedPolicy("Policies must be valid JSON and the first byte must be '{'.")
	}
	if dec.More() {
		return nil, malformedPolicy("Policies must be a single JSON object.")
	}
	if pd.Version != "2012-10-17" && pd.Version != "2008-10-17" {
		return nil, malformedPolicy("The policy must contain a valid version string.")
	}
	var sts []policyStatementDoc
	if err := strictJSON(pd.Statement, &sts); err != nil {
		var one policyStatementDoc
		if err := strictJSON(pd.Statement, &one); err != nil {
			return nil, malformedPolicy("The policy statement is not valid.")
		}
		sts = []policyStatementDoc{one}
	}
	if len(sts) == 0 {
		return nil, malformedPolicy("Could not parse the policy: Statement is empty.")
	}
	p := &bucketPolicy{}
	for _, sd := range sts {
		st, err := parseStatement(sd, bucket)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func strictJSON(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func parseStatement(sd policyStatementDoc, bucket string) (policyStatement, error) {
	var st policyStatement
	switch sd.Effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		return st, malformedPolicy("Invalid effect: " + sd.Effect)
	}
	if len(sd.Condition) > 0 || len(sd.NotPrincipal) > 0 {
		return st, withMessage(errNotImplemented, "Policy conditions and NotPrincipal are not implemented.")
	}
	anon, err := parsePrincipal(sd.Principal)
	if err != nil {
		return st, err
	}
	st.anonymous = anon
	if st.actions, st.notAction, err = oneOf(sd.Action, sd.NotAction, "Action", validAction); err != nil {
		return st, err
	}
	for i, a := range st.actions { // IAM actions are case-insensitive
		st.actions[i] = strings.ToLower(a)
	}
	valid := func(r string) bool { return validResource(r, bucket) }
	if st.resources, st.notRes, err = oneOf(sd.Resource, sd.NotResource, "Resource", valid); err != nil {
		return st, err
	}
	return st, nil
}

// oneOf takes the element a statement sets of field and Notfield (exactly
// one), checking every value; not reports which it was.
func oneOf(list, notList stringList, field string, valid func(string) bool) (values []string, not bool, err error) {
	switch {
	case len(list) > 0 && len(notList) == 0:
		values = list
	case len(notList) > 0 && len(list) == 0:
		values, not = notList, true
	default:
		return nil, false, malformedPolicy("Each statement needs exactly one of " + field + " and Not" + field + ".")
	}
	for _, v := range values {
		if !valid(v) {
			return nil, false, malformedPolicy("Policy has invalid " + strings.ToLower(field) + ": " + v)
		}
	}
	return values, not, nil
}

// parsePrincipal reports whether a principal includes anonymous users.
// Other principals (accounts, users) are accepted and never match: the only
// identity here besides anonymous is the root, which policies do not bind.
func parsePrincipal(raw json.RawMessage) (bool, error) {
	if len(raw) == 0 {
		return false, malformedPolicy("Each statement of a bucket policy needs a Principal.")
	}
	var star string
	if err := json.Unmarshal(raw, &star); err == nil {
		if star != "*" {
			return false, malformedPolicy("Invalid principal: " + star)
		}
		return true, nil
	}
	var m map[string]stringList
	if err := json.Unmarshal(raw, &m); err != nil || len(m) == 0 {
		return false, malformedPolicy("Invalid principal in policy.")
	}
	for kind, ids := range m {
		switch kind {
		case "AWS", "CanonicalUser", "Service", "Federated":
		default:
			return false, malformedPolicy("Invalid principal type: " + kind)
		}
		if kind == "AWS" && len(ids) == 0 {
			return false, malformedPolicy("Invalid principal in policy.")
		}
		for _, id := range ids {
			if kind == "AWS" && id == "*" {
				return true, nil
			}
		}
	}
	return false, nil
}

func validAction(a string) bool {
	if a == "*" {
		return true
	}
	if !strings.HasPrefix(strings.ToLower(a), "s3:") {
		return false
	}
	for _, known := range s3Actions {
		if wildcardMatch(strings.ToLower(known), strings.ToLower(a)) {
			return true
		}
	}
	return false
}

// validResource accepts "*" and ARNs of bucket itself or of objects in it.
func validResource(r, bucket string) bool {
	if r == "*" {
		return true
	}
	rest, ok := strings.CutPrefix(r, arnPrefix)
	if !ok || rest == "" {
		return false
	}
	lit := rest
	if i := strings.IndexAny(rest, "*?"); i >= 0 {
		lit = rest[:i]
	}
	if lit == rest { // no wildcard: the bucket or an object key in it
		return rest == bucket || strings.HasPrefix(rest, bucket+"/")
	}
	return strings.HasPrefix(bucket+"/", lit) || strings.HasPrefix(lit, bucket+"/")
}

// allows reports whether the policy lets an anonymous request perform
// action on resource (an ARN). A nil policy allows nothing.
func (p *bucketPolicy) allows(action, resource string) bool {
	if p == nil {
		return false
	}
	action = strings.ToLower(action)
	allowed := false
	for i := range p.statements {
		st := &p.statements[i]
		if !st.anonymous || !st.matches(action, resource) {
			continue
		}
		if !st.allow {
			return false
		}
		allowed = true
	}
	return allowed
}

// mayAllowObjects reports whether some statement could let anonymous
// users perform action on some object of bucket. It errs towards yes (any
// resource but the bucket itself counts, Deny statements are ignored): it
// only spares the work of a request the policy can grant nothing, and each
// object is still decided by allows.
func (p *bucketPolicy) mayAllowObjects(bucket, action string) bool {
	if p == nil {
		return false
	}
	action = strings.ToLower(action)
	for i := range p.statements {
		st := &p.statements[i]
		if !st.allow || !st.anonymous || anyMatch(action, st.actions) == st.notAction {
			continue
		}
		if st.notRes {
			return true
		}
		for _, r := range st.resources {
			if r != arnPrefix+bucket {
				return true
			}
		}
	}
	return false
}

// matches reports whether the statement applies to action (lowercased)
// on resource.
func (st *policyStatement) matches(action, resource string) bool {
	return anyMatch(action, st.actions) != st.notAction &&
		anyMatch(resource, st.resources) != st.notRes
}

func anyMatch(s string, patterns []string) bool {
	for _, p := range patterns {
		if wildcardMatch(s, p) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against a pattern where * is any run of
// characters and ? any one character (UTF-8).
func wildcardMatch(s, pattern string) bool {
	// Iterative match that backtracks only to the last star: O(len(s) ×
	// len(pattern)) at worst, never exponential.
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '?':
			_, n := utf8.DecodeRuneInString(s[si:])
			si += n
			pi++
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pattern) && pattern[pi] == s[si]:
			si++
			pi++
		case star >= 0:
			_, n := utf8.DecodeRuneInString(s[mark:])
			mark += n
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

func (s *Server) getBucketPolicy(r *request) error {
	return s.getBucketConfig(r, configPolicy, errNoSuchBucketPolicy, "application/json")
}

func (s *Server) putBucketPolicy(r *request) error {
	doc, err := s.readSmallBody(r, maxPolicySize)
	if errors.Is(err, errMaxMessageLength) {
		return errPolicyTooLarge
	}
	if err != nil {
		return err
	}
	if err := s.bucketMustExist(r.bucket); err != nil {
		return err
	}
	if _, err := parsePolicy(doc, r.bucket); err != nil {
		return err
	}
	if err := s.store.PutBucketConfig(r.bucket, configPolicy, doc); err != nil {
		return err
	}
	s.forgetDoc(r.bucket, configPolicy)
	r.ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *Server) deleteBucketPolicy(r *request) error {
	return s.deleteBucketConfig(r, configPolicy)
}
