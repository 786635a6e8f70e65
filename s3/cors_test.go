package s3

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
)

const testCORS = `<CORSConfiguration>
<CORSRule><AllowedOrigin>http://www.example1.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>x-amz-request-id</ExposeHeader><MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule>
<CORSRule><AllowedOrigin>http://www.example2.com</AllowedOrigin><AllowedMethod>POST</AllowedMethod><AllowedHeader>X-My-Special-Header</AllowedHeader></CORSRule>
<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule>
<CORSRule><AllowedOrigin>https://*</AllowedOrigin><AllowedMethod>DELETE</AllowedMethod><AllowedHeader>x-abc-*</AllowedHeader></CORSRule>
<CORSRule><AllowedOrigin>http://UPPER.com</AllowedOrigin><AllowedMethod>DELETE</AllowedMethod></CORSRule>
</CORSConfiguration>`

func TestCORSMatch(t *testing.T) {
	c, err := parseCORS([]byte(testCORS))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		origin, method, headers string
		rule                    int // index of the matching rule, -1 none
		pattern                 string
	}{
		{"http://www.example1.com", "PUT", "x-a,X-B", 0, "http://www.example1.com"},
		{"http://www.example1.com", "POST", "", -1, ""},
		{"http://www.example2.com", "POST", "x-my-special-header", 1, "http://www.example2.com"},
		{"http://www.example2.com", "POST", "x-other", -1, ""},
		{"http://anything", "GET", "x-whatever", 2, "*"},
		{"http://anything", "DELETE", "", -1, ""},
		{"https://secure.example", "DELETE", "x-abc-1, x-abc-2", 3, "https://*"},
		{"https://secure.example", "DELETE", "x-abc-1,x-no", -1, ""},
		{"http://secure.example", "DELETE", "", -1, ""},
		{"http://UPPER.com", "DELETE", "", 4, "http://UPPER.com"},
		{"http://upper.com", "DELETE", "", -1, ""},      // origins are case-sensitive
		{"http://UPPER.com", "DELETE", "x-any", -1, ""}, // no AllowedHeader: no headers allowed
	} {
		rule, pattern := c.match(tc.origin, tc.method, requestedHeaders(tc.headers))
		got := -1
		if rule != nil {
			got = int(0)
			for i := range c.Rules {
				if &c.Rules[i] == rule {
					got = i
				}
			}
		}
		if got != tc.rule || pattern != tc.pattern {
			t.Errorf("%s %s [%s]: rule %d %q, want %d %q", tc.origin, tc.method, tc.headers, got, pattern, tc.rule, tc.pattern)
		}
	}
}

func TestParseCORSInvalid(t *testing.T) {
	rule := func(body string) string {
		return "<CORSConfiguration><CORSRule>" + body + "</CORSRule></CORSConfiguration>"
	}
	for name, doc := range map[string]string{
		"not xml":        "<CORSConfiguration>",
		"no rules":       "<CORSConfiguration></CORSConfiguration>",
		"no method":      rule("<AllowedOrigin>*</AllowedOrigin>"),
		"no origin":      rule("<AllowedMethod>GET</AllowedMethod>"),
		"bad method":     rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>"),
		"two wildcards":  rule("<AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"),
		"header wild x2": rule("<AllowedOrigin>a</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>**</AllowedHeader>"),
		"negative age":   rule("<AllowedOrigin>a</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-1</MaxAgeSeconds>"),
		"long id":        rule("<AllowedOrigin>a</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ID>" + strings.Repeat("i", 256) + "</ID>"),
		"too many rules": "<CORSConfiguration>" + strings.Repeat("<CORSRule><AllowedOrigin>a</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>", 101) + "</CORSConfiguration>",
	} {
		if _, err := parseCORS([]byte(doc)); err == nil || toAPIError(err).Status != 400 {
			t.Errorf("%s: got %v, want a 400 error", name, err)
		}
	}
}

// FuzzParseCORS: any accepted configuration renders to XML that parses back
// to the same rules, and matching never panics.
func FuzzParseCORS(f *testing.F) {
	f.Add([]byte(testCORS), "http://www.example1.com", "PUT", "x-a")
	f.Add([]byte(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`), "o", "GET", "")
	f.Fuzz(func(t *testing.T, doc []byte, origin, method, headers string) {
		c, err := parseCORS(doc)
		if err != nil {
			if toAPIError(err).Status != 400 {
				t.Fatalf("parse error %v is not a 400", err)
			}
			return
		}
		c.match(origin, method, requestedHeaders(headers))
		var buf bytes.Buffer
		if err := xml.NewEncoder(&buf).Encode(c); err != nil {
			t.Fatal(err)
		}
		c2, err := parseCORS(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parse of %s: %v", buf.Bytes(), err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v", c, c2)
		}
	})
}

// FuzzParseRange: an accepted Range lies inside the object.
func FuzzParseRange(f *testing.F) {
	for _, h := range []string{"bytes=0-9", "bytes=5-", "bytes=-3", "bytes=0-0,2-3", "bytes=9-1", "bytes= 1 - 2", "bytes=-0"} {
		f.Add(h, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		off, n, ok, err := parseRange(h, size)
		if err != nil {
			if toAPIError(err).Status != 416 {
				t.Fatalf("error %v is not a 416", err)
			}
			return
		}
		if ok && (off < 0 || n <= 0 || off+n > size) {
			t.Fatalf("range %q of %d: off %d n %d", h, size, off, n)
		}
		if !ok && (off != 0 || n != size) {
			t.Fatalf("ignored range %q of %d: off %d n %d", h, size, off, n)
		}
	})
}
