package store

import (
	"maps"
	"slices"

	"github.com/capstan-io/capstan/metrics/window"
)

// View returns an immutable copy of the state for a snapshot, in time
// proportional to the number of policies, not to the data they hold: the
// policies themselves are shared, and the state copies a policy (windows
// included) the first time Apply changes it after a View. The caller must
// hold whatever lock guards Apply while View runs, and must not change the
// view; it stays valid for as long as it is kept, while Apply goes on.
func (s *State) View() *State {
	s.epoch++ // every policy existing now is shared with the view
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
	}
}

// writable returns the policy for Apply to change, copying it first when a
// view may share it.
func (s *State) writable(id string) *Policy {
	p := s.Policies[id]
	if p == nil || p.epoch == s.epoch {
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
	if s.auditEpoch == s.epoch {
		return
	}
	s.Audit, s.AuditKept = slices.Clone(s.Audit), slices.Clone(s.AuditKept)
	s.auditEpoch = s.epoch
}

// clone copies what Apply changes in place: pending intents, latest
// samples, windows and series points. Records, evaluation states and
// policy values are replaced, never changed, and stay shared; decisions are
// only appended to (after Clip, into a new array) or replaced.
func (p *Policy) clone() *Policy {
	c := *p
	c.Decisions = slices.Clip(p.Decisions)
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
