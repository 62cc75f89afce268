package store

import (
	"encoding/binary"
	"slices"

	"github.com/golang/snappy"

	"github.com/capstan-io/capstan/policy"
)

// Decisions is a policy's bounded decision history, oldest first. Each
// record is kept in its binary encoding (recordVersion's) rather than as
// a policy.Record, and the older ones compressed: a history is sealed
// blocks of decisionBlock records, each record length-prefixed and the
// block snappy-compressed (records of one policy repeat most of their
// bytes: names, targets, the reason's wording), and a plain tail of the
// newest ones, fewer than decisionBlock. A week fills --max-decisions
// (100) for every policy; a two-metric predictive record is about 330
// bytes encoded, which one slice a record held in about 500 of heap
// (header and allocation rounding) and a block in about 150
// (BenchmarkMemory), so 10,000 policies hold about 140 MiB of decisions
// instead of 470. Reading decodes; reads are rare (the decisions API, a
// policy's status), and a snapshot decompresses the blocks and writes
// the records' bytes as they were encoded, so its bytes do not depend on
// how they are kept.
// The zero value is empty. Values are immutable: appending makes a new
// one and shares only sealed blocks, which nothing writes, so a View can
// share them.
type Decisions struct {
	// sealed are the older records, oldest first, decisionBlock in
	// each (the snappy block of their length-prefixed encodings).
	sealed [][]byte
	// skip is how many of sealed[0]'s records are no longer kept
	// (trimmed to the limit): a block is dropped once all its are.
	skip int
	// tail is the newest tailN records, length-prefixed, not compressed.
	tail  []byte
	tailN int
}

// decisionBlock is how many records a sealed block holds: enough that
// snappy finds what they repeat, few enough that the plain tail, copied
// at each append, stays small (against 16, 8 hold 16 bytes a record
// more and append in 2.1 us instead of 2.7 to 3.6, 32 hold 10 bytes less
// and append in 5.8 us; BENCHMARKS "A week of decision records").
const decisionBlock = 16

// recordVersion is the entry version whose decision encoding Decisions
// keeps: VersionScaledSeason, which holds each metric's weekly part (since
// VersionWeeklyPart; versions 6 to 10 encode decisions alike, without it),
// its skill at the time of day it forecasts (since VersionTimeOfDay) and
// its season's factor where the season scales with the level;
// VersionCostBound encodes them alike. Records
// read from an older snapshot are encoded again in it; a snapshot of an
// older version decodes them and writes them in its own.
const recordVersion = VersionScaledSeason

// DecisionsOf returns the history of the records given, oldest first.
func DecisionsOf(records []policy.Record) Decisions {
	var d Decisions
	for _, r := range records {
		d = d.appendedEncoded(encodeRecord(r))
	}
	return d
}

func encodeRecord(r policy.Record) []byte {
	e := &enc{v: recordVersion}
	e.decision(r)
	return e.b
}

// Len is the number of records.
func (d Decisions) Len() int { return len(d.sealed)*decisionBlock - d.skip + d.tailN }

// each calls f with each record's encoding, oldest first, from the i-th
// on (0 for all); it stops when f returns false. The bytes are valid
// only during the call. buf is reused for a sealed block's decompressed
// bytes and returned, so that a caller walking many histories (a
// snapshot) allocates one.
func (d Decisions) each(i int, buf []byte, f func(rec []byte) bool) []byte {
	i += d.skip
	for k := i / decisionBlock; k < len(d.sealed); k++ {
		n, err := snappy.DecodedLen(d.sealed[k])
		if err != nil { // sealed by this package: it decodes
			return buf
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		plain, err := snappy.Decode(buf[:cap(buf)], d.sealed[k])
		if err != nil {
			return buf
		}
		if !eachPrefixed(plain, i-k*decisionBlock, f) {
			return buf
		}
		i = (k + 1) * decisionBlock
	}
	eachPrefixed(d.tail, i-len(d.sealed)*decisionBlock, f)
	return buf
}

// eachPrefixed calls f with each length-prefixed record of b from the
// i-th on; false when f stopped it.
func eachPrefixed(b []byte, i int, f func(rec []byte) bool) bool {
	for j := 0; len(b) > 0; j++ {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) { // written by this package: it reads
			return true
		}
		rec := b[k : k+int(n)]
		b = b[k+int(n):]
		if j >= i && !f(rec) {
			return false
		}
	}
	return true
}

// At decodes the i-th record, oldest first.
func (d Decisions) At(i int) policy.Record {
	var r policy.Record
	d.each(i, nil, func(rec []byte) bool {
		r = decodeRecord(rec)
		return false
	})
	return r
}

func decodeRecord(rec []byte) policy.Record {
	dd := &dec{b: rec, v: recordVersion}
	return dd.decision() // encoded by this package: it decodes
}

// Records decodes every record, oldest first; nil when there is none.
func (d Decisions) Records() []policy.Record {
	if d.Len() == 0 {
		return nil
	}
	out := make([]policy.Record, 0, d.Len())
	d.each(0, nil, func(rec []byte) bool {
		out = append(out, decodeRecord(rec))
		return true
	})
	return out
}

// appended returns the history with r added, keeping the newest limit.
func (d Decisions) appended(r policy.Record, limit int) Decisions {
	d = d.appendedEncoded(encodeRecord(r))
	if over := d.Len() - limit; over > 0 {
		d = d.trimmed(over)
	}
	return d
}

// appendedEncoded returns the history with the encoded record added: to
// a new copy of the tail, which is sealed once it holds decisionBlock.
func (d Decisions) appendedEncoded(rec []byte) Decisions {
	tail := make([]byte, 0, len(d.tail)+binary.MaxVarintLen64+len(rec))
	tail = append(tail, d.tail...)
	tail = binary.AppendUvarint(tail, uint64(len(rec)))
	tail = append(tail, rec...)
	d.tail, d.tailN = slices.Clip(tail), d.tailN+1
	if d.tailN == decisionBlock {
		d.sealed = append(slices.Clip(d.sealed), seal(d.tail))
		d.tail, d.tailN = nil, 0
	}
	return d
}

// seal compresses a block of decisionBlock length-prefixed records into
// a slice of its own size (snappy.Encode leaves room for the worst case).
func seal(block []byte) []byte {
	z, _ := sealWith(nil, block)
	return z
}

// sealWith is seal compressing in buf, which it returns (grown if it had
// to be) for the next block: a restore seals every policy's.
func sealWith(buf, block []byte) (z, next []byte) {
	if n := snappy.MaxEncodedLen(len(block)); cap(buf) < n {
		buf = make([]byte, n)
	}
	return slices.Clone(snappy.Encode(buf[:cap(buf)], block)), buf
}

// trimmed returns the history without its oldest n records (n at most
// Len): whole blocks are dropped, a block partly trimmed is kept with
// skip counting what of it is gone, and a trimmed tail is copied.
func (d Decisions) trimmed(n int) Decisions {
	if len(d.sealed) > 0 {
		drop := min(n, len(d.sealed)*decisionBlock-d.skip)
		n -= drop
		d.skip += drop
		if k := d.skip / decisionBlock; k > 0 {
			d.sealed = slices.Clone(d.sealed[k:]) // no hold on the dropped blocks
			d.skip -= k * decisionBlock
		}
		if len(d.sealed) == 0 {
			d.sealed = nil
		}
	}
	if n > 0 {
		b := d.tail
		for range n {
			l, k := binary.Uvarint(b)
			b = b[k+int(l):]
		}
		d.tail, d.tailN = slices.Clone(b), d.tailN-n
		if d.tailN == 0 {
			d.tail = nil
		}
	}
	return d
}

// encode writes the records as a snapshot of version e.v holds them: the
// bytes each was encoded in where that version encodes decisions as
// recordVersion does, decoded and written again in the older ones.
func (e *enc) decisions(d Decisions) {
	e.uvarint(uint64(d.Len()))
	e.scratch = d.each(0, e.scratch, func(rec []byte) bool {
		if e.v >= recordVersion {
			e.b = append(e.b, rec...)
		} else {
			e.decision(decodeRecord(rec))
		}
		return true
	})
}

// decisions reads what enc.decisions wrote: in recordVersion or later the
// bytes each record was read from, in older versions the record encoded
// again.
func (d *dec) decisions() Decisions {
	n := d.n(8)
	if n == 0 {
		return Decisions{}
	}
	// Built block by block rather than by appending, which copies the
	// tail at each record: a restart restores every policy's history.
	out := Decisions{sealed: make([][]byte, 0, n/decisionBlock)}
	var block []byte
	for range n {
		start := d.b
		r := d.decision()
		if d.err != nil {
			return Decisions{}
		}
		rec := start[:len(start)-len(d.b)]
		if d.v < recordVersion {
			rec = encodeRecord(r)
		}
		block = binary.AppendUvarint(block, uint64(len(rec)))
		block = append(block, rec...)
		if out.tailN++; out.tailN == decisionBlock {
			var z []byte
			z, d.zbuf = sealWith(d.zbuf, block)
			out.sealed = append(out.sealed, z)
			block, out.tailN = block[:0], 0
		}
	}
	if len(out.sealed) == 0 {
		out.sealed = nil
	}
	if out.tailN > 0 {
		out.tail = slices.Clone(block)
	}
	return out
}
