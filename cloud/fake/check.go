package fake

import (
	"fmt"
	"strings"
)

// CheckResizes checks a call log in EFFECT order (as Cloud.Calls and
// Client.Calls return it) for what a deposed leader must never cause, and
// returns an error saying which rule broke and showing the group's
// resizes, or nil:
//   - every resize names its caller (node and term);
//   - one node resizes in a term;
//   - per group, the resizes that took effect never go back a term: a
//     resize of an older term landing after a newer one would undo the
//     newer leader's decision.
//
// The order of arrival is not enough: a provider applies a request it has
// received even after its caller gave up, so a deposed leader's slow
// resize can arrive first and take effect last (docs/fencing.md). Failed
// resizes changed nothing and do not count for the order.
func CheckResizes(calls []Call) error {
	leaderOf := map[uint64]string{}
	newest := map[string]Call{} // per group, the newest term's resize that took effect so far
	var log []string
	for _, c := range calls {
		if c.Op != OpSetDesired {
			continue
		}
		log = append(log, fmt.Sprintf("%s: %s term %d: %d -> %d (arrived #%d)%s", c.Group, c.Caller.Node, c.Caller.Term, c.From, c.To, c.Arrival, failed(c)))
		if c.Caller.Node == "" || c.Caller.Term == 0 {
			return fmt.Errorf("resize without a caller: %+v", c)
		}
		if prev, ok := leaderOf[c.Caller.Term]; ok && prev != c.Caller.Node {
			return fmt.Errorf("two nodes (%s, %s) resized in term %d: %s", prev, c.Caller.Node, c.Caller.Term, strings.Join(log, "; "))
		}
		leaderOf[c.Caller.Term] = c.Caller.Node
		if c.Err != "" {
			continue
		}
		if prev, ok := newest[c.Group]; ok && c.Caller.Term < prev.Caller.Term {
			return fmt.Errorf("by effect order the terms go back on %s: term %d's resize (arrived #%d) took effect after term %d's (arrived #%d): %s",
				c.Group, c.Caller.Term, c.Arrival, prev.Caller.Term, prev.Arrival, strings.Join(log, "; "))
		}
		newest[c.Group] = c
	}
	return nil
}

func failed(c Call) string {
	if c.Err == "" {
		return ""
	}
	return " failed: " + c.Err
}
