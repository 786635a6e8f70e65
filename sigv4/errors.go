package sigv4

import "strconv"

// S3 error codes returned in [Error.Code].
const (
	CodeAccessDenied                      = "AccessDenied"
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	CodeBadDigest                         = "BadDigest"
	CodeIncompleteBody                    = "IncompleteBody"
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	CodeInvalidArgument                   = "InvalidArgument"
	CodeInvalidDigest                     = "InvalidDigest"
	CodeInvalidRequest                    = "InvalidRequest"
	CodeMalformedTrailerError             = "MalformedTrailerError"
	CodeMissingContentLength              = "MissingContentLength"
	CodeNotImplemented                    = "NotImplemented"
	CodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"
	CodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"
	CodeXAmzContentSHA256Mismatch         = "XAmzContentSHA256Mismatch"
)

// Error is an authentication or payload failure with its S3 error code.
type Error struct {
	Code    string // one of the Code constants
	Message string // human-readable S3-style message
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newErr(code, msg string) *Error { return &Error{Code: code, Message: msg} }

func malformedHeader(why string) *Error {
	return newErr(CodeAuthorizationHeaderMalformed, "The authorization header is malformed; "+why)
}

func malformedQuery(why string) *Error {
	return newErr(CodeAuthorizationQueryParametersError, why)
}

// ErrNoCredentials is Verify's answer to a request that carries no
// credentials at all: no Authorization header and no presigned or V2 query
// parameters. It is an AccessDenied, which a server may instead decide by
// its own access policy (an anonymous request).
var ErrNoCredentials = newErr(CodeAccessDenied, "Access Denied.")

var (
	errAccessDenied = newErr(CodeAccessDenied, "Access Denied.")
	errNoDate       = newErr(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
	errUnknownKey   = newErr(CodeInvalidAccessKeyID, "The AWS Access Key Id you provided does not exist in our records.")
	errSignature    = newErr(CodeSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errSkewed       = newErr(CodeRequestTimeTooSkewed, "The difference between the request time and the current time is too large.")
	errExpired      = newErr(CodeAccessDenied, "Request has expired")
	errNotYetValid  = newErr(CodeAccessDenied, "Request is not valid yet")
	errTwoAuth      = newErr(CodeInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	errV2           = newErr(CodeInvalidRequest, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	errNoSHAHeader  = newErr(CodeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	errBadSHAHeader = newErr(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.")
	errECDSA        = newErr(CodeNotImplemented, "STREAMING-AWS4-ECDSA-P256-SHA256 payloads are not supported.")
	errSHAMismatch  = newErr(CodeXAmzContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	errMD5Mismatch  = newErr(CodeBadDigest, "The Content-MD5 you specified did not match what we received.")
	errMD5Invalid   = newErr(CodeInvalidDigest, "The Content-MD5 you specified is not valid.")
	errTwoChecksums = newErr(CodeInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	errNoDecodedLen = newErr(CodeMissingContentLength, "You must provide the X-Amz-Decoded-Content-Length HTTP header.")
	errBadDecodedLn = newErr(CodeInvalidArgument, "X-Amz-Decoded-Content-Length is not a valid length.")
	errBadTrailerHd = newErr(CodeInvalidArgument, "The value specified in the x-amz-trailer header is not supported")
	errTruncated    = newErr(CodeIncompleteBody, "The request body terminated unexpectedly.")
	errLength       = newErr(CodeIncompleteBody, "The decoded body length does not match X-Amz-Decoded-Content-Length.")
	errChunkLine    = newErr(CodeInvalidArgument, "Malformed aws-chunked chunk header.")
	errChunkLong    = newErr(CodeInvalidArgument, "aws-chunked chunk header exceeds the size limit.")
	errChunkSize    = newErr(CodeInvalidArgument, "aws-chunked chunk exceeds the size limit.")
	errChunkEnd     = newErr(CodeInvalidArgument, "aws-chunked chunk data is not followed by CRLF.")
	errTrailerBad   = newErr(CodeMalformedTrailerError, "The request contained trailing data that was not well-formed or did not conform to our published schema.")
	errTrailerLong  = newErr(CodeMalformedTrailerError, "The request trailer exceeds the size limit.")
	errTrailerMiss  = newErr(CodeMalformedTrailerError, "The trailer named by x-amz-trailer is missing.")
	errNoCredStream = newErr(CodeAccessDenied, "Signed streaming payloads require an authenticated request.")

	errUnsignedHeaders = newErr(CodeAccessDenied, "There were headers present in the request which were not signed")
	errSignedAbsent    = newErr(CodeAccessDenied, "A header named in SignedHeaders is not present in the request.")
	errNoHeaderList    = newErr(CodeAccessDenied, "The request's headers cannot be listed, so it cannot be verified.")
	errTooLargeHeader  = malformedHeader("the canonical request would exceed " + strconv.Itoa(MaxCanonicalRequest>>10) + " KiB.")
	errTooLargeQuery   = malformedQuery("The canonical request would exceed " + strconv.Itoa(MaxCanonicalRequest>>10) + " KiB.")
)
