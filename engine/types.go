package engine

import "time"

// Pair is one metadata or checksum entry. Order is kept as given.
type Pair struct{ Key, Value string }

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Bucket, Key string
	Size        int64
	// ETag is the hex MD5 of the body, or for a multipart object the hex MD5
	// of the parts' binary MD5s followed by "-N". No quotes.
	ETag        string
	ModTime     time.Time
	ContentType string
	UserMeta    []Pair
	// Checksums are the checksums given at write time (name → value as the
	// caller encoded it), stored and returned verbatim.
	Checksums []Pair
	// Parts is the number of parts of a multipart object, 0 otherwise.
	Parts int
	// PartSizes are the sizes of a multipart object's parts, in order.
	PartSizes []int64
	// PartChecksums are the checksums each part was uploaded with.
	PartChecksums [][]Pair
}

// Condition makes a write conditional. The condition is decided when the
// write is applied, in log order, so it is atomic with the write.
type Condition struct {
	// IfNoneMatchStar: write only if the key does not exist.
	IfNoneMatchStar bool
	// IfMatch: write only if the key exists with this ETag (no quotes).
	IfMatch string
}

func (c Condition) isSet() bool { return c.IfNoneMatchStar || c.IfMatch != "" }

// PutOptions are the optional parts of a Put or CreateMultipartUpload.
type PutOptions struct {
	ContentType string
	UserMeta    []Pair
	Checksums   []Pair
	Condition   Condition
	// BodyChecksums, when set, is called once the body has been read in full
	// and its pairs are stored after Checksums (checksums sent in a trailer
	// are known only then).
	BodyChecksums func() []Pair
	// BodyMD5, when set, says the body hashes itself: called once the body
	// has reported EOF, it returns the MD5 of every byte the body yielded,
	// which becomes the ETag, and the engine does not hash the body again.
	BodyMD5 func() []byte
}

// PartOptions are the optional parts of PutPart (see PutOptions).
type PartOptions struct {
	Checksums     []Pair
	BodyChecksums func() []Pair
	BodyMD5       func() []byte
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	Number    int
	Size      int64
	ETag      string
	ModTime   time.Time
	Checksums []Pair
}

// CompletePart names a part in CompleteMultipartUpload.
type CompletePart struct {
	Number int
	ETag   string
}

// CompleteOptions are the optional parts of CompleteMultipartUpload.
type CompleteOptions struct {
	// Checksums replace the upload's checksums on the final object (the
	// caller computes composite checksums).
	Checksums []Pair
	Condition Condition
}

// UploadInfo describes a multipart upload in progress.
type UploadInfo struct {
	Bucket, Key, UploadID string
	Initiated             time.Time
	ContentType           string
	UserMeta              []Pair
	Checksums             []Pair
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// ListOptions selects a page of a bucket listing.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// StartAfter: list entries after this key. A StartAfter that lies within
	// a common prefix (as Delimiter groups keys) skips that whole prefix, so
	// NextMarker of a truncated page always continues correctly.
	StartAfter string
	// MaxKeys bounds objects plus common prefixes. Default (≤ 0): 1000.
	MaxKeys int
}

// ListResult is one page of a listing in binary key order.
type ListResult struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextMarker is the last key or common prefix returned when truncated.
	NextMarker string
}

// ListUploadsOptions selects a page of multipart uploads.
type ListUploadsOptions struct {
	Prefix, Delimiter         string
	KeyMarker, UploadIDMarker string
	MaxUploads                int
}

// ListUploadsResult is one page of uploads, ordered by key then upload id.
type ListUploadsResult struct {
	Uploads            []UploadInfo
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// ListPartsResult is one page of parts in part-number order.
type ListPartsResult struct {
	Upload               UploadInfo
	Parts                []PartInfo
	IsTruncated          bool
	NextPartNumberMarker int
}
