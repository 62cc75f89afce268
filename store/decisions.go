package store

import (
	"slices"

	"github.com/capstan-io/capstan/policy"
)

// Decisions is a policy's bounded decision history, oldest first. Each
// record is kept in its binary encoding (recordVersion's) rather than as
// a policy.Record: a two-metric predictive record is about 370 bytes so
// against 636 decoded (BenchmarkMemory), and a week fills --max-decisions
// (100) for every policy, so 10,000 policies hold about 350 MiB of
// decisions instead of 606. Reading decodes; reads are rare (the
// decisions API, a policy's status), and a snapshot copies the bytes.
// The zero value is empty. Values are immutable: appending makes a new
// one, so a View can share them.
type Decisions struct{ recs [][]byte }

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
		d.recs = append(d.recs, encodeRecord(r))
	}
	return d
}

func encodeRecord(r policy.Record) []byte {
	e := &enc{v: recordVersion}
	e.decision(r)
	return slices.Clip(e.b)
}

// Len is the number of records.
func (d Decisions) Len() int { return len(d.recs) }

// At decodes the i-th record, oldest first.
func (d Decisions) At(i int) policy.Record {
	dd := &dec{b: d.recs[i], v: recordVersion}
	return dd.decision() // encoded by this package: it decodes
}

// Records decodes every record, oldest first; nil when there is none.
func (d Decisions) Records() []policy.Record {
	if len(d.recs) == 0 {
		return nil
	}
	out := make([]policy.Record, len(d.recs))
	for i := range d.recs {
		out[i] = d.At(i)
	}
	return out
}

// appended returns the history with r added, keeping the newest limit.
func (d Decisions) appended(r policy.Record, limit int) Decisions {
	recs := append(slices.Clip(d.recs), encodeRecord(r))
	if over := len(recs) - limit; over > 0 {
		recs = append(recs[:0:0], recs[over:]...)
	}
	return Decisions{recs: recs}
}

// encode writes the records as a snapshot of version e.v holds them: the
// kept bytes where that version encodes decisions as recordVersion does,
// decoded and written again in the older ones.
func (e *enc) decisions(d Decisions) {
	e.uvarint(uint64(len(d.recs)))
	for i, b := range d.recs {
		if e.v >= recordVersion {
			e.b = append(e.b, b...)
		} else {
			e.decision(d.At(i))
		}
	}
}

// decisions reads what enc.decisions wrote: in recordVersion or later the
// bytes each record was read from, in older versions the record encoded
// again.
func (d *dec) decisions() Decisions {
	n := d.n(8)
	if n == 0 {
		return Decisions{}
	}
	recs := make([][]byte, 0, n)
	for range n {
		start := d.b
		r := d.decision()
		if d.err != nil {
			return Decisions{}
		}
		if d.v >= recordVersion {
			recs = append(recs, slices.Clone(start[:len(start)-len(d.b)]))
		} else {
			recs = append(recs, encodeRecord(r))
		}
	}
	return Decisions{recs: recs}
}
