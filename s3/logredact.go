package s3

import (
	"fmt"
	"regexp"
	"strconv"
)

// No credential is ever logged. The server's own log lines carry only
// request ids, operations, buckets, keys and errors; fasthttp's messages
// (zapPrintf) are the ones that quote raw request bytes: a malformed
// request's header value, request URI (a presigned URL's query) or, unless
// Server.SecureErrorLogMessage is set, a snippet of its headers. Those
// messages pass through redactf.

// quotedString matches a Go-quoted string, as fasthttp's %q writes them.
var quotedString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// credentialHeader matches a header that carries a credential, to the end
// of its value; credentialText a query parameter or a part of a value that
// does (the Credential= and Signature= parts of a SigV4 Authorization, a
// bearer token).
var (
	credentialHeader = regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-amz-security-token)(\s*:\s*)[^\r\n"\\]*`)
	credentialText   = regexp.MustCompile(`(?i)\b(x-amz-signature|x-amz-credential|x-amz-security-token|signature|credential|bearer)(\s*=\s*|\s+)[^\s,&"\\]+`)
)

// redactf formats a fasthttp log message without the request bytes it
// quotes: every quoted string in a string or error argument is replaced by
// its length, and what still looks like a credential is masked.
func redactf(format string, args ...any) string {
	safe := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case error:
			safe[i] = withholdQuoted(v.Error())
		case string:
			safe[i] = withholdQuoted(v)
		case []byte:
			safe[i] = withholdQuoted(string(v))
		default:
			safe[i] = a // addresses, counts
		}
	}
	msg := credentialHeader.ReplaceAllString(fmt.Sprintf(format, safe...), "${1}${2}[REDACTED]")
	return credentialText.ReplaceAllString(msg, "${1}${2}[REDACTED]")
}

func withholdQuoted(s string) string {
	return quotedString.ReplaceAllStringFunc(s, func(q string) string {
		return `"[` + strconv.Itoa(len(q)-2) + ` bytes withheld]"`
	})
}
