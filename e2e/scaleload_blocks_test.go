package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// TestScalePlan: the load run's plan sends the rate (2,000
// samples/s for 10,000 two-metric policies in batches of 500 from four
// clients, one round a second) and gives every series exactly one sample
// per period; its policies parse.
func TestScalePlan(t *testing.T) {
	tests := []struct {
		plan      scalePlan
		rate      float64
		round     time.Duration
		roundsPer int // rounds in one period
	}{
		{scalePlan{Policies: 10000, Clients: 4, Batch: 500, Period: 10 * time.Second}, 2000, time.Second, 10},
		{scalePlan{Policies: 1000, Clients: 4, Batch: 50, Period: 10 * time.Second}, 200, time.Second, 10},
		{scalePlan{Policies: 300, Clients: 2, Batch: 100, Period: 5 * time.Second}, 120, 5 * time.Second / 3, 3},
	}
	for _, tc := range tests {
		p := tc.plan
		if got := p.rate(); got != tc.rate {
			t.Errorf("%+v: rate %v, want %v", p, got, tc.rate)
		}
		if got := p.round(); got != tc.round {
			t.Errorf("%+v: round %v, want %v", p, got, tc.round)
		}
		seen := map[string]int{}
		now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		for r := range tc.roundsPer {
			for k := range p.Clients {
				b := p.batch(k, r, now)
				if len(b) != p.Batch {
					t.Fatalf("%+v: batch of %d, want %d", p, len(b), p.Batch)
				}
				for _, s := range b {
					seen[s.Policy+"/"+s.Metric]++
					if !s.Time.Equal(now) || s.Value <= 0 {
						t.Fatalf("sample %+v: want time %v and a positive value", s, now)
					}
				}
			}
		}
		if len(seen) != p.series() {
			t.Errorf("%+v: %d series fed in one period, want %d", p, len(seen), p.series())
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%+v: series %s fed %d times in one period, want 1", p, k, n)
			}
		}
	}
	for _, i := range []int{0, 9999} {
		pol, err := policy.Parse([]byte(scalePolicy(i)))
		if err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		if pol.ID != scalePolicyID(i) || len(pol.Metrics) != 2 || pol.Predictive.Mode != policy.PredictForecastAndScale {
			t.Fatalf("policy %d: %+v, want two metrics and forecast-and-scale", i, pol)
		}
	}
}

func TestParseProc(t *testing.T) {
	const status = "Name:\tcapstan\nVmPeak:\t  900 kB\nVmRSS:\t  204800 kB\nThreads:\t9\n"
	tests := []struct {
		name, stat, status string
		want               procUsage
		err                string
	}{
		{"plain", "4242 (capstan) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0", status, procUsage{CPU: 3 * time.Second, RSS: 200 << 20}, ""},
		{"name with spaces and parens", "4242 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 1 2 0 0", status, procUsage{CPU: 30 * time.Millisecond, RSS: 200 << 20}, ""},
		{"no name", "4242 capstan S 1", status, procUsage{}, "no ')'"},
		{"short", "4242 (capstan) S 1 2 3", status, procUsage{}, "fields after the name"},
		{"not a number", "4242 (capstan) S 1 2 3 4 5 6 7 8 9 10 x 50 0 0", status, procUsage{}, "not numbers"},
		{"no VmRSS", "4242 (capstan) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0", "Name:\tcapstan\n", procUsage{}, "no VmRSS"},
	}
	for _, tc := range tests {
		got, err := parseProc(tc.stat, tc.status)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
	// And this very process, as the load run reads the agents.
	u, err := readProc(os.Getpid())
	if err != nil || u.RSS <= 0 {
		t.Fatalf("readProc(self): %+v %v", u, err)
	}
}

// TestSnapshotWatch follows a data directory as Raft's file snapshot
// store changes it: a snapshot present before the watch is not counted;
// one written during it is, with its size and the time it was seen in
// NAME.tmp.
func TestSnapshotWatch(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "snapshots")
	mk := func(name, meta string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if meta != "" {
			if err := os.WriteFile(filepath.Join(dir, name, "meta.json"), []byte(meta), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	w := newSnapshotWatch(data)
	t0 := time.Unix(1000, 0)
	w.look(t0, true) // no directory yet
	mk("2-100-1", `{"Size": 10}`)
	w.look(t0.Add(time.Second), true)
	mk("3-200-2.tmp", "")
	w.look(t0.Add(2*time.Second), false)
	if err := os.Rename(filepath.Join(dir, "3-200-2.tmp"), filepath.Join(dir, "3-200-2")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "3-200-2", "meta.json"), []byte(`{"ID":"3-200-2","Size":4096}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w.look(t0.Add(3500*time.Millisecond), false)
	mk("3-300-3", `{"Size": 8192}`) // written between two looks
	w.look(t0.Add(4*time.Second), false)
	w.look(t0.Add(5*time.Second), false)
	want := []snapshotSeen{
		{Name: "3-200-2", Started: t0.Add(2 * time.Second), Done: t0.Add(3500 * time.Millisecond), Size: 4096},
		{Name: "3-300-3", Done: t0.Add(4 * time.Second), Size: 8192},
	}
	if len(w.seen) != len(want) {
		t.Fatalf("seen %+v, want %+v", w.seen, want)
	}
	for i := range want {
		if w.seen[i] != want[i] {
			t.Errorf("snapshot %d: %+v, want %+v", i, w.seen[i], want[i])
		}
	}
	if got := w.seen[0].Persist(); got != 1500*time.Millisecond {
		t.Errorf("persist %v, want 1.5s", got)
	}
	if got := w.seen[1].Persist(); got != 0 {
		t.Errorf("persist of an unseen write %v, want 0", got)
	}
}

func TestPercentileAndTable(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.99, 0},
		{ds(5), 0.5, 5 * time.Millisecond},
		{ds(9, 1, 5, 3, 7), 0.5, 5 * time.Millisecond},
		{ds(9, 1, 5, 3, 7), 1, 9 * time.Millisecond},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := percentile(tc.in, tc.q); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
	var out bytes.Buffer
	writeScaleTable(&out, []scaleRow{{What: "a", Got: "1", Target: "< 2", Met: check(true)}, {What: "b", Got: "3", Target: "< 2", Met: check(false)}, {What: "c", Got: "x"}})
	want := "| measured | figure | target | met |\n|---|---|---|---|\n| a | 1 | < 2 | yes |\n| b | 3 | < 2 | **no** |\n| c | x |  |  |\n"
	if out.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * 24 * time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"90s", 90 * time.Second, true},
		{"xd", 0, false},
		{"7", 0, false},
	}
	for _, tc := range tests {
		got, err := parseDays(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseDays(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
