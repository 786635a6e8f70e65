package engine

import "errors"

// Sentinel errors. Callers compare with errors.Is; the S3 layer maps each to
// its S3 error code.
var (
	// ErrNoSuchBucket is returned when the named bucket does not exist.
	ErrNoSuchBucket = errors.New("engine: no such bucket")
	// ErrBucketExists is returned by CreateBucket when the bucket exists.
	ErrBucketExists = errors.New("engine: bucket already exists")
	// ErrBucketNotEmpty is returned by DeleteBucket while the bucket holds
	// objects or multipart uploads.
	ErrBucketNotEmpty = errors.New("engine: bucket not empty")
	// ErrInvalidBucketName is returned for a bucket name S3 forbids.
	ErrInvalidBucketName = errors.New("engine: invalid bucket name")
	// ErrNoSuchKey is returned when the object does not exist.
	ErrNoSuchKey = errors.New("engine: no such key")
	// ErrInvalidKey is returned for an empty key or one that is not UTF-8.
	ErrInvalidKey = errors.New("engine: invalid key")
	// ErrKeyTooLong is returned for a key longer than MaxKeyLen bytes.
	ErrKeyTooLong = errors.New("engine: key too long")
	// ErrMetadataTooLarge is returned when user metadata exceeds MaxMetaBytes.
	ErrMetadataTooLarge = errors.New("engine: metadata too large")
	// ErrInvalidSize is returned for a negative size.
	ErrInvalidSize = errors.New("engine: invalid size")
	// ErrEntityTooLarge is returned for an object or part over the size cap.
	ErrEntityTooLarge = errors.New("engine: entity too large")
	// ErrEntityTooSmall is returned by Complete when a part other than the
	// last is smaller than Options.MinPartSize.
	ErrEntityTooSmall = errors.New("engine: entity too small")
	// ErrIncompleteBody is returned when a body ends before its declared size.
	ErrIncompleteBody = errors.New("engine: body shorter than declared size")
	// ErrInvalidRange is returned for a range outside the object.
	ErrInvalidRange = errors.New("engine: invalid range")
	// ErrPreconditionFailed is returned when a conditional write's
	// condition does not hold at the moment it is applied.
	ErrPreconditionFailed = errors.New("engine: precondition failed")
	// ErrNoSuchUpload is returned for an unknown or finished upload id.
	ErrNoSuchUpload = errors.New("engine: no such upload")
	// ErrInvalidPart is returned by Complete when a listed part is missing
	// or its ETag differs.
	ErrInvalidPart = errors.New("engine: invalid part")
	// ErrInvalidPartOrder is returned by Complete when part numbers are not
	// strictly ascending.
	ErrInvalidPartOrder = errors.New("engine: invalid part order")
	// ErrInvalidPartNumber is returned for a part number outside 1..MaxParts.
	ErrInvalidPartNumber = errors.New("engine: invalid part number")
	// ErrCorrupt is returned when a checksum does not verify.
	ErrCorrupt = errors.New("engine: checksum mismatch")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("engine: store closed")
	// ErrStoreFailed is returned by writes after a write or sync error: the
	// store no longer knows what reached the disk and refuses further writes
	// until it is reopened (reads go on).
	ErrStoreFailed = errors.New("engine: store failed after an I/O error; reopen to recover")
	// ErrStorageFull is returned by writes of new object data (Put, PutPart)
	// that would leave a drive with less free space than
	// Options.FreeSpaceReserve, or that ran into ENOSPC. The write is
	// abandoned cleanly: the store stays writable for deletes, and new data
	// is taken again once space is freed (deletes and a compaction).
	ErrStorageFull = errors.New("engine: storage full")
	// ErrIncompatibleLayout is returned by Open when the data was written
	// with a different layout (format version, block size, drive set).
	ErrIncompatibleLayout = errors.New("engine: incompatible on-disk layout")
	// ErrTooManyDrivesFailed is returned by Open when more drives are
	// failed (layout marker or index copy unreadable or corrupt) or new
	// than parity covers; the message names each with its reason.
	ErrTooManyDrivesFailed = errors.New("engine: more drives failed than parity covers")
	// ErrNoSuchConfig is returned when a bucket has no configuration
	// document of that name.
	ErrNoSuchConfig = errors.New("engine: no such bucket configuration")
	// ErrConfigTooLarge is returned for a document over MaxConfigSize.
	ErrConfigTooLarge = errors.New("engine: bucket configuration too large")
	// ErrInvalidOptions is returned by Options.Validate.
	ErrInvalidOptions = errors.New("engine: invalid options")
)
