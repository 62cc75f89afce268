package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// enc appends the primitives of the binary encodings: varints for
// integers, 8 little-endian bytes for floats, length-prefixed strings, and
// times as a presence byte and Unix nanoseconds (always restored in UTC).
type enc struct {
	b []byte
	// v is the binary version written (VersionBinary to CurrentVersion;
	// a snapshot's version is the entry version of the same content):
	// what an older one has no place for is left out (entities.go).
	v uint8
	// scratch is reused for the parts encoded apart before their length
	// prefix (windows), so a snapshot does not allocate one per window.
	scratch []byte
}

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) int(v int)        { e.varint(int64(v)) }
func (e *enc) byte(v uint8)     { e.b = append(e.b, v) }
func (e *enc) float(v float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }

func (e *enc) bool(v bool) {
	if v {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

func (e *enc) bytes(v []byte) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *enc) string(v string) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

// time keeps the zero time apart from the Unix epoch; other times must be
// representable in int64 nanoseconds (years 1678 to 2262).
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.byte(0)
		return
	}
	e.byte(1)
	e.varint(t.UnixNano())
}

// errShort and friends are wrapped by dec into ErrUnknownCommand or
// ErrUnknownSnapshot by the caller.
var errMalformed = errors.New("malformed binary payload")

// maxListLen bounds every decoded list and string so that a corrupt length
// cannot make the decoder allocate without limit.
const maxListLen = 1 << 26

// dec reads what enc wrote. The first error sticks; every read after it
// returns a zero value, so decoders check err once at the end.
type dec struct {
	b   []byte
	err error
	// v is the binary version read, as in enc.
	v uint8
	// zbuf is reused to compress decision blocks (Decisions), so a
	// snapshot read does not allocate one per block.
	zbuf []byte
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errMalformed, what)
	}
	d.b = nil
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("integer out of range")
		return 0
	}
	return int(v)
}

func (d *dec) byte() uint8 {
	if len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}

func (d *dec) float() float64 {
	if len(d.b) < 8 {
		d.fail("short float")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// n reads a list or string length, bounded by the bytes left (every
// element takes at least min bytes).
func (d *dec) n(min int) int {
	v := d.uvarint()
	if v > maxListLen || v*uint64(min) > uint64(len(d.b)) {
		d.fail("length out of range")
		return 0
	}
	return int(v)
}

func (d *dec) bytes() []byte {
	n := d.n(1)
	if d.err != nil {
		return nil
	}
	v := make([]byte, n) // never nil: a present empty value stays present
	copy(v, d.b)
	d.b = d.b[n:]
	return v
}

// borrow is bytes without the copy: the slice is only valid while the
// record being decoded is, for a decoder that keeps nothing of it.
func (d *dec) borrow() []byte {
	n := d.n(1)
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) string() string {
	n := d.n(1)
	if d.err != nil {
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *dec) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.varint()).UTC()
	}
	d.fail("bad time")
	return time.Time{}
}

// done fails when bytes are left over: a payload that does not end where
// its fields do was not written by this encoding.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}
