package main

import (
	"strings"
	"testing"
)

// TestErrorTextNamesItsLineOrFieldOnce checks the messages of issue 12
// item 5: each names its line or field once, flags that do not apply are
// refused, and validate warns about what simulate will need.
func TestErrorTextNamesItsLineOrFieldOnce(t *testing.T) {
	badTrace := writeFile(t, "bad.csv", "timestamp,value\n2014-07-01 00:00:00,10\n2014-07-01 00:30:00,oops\n2014-07-01 01:00:00,12\n2014-07-01 01:30:00,13\n")
	yamlSyntax := writeFile(t, "syntax.yaml", "id: web\nmin: 1\n  max: : 3\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // each must appear exactly once on stderr
		notWant  []string
	}{
		{
			name:     "skipped row names its line once",
			args:     []string{"simulate", "--policy", "../../examples/policies/nyc-taxi.yaml", "--trace", badTrace, "--skip-bad-rows"},
			wantCode: 0,
			want:     []string{"skipped 1 bad row(s)", "line 3"},
		},
		{
			name:     "a YAML syntax error has no empty field path",
			args:     []string{"policy", "validate", "-f", yamlSyntax},
			wantCode: 1,
			want:     []string{"line 3"},
			notWant:  []string{"  : "},
		},
		{
			name:     "--recorded-size without a cpu metric is refused",
			args:     []string{"simulate", "--policy", "../../examples/policies/nyc-taxi.yaml", "--trace", "../../examples/traces/nyc_taxi_passengers_30min.csv", "--recorded-size", "10"},
			wantCode: 1,
			want:     []string{"--recorded-size: applies only to cpu metrics"},
		},
		{
			name:     "validate warns that a cpu metric needs --recorded-size",
			args:     []string{"policy", "validate", "-f", "../../examples/policies/asg-cpu.yaml"},
			wantCode: 0,
			want:     []string{"warning: metrics[0] (cpu) is a cpu metric: capstan simulate needs --recorded-size"},
		},
		{
			name:     "validate of a policy without cpu metrics warns nothing",
			args:     []string{"policy", "validate", "-f", "../../examples/policies/nyc-taxi.yaml"},
			wantCode: 0,
			notWant:  []string{"warning"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.want {
				if n := strings.Count(stderr, w); n != 1 {
					t.Errorf("stderr has %q %d times, want once:\n%s", w, n, stderr)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
		})
	}
}
