package test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Anonymous access against a real lsmd (issue 12, items 3 to 5): a bucket
// policy never lets an unsigned request manage a bucket, read or change its
// policy or CORS, and anonymous object reads get exactly what AWS gives
// them.

// anon sends an unsigned request.
func (c *rawClient) anon(t testing.TB, method, path, query string, body []byte, hdr http.Header) response {
	t.Helper()
	req := c.request(t, method, path, query, body)
	for k, v := range hdr {
		req.Header[k] = v
	}
	return c.do(t, req)
}

// mustSend sends a signed request and fails the test unless it answers want.
func (c *rawClient) mustSend(t testing.TB, want int, method, path, query string, body []byte, hdr http.Header) response {
	t.Helper()
	r := c.send(t, method, path, query, body, hdr)
	if r.Status != want {
		t.Fatalf("signed %s %s?%s: %d, want %d; body %s", method, path, query, r.Status, want, r.Body)
	}
	return r
}

// wantPolicy checks, signed, that bucket's policy is still want.
func (c *rawClient) wantPolicy(t testing.TB, what, bucket, want string) {
	t.Helper()
	r := c.send(t, "GET", "/"+bucket, "policy", nil, nil)
	if r.Status != 200 || string(r.Body) != want {
		t.Fatalf("%s: the policy changed: %d %s", what, r.Status, r.Body)
	}
}

func policyDoc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

func allow(actions, resources string) string {
	return `{"Effect":"Allow","Principal":"*","Action":` + actions + `,"Resource":` + resources + `}`
}

// TestHardeningAuthzOwnerOnly (item 3): with a policy granting s3:* to
// everyone, unsigned requests still cannot read or change the bucket's
// policy or CORS, delete or create the bucket, read ACLs or list buckets;
// nothing changes, and what the policy grants on objects still works.
func TestHardeningAuthzOwnerOnly(t *testing.T) {
	s := startServer(t)
	c := newRaw(t, s)
	const bucket, spare = "open", "open-empty"
	policy := func(b string) string {
		return policyDoc(allow(`"s3:*"`, `["arn:aws:s3:::`+b+`","arn:aws:s3:::`+b+`/*"]`))
	}
	cors := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>http://app.example</AllowedOrigin></CORSRule></CORSConfiguration>`
	for _, b := range []string{bucket, spare} {
		c.mustSend(t, 200, "PUT", "/"+b, "", nil, nil)
		c.mustSend(t, 204, "PUT", "/"+b, "policy", []byte(policy(b)), nil)
		c.mustSend(t, 200, "PUT", "/"+b, "cors", []byte(cors), nil)
	}
	data := []byte("object data")
	c.mustSend(t, 200, "PUT", "/"+bucket+"/o", "", data, nil)

	hostile := policyDoc(allow(`"s3:*"`, `"arn:aws:s3:::`+bucket+`/*"`), `{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+bucket+`/*"}`)
	hostileCORS := strings.ReplaceAll(cors, "http://app.example", "*")
	for _, tc := range []struct {
		method, path, query, body string
	}{
		{"PUT", "/" + bucket, "policy", hostile},
		{"GET", "/" + bucket, "policy", ""},
		{"DELETE", "/" + bucket, "policy", ""},
		{"PUT", "/" + bucket, "cors", hostileCORS},
		{"GET", "/" + bucket, "cors", ""},
		{"DELETE", "/" + bucket, "cors", ""},
		{"GET", "/" + bucket, "acl", ""},
		{"GET", "/" + bucket + "/o", "acl", ""},
		{"DELETE", "/" + spare, "", ""},
		{"PUT", "/" + spare, "", ""},
		{"PUT", "/brand-new", "", ""},
		{"GET", "/", "", ""},
	} {
		var body []byte
		if tc.body != "" {
			body = []byte(tc.body)
		}
		r := c.anon(t, tc.method, tc.path, tc.query, body, nil)
		wantError(t, "unsigned "+tc.method+" "+tc.path+"?"+tc.query, r, 403, "AccessDenied")
	}

	// Nothing changed.
	for _, b := range []string{bucket, spare} {
		c.wantPolicy(t, "after the unsigned requests", b, policy(b))
		if r := c.send(t, "GET", "/"+b, "cors", nil, nil); r.Status != 200 || string(r.Body) != cors {
			t.Fatalf("%s: the CORS configuration changed: %d %s", b, r.Status, r.Body)
		}
	}
	if st, _ := c.head(t, "/"+spare); st != 200 {
		t.Fatalf("the bucket an unsigned DELETE named is gone: HEAD %d", st)
	}
	if st, _ := c.head(t, "/brand-new"); st != 404 {
		t.Fatalf("an unsigned CreateBucket made a bucket: HEAD %d", st)
	}

	// What the policy grants on objects and listing still works unsigned.
	if r := c.anon(t, "GET", "/"+bucket+"/o", "", nil, nil); r.Status != 200 || !bytes.Equal(r.Body, data) {
		t.Fatalf("anonymous GET the policy grants: %d %s", r.Status, r.Body)
	}
	if r := c.anon(t, "GET", "/"+bucket, "list-type=2", nil, nil); r.Status != 200 || !bytes.Contains(r.Body, []byte("<Key>o</Key>")) {
		t.Fatalf("anonymous list the policy grants: %d %s", r.Status, r.Body)
	}
	if r := c.anon(t, "PUT", "/"+bucket+"/anon", "", data, nil); r.Status != 200 {
		t.Fatalf("anonymous PUT the policy grants: %d %s", r.Status, r.Body)
	}
	// And the owner still manages the bucket.
	c.mustSend(t, 204, "DELETE", "/"+spare, "cors", nil, nil)
	c.mustSend(t, 204, "DELETE", "/"+spare, "policy", nil, nil)
	c.mustSend(t, 204, "DELETE", "/"+spare, "", nil, nil)
}

type deleteResultXML struct {
	Deleted []struct {
		Key string `xml:"Key"`
	} `xml:"Deleted"`
	Errors []struct {
		Key  string `xml:"Key"`
		Code string `xml:"Code"`
	} `xml:"Error"`
}

func deleteBody(keys ...string) []byte {
	var b strings.Builder
	b.WriteString("<Delete>")
	for _, k := range keys {
		fmt.Fprintf(&b, "<Object><Key>%s</Key></Object>", k)
	}
	b.WriteString("</Delete>")
	return []byte(b.String())
}

// TestHardeningAuthzAnonymousReads (item 4): GetObjectAttributes needs
// s3:GetObject as well; response-* overrides are refused to anonymous
// requests; an anonymous DeleteObjects on a bucket that grants anonymous
// users no delete is refused whole, whether or not the bucket exists; an
// anonymous copy needs s3:GetObject on its source.
func TestHardeningAuthzAnonymousReads(t *testing.T) {
	s := startServer(t)
	c := newRaw(t, s)
	data := []byte("secret data")
	for _, b := range []string{"attrs", "private", "src", "dst"} {
		c.mustSend(t, 200, "PUT", "/"+b, "", nil, nil)
	}
	for _, p := range []string{"/attrs/o", "/private/o", "/src/pub/a", "/src/priv/b"} {
		c.mustSend(t, 200, "PUT", p, "", data, nil)
	}
	attrs := http.Header{"X-Amz-Object-Attributes": {"ETag,ObjectSize"}}

	t.Run("attributes", func(t *testing.T) {
		c.mustSend(t, 204, "PUT", "/attrs", "policy", []byte(policyDoc(allow(`"s3:GetObjectAttributes"`, `"arn:aws:s3:::attrs/*"`))), nil)
		r := c.anon(t, "GET", "/attrs/o", "attributes", nil, attrs)
		wantError(t, "GetObjectAttributes without s3:GetObject", r, 403, "AccessDenied")
		if bytes.Contains(r.Body, []byte(md5hex(data))) {
			t.Fatalf("the refusal leaks the ETag: %s", r.Body)
		}
		c.mustSend(t, 204, "PUT", "/attrs", "policy", []byte(policyDoc(allow(`["s3:GetObjectAttributes","s3:GetObject"]`, `"arn:aws:s3:::attrs/*"`))), nil)
		if r := c.anon(t, "GET", "/attrs/o", "attributes", nil, attrs); r.Status != 200 || !bytes.Contains(r.Body, []byte("<ObjectSize>11</ObjectSize>")) {
			t.Fatalf("GetObjectAttributes with both actions: %d %s", r.Status, r.Body)
		}
	})

	t.Run("response-overrides", func(t *testing.T) {
		c.mustSend(t, 204, "PUT", "/attrs", "policy", []byte(policyDoc(allow(`"s3:GetObject"`, `"arn:aws:s3:::attrs/*"`))), nil)
		for _, q := range []string{"response-content-type=text%2Fhtml", "response-content-disposition=attachment", "response-cache-control=no-cache",
			"response-expires=0", "response-content-language=fr", "response-content-encoding=gzip"} {
			r := c.anon(t, "GET", "/attrs/o", q, nil, nil)
			wantError(t, "anonymous GET ?"+q, r, 400, "InvalidRequest")
			if !bytes.Contains(r.Body, []byte("<Message>Request specific response headers cannot be used for anonymous GET requests.</Message>")) {
				t.Fatalf("anonymous GET ?%s: message %s", q, r.Body)
			}
			if r := c.anon(t, "HEAD", "/attrs/o", q, nil, nil); r.Status != 400 {
				t.Fatalf("anonymous HEAD ?%s: %d, want 400", q, r.Status)
			}
		}
		if r := c.anon(t, "GET", "/attrs/o", "", nil, nil); r.Status != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("anonymous GET without overrides: %d %s", r.Status, r.Body)
		}
		if r := c.send(t, "GET", "/attrs/o", "response-content-type=text%2Fhtml", nil, nil); r.Status != 200 || r.Header.Get("Content-Type") != "text/html" {
			t.Fatalf("signed GET with an override: %d %q", r.Status, r.Header.Get("Content-Type"))
		}
	})

	t.Run("delete-objects", func(t *testing.T) {
		body := deleteBody("o", "missing")
		hdr := http.Header{"Content-Md5": {b64md5(body)}}
		// No policy, a policy granting anonymous users no delete, and no
		// bucket at all: the same 403, and nothing deleted.
		r := c.anon(t, "POST", "/private", "delete", body, hdr)
		wantError(t, "anonymous DeleteObjects, no policy", r, 403, "AccessDenied")
		c.mustSend(t, 204, "PUT", "/private", "policy", []byte(policyDoc(allow(`["s3:GetObject","s3:ListBucket"]`, `["arn:aws:s3:::private","arn:aws:s3:::private/*"]`))), nil)
		r = c.anon(t, "POST", "/private", "delete", body, hdr)
		wantError(t, "anonymous DeleteObjects, policy without delete", r, 403, "AccessDenied")
		r = c.anon(t, "POST", "/no-such-bucket", "delete", body, hdr)
		wantError(t, "anonymous DeleteObjects, no bucket", r, 403, "AccessDenied")
		c.wantObject(t, "refused anonymous DeleteObjects", "/private/o", data)

		// A policy granting delete on a prefix: per-key answers, as before.
		for _, k := range []string{"tmp/a", "keep/b"} {
			c.mustSend(t, 200, "PUT", "/private/"+k, "", data, nil)
		}
		c.mustSend(t, 204, "PUT", "/private", "policy", []byte(policyDoc(allow(`"s3:DeleteObject"`, `"arn:aws:s3:::private/tmp/*"`))), nil)
		body = deleteBody("tmp/a", "keep/b")
		r = c.anon(t, "POST", "/private", "delete", body, http.Header{"Content-Md5": {b64md5(body)}})
		var res deleteResultXML
		if r.Status != 200 || xml.Unmarshal(r.Body, &res) != nil || len(res.Deleted) != 1 || res.Deleted[0].Key != "tmp/a" ||
			len(res.Errors) != 1 || res.Errors[0].Key != "keep/b" || res.Errors[0].Code != "AccessDenied" {
			t.Fatalf("anonymous DeleteObjects with a prefix grant: %d %s", r.Status, r.Body)
		}
		c.wantAbsent(t, "granted delete", "/private/tmp/a")
		c.wantObject(t, "refused key", "/private/keep/b", data)
	})

	t.Run("copy-source", func(t *testing.T) {
		c.mustSend(t, 204, "PUT", "/dst", "policy", []byte(policyDoc(allow(`"s3:PutObject"`, `"arn:aws:s3:::dst/*"`))), nil)
		c.mustSend(t, 204, "PUT", "/src", "policy", []byte(policyDoc(allow(`"s3:GetObject"`, `"arn:aws:s3:::src/pub/*"`))), nil)
		for _, source := range []string{"/private/o", "/src/priv/b", "/no-such-bucket/x"} {
			r := c.anon(t, "PUT", "/dst/copy", "", nil, http.Header{"X-Amz-Copy-Source": {source}})
			wantError(t, "anonymous CopyObject from "+source, r, 403, "AccessDenied")
			c.wantAbsent(t, "anonymous CopyObject from "+source, "/dst/copy")
		}
		if r := c.anon(t, "PUT", "/dst/copy", "", nil, http.Header{"X-Amz-Copy-Source": {"/src/pub/a"}}); r.Status != 200 {
			t.Fatalf("anonymous CopyObject the policies grant: %d %s", r.Status, r.Body)
		}
		c.wantObject(t, "granted copy", "/dst/copy", data)
		// The destination needs s3:PutObject too.
		r := c.anon(t, "PUT", "/src/pub/copy", "", nil, http.Header{"X-Amz-Copy-Source": {"/src/pub/a"}})
		wantError(t, "anonymous CopyObject into a bucket without PutObject", r, 403, "AccessDenied")

		// UploadPartCopy: the upload is the anonymous user's (PutObject on
		// dst), the source is not theirs to read.
		r = c.anon(t, "POST", "/dst/mp", "uploads", nil, nil)
		var init struct {
			UploadID string `xml:"UploadId"`
		}
		if r.Status != 200 || xml.Unmarshal(r.Body, &init) != nil || init.UploadID == "" {
			t.Fatalf("anonymous CreateMultipartUpload: %d %s", r.Status, r.Body)
		}
		for _, source := range []string{"/private/o", "/src/priv/b"} {
			r := c.anon(t, "PUT", "/dst/mp", "partNumber=1&uploadId="+init.UploadID, nil, http.Header{"X-Amz-Copy-Source": {source}})
			wantError(t, "anonymous UploadPartCopy from "+source, r, 403, "AccessDenied")
		}
		r = c.send(t, "GET", "/dst/mp", "uploadId="+init.UploadID, nil, nil)
		if r.Status != 200 || bytes.Contains(r.Body, []byte("<Part>")) {
			t.Fatalf("a refused UploadPartCopy stored a part: %d %s", r.Status, r.Body)
		}
	})
}

// TestHardeningAuthzDocumentChanges (item 5): the server keeps parsed
// policies and CORS configurations; every change of a document, and the
// bucket's deletion, takes effect on the next request.
func TestHardeningAuthzDocumentChanges(t *testing.T) {
	s := startServer(t)
	c := newRaw(t, s)
	const bucket = "docs"
	data := []byte("data")
	c.mustSend(t, 200, "PUT", "/"+bucket, "", nil, nil)
	c.mustSend(t, 200, "PUT", "/"+bucket+"/a", "", data, nil)
	c.mustSend(t, 200, "PUT", "/"+bucket+"/b", "", data, nil)
	get := func(key string) int { return c.anon(t, "GET", "/"+bucket+"/"+key, "", nil, nil).Status }
	origin := func(o string) string {
		return c.anon(t, "GET", "/"+bucket+"/a", "", nil, http.Header{"Origin": {o}}).Header.Get("Access-Control-Allow-Origin")
	}
	corsFor := func(o string) []byte {
		return []byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>` + o + `</AllowedOrigin></CORSRule></CORSConfiguration>`)
	}

	for i := 0; i < 3; i++ { // several requests between changes: the parsed form is reused
		if get("a") != 403 || origin("http://one") != "" {
			t.Fatal("access before any document")
		}
	}
	c.mustSend(t, 204, "PUT", "/"+bucket, "policy", []byte(policyDoc(allow(`"s3:GetObject"`, `"arn:aws:s3:::docs/a"`))), nil)
	c.mustSend(t, 200, "PUT", "/"+bucket, "cors", corsFor("http://one"), nil)
	for i := 0; i < 3; i++ {
		if get("a") != 200 || get("b") != 403 || origin("http://one") != "http://one" || origin("http://two") != "" {
			t.Fatalf("first documents not in effect: a %d b %d", get("a"), get("b"))
		}
	}
	c.mustSend(t, 204, "PUT", "/"+bucket, "policy", []byte(policyDoc(allow(`"s3:GetObject"`, `"arn:aws:s3:::docs/b"`))), nil)
	c.mustSend(t, 200, "PUT", "/"+bucket, "cors", corsFor("http://two"), nil)
	for i := 0; i < 3; i++ {
		if get("a") != 403 || get("b") != 200 || origin("http://one") != "" || origin("http://two") != "http://two" {
			t.Fatalf("replaced documents not in effect: a %d b %d", get("a"), get("b"))
		}
	}
	c.mustSend(t, 204, "DELETE", "/"+bucket, "policy", nil, nil)
	c.mustSend(t, 204, "DELETE", "/"+bucket, "cors", nil, nil)
	if get("b") != 403 || origin("http://two") != "" {
		t.Fatal("deleted documents still in effect")
	}

	// Documents go with their bucket: a bucket created again under the
	// same name starts with none.
	c.mustSend(t, 204, "PUT", "/"+bucket, "policy", []byte(policyDoc(allow(`"s3:GetObject"`, `"arn:aws:s3:::docs/*"`))), nil)
	c.mustSend(t, 200, "PUT", "/"+bucket, "cors", corsFor("*"), nil)
	if get("a") != 200 || origin("http://any") != "*" {
		t.Fatal("documents not in effect before the bucket's deletion")
	}
	for _, k := range []string{"a", "b"} {
		c.mustSend(t, 204, "DELETE", "/"+bucket+"/"+k, "", nil, nil)
	}
	c.mustSend(t, 204, "DELETE", "/"+bucket, "", nil, nil)
	c.mustSend(t, 200, "PUT", "/"+bucket, "", nil, nil)
	c.mustSend(t, 200, "PUT", "/"+bucket+"/a", "", data, nil)
	if get("a") != 403 || origin("http://any") != "" {
		t.Fatal("a deleted bucket's documents apply to the bucket created again")
	}
}
