package store

import (
	"maps"
	"slices"
	"sync/atomic"

	"github.com/capstan-io/capstan/metrics/window"
)

// View returns an immutable copy of the state for a snapshot, in time
// proportional to the number of policies, not to the data they hold: the
// policies themselves are shared, and the state copies a policy the first
// time Apply changes it after a View. That copy shares the windows'
// buckets too (window.Clone): a window copies a chunk of 64 buckets
// before its first change to it, so a policy fed while a snapshot is
// written costs about 4 KB, not its week of history. The caller must
// hold whatever lock guards Apply while View runs, and must not change the
// view; it stays valid for as long as it is kept, while Apply goes on.
func (s *State) View() *State {
	s.epoch++ // every policy existing now is shared with the view
	if s.views == nil {
		s.views = new(atomic.Int64)
	}
	s.views.Add(1)
	return &State{
		Policies: maps.Clone(s.Policies),
		Nodes:    maps.Clone(s.Nodes),
		Intents:  s.Intents,
		Tokens:   maps.Clone(s.Tokens),
		// Entries are never changed in place; appends past the view's
		// length and trims from the front leave its elements alone.
		Audit:     slices.Clip(s.Audit),
		AuditKept: slices.Clip(s.AuditKept),
		epoch:     s.epoch,
		origin:    s.views,
	}
}

// Release tells the state this view was taken from that the view is no
// longer read. Once every view is released, Apply changes policies in
// place again instead of copying each on its first change: without it,
// every snapshot made the state copy every policy it later touched (a
// week-old policy's windows were about 64 KB before windows shared their
// chunks, and are still a few KB of chunk tables and copied chunks), long
// after the snapshot had been written. Call it once, when done with the
// view (Raft's FSMSnapshot.Release); it may run concurrently with Apply.
// A view never released only costs those copies.
func (s *State) Release() {
	if o := s.origin; o != nil {
		s.origin = nil
		o.Add(-1)
	}
}

// shared reports whether a view still unreleased may share what this
// state held when the last view was taken. The counter is atomic: a view
// released on another goroutine has finished reading before the count
// drops, so a 0 read here means nothing shares the state.
func (s *State) shared() bool { return s.views != nil && s.views.Load() > 0 }

// writable returns the policy for Apply to change, copying it first when a
// view may share it.
func (s *State) writable(id string) *Policy {
	p := s.Policies[id]
	if p == nil || p.epoch == s.epoch {
		return p
	}
	if !s.shared() {
		p.epoch = s.epoch
		return p
	}
	c := p.clone()
	c.epoch = s.epoch
	s.Policies[id] = c
	return c
}

// writableAudit copies the audit logs before Apply changes an entry in
// place, when a view may share them (appends and trims leave a view's
// entries alone and need no copy).
func (s *State) writableAudit() {
	if s.auditEpoch == s.epoch || !s.shared() {
		s.auditEpoch = s.epoch
		return
	}
	s.Audit, s.AuditKept = slices.Clone(s.Audit), slices.Clone(s.AuditKept)
	s.auditEpoch = s.epoch
}

// clone copies what Apply changes in place: pending intents, latest
// samples, windows (their chunk tables: the buckets stay shared until
// changed) and series points. Records, evaluation states and
// policy values are replaced, never changed, and stay shared; so are
// decisions, whose appends make a new value.
func (p *Policy) clone() *Policy {
	c := *p
	c.Sizes = slices.Clip(p.Sizes)
	c.Pending = slices.Clone(p.Pending)
	c.Samples = maps.Clone(p.Samples)
	if p.Windows != nil {
		c.Windows = make(map[string]*window.Window, len(p.Windows))
		for m, w := range p.Windows {
			c.Windows[m] = w.Clone()
		}
	}
	if p.Series != nil {
		c.Series = make(map[string]map[uint64]SeriesPoint, len(p.Series))
		for m, pts := range p.Series {
			c.Series[m] = maps.Clone(pts)
		}
	}
	return &c
}
