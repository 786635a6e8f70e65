package sigv4

import (
	"bytes"
	"math/rand"
	"testing"
)

func TestCombine(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, alg := range Algorithms {
		if !alg.FullObject() {
			if _, ok := alg.Combine(nil, nil, 0); ok {
				t.Fatalf("%s combined", alg)
			}
			continue
		}
		for i := 0; i < 200; i++ {
			p := make([]byte, r.Intn(3000))
			r.Read(p)
			cut := 0
			if len(p) > 0 {
				cut = r.Intn(len(p) + 1)
			}
			sum := func(b []byte) []byte { h := alg.New(); h.Write(b); return h.Sum(nil) }
			got, ok := alg.Combine(sum(p[:cut]), sum(p[cut:]), int64(len(p)-cut))
			if !ok || !bytes.Equal(got, sum(p)) {
				t.Fatalf("%s len %d cut %d: %x != %x", alg, len(p), cut, got, sum(p))
			}
		}
	}
}
