package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	service    = "s3"
	terminator = "aws4_request"
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
)

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// deriveKey computes the SigV4 signing key for one day, region and service.
func deriveKey(secret, date, region, svc string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, svc)
	return hmacSHA256(k, terminator)
}

// keyCacheSize bounds the signing-key cache; it holds one key per
// (secret, day, region), so it only fills with many users or regions.
const keyCacheSize = 1024

type keyID struct{ secret, date, region string }

// signingKey is a derived key and a pool of HMACs keyed with it: an HMAC
// set up once is Reset to its keyed state for the next request, where
// hmac.New would allocate and hash the key pads again.
type signingKey struct {
	key  []byte
	macs sync.Pool // of *keyedMAC
}

// keyedMAC is an HMAC and the buffer its Sum appends to (a local array
// passed to Sum through the hash.Hash interface would escape).
type keyedMAC struct {
	h   hash.Hash
	out [sha256.Size]byte
}

func newSigningKey(key []byte) *signingKey {
	k := &signingKey{key: key}
	k.macs.New = func() any { return &keyedMAC{h: hmac.New(sha256.New, key)} }
	return k
}

// sum returns HMAC-SHA256(key, data).
func (k *signingKey) sum(data []byte) [sha256.Size]byte {
	m := k.macs.Get().(*keyedMAC)
	m.h.Reset()
	m.h.Write(data)
	m.h.Sum(m.out[:0])
	out := m.out
	k.macs.Put(m)
	return out
}

// keyCache is a bounded cache of derived signing keys.
type keyCache struct {
	mu sync.RWMutex
	m  map[keyID]*signingKey
}

func (c *keyCache) get(secret, date, region string) []byte {
	return c.signing(secret, date, region).key
}

func (c *keyCache) signing(secret, date, region string) *signingKey {
	id := keyID{secret, date, region}
	c.mu.RLock()
	k, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k = newSigningKey(deriveKey(secret, date, region, service))
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[keyID]*signingKey)
	}
	if len(c.m) >= keyCacheSize {
		for old := range c.m { // evict one arbitrary entry
			delete(c.m, old)
			break
		}
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}

// credCache interns the credentials of verified requests. A request's
// Authorization header may be a view of memory the server reuses, and Auth
// keeps its access key, region and scope: for a credential seen before they
// are this cache's strings, so verifying allocates none. Only credentials
// that verified are added, so requests with made-up credentials cannot fill
// it; it holds at most keyCacheSize.
type credCache struct {
	mu sync.RWMutex
	m  map[string]credential // by credential.full
}

func (c *credCache) get(full string) (credential, bool) {
	c.mu.RLock()
	cr, ok := c.m[full]
	c.mu.RUnlock()
	return cr, ok
}

// add interns cr, whose strings must not share a request's memory.
func (c *credCache) add(cr credential) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]credential)
	}
	if len(c.m) >= keyCacheSize {
		for old := range c.m { // evict one arbitrary entry
			delete(c.m, old)
			break
		}
	}
	c.m[cr.full] = cr
	c.mu.Unlock()
}
