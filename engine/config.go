package engine

import (
	"bytes"
	"fmt"
	"strings"
)

// Bucket configuration documents (a bucket policy, a CORS configuration)
// are opaque bytes to the engine, stored under C bucket 0 name, written
// through the log like every other mutation and removed with the bucket.

// MaxConfigSize caps one bucket configuration document.
const MaxConfigSize = 64 << 10

// maxConfigName caps a configuration's name.
const maxConfigName = 64

func configPrefix(bucket string) []byte {
	k := append([]byte{pfxConfig}, bucket...)
	return append(k, 0)
}

func configKey(bucket, name string) []byte { return append(configPrefix(bucket), name...) }

// checkConfig validates a bucket name and a configuration name (chosen by
// the caller, never by a client).
func checkConfig(bucket, name string) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	if name == "" || len(name) > maxConfigName || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("%w: configuration name %q", ErrInvalidOptions, name)
	}
	return nil
}

// PutBucketConfig stores (replaces) the bucket's configuration document
// called name.
func (s *Store) PutBucketConfig(bucket, name string, doc []byte) error {
	if err := checkConfig(bucket, name); err != nil {
		return err
	}
	if len(doc) > MaxConfigSize {
		return ErrConfigTooLarge
	}
	if err := s.writable(); err != nil {
		return err
	}
	_, err := s.submit(&record{op: opBucketConfig, bucket: bucket, key: name, hasInline: true, inline: bytes.Clone(doc), mtime: now()})
	return err
}

// DeleteBucketConfig removes the bucket's configuration document called
// name; removing one that does not exist is not an error.
func (s *Store) DeleteBucketConfig(bucket, name string) error {
	if err := checkConfig(bucket, name); err != nil {
		return err
	}
	if err := s.writable(); err != nil {
		return err
	}
	_, err := s.submit(&record{op: opBucketConfig, bucket: bucket, key: name, mtime: now()})
	return err
}

// BucketConfig returns the bucket's configuration document called name:
// ErrNoSuchBucket or ErrNoSuchConfig when either is missing.
func (s *Store) BucketConfig(bucket, name string) ([]byte, error) {
	if err := checkConfig(bucket, name); err != nil {
		return nil, err
	}
	v, ok, err := s.getValue(configKey(bucket, name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.missing(bucket, ErrNoSuchConfig)
	}
	return v, nil
}

// applyConfig sets (record carries a document) or deletes one bucket
// configuration; the bucket's existence was checked by apply.
func (a *applier) applyConfig(r *record) error {
	k := configKey(r.bucket, r.key)
	if !r.hasInline {
		return a.b.Delete(k, nil)
	}
	return a.b.Set(k, r.inline, nil)
}
