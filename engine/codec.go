package engine

import (
	"encoding/binary"
	"errors"
)

// errDecode is returned when an encoded value is malformed.
var errDecode = errors.New("engine: malformed encoding")

// enc appends varint-framed fields to a byte slice.
type enc struct{ b []byte }

func (e *enc) u8(v byte)        { e.b = append(e.b, v) }
func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) pairs(p []Pair) {
	e.uvarint(uint64(len(p)))
	for _, kv := range p {
		e.str(kv.Key)
		e.str(kv.Value)
	}
}

// dec reads what enc wrote. The first error sticks; later reads return zero.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errDecode
	}
	d.b = nil
}

func (d *dec) u8() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks it against what is left, so a corrupt
// value cannot ask for a huge allocation.
func (d *dec) count(minEach int) int {
	n := d.uvarint()
	if minEach < 1 {
		minEach = 1
	}
	if n > uint64(len(d.b)/minEach) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) bytes() []byte {
	n := d.count(1)
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) pairs() []Pair {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	p := make([]Pair, n)
	for i := range p {
		p[i] = Pair{Key: d.str(), Value: d.str()}
	}
	return p
}

// done reports an error if the value has bytes left or failed to decode.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errDecode
	}
	return d.err
}
