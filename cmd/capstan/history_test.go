package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

func TestHistoryCommand(t *testing.T) {
	b, url := startAPI(t)
	p := mustParse(t, "../../examples/policies/app-cpu.yaml")
	if _, err := b.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(10 * time.Second).Add(-time.Minute)
	var samples []api.Sample
	for i := range 5 {
		samples = append(samples, api.Sample{Policy: "app-cpu", Metric: p.Metrics[0].Name, Time: at.Add(time.Duration(i) * 10 * time.Second), Value: float64(10 + i)})
	}
	if _, err := b.PushMetrics(context.Background(), samples); err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, "history", "app-cpu", "--last", "2", "--addr", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "METRIC TYPE STEP AGG BUCKET VALUE" ||
		!strings.HasSuffix(lines[1], " 13") || !strings.HasSuffix(lines[2], " 14") {
		t.Fatalf("history --last 2:\n%s", out)
	}
	var hist []api.MetricHistory
	if err := json.Unmarshal([]byte(mustRun(t, "history", "app-cpu", "-o", "json", "--addr", url)), &hist); err != nil ||
		len(hist) != 1 || len(hist[0].Buckets) != 5 {
		t.Fatalf("history -o json: %v %+v", err, hist)
	}
	if code, _, stderr := runCLI(t, "history", "nope", "--addr", url); code != 1 || !strings.Contains(stderr, "not_found") {
		t.Fatalf("history of a missing policy: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "history", "app-cpu", "--last", "0", "--addr", url); code == 0 || !strings.Contains(stderr, "--last") {
		t.Fatalf("--last 0: exit %d %s", code, stderr)
	}
}
