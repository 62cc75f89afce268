package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyValidatePrintsSchedulesAndCost(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	doc := `id: web
target: {provider: fake, group: web}
min: 2
max: 20
metrics: [{name: rps, type: request_rate, target: 100}]
schedules:
  - {name: mornings, cron: "0 8 * * MON-FRI", timezone: Europe/Berlin, duration: 2h, min: 10}
  - {name: sale, start: "2026-11-27T00:00:00-05:00", end: "2026-11-28T00:00:00-05:00", min: 12, max: 18}
cost: {per_instance_hour: 0.5, currency: EUR}
budget: {max_hourly_cost: 7.9}
`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		from   string
		want   []string
		absent []string
	}{
		{"winter in Berlin", "2026-11-26T12:00:00Z", []string{
			"cost: 0.5 EUR per instance-hour (2..20 instances: 1.00..10.00 EUR per hour)",
			"budget: 7.9 EUR per hour, at most 15 instances (below max 20: scale-out stops there, bound: budget)",
			`schedule mornings: min 10, cron "0 8 * * MON-FRI" in Europe/Berlin for 2h; next:`,
			"  Fri 2026-11-27 08:00 CET – Fri 2026-11-27 10:00 CET  (2026-11-27 07:00 UTC)",
			"  Mon 2026-11-30 08:00 CET", "  Tue 2026-12-01 08:00 CET",
			"schedule sale: min 12, max 18, one-off; next:",
			"  Fri 2026-11-27 00:00 -0500 – Sat 2026-11-28 00:00 -0500  (2026-11-27 05:00 UTC)",
		}, []string{"Wed 2026-12-02"}},
		{"summer in Berlin, sale over", "2027-07-01T00:00:00Z", []string{
			"  Thu 2027-07-01 08:00 CEST – Thu 2027-07-01 10:00 CEST  (2027-07-01 06:00 UTC)",
			"schedule sale: min 12, max 18, one-off; no opening after 2027-07-01T00:00:00Z",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, "policy", "validate", "-f", file, "--from", tt.from)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in\n%s", w, out)
				}
			}
			for _, w := range tt.absent {
				if strings.Contains(out, w) {
					t.Errorf("unexpected %q in\n%s", w, out)
				}
			}
		})
	}
	if code, _, stderr := runCLI(t, "policy", "validate", "-f", file, "--from", "tomorrow"); code == 0 || !strings.Contains(stderr, "--from: must be an RFC 3339 time") {
		t.Fatalf("bad --from: exit %d, %q", code, stderr)
	}
	// A policy without schedules or cost prints only OK, as before.
	code, out, _ := runCLI(t, "policy", "validate", "-f", "../../examples/policies/nyc-taxi.yaml")
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("exit %d, output %q", code, out)
	}
}
