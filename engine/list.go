package engine

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
)

const defaultMaxKeys = 1000

// groupedLister walks keys under a key-space prefix in binary order and
// groups them by delimiter. It yields names (keys or common prefixes) after
// startAfter; a startAfter inside a common prefix skips that prefix.
type groupedLister struct {
	it        *pebble.Iterator
	base      []byte // key-space prefix before the name
	prefix    string
	delimiter string
}

// next positions on the next entry after startAfter and returns its name,
// whether it is a common prefix, and false at the end.
func (g *groupedLister) seekAfter(startAfter string) (string, bool, bool) {
	target := g.prefix
	if startAfter != "" && startAfter >= target {
		target = startAfter
		if cp, ok := g.commonPrefix(startAfter); ok {
			// Skip the whole group startAfter lies in.
			end := prefixEnd(append(append([]byte(nil), g.base...), cp...))
			if end == nil || !g.it.SeekGE(end) {
				return "", false, false
			}
			return g.current()
		}
		if !g.it.SeekGE(append(append(append([]byte(nil), g.base...), target...), 0)) {
			return "", false, false
		}
		return g.current()
	}
	if !g.it.SeekGE(append(append([]byte(nil), g.base...), target...)) {
		return "", false, false
	}
	return g.current()
}

func (g *groupedLister) commonPrefix(name string) (string, bool) {
	if g.delimiter == "" || !strings.HasPrefix(name, g.prefix) {
		return "", false
	}
	i := strings.Index(name[len(g.prefix):], g.delimiter)
	if i < 0 {
		return "", false
	}
	return name[:len(g.prefix)+i+len(g.delimiter)], true
}

func (g *groupedLister) current() (string, bool, bool) {
	if !g.it.Valid() {
		return "", false, false
	}
	name := string(g.it.Key()[len(g.base):])
	if !strings.HasPrefix(name, g.prefix) {
		return "", false, false
	}
	if cp, ok := g.commonPrefix(name); ok {
		return cp, true, true
	}
	return name, false, true
}

// advance moves past the current entry (the whole group for a prefix).
func (g *groupedLister) advance(name string, isPrefix bool) (string, bool, bool) {
	if isPrefix {
		end := prefixEnd(append(append([]byte(nil), g.base...), name...))
		if end == nil || !g.it.SeekGE(end) {
			return "", false, false
		}
		return g.current()
	}
	g.it.Next()
	return g.current()
}

// List returns a page of bucket's objects in binary key order.
func (s *Store) List(bucket string, o ListOptions) (ListResult, error) {
	var res ListResult
	if err := checkBucket(bucket); err != nil {
		return res, err
	}
	if err := checkListParams(o.Prefix, o.Delimiter, o.StartAfter); err != nil {
		return res, err
	}
	if ok, err := s.BucketExists(bucket); err != nil {
		return res, err
	} else if !ok {
		return res, ErrNoSuchBucket
	}
	max := o.MaxKeys
	if max <= 0 {
		max = defaultMaxKeys
	}
	base := objectPrefix(bucket)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
	if err != nil {
		return res, err
	}
	defer it.Close()
	g := groupedLister{it: it, base: base, prefix: o.Prefix, delimiter: o.Delimiter}
	name, isPrefix, ok := g.seekAfter(o.StartAfter)
	for ; ok; name, isPrefix, ok = g.advance(name, isPrefix) {
		if len(res.Objects)+len(res.CommonPrefixes) == max {
			res.IsTruncated = true
			break
		}
		if isPrefix {
			res.CommonPrefixes = append(res.CommonPrefixes, name)
		} else {
			en, err := decodeEntry(it.Value())
			if err != nil {
				return res, fmt.Errorf("%w: index entry of %s/%s", ErrCorrupt, bucket, name)
			}
			res.Objects = append(res.Objects, en.info(bucket, name))
		}
		res.NextMarker = name
	}
	if !res.IsTruncated {
		res.NextMarker = ""
	}
	return res, it.Error()
}

// checkListParams rejects listing parameters that are not UTF-8 or are
// longer than a key.
func checkListParams(params ...string) error {
	for _, p := range params {
		if !utf8.ValidString(p) || len(p) > MaxKeyLen {
			return fmt.Errorf("%w: listing parameters", ErrInvalidKey)
		}
	}
	return nil
}

// ListUploads returns a page of bucket's multipart uploads, by key then id.
func (s *Store) ListUploads(bucket string, o ListUploadsOptions) (ListUploadsResult, error) {
	var res ListUploadsResult
	if err := checkBucket(bucket); err != nil {
		return res, err
	}
	if err := checkListParams(o.Prefix, o.Delimiter, o.KeyMarker, o.UploadIDMarker); err != nil {
		return res, err
	}
	if ok, err := s.BucketExists(bucket); err != nil {
		return res, err
	} else if !ok {
		return res, ErrNoSuchBucket
	}
	max := o.MaxUploads
	if max <= 0 {
		max = defaultMaxKeys
	}
	base := uploadPrefix(bucket)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
	if err != nil {
		return res, err
	}
	defer it.Close()
	// Upload keys are key 0 id; ids have a fixed length.
	split := func() (string, string, bool) {
		k := it.Key()[len(base):]
		if len(k) < uploadIDLen+1 {
			return "", "", false
		}
		return string(k[:len(k)-uploadIDLen-1]), string(k[len(k)-uploadIDLen:]), true
	}
	start := append(append([]byte(nil), base...), o.Prefix...)
	if cp, ok := (&groupedLister{prefix: o.Prefix, delimiter: o.Delimiter}).commonPrefix(o.KeyMarker); ok {
		// As in List: a KeyMarker within a common prefix (NextKeyMarker
		// of a page that ended with one) skips the whole group.
		start = prefixEnd(append(append([]byte(nil), base...), cp...))
	} else if o.KeyMarker != "" && o.KeyMarker >= o.Prefix {
		start = append(append(append([]byte(nil), base...), o.KeyMarker...), 0)
		if o.UploadIDMarker != "" {
			start = append(start, o.UploadIDMarker...)
			start = append(start, 0) // strictly after the marker's id
		} else {
			start = prefixEnd(start) // every upload of KeyMarker is skipped
		}
	}
	lastPrefix := ""
	for valid := start != nil && it.SeekGE(start); valid; valid = it.Next() {
		key, id, ok := split()
		if !ok {
			return res, fmt.Errorf("%w: upload key", ErrCorrupt)
		}
		if !strings.HasPrefix(key, o.Prefix) {
			if key > o.Prefix {
				break
			}
			continue
		}
		if o.Delimiter != "" {
			if i := strings.Index(key[len(o.Prefix):], o.Delimiter); i >= 0 {
				cp := key[:len(o.Prefix)+i+len(o.Delimiter)]
				if cp == lastPrefix {
					continue
				}
				if len(res.Uploads)+len(res.CommonPrefixes) == max {
					res.IsTruncated = true
					break
				}
				lastPrefix = cp
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.NextKeyMarker, res.NextUploadIDMarker = cp, ""
				continue
			}
		}
		if len(res.Uploads)+len(res.CommonPrefixes) == max {
			res.IsTruncated = true
			break
		}
		u, err := decodeUpload(it.Value())
		if err != nil {
			return res, fmt.Errorf("%w: upload entry", ErrCorrupt)
		}
		res.Uploads = append(res.Uploads, u.info(bucket, key, id))
		res.NextKeyMarker, res.NextUploadIDMarker = key, id
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	}
	return res, it.Error()
}

func (u *uploadValue) info(bucket, key, id string) UploadInfo {
	return UploadInfo{Bucket: bucket, Key: key, UploadID: id, Initiated: time.Unix(0, u.mtime).UTC(), ContentType: u.ctype, UserMeta: u.meta, Checksums: u.sums}
}

// ListParts returns a page of an upload's parts after partMarker.
func (s *Store) ListParts(bucket, key, uploadID string, partMarker, maxParts int) (ListPartsResult, error) {
	var res ListPartsResult
	if err := checkObject(bucket, key); err != nil {
		return res, err
	}
	if err := checkUploadID(uploadID); err != nil {
		return res, err
	}
	u, err := s.upload(bucket, key, uploadID)
	if err != nil {
		return res, err
	}
	res.Upload = u.info(bucket, key, uploadID)
	if maxParts <= 0 || maxParts > defaultMaxKeys {
		maxParts = defaultMaxKeys
	}
	if partMarker < 0 {
		partMarker = 0
	}
	p := partPrefix(uploadID)
	lower := partKey(uploadID, min(partMarker, MaxParts)+1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(p)})
	if err != nil {
		return res, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if len(res.Parts) == maxParts {
			res.IsTruncated = true
			break
		}
		k := it.Key()
		n := int(binary.BigEndian.Uint32(k[len(k)-4:]))
		pv, err := decodePart(it.Value())
		if err != nil {
			return res, fmt.Errorf("%w: part entry", ErrCorrupt)
		}
		res.Parts = append(res.Parts, PartInfo{Number: n, Size: pv.size, ETag: pv.etag, ModTime: time.Unix(0, pv.mtime).UTC(), Checksums: pv.sums})
		res.NextPartNumberMarker = n
	}
	return res, it.Error()
}
