package engine

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// ValidBucketName reports whether S3 allows name as a bucket name.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return false
			}
		default:
			return false
		}
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	// Only digits and dots can spell an IPv4 address (a name has no ':'),
	// and ParseAddr allocates its error: check the rest first.
	if strings.Trim(name, "0123456789.") == "" {
		if _, err := netip.ParseAddr(name); err == nil {
			return false
		}
	}
	return !strings.HasPrefix(name, "xn--") && !strings.HasPrefix(name, "sthree-") &&
		!strings.HasSuffix(name, "-s3alias") && !strings.HasSuffix(name, "--ol-s3")
}

func checkBucket(name string) error {
	if !ValidBucketName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidBucketName, name)
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes", ErrKeyTooLong, len(key))
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
	}
	return nil
}

func checkObject(bucket, key string) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	return checkKey(key)
}

func checkPutOptions(o *PutOptions) error {
	n := 0
	for _, m := range o.UserMeta {
		n += len(m.Key) + len(m.Value)
	}
	if n > MaxMetaBytes {
		return fmt.Errorf("%w: %d bytes", ErrMetadataTooLarge, n)
	}
	if len(o.ContentType) > MaxContentTypeLen {
		return fmt.Errorf("%w: content type of %d bytes", ErrMetadataTooLarge, len(o.ContentType))
	}
	return checkSums(o.Checksums)
}

func checkSums(sums []Pair) error {
	if len(sums) > MaxChecksums {
		return fmt.Errorf("%w: %d checksums", ErrMetadataTooLarge, len(sums))
	}
	for _, p := range sums {
		if len(p.Key) > 64 || len(p.Value) > 256 {
			return fmt.Errorf("%w: checksum entry too long", ErrMetadataTooLarge)
		}
	}
	return nil
}
