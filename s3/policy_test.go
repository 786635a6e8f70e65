package s3

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

const testBucket = "pub"

func pol(statements string) string {
	return `{"Version":"2012-10-17","Statement":[` + statements + `]}`
}

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		code      string // "" accepted, else the S3 error code
	}{
		{"minio-go readonly", pol(`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::pub"]}`), ""},
		{"single statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}}`, ""},
		{"s3 star", pol(`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:*"],"Resource":["arn:aws:s3:::pub","arn:aws:s3:::pub/*"]}`), ""},
		{"deny with NotAction", pol(`{"Effect":"Deny","Principal":"*","NotAction":"s3:Get*","Resource":"arn:aws:s3:::pub/*"}`), ""},
		{"account principal", pol(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}`), ""},
		{"not json", `Version: 1`, "MalformedPolicy"},
		{"trailing garbage", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`) + `{}`, "MalformedPolicy"},
		{"bad version", `{"Version":"2020-01-01","Statement":[]}`, "MalformedPolicy"},
		{"no statement", `{"Version":"2012-10-17"}`, "MalformedPolicy"},
		{"empty statements", pol(``), "MalformedPolicy"},
		{"bad effect", pol(`{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"*"}`), "MalformedPolicy"},
		{"no principal", pol(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`), "MalformedPolicy"},
		{"principal not star", pol(`{"Effect":"Allow","Principal":"bob","Action":"s3:GetObject","Resource":"*"}`), "MalformedPolicy"},
		{"unknown action", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:FlyAway","Resource":"*"}`), "MalformedPolicy"},
		{"other service", pol(`{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"*"}`), "MalformedPolicy"},
		{"action and notaction", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotAction":"s3:PutObject","Resource":"*"}`), "MalformedPolicy"},
		{"no resource", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}`), "MalformedPolicy"},
		{"other bucket", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}`), "MalformedPolicy"},
		{"bucket prefix is not the bucket", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pubx/*"}`), "MalformedPolicy"},
		{"unknown field", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Colour":"red"}`), "MalformedPolicy"},
		{"condition", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`), "NotImplemented"},
		{"too large", pol(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Sid":"` + strings.Repeat("x", maxPolicySize) + `"}`), "PolicyTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePolicy([]byte(tc.doc), testBucket)
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && err == nil:
				t.Fatalf("accepted, want %s", tc.code)
			case tc.code != "" && toAPIError(err).Code != tc.code:
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}

func TestPolicyAllows(t *testing.T) {
	p, err := parsePolicy([]byte(pol(
		`{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::pub","arn:aws:s3:::pub/public/*"]},`+
			`{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/public/secret*"},`+
			`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:*","Resource":"arn:aws:s3:::pub/*"},`+
			`{"Effect":"Allow","Principal":"*","NotAction":["s3:Get*","s3:List*","s3:Delete*"],"NotResource":"arn:aws:s3:::pub/public/*"}`)), testBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action, res string
		want        bool
	}{
		{"s3:GetObject", "arn:aws:s3:::pub/public/a", true},
		{"S3:GETOBJECT", "arn:aws:s3:::pub/public/a", true},  // actions are case-insensitive
		{"s3:GetObject", "arn:aws:s3:::pub/Public/a", false}, // resources are not
		{"s3:GetObject", "arn:aws:s3:::pub/private/a", false},
		{"s3:GetObject", "arn:aws:s3:::pub/public/secret.txt", false}, // explicit deny wins
		{"s3:ListBucket", "arn:aws:s3:::pub", true},
		{"s3:DeleteObject", "arn:aws:s3:::pub/public/a", false},
		{"s3:PutObject", "arn:aws:s3:::pub/upload/a", true}, // NotAction + NotResource
		{"s3:PutObject", "arn:aws:s3:::pub/public/a", false},
		{"s3:DeleteObject", "arn:aws:s3:::pub/upload/a", false},
	} {
		if got := p.allows(tc.action, tc.res); got != tc.want {
			t.Errorf("allows(%s, %s) = %v, want %v", tc.action, tc.res, got, tc.want)
		}
	}
}

// TestPolicyMayAllowObjects: whether a policy could let anonymous users
// act on some object (DeleteObjects is refused whole when it cannot).
func TestPolicyMayAllowObjects(t *testing.T) {
	for _, tc := range []struct {
		name, statements string
		want             bool
	}{
		{"prefix grant", `{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pub/tmp/*"}`, true},
		{"one key", `{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pub/k"}`, true},
		{"star action, star resource", `{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`, true},
		{"action wildcard", `{"Effect":"Allow","Principal":"*","Action":"s3:Delete*","Resource":"arn:aws:s3:::pub/*"}`, true},
		{"NotAction without it", `{"Effect":"Allow","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}`, true},
		{"NotResource", `{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","NotResource":"arn:aws:s3:::pub/keep/*"}`, true},
		{"bucket wildcard", `{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pu*"}`, true},
		{"read only", `{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::pub","arn:aws:s3:::pub/*"]}`, false},
		{"the bucket only", `{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::pub"}`, false},
		{"NotAction naming it", `{"Effect":"Allow","Principal":"*","NotAction":"s3:Delete*","Resource":"*"}`, false},
		{"deny only", `{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"*"}`, false},
		{"another principal", `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:DeleteObject","Resource":"*"}`, false},
	} {
		p, err := parsePolicy([]byte(pol(tc.statements)), testBucket)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := p.mayAllowObjects(testBucket, "s3:DeleteObject"); got != tc.want {
			t.Errorf("%s: mayAllowObjects = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (*bucketPolicy)(nil).mayAllowObjects(testBucket, "s3:DeleteObject") || (*bucketPolicy)(nil).allows("s3:GetObject", "*") {
		t.Error("no policy grants something")
	}
}

// wildcardRegexp is the reference for wildcardMatch.
func wildcardRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, c := range pattern {
		switch c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range [][2]string{
		{"", ""}, {"a", ""}, {"", "*"}, {"abc", "a*c"}, {"abc", "a?c"}, {"ac", "a?c"}, {"abcbc", "*bc"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*b"}, {"pub/x/y", "pub/*"}, {"pub", "pub/*"},
	} {
		want := wildcardRegexp(tc[1]).MatchString(tc[0])
		if got := wildcardMatch(tc[0], tc[1]); got != want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc[0], tc[1], got, want)
		}
	}
}

func FuzzWildcardMatch(f *testing.F) {
	f.Add("abc", "a*c")
	f.Add("arn:aws:s3:::pub/a/b", "arn:aws:s3:::pub/*/?")
	f.Fuzz(func(t *testing.T, s, pattern string) {
		if len(pattern) > 64 || len(s) > 256 || !utf8.ValidString(s) || !utf8.ValidString(pattern) {
			return // keys and policies are UTF-8
		}
		want := wildcardRegexp(pattern).MatchString(s)
		if got := wildcardMatch(s, pattern); got != want {
			t.Fatalf("wildcardMatch(%q, %q) = %v, want %v", s, pattern, got, want)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(pol(`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::pub"]}`)), "s3:ListBucket", "a")
	f.Add([]byte(pol(`{"Effect":"Deny","Principal":"*","NotAction":"s3:Get*","NotResource":"arn:aws:s3:::pub/x*"}`)), "s3:PutObject", "y")
	f.Add([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`), "s3:GetObject", "")
	f.Fuzz(func(t *testing.T, doc []byte, action, key string) {
		p, err := parsePolicy(doc, testBucket)
		if err != nil {
			if ae := toAPIError(err); ae.Status != 400 && ae.Status != 501 {
				t.Fatalf("parse error with status %d: %v", ae.Status, err)
			}
			return
		}
		if p.allows(action, objectARN(testBucket, key)) && !p.mayAllowObjects(testBucket, action) {
			t.Fatalf("allows %s on %q, but mayAllowObjects says no", action, key)
		}
		if len(p.statements) == 0 {
			t.Fatal("accepted a policy without statements")
		}
	})
}
