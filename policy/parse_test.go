package policy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// policyDoc renders a small valid policy with some top-level fields
// replaced: each change is "key: value" (replacing or appending that key)
// or "-key" (removing it). Cases then read as the one line they are about.
func policyDoc(changes ...string) string {
	lines := []string{
		"id: web",
		"target: {provider: aws, group: web-asg, region: us-east-1}",
		"min: 2",
		"max: 40",
		"metrics: [{name: cpu, type: cpu, target: 60}, {name: rps, type: request_rate, target: 200}]",
	}
	keyOf := func(line string) string { k, _, _ := strings.Cut(line, ":"); return k }
	for _, c := range changes {
		if k, ok := strings.CutPrefix(c, "-"); ok {
			lines = deleteKey(lines, k, keyOf)
			continue
		}
		replaced := false
		for i, l := range lines {
			if keyOf(l) == keyOf(c) {
				lines[i], replaced = c, true
			}
		}
		if !replaced {
			lines = append(lines, c)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func deleteKey(lines []string, key string, keyOf func(string) string) []string {
	out := lines[:0]
	for _, l := range lines {
		if keyOf(l) != key {
			out = append(out, l)
		}
	}
	return out
}

func TestParseFullExample(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(full.yaml): %v", err)
	}
	if want := validFullPolicy(); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(full.yaml) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseJSON(t *testing.T) {
	yml, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	jsn, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := Parse(yml)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := Parse(jsn)
	if err != nil {
		t.Fatalf("Parse(full.json): %v", err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Errorf("JSON and YAML forms differ:\n%+v\n%+v", fromJSON, fromYAML)
	}

	// Errors in JSON carry the same paths, in document order.
	bad := `{"id": "web", "target": {"provider": "aws", "group": "g", "region": "r", "zone": "z"},
	"min": "2", "max": 40,
	"metrics": [{"name": "cpu", "type": "cpu", "target": 60}, {"name": "rps", "type": "request_rate", "target": "lots"}],
	"scale_in": {"max_step": {"percent": 300, "perod": "1m"}}}`
	want := []FieldError{
		{"target.zone", "not used by provider aws"},
		{"min", "must be an integer"},
		{"metrics[1].target", "must be a number"},
		{"scale_in.max_step.percent", "must be in [0,100]"},
		{"scale_in.max_step.perod", "unknown field"},
	}
	_, err = Parse([]byte(bad))
	if got := fieldErrors(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("fields:\n%q\nwant\n%q", got, want)
	}
}

func TestParseYAMLBlockStyle(t *testing.T) {
	doc := `
# A policy in block style with comments, as operators write it.
id: batch-7
target:
  provider: gcp
  project: acme-prod
  group: batch-mig
  region: europe-west1   # regional MIG
min: 0
max: 200
metrics:
  - name: cpu
    type: cpu
    target: 70.5
  - name: backlog
    type: queue_depth
    target: 1e3
scale_out:
  max_step:
    instances: 10
predictive:
  mode: forecast-only
  season: 24h
  history: 14d
`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.Target != (Target{Provider: "gcp", Project: "acme-prod", Group: "batch-mig", Region: "europe-west1"}) {
		t.Errorf("target = %+v", p.Target)
	}
	if p.Metrics[0].Target != 70.5 || p.Metrics[1].Target != 1000 {
		t.Errorf("metric targets = %v, %v", p.Metrics[0].Target, p.Metrics[1].Target)
	}
	if p.Predictive.Season != (Season{Period: 24 * time.Hour}) || p.Predictive.History != Duration(14*24*time.Hour) {
		t.Errorf("predictive = %+v", p.Predictive)
	}
	// Defaults fill the rest of max_step field by field.
	if want := (MaxStep{Instances: 10, Percent: 100, Period: Duration(time.Minute)}); p.ScaleOut.MaxStep != want {
		t.Errorf("scale_out.max_step = %+v, want %+v", p.ScaleOut.MaxStep, want)
	}
}

// TestParseErrors has one case per decoding problem, each expecting exactly
// the listed field errors.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []FieldError
	}{
		// Unknown fields at every depth.
		{"unknown top-level", policyDoc("colour: blue"), []FieldError{{"colour", "unknown field"}}},
		{"unknown in target", policyDoc("target: {provider: aws, group: g, region: r, zonee: z}"), []FieldError{{"target.zonee", "unknown field"}}},
		{"unknown in scale_in", policyDoc("scale_in: {max_stepp: {instances: 1}}"), []FieldError{{"scale_in.max_stepp", "unknown field"}}},
		{"unknown in max_step", policyDoc("scale_out: {max_step: {pct: 5}}"), []FieldError{{"scale_out.max_step.pct", "unknown field"}}},
		{"unknown in metric", policyDoc("metrics: [{name: cpu, type: cpu, target: 60}, {name: q, type: queue_depth, targett: 5}]"),
			// An absent field sorts where its parent starts.
			[]FieldError{{"metrics[1].target", "required"}, {"metrics[1].targett", "unknown field"}}},
		{"unknown in predictive", policyDoc("predictive: {modee: off}"), []FieldError{{"predictive.modee", "unknown field"}}},
		{"unknown key quoted", policyDoc(`"a.b c": 1`), []FieldError{{`"a.b c"`, "unknown field"}}},

		// Wrong types.
		{"min string", policyDoc("min: two"), []FieldError{{"min", "must be an integer"}}},
		{"min quoted number", policyDoc(`min: "2"`), []FieldError{{"min", "must be an integer"}}},
		{"min fraction", policyDoc("min: 2.5"), []FieldError{{"min", "must be an integer"}}},
		{"min whole float", policyDoc("min: 2.0"), []FieldError{{"min", "must be an integer"}}},
		{"min hex", policyDoc("min: 0x10"), []FieldError{{"min", "must be a decimal integer"}}},
		{"min octal-looking", policyDoc("min: 010"), []FieldError{{"min", "must be a decimal integer"}}},
		{"min huge", policyDoc("min: 99999999999999999999"), []FieldError{{"min", "is out of range"}}},
		{"max list", policyDoc("max: [1]"), []FieldError{{"max", "must be an integer"}}},
		{"max bool", policyDoc("max: true"), []FieldError{{"max", "must be an integer"}}},
		{"fallback_size string", policyDoc("fallback_size: some"), []FieldError{{"fallback_size", "must be an integer"}}},
		{"tolerance string", policyDoc("tolerance: low"), []FieldError{{"tolerance", "must be a number"}}},
		{"tolerance hex", policyDoc("tolerance: 0x1"), []FieldError{{"tolerance", "must be a decimal number"}}},
		{"tolerance mapping", policyDoc("tolerance: {a: 1}"), []FieldError{{"tolerance", "must be a number"}}},
		{"id list", policyDoc("id: [web]"), []FieldError{{"id", "must be a string"}}},
		{"id binary", policyDoc("id: !!binary aGVsbG8="), []FieldError{{"id", "must be a string"}}},
		{"target scalar", policyDoc("target: web"), []FieldError{{"target", "must be a mapping"}}},
		{"scale_in list", policyDoc("scale_in: [1]"), []FieldError{{"scale_in", "must be a mapping"}}},
		{"metrics mapping", policyDoc("metrics: {cpu: 60}"), []FieldError{{"metrics", "must be a list"}}},
		{"metric item scalar", policyDoc("metrics: [cpu]"), []FieldError{{"metrics[0]", "must be a mapping"}}},
		{"metric target string", policyDoc("metrics: [{name: cpu, type: cpu, target: high}]"), []FieldError{{"metrics[0].target", "must be a number"}}},

		// Durations, enums, seasons.
		{"warmup words", policyDoc("warmup: 2 minutes"), []FieldError{{"warmup", "must be a duration such as 30s, 5m, 24h or 7d"}}},
		{"warmup bare number", policyDoc("warmup: 180"), []FieldError{{"warmup", "must be a duration such as 30s, 5m, 24h or 7d"}}},
		{"warmup lone dash", policyDoc("warmup: '-'"), []FieldError{{"warmup", "must be a duration such as 30s, 5m, 24h or 7d"}}},
		{"period list", policyDoc("scale_out: {max_step: {period: [1m]}}"), []FieldError{{"scale_out.max_step.period", "must be a duration such as 30s, 5m, 24h or 7d"}}},
		{"stale_after fractional days", policyDoc("stale_after: 1.5d"), []FieldError{{"stale_after", "must be a duration such as 30s, 5m, 24h or 7d"}}},
		{"season word", policyDoc("predictive: {season: weekly}"), []FieldError{{"predictive.season", "must be none, auto or a duration in [1m,30d]"}}},
		{"season zero", policyDoc("predictive: {season: 0s}"), []FieldError{{"predictive.season", "must be none, auto or a duration in [1m,30d]"}}},
		{"season too long", policyDoc("predictive: {season: 31d, history: 90d}"), []FieldError{{"predictive.season", "must be none, auto or a duration in [1m,30d]"}}},
		{"history_step 14d at 1m", policyDoc("predictive: {history: 14d, history_step: 1m}"), []FieldError{{"predictive.history_step", "must be at least predictive.history / 10080 (2m), so that the history is at most 10080 buckets"}}},
		{"history_step word", policyDoc("predictive: {history_step: fine}"), []FieldError{{"predictive.history_step", "must be a duration such as 30s, 5m, 24h or 7d"}}},
		{"max_extra without %", policyDoc("predictive: {max_extra: 5}"), []FieldError{{"predictive.max_extra", "must be none, 0 or a percentage such as 5%"}}},
		{"max_extra word", policyDoc("predictive: {max_extra: half}"), []FieldError{{"predictive.max_extra", "must be none, 0 or a percentage such as 5%"}}},
		{"max_extra list", policyDoc("predictive: {max_extra: [5%]}"), []FieldError{{"predictive.max_extra", "must be none, 0 or a percentage such as 5%"}}},
		{"max_extra above 100%", policyDoc("predictive: {max_extra: 150%}"), []FieldError{{"predictive.max_extra", "must be none or a percentage in (0%,100%], such as 5%"}}},
		{"max_extra negative", policyDoc("predictive: {max_extra: -1%}"), []FieldError{{"predictive.max_extra", "must be none, 0 or a percentage such as 5%"}}},
		{"mode enum", policyDoc("predictive: {mode: on}"), []FieldError{{"predictive.mode", "must be one of off, forecast-only, forecast-and-scale"}}},
		{"metric type enum", policyDoc("metrics: [{name: cpu, type: memory, target: 60}]"), []FieldError{{"metrics[0].type", "must be one of cpu, request_rate, queue_depth"}}},
		{"provider enum", policyDoc("target: {provider: digitalocean, group: g}"), []FieldError{{"target.provider", "must be one of aws, azure, gcp, fake"}}},
		{"NaN tolerance", policyDoc("tolerance: .nan"), []FieldError{{"tolerance", "must be a finite number"}}},
		{"Inf target", policyDoc("metrics: [{name: q, type: queue_depth, target: .inf}]"), []FieldError{{"metrics[0].target", "must be a finite number"}}},
		{"-Inf percent", policyDoc("scale_out: {max_step: {percent: -.inf}}"), []FieldError{{"scale_out.max_step.percent", "must be a finite number"}}},

		// Required fields, reported as required rather than as zero values.
		{"id missing", policyDoc("-id"), []FieldError{{"id", "required"}}},
		{"id empty", policyDoc(`id: ""`), []FieldError{{"id", "required"}}},
		{"min missing", policyDoc("-min"), []FieldError{{"min", "required"}}},
		{"max missing", policyDoc("-max"), []FieldError{{"max", "required"}}},
		{"max null", policyDoc("max: ~"), []FieldError{{"max", "required"}}},
		{"target missing", policyDoc("-target"), []FieldError{{"target.provider", "required"}}},
		{"target group missing", policyDoc("target: {provider: aws, region: r}"), []FieldError{{"target.group", "required for provider aws"}}},
		{"metrics missing", policyDoc("-metrics"), []FieldError{{"metrics", "at least one metric is required"}}},
		{"metrics empty", policyDoc("metrics: []"), []FieldError{{"metrics", "at least one metric is required"}}},
		{"metric target missing", policyDoc("metrics: [{name: cpu, type: cpu}]"), []FieldError{{"metrics[0].target", "required"}}},
		{"metrics nine", policyDoc("metrics: [{name: a, type: cpu, target: 1}, {name: b, type: cpu, target: 1}, {name: c, type: cpu, target: 1}, " +
			"{name: d, type: cpu, target: 1}, {name: e, type: cpu, target: 1}, {name: f, type: cpu, target: 1}, " +
			"{name: g, type: cpu, target: 1}, {name: h, type: cpu, target: 1}, {name: i, type: cpu, target: 0}]"),
			[]FieldError{{"metrics", "at most 8 metrics are allowed"}, {"metrics[8].target", "must be > 0"}}},
		{"metrics far too many", policyDoc("metrics: [" + strings.Repeat("x, ", 100) + "x]"), []FieldError{{"metrics", "at most 8 metrics are allowed"}}},
		{"metric null item", policyDoc("metrics: [~]"), []FieldError{
			{"metrics[0].name", "required"}, {"metrics[0].type", "required"}, {"metrics[0].target", "required"},
		}},

		// Duplicates, anchors, odd keys.
		{"duplicate top-level key", policyDoc("min: 1", "tolerance: 0.2\nmin: 3"), []FieldError{{"min", "duplicate key, first set on line 3"}}},
		{"duplicate nested key", policyDoc("scale_in: {cooldown: 1m, cooldown: 2m}"), []FieldError{{"scale_in.cooldown", "duplicate key, first set on line 6"}}},
		{"duplicate metric key", policyDoc("metrics: [{name: a, name: b, type: cpu, target: 1}]"), []FieldError{{"metrics[0].name", "duplicate key, first set on line 5"}}},
		{"anchor and alias", policyDoc("warmup: &w 60s", "stale_after: *w"), []FieldError{
			{"warmup", "anchors and aliases are not supported"},
			{"stale_after", "anchors and aliases are not supported"},
		}},
		{"merge key", policyDoc("base: &b {cooldown: 1m}", "scale_in: {<<: *b}"), []FieldError{
			{"base", "unknown field"},
			{`scale_in."<<"`, "unknown field"},
		}},
		{"non-scalar key", policyDoc("? [a, b]\n: 1"), []FieldError{{"", "keys must be plain field names (line 6)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if got := fieldErrors(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) fields:\n%q\nwant\n%q", tt.doc, got, tt.want)
			}
			if !reflect.DeepEqual(p, Policy{}) {
				t.Errorf("Parse returned a non-zero policy with an error: %+v", p)
			}
		})
	}
}

func TestParseDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"empty", "", "policy is empty"},
		{"whitespace", "  \n\n", "policy is empty"},
		{"comment only", "# nothing here\n", "policy is empty"},
		{"null", "~", "policy is empty"},
		{"null document marker", "---\n", "policy is empty"},
		{"scalar", "hello", "policy must be a mapping of fields (a YAML mapping or a JSON object)"},
		{"list", "[1, 2]", "policy must be a mapping of fields (a YAML mapping or a JSON object)"},
		{"JSON array", `[{"id": "web"}]`, "policy must be a mapping of fields (a YAML mapping or a JSON object)"},
		{"syntax", "id: [web", "yaml: line 1: did not find expected ',' or ']'"},
		{"bad indentation", "id: web\n  min: 2\n", "yaml: line 2: mapping values are not allowed in this context"},
		{"two documents", policyDoc() + "---\nid: other\n", "policy must be a single YAML document"},
		{"anchored root", "&root {id: web}", "anchors and aliases are not supported"},
		{"too large", "id: web\n" + strings.Repeat("#", MaxPolicyBytes), "policy is 1048584 bytes, larger than the 1048576-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			want := []FieldError{{Message: tt.want}}
			if got := fieldErrors(t, err); !reflect.DeepEqual(got, want) {
				t.Errorf("fields = %q, want %q", got, want)
			}
		})
	}
	// A trailing empty document is harmless and accepted.
	if _, err := Parse([]byte(policyDoc() + "---\n")); err != nil {
		t.Errorf("trailing empty document: %v", err)
	}
}

// TestParseReportsEverything parses testdata/many-errors.yaml, where every
// line breaks a rule, and expects all of them in document order.
func TestParseReportsEverything(t *testing.T) {
	data, err := os.ReadFile("testdata/many-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data)
	want := []FieldError{
		{"id", "must contain only lowercase letters, digits and '-'"},
		{"target.region", "required for provider aws"},
		{"target.zone", "not used by provider aws"},
		{"max", "must be >= min (5)"},
		{"warmup", "must be a duration such as 30s, 5m, 24h or 7d"},
		{"tolerance", "must be in [0,1)"},
		{"metrics[0].target", "must be in (0,100] for cpu"},
		{"metrics[1].name", "duplicate name, first used by metrics[0]"},
		{"metrics[1].type", "must be one of cpu, request_rate, queue_depth"},
		{"metrics[1].target", "must be > 0"},
		{"scale_in.max_stepp", "unknown field"},
		{"scale_in.max_step.percent", "must be in [0,100]"},
		{"predictive.mode", "must be one of off, forecast-only, forecast-and-scale"},
		{"predictive.history", "must be at least twice the season (48h)"},
	}
	if got := fieldErrors(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("fields:\n%q\nwant\n%q", got, want)
	}
	// Parsing twice gives the same list: the order does not depend on map
	// iteration.
	_, again := Parse(data)
	if err.Error() != again.Error() {
		t.Errorf("error order is not deterministic:\n%v\n---\n%v", err, again)
	}
}

// TestParseDoesNotDoubleReport checks that a field that fails to decode is
// not also reported by the rules that read it.
func TestParseDoesNotDoubleReport(t *testing.T) {
	tests := []struct {
		doc  string
		want []FieldError
	}{
		// min undecodable: max must not say "must be >= min (0)".
		{policyDoc("min: lots", "max: 3"), []FieldError{{"min", "must be an integer"}}},
		// max undecodable: fallback_size has nothing to compare with.
		{policyDoc("max: lots", "fallback_size: 500"), []FieldError{{"max", "must be an integer"}}},
		// interval undecodable: stale_after is not compared with it.
		{policyDoc("evaluation_interval: soon", "stale_after: 1s"), []FieldError{{"evaluation_interval", "must be a duration such as 30s, 5m, 24h or 7d"}}},
		// metric type undecodable: the cpu range is not applied.
		{policyDoc("metrics: [{name: x, type: [cpu], target: 500}]"), []FieldError{{"metrics[0].type", "must be a string"}}},
		// target block broken: no "required" for its fields.
		{policyDoc("target: [aws]"), []FieldError{{"target", "must be a mapping"}}},
		// duplicate key: the first value is used and the rest is checked.
		{policyDoc("max: 1", "tolerance: 0.1\nmax: 0"), []FieldError{{"max", "must be >= min (2)"}, {"max", "duplicate key, first set on line 4"}}},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		if got := fieldErrors(t, err); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q):\n%q\nwant\n%q", tt.doc, got, tt.want)
		}
	}
}

func TestParseCapsErrorCount(t *testing.T) {
	var b strings.Builder
	b.WriteString(policyDoc())
	for i := range 200 {
		b.WriteString("unknown_" + strconv.Itoa(i) + ": 1\n")
	}
	_, err := Parse([]byte(b.String()))
	fields := fieldErrors(t, err)
	if len(fields) != maxReportedErrors+1 {
		t.Fatalf("got %d fields, want %d", len(fields), maxReportedErrors+1)
	}
	if last := fields[len(fields)-1]; last != (FieldError{Message: "150 more problems not shown"}) {
		t.Errorf("last field = %q", last)
	}
}

// TestParseAcceptsLenientScalars pins what Parse accepts beyond the
// obvious: text that YAML types as a number or bool is still a string where
// a string is expected, and null means absent.
func TestParseAcceptsLenientScalars(t *testing.T) {
	doc := policyDoc(
		"id: 12345",
		"target: {provider: aws, group: 0123, region: true}",
		"min: +1",
		"tolerance: ~",
		"warmup: 0",
		"metrics: [{name: '2', type: queue_depth, target: 5}]",
	)
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.ID != "12345" || p.Target.Group != "0123" || p.Target.Region != "true" || p.Min != 1 || p.Metrics[0].Name != "2" {
		t.Errorf("parsed %+v", p)
	}
	if p.Tolerance != 0.1 {
		t.Errorf("tolerance: null should take the default, got %v", p.Tolerance)
	}
	if p.Warmup != 0 || p.Predictive.Lead != 0 {
		t.Errorf("warmup: 0 should stay 0 (and lead follow it), got %v / %v", p.Warmup, p.Predictive.Lead)
	}
}

func TestParseNeverReturnsPartialPolicy(t *testing.T) {
	p, err := Parse([]byte(policyDoc("max: 0")))
	if err == nil || !reflect.DeepEqual(p, Policy{}) {
		t.Errorf("Parse = %+v, %v; want zero policy and an error", p, err)
	}
}

// TestParseAliasBomb feeds a classic "billion laughs" document: it must be
// rejected quickly without expanding anything.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		prev := "*a" + strconv.Itoa(i-1)
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [" + strings.Repeat(prev+", ", 8) + prev + "]\n")
	}
	b.WriteString(policyDoc("-id", "-metrics"))
	b.WriteString("id: *a9\nmetrics: *a9\n")
	start := time.Now()
	_, err := Parse([]byte(b.String()))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse(bomb) = %v, want ErrInvalid", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Parse(bomb) took %v", elapsed)
	}
	fields := fieldErrors(t, err)
	if got := fields[len(fields)-1]; got != (FieldError{"metrics", "anchors and aliases are not supported"}) {
		t.Errorf("last field = %q", got)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	policies := map[string]Policy{}
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := Parse(data); err == nil {
			policies[f] = p
		}
	}
	if len(policies) < 5 {
		t.Fatalf("only %d valid policies in testdata", len(policies))
	}

	// Values that need care in YAML: strings that read as other types,
	// explicit zeros that must not turn into defaults, odd durations.
	odd := validFullPolicy()
	odd.ID = "007"
	odd.Target = Target{Provider: "aws", Group: "null", Region: "yes: no # not a comment"}
	odd.Min = 0
	odd.Tolerance = 0
	odd.Warmup = Duration(1500 * time.Millisecond)
	odd.Metrics[0].Target = 33.333333333333336
	odd.Metrics[1].Target = 1e-7
	odd.Metrics[2].Target = 1e21
	odd.ScaleOut.MaxStep = MaxStep{}
	odd.ScaleIn.MaxStep = MaxStep{Instances: 1, Period: Duration(36 * time.Hour / 2)}
	odd.Predictive = Predictive{Mode: PredictOff, Lead: 0, Season: Season{}, History: Duration(25 * time.Hour)}
	odd.StaleAfter = Duration(90*time.Second + time.Nanosecond)
	odd.FallbackSize = 40
	policies["odd"] = odd

	season := validFullPolicy()
	season.Predictive.Season = Season{Period: 24 * time.Hour}
	season.Predictive.History = Duration(30 * 24 * time.Hour)
	season.Target = Target{Provider: "gcp", Project: "p", Group: "g", Region: "r"}
	policies["season"] = season

	fine := validFullPolicy()
	fine.Predictive.HistoryStep = Duration(time.Minute)
	policies["history_step"] = fine

	for name, p := range policies {
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: test policy is invalid: %v", name, err)
		}
		out, err := Marshal(p)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("%s: Parse(Marshal(p)): %v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Errorf("%s: round trip changed the policy:\n%+v\n%+v\n%s", name, back, p, out)
		}
		again, err := Marshal(back)
		if err != nil || string(again) != string(out) {
			t.Errorf("%s: Marshal is not stable:\n%s\n---\n%s", name, out, again)
		}
	}
}

// TestMarshalLayout pins the documented field order and the duration
// style, since the README and the CLI show this output to operators.
func TestMarshalLayout(t *testing.T) {
	out, err := Marshal(validFullPolicy())
	if err != nil {
		t.Fatal(err)
	}
	const want = `id: web
target:
  provider: aws
  group: web-asg
  region: us-east-1
min: 2
max: 40
warmup: 3m
evaluation_interval: 10s
tolerance: 0.1
metrics:
  - {name: cpu, type: cpu, target: 60}
  - {name: rps, type: request_rate, target: 200}
  - {name: jobs, type: queue_depth, target: 50}
scale_out:
  cooldown: 1m
  max_step:
    instances: 4
    percent: 100
    period: 1m
scale_in:
  cooldown: 5m
  stabilization: 5m
  max_step:
    instances: 2
    percent: 10
    period: 1m
predictive:
  mode: forecast-and-scale
  lead: 3m
  season: auto
  history: 7d
  max_extra: 5%
stale_after: 1m
fallback_size: 0
`
	if string(out) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", out, want)
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts is
// valid and survives a Marshal round trip unchanged.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.*")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "~", "[]", "{}", "a: &a [*a]", "id: !!binary aGk=", "min: 0x_1", "warmup: -",
		policyDoc("predictive: {season: 1d, history: 2d}"),
		policyDoc("metrics: [~, {name: x}]"),
		policyDoc(`schedules: [{name: a, cron: "0 8 * * MON-FRI", timezone: Europe/Berlin, duration: 2h, min: 10}, {name: b, start: "2026-11-27T00:00:00.5+00:00", end: "2026-11-28T00:00:00-05:00", max: 30}]`),
		policyDoc("cost: {per_instance_hour: 0.192, currency: USD}"),
		policyDoc("predictive: {history: 7d, history_step: 1m}"),
		policyDoc("predictive: {mode: forecast-and-scale, max_extra: 2.5%}"),
		policyDoc("predictive: {max_extra: none}"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || len(ve.Fields) == 0 {
				t.Fatalf("Parse error %v (%T) is not a non-empty *ValidationError", err, err)
			}
			for _, fe := range ve.Fields {
				if fe.Message == "" {
					t.Fatalf("empty message in %q", ve.Fields)
				}
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy Validate rejects: %v", err)
		}
		out, err := Marshal(p)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(p)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip changed the policy:\n%+v\n%+v", back, p)
		}
	})
}
