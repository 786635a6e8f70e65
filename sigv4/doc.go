// Package sigv4 owns AWS Signature Version 4 for LSMStore's S3 API: it
// verifies header-signed and presigned requests, decodes and checks request
// bodies (hex payload hashes, aws-chunked framing with chunk and trailer
// signatures, Content-MD5 and x-amz-checksum-* values), and signs requests
// for tests and the load generator.
//
// It imports the standard library (without net/http: callers describe a
// request with [Request]) and, for the XXHASH checksums, cespare/xxhash and
// zeebo/xxh3. Failures are [*Error] values carrying the S3 error
// code; the S3 layer maps codes to HTTP statuses.
//
// A typical server flow is:
//
//	auth, err := verifier.Verify(req)     // who signed it, and how
//	body, err := sigv4.NewBody(req, auth, rawBody, sigv4.BodyOptions{MD5: true})
//	io.Copy(dst, body)                    // any *Error here means: discard
//	alg, sum := body.Checksum()           // store with the object
//
// Body readers report every integrity failure from Read before returning
// io.EOF, so a caller that stops at the first error never commits bad data.
package sigv4
