package store

import "time"

// auditRetention decides what the bounded audit log keeps, so that no
// single client can flush it. It is pure (it reads only the entries and
// their own times, never a clock) and knows entries only through Facts and
// Fold, so it depends on no API type and applies the same way on every
// node.
//
// Its rules:
//   - Privileged entries (successful admin and membership changes) go to
//     a log of their own, which only other privileged entries evict.
//   - A refusal from the same token, source and kind as one recorded
//     less than Window before is folded into that entry (a count and the
//     last time) instead of adding one.
//   - Of one token's refusals in any Window, at most PerToken distinct
//     entries are added; the rest are folded into the token's newest.
//   - Everything else is appended to the main log; both logs keep their
//     newest Max entries.
//
// Successful changes are never folded or dropped by these rules: a change
// always has its own entry.
type auditRetention[E any] struct {
	// Max bounds each log; <= 0 means DefaultMaxAuditEntries.
	Max int
	// Window is how far back refusals are folded together; <= 0 folds
	// nothing.
	Window time.Duration
	// PerToken is how many distinct refusal entries one token may add in
	// a Window; <= 0 means no limit beyond the folding.
	PerToken int
	// Facts reads what the rules need of an entry.
	Facts func(E) auditFacts
	// Fold counts one more refusal, made at, into an entry.
	Fold func(into *E, at time.Time)
}

// auditFacts is what retention needs to know of an entry.
type auditFacts struct {
	// Token names the caller; Source is where it called from, without a
	// port (a client's port changes with every connection).
	Token, Source string
	// Kind is what the entry is about, as far as folding goes: two
	// refusals of the same kind are the same refusal repeated.
	Kind string
	// Time is when the entry was made (its first time, when folded).
	Time time.Time
	// Refusal: the write was refused. Privileged: a successful admin or
	// membership change.
	Refusal, Privileged bool
}

// auditLogs are the two logs, oldest first.
type auditLogs[E any] struct {
	Main, Kept []E
}

// auditScanLimit bounds how many of the newest main entries one refusal
// is compared with, so the cost of an apply stays bounded however full
// the log is.
const auditScanLimit = 512

// Add returns the logs with e recorded under the rules.
func (r auditRetention[E]) Add(l auditLogs[E], e E) auditLogs[E] {
	f := r.Facts(e)
	if f.Privileged {
		l.Kept = r.bounded(append(l.Kept, e))
		return l
	}
	if f.Refusal && r.Window > 0 {
		newest, distinct := -1, 0
		for i := len(l.Main) - 1; i >= 0 && i >= len(l.Main)-auditScanLimit; i-- {
			g := r.Facts(l.Main[i])
			if f.Time.Sub(g.Time) >= r.Window {
				break // older than the window, and so is everything before it
			}
			if !g.Refusal || g.Token != f.Token {
				continue
			}
			if g.Source == f.Source && g.Kind == f.Kind {
				r.Fold(&l.Main[i], f.Time)
				return l
			}
			if newest < 0 {
				newest = i
			}
			distinct++
		}
		if r.PerToken > 0 && distinct >= r.PerToken {
			r.Fold(&l.Main[newest], f.Time)
			return l
		}
	}
	l.Main = r.bounded(append(l.Main, e))
	return l
}

// bounded drops the oldest entries beyond Max. Reslicing keeps appends
// amortized O(1): the backing array is copied only when append grows it.
func (r auditRetention[E]) bounded(s []E) []E {
	limit := r.Max
	if limit <= 0 {
		limit = DefaultMaxAuditEntries
	}
	if over := len(s) - limit; over > 0 {
		s = s[over:]
	}
	return s
}
