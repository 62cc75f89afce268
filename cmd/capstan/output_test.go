package main

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/policy"
)

// TestOutputYAML checks that -o yaml prints the same document as -o json
// (same field names) on the read commands, and that an unknown format is
// refused naming the flag.
func TestOutputYAML(t *testing.T) {
	b, url := startAPI(t)
	mustRun(t, "policy", "apply", "-f", "../../examples/policies/app-cpu.yaml", "--addr", url)
	b.AddDecisions("app-cpu", policy.Record{Action: "hold", Current: 2, Desired: 2})
	tests := []struct {
		args []string
		key  string
	}{
		{[]string{"status"}, "cluster"},
		{[]string{"policy", "list"}, "policies"},
		{[]string{"decisions", "app-cpu"}, "decisions"},
		{[]string{"version", "--client"}, "client"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := mustRun(t, append(tt.args, "-o", "yaml", "--addr", url)...)
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("-o yaml is not YAML: %v\n%s", err, out)
			}
			if _, ok := doc[tt.key]; !ok || strings.HasPrefix(strings.TrimSpace(out), "{") {
				t.Errorf("-o yaml lacks %q or is JSON:\n%s", tt.key, out)
			}
			code, _, stderr := runCLI(t, append(tt.args, "-o", "xml", "--addr", url)...)
			if code != 1 || !strings.Contains(stderr, "--output: must be one of table, json, yaml") {
				t.Errorf("-o xml: exit %d %s", code, stderr)
			}
		})
	}
}
