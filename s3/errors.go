package s3

import (
	"errors"
	"net/http"
	"os"

	"github.com/lsmstore/lsmstore/engine"
	"github.com/lsmstore/lsmstore/sigv4"
)

// apiError is an S3 error: its code, message and HTTP status.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// The error table: every S3 error this server returns.
var (
	errAccessDenied               = &apiError{"AccessDenied", "Access Denied.", 403}
	errBadDigest                  = &apiError{"BadDigest", "The Content-MD5 or checksum you specified did not match what we received.", 400}
	errBucketAlreadyOwnedByYou    = &apiError{"BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", 409}
	errBucketNotEmpty             = &apiError{"BucketNotEmpty", "The bucket you tried to delete is not empty.", 409}
	errEntityTooLarge             = &apiError{"EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", 400}
	errEntityTooSmall             = &apiError{"EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", 400}
	errIncompleteBody             = &apiError{"IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.", 400}
	errInternal                   = &apiError{"InternalError", "We encountered an internal error. Please try again.", 500}
	errInvalidArgument            = &apiError{"InvalidArgument", "Invalid argument.", 400}
	errInvalidBucketName          = &apiError{"InvalidBucketName", "The specified bucket is not valid.", 400}
	errInvalidDigest              = &apiError{"InvalidDigest", "The Content-MD5 you specified is not valid.", 400}
	errInvalidPart                = &apiError{"InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", 400}
	errInvalidPartOrder           = &apiError{"InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.", 400}
	errInvalidRange               = &apiError{"InvalidRange", "The requested range is not satisfiable.", 416}
	errInvalidStorageClass        = &apiError{"InvalidStorageClass", "The storage class you specified is not valid.", 400}
	errInvalidRequest             = &apiError{"InvalidRequest", "Invalid request.", 400}
	errKeyTooLong                 = &apiError{"KeyTooLongError", "Your key is too long.", 400}
	errMalformedXML               = &apiError{"MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.", 400}
	errMaxMessageLength           = &apiError{"MaxMessageLengthExceeded", "Your request was too big.", 400}
	errMetadataTooLarge           = &apiError{"MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.", 400}
	errMethodNotAllowed           = &apiError{"MethodNotAllowed", "The specified method is not allowed against this resource.", 405}
	errMissingContentLength       = &apiError{"MissingContentLength", "You must provide the Content-Length HTTP header.", 411}
	errNoSuchBucket               = &apiError{"NoSuchBucket", "The specified bucket does not exist", 404}
	errNoSuchKey                  = &apiError{"NoSuchKey", "The specified key does not exist.", 404}
	errNoSuchUpload               = &apiError{"NoSuchUpload", "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", 404}
	errNotImplemented             = &apiError{"NotImplemented", "A header or query you provided implies functionality that is not implemented.", 501}
	errNotModified                = &apiError{"NotModified", "Not Modified.", 304}
	errPreconditionFailed         = &apiError{"PreconditionFailed", "At least one of the pre-conditions you specified did not hold.", 412}
	errSlowDown                   = &apiError{"SlowDown", "Please reduce your request rate.", 503}
	errHeaderTooLarge             = &apiError{"RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.", 431}
	errRequestTimeout             = &apiError{"RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.", 400}
	errInvalidObjectName          = &apiError{"XMinioInvalidObjectName", "Object name contains unsupported characters.", 400}
	errServiceUnavailable         = &apiError{"ServiceUnavailable", "The server is shutting down or cannot write.", 503}
	errStorageFull                = &apiError{"XMinioStorageFull", "The storage is full: there is no room for new object data above the free-space reserve. Delete objects to free space.", 507}
	errConditionalRequestConflict = &apiError{"ConditionalRequestConflict", "A conflicting conditional operation is in progress.", 409}
)

// withMessage returns a copy of e with another message.
func withMessage(e *apiError, msg string) *apiError {
	c := *e
	c.Message = msg
	return &c
}

// toAPIError maps any error a handler returns to an S3 error.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &apiError{Code: se.Code, Message: se.Message, Status: sigv4Status(se.Code)}
	}
	switch {
	case errors.Is(err, engine.ErrNoSuchBucket):
		return errNoSuchBucket
	case errors.Is(err, engine.ErrNoSuchKey):
		return errNoSuchKey
	case errors.Is(err, engine.ErrBucketExists):
		return errBucketAlreadyOwnedByYou
	case errors.Is(err, engine.ErrBucketNotEmpty):
		return errBucketNotEmpty
	case errors.Is(err, engine.ErrInvalidBucketName):
		return errInvalidBucketName
	case errors.Is(err, engine.ErrKeyTooLong):
		return errKeyTooLong
	case errors.Is(err, engine.ErrInvalidKey):
		return errInvalidObjectName
	case errors.Is(err, engine.ErrMetadataTooLarge):
		return errMetadataTooLarge
	case errors.Is(err, engine.ErrEntityTooLarge):
		return errEntityTooLarge
	case errors.Is(err, engine.ErrEntityTooSmall):
		return errEntityTooSmall
	case errors.Is(err, engine.ErrIncompleteBody), errors.Is(err, engine.ErrBodyTooLong):
		return errIncompleteBody
	case errors.Is(err, engine.ErrInvalidRange):
		return errInvalidRange
	case errors.Is(err, engine.ErrPreconditionFailed):
		return errPreconditionFailed
	case errors.Is(err, engine.ErrNoSuchUpload):
		return errNoSuchUpload
	case errors.Is(err, engine.ErrInvalidPart):
		return errInvalidPart
	case errors.Is(err, engine.ErrInvalidPartOrder):
		return errInvalidPartOrder
	case errors.Is(err, engine.ErrInvalidPartNumber):
		return withMessage(errInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
	case errors.Is(err, engine.ErrInvalidSize):
		return withMessage(errInvalidArgument, "Invalid size.")
	case errors.Is(err, engine.ErrStorageFull):
		return errStorageFull
	case errors.Is(err, engine.ErrStoreFailed), errors.Is(err, engine.ErrClosed):
		return errServiceUnavailable
	case errors.Is(err, os.ErrDeadlineExceeded): // a body stalled (conn)
		return errRequestTimeout
	}
	return errInternal
}

// sigv4Status is the HTTP status of each sigv4 error code.
func sigv4Status(code string) int {
	switch code {
	case sigv4.CodeNotImplemented:
		return http.StatusNotImplemented
	case sigv4.CodeMissingContentLength:
		return http.StatusLengthRequired
	case sigv4.CodeAccessDenied, sigv4.CodeSignatureDoesNotMatch, sigv4.CodeInvalidAccessKeyID, sigv4.CodeRequestTimeTooSkewed:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}
