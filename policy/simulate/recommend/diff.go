package recommend

import (
	"fmt"
	"strings"

	"github.com/capstan-io/capstan/policy"
)

// Diff renders the change from policy a to policy b as a unified-style
// diff of their YAML (policy.Marshal), each hunk headed by the section it
// is in, so an operator can apply it by hand or read it in review:
//
//	--- current
//	+++ candidate
//	@@ scale_in @@
//	-  cooldown: 1h
//	+  cooldown: 30m
//
// Marshal writes every field in a fixed order, so two policies with the
// same metrics have the same lines and differ only in values; when the line
// counts differ the diff falls back to the whole documents. An empty
// string means no difference.
func Diff(a, b policy.Policy) (string, error) {
	ya, err := policy.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("recommend: diff: %w", err)
	}
	yb, err := policy.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("recommend: diff: %w", err)
	}
	la := strings.Split(strings.TrimSuffix(string(ya), "\n"), "\n")
	lb := strings.Split(strings.TrimSuffix(string(yb), "\n"), "\n")
	var out strings.Builder
	out.WriteString("--- current\n+++ candidate\n")
	if len(la) != len(lb) {
		for _, l := range la {
			out.WriteString("-" + l + "\n")
		}
		for _, l := range lb {
			out.WriteString("+" + l + "\n")
		}
		return out.String(), nil
	}
	changed, section, shown := false, "", ""
	for i := range la {
		if !strings.HasPrefix(la[i], " ") && !strings.HasPrefix(la[i], "-") {
			section, _, _ = strings.Cut(la[i], ":")
		}
		if la[i] == lb[i] {
			continue
		}
		changed = true
		if section != shown {
			out.WriteString("@@ " + section + " @@\n")
			shown = section
		}
		out.WriteString("-" + la[i] + "\n+" + lb[i] + "\n")
	}
	if !changed {
		return "", nil
	}
	return out.String(), nil
}
