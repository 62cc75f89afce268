package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestMetricSources(t *testing.T) {
	base := "id: web\ntarget: {provider: fake, group: g}\nmin: 1\nmax: 5\nmetrics:\n"
	tests := []struct {
		name   string
		metric string
		errs   []string // "path: message" substrings; none = valid
	}{
		{"default is push", `  - {name: rps, type: request_rate, target: 10}`, nil},
		{"explicit push", `  - {name: rps, type: request_rate, target: 10, source: {kind: push}}`, nil},
		{"prometheus", `  - {name: cpu, type: cpu, target: 60, source: {kind: prometheus, query: 'avg(rate(process_cpu_seconds_total{job="web"}[1m])) * 100'}}`, nil},
		{"sqs", `  - {name: jobs, type: queue_depth, target: 50, source: {kind: sqs, queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs", region: us-east-1, include_in_flight: true}}`, nil},
		{"unknown kind", `  - {name: rps, type: request_rate, target: 10, source: {kind: kafka}}`,
			[]string{"metrics[0].source.kind: must be one of push, prometheus, sqs"}},
		{"prometheus needs a query", `  - {name: rps, type: request_rate, target: 10, source: {kind: prometheus}}`,
			[]string{"metrics[0].source.query: required for source kind prometheus"}},
		{"sqs needs a queue and a region", `  - {name: jobs, type: queue_depth, target: 50, source: {kind: sqs}}`,
			[]string{"metrics[0].source.queue_url: required", "metrics[0].source.region: required"}},
		{"sqs is a backlog", `  - {name: rps, type: request_rate, target: 10, source: {kind: sqs, queue_url: "https://sqs.us-east-1.amazonaws.com/1/q", region: us-east-1}}`,
			[]string{"metrics[0].source.kind: sqs measures a backlog"}},
		{"fields of another kind", `  - {name: rps, type: request_rate, target: 10, source: {kind: push, query: up, region: x}}`,
			[]string{"metrics[0].source.query: not used by source kind push", "metrics[0].source.region: not used by source kind push"}},
		// Every field of another kind is refused with the same message
		// (notFor), whatever it holds: text, a flag or matchers.
		{"in-flight is for sqs", `  - {name: rps, type: request_rate, target: 10, source: {include_in_flight: true}}`,
			[]string{"metrics[0].source.include_in_flight: not used by source kind push"}},
		{"prometheus takes no queue", `  - {name: cpu, type: cpu, target: 60, source: {kind: prometheus, query: up, queue_url: "https://sqs.us-east-1.amazonaws.com/1/q", region: x, include_in_flight: true}}`,
			[]string{"metrics[0].source.queue_url: not used by source kind prometheus", "metrics[0].source.region: not used by source kind prometheus", "metrics[0].source.include_in_flight: not used by source kind prometheus"}},
		{"sqs takes no query or matchers", `  - {name: jobs, type: queue_depth, target: 50, source: {kind: sqs, queue_url: "https://sqs.us-east-1.amazonaws.com/1/q", region: us-east-1, query: up, match: {job: a}}}`,
			[]string{"metrics[0].source.match: not used by source kind sqs", "metrics[0].source.query: not used by source kind sqs"}},
		{"unknown field", `  - {name: rps, type: request_rate, target: 10, source: {kind: push, quary: up}}`,
			[]string{"metrics[0].source.quary: unknown field"}},
		{"bool field", `  - {name: jobs, type: queue_depth, target: 50, source: {kind: sqs, queue_url: "https://sqs.us-east-1.amazonaws.com/1/q", region: us-east-1, include_in_flight: yes}}`,
			[]string{"metrics[0].source.include_in_flight: must be true or false"}},
		{"label matchers", `  - {name: rps, type: request_rate, target: 10, source: {match: {__name__: "job:http_requests:rate1m", job: web}, match_re: {instance: "web-.*", zone: ".*"}}}`, nil},
		{"regex matchers alone", `  - {name: rps, type: request_rate, target: 10, source: {kind: push, match_re: {job: "web|api"}}}`, nil},
		{"matcher label names", `  - {name: rps, type: request_rate, target: 10, source: {match: {"1x": a, "a-b": c, job: web}}}`,
			[]string{"metrics[0].source.match.1x: must be a Prometheus label name", "metrics[0].source.match.a-b: must be a Prometheus label name"}},
		{"routing labels are not matchers", `  - {name: rps, type: request_rate, target: 10, source: {match: {capstan_policy: web, job: web}}}`,
			[]string{"metrics[0].source.match.capstan_policy: capstan_policy and capstan_metric route a series by themselves"}},
		{"bad regex", `  - {name: rps, type: request_rate, target: 10, source: {match_re: {instance: "web-("}}}`,
			[]string{"metrics[0].source.match_re.instance: must be an RE2 regular expression: error parsing regexp: missing closing )"}},
		{"matchers that select everything", `  - {name: rps, type: request_rate, target: 10, source: {match: {job: ""}, match_re: {instance: ".*"}}}`,
			[]string{"metrics[0].source.match: needs at least one matcher that a series without the label cannot satisfy"}},
		{"empty matcher map", `  - {name: rps, type: request_rate, target: 10, source: {match: {}}}`,
			[]string{"metrics[0].source.match: must name at least one label"}},
		{"matchers are for push", `  - {name: cpu, type: cpu, target: 60, source: {kind: prometheus, query: up, match: {job: web}, match_re: {a: b}}}`,
			[]string{"metrics[0].source.match: not used by source kind prometheus", "metrics[0].source.match_re: not used by source kind prometheus"}},
		{"matcher values are strings", `  - {name: rps, type: request_rate, target: 10, source: {match: {job: [a]}}}`,
			[]string{"metrics[0].source.match.job: must be a string"}},
		{"duplicate matcher", "  - name: rps\n    type: request_rate\n    target: 10\n    source:\n      match: {job: a, job: b}",
			[]string{"metrics[0].source.match.job: duplicate key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(base + tc.metric + "\n"))
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				// Marshal and Parse round-trip the source.
				out, err := Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				again, err := Parse(out)
				if err != nil || !reflect.DeepEqual(p, again) {
					t.Fatalf("round trip: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}
