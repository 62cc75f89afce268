package prom

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestPlanMergeRule states the merge rule case by case: which queries are
// answered by one merged query (and what that query is), and which run as
// written.
func TestPlanMergeRule(t *testing.T) {
	cases := []struct {
		name    string
		queries []string
		// merged are the merged queries sent, in plan order; single are the
		// queries sent as written.
		merged []string
		single []string
	}{
		{
			name:    "sum of rate differing in one label",
			queries: []string{`sum(rate(http_requests_total{job="web"}[1m]))`, `sum(rate(http_requests_total{job="api"}[1m]))`},
			merged:  []string{`sum by (job) (rate(http_requests_total{job=~"api|web"}[1m]))`},
		},
		{
			name:    "bare selector",
			queries: []string{`queue_depth{queue="a"}`, `queue_depth{queue="b"}`, `queue_depth{queue="c"}`},
			merged:  []string{`queue_depth{queue=~"a|b|c"}`},
		},
		{
			name:    "every allowed aggregation keeps its operator",
			queries: []string{`avg(cpu{svc="a"})`, `avg(cpu{svc="b"})`, `max(cpu{svc="a"})`, `max(cpu{svc="b"})`, `count(up{svc="a"})`, `count(up{svc="b"})`},
			merged:  []string{`avg by (svc) (cpu{svc=~"a|b"})`, `count by (svc) (up{svc=~"a|b"})`, `max by (svc) (cpu{svc=~"a|b"})`},
		},
		{
			name:    "range function without aggregation, offset kept",
			queries: []string{`avg_over_time(load{host="x"}[5m] offset 1m)`, `avg_over_time(load{host="y"}[5m] offset 1m)`},
			merged:  []string{`avg_over_time(load{host=~"x|y"}[5m] offset 1m)`},
		},
		{
			name:    "matcher order and parentheses do not matter",
			queries: []string{`(sum(x{env="prod",job="a"}))`, `sum(x{job="b",env="prod"})`},
			merged:  []string{`sum by (job) (x{env="prod",job=~"a|b"})`},
		},
		{
			name:    "regex metacharacters in values are quoted",
			queries: []string{`sum(x{path="/a.b"})`, `sum(x{path="/c|d"})`},
			merged:  []string{`sum by (path) (x{path=~"/a\\.b|/c\\|d"})`},
		},
		{
			name:    "identical values are asked for once",
			queries: []string{`sum(x{job="a"})`, `sum(x{job="b"})`, `sum(x{job="a"}) `},
			merged:  []string{`sum by (job) (x{job=~"a|b"})`},
		},
		{
			name:    "different offsets do not merge",
			queries: []string{`sum(x{job="a"} offset 1m)`, `sum(x{job="b"})`},
			single:  []string{`sum(x{job="a"} offset 1m)`, `sum(x{job="b"})`},
		},
		{
			name:    "two labels differ",
			queries: []string{`sum(x{job="a",env="1"})`, `sum(x{job="b",env="2"})`},
			single:  []string{`sum(x{job="a",env="1"})`, `sum(x{job="b",env="2"})`},
		},
		{
			name: "not mergeable shapes",
			queries: []string{
				`sum by (instance) (x{job="a"})`, `sum by (instance) (x{job="b"})`, // grouping already
				`sum without (i) (x{job="a"})`, `sum without (i) (x{job="b"})`,
				`topk(1, x{job="a"})`, `topk(1, x{job="b"})`, // parameter
				`sum(x{job="a"}) / 2`, `sum(x{job="b"}) / 2`, // binary operator
				`sum(label_replace(x{job="a"}, "job", "z", "", ""))`, `sum(label_replace(x{job="b"}, "job", "z", "", ""))`, // relabels
				`sum(rate(x{job="a"}[5m:1m]))`, `sum(rate(x{job="b"}[5m:1m]))`, // subquery
				`{__name__="a"}`, `{__name__="b"}`, // the name cannot be the label
				`x{job=~"a"}`, `x{job=~"b"}`, // only equality matchers are factored
				`x{job=""}`, `x{job="b",zone=""}`, // empty values are not
				`sum(x{job="a",job!="c"})`, `sum(x{job="b",job!="c"})`, // a second matcher on the label
				`scalar(x{job="a"})`, `scalar(x{job="b"})`,
				`sum(rate(x{job="a"}[1m]`, `sum(rate(x{job="b"}[1m]`, // does not parse
			},
		},
		{
			name:    "a lone query is sent as written",
			queries: []string{`sum(rate(x{job="web"}[1m]))`},
			single:  []string{`sum(rate(x{job="web"}[1m]))`},
		},
		{
			// q1 could merge on env (with q3) or on job (with q2): both
			// groups have two members, and the tie goes to env; q2 is then
			// left alone.
			name:    "the most shared candidate wins, ties by label name",
			queries: []string{`x{job="a",env="prod"}`, `x{job="b",env="prod"}`, `x{job="a",env="dev"}`},
			merged:  []string{`x{env=~"dev|prod",job="a"}`},
			single:  []string{`x{job="b",env="prod"}`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			qs := make([]string, len(c.queries))
			for i, q := range c.queries {
				qs[i] = strings.TrimSpace(q)
			}
			qs = slices.Compact(qs) // ReadBatch sends identical queries once
			jobs := plan(qs, DefaultMaxMerge)
			var merged, single []string
			seen := make([]int, len(qs))
			for _, j := range jobs {
				for _, m := range j.members {
					seen[m.index]++
				}
				if j.label == "" {
					single = append(single, j.query)
				} else {
					merged = append(merged, j.query)
				}
			}
			for i, n := range seen {
				if n != 1 {
					t.Errorf("query %q is in %d jobs", qs[i], n)
				}
			}
			if !slices.Equal(merged, c.merged) {
				t.Errorf("merged\n got %q\nwant %q", merged, c.merged)
			}
			wantSingle := c.single
			if wantSingle == nil && c.merged == nil {
				wantSingle = qs
			}
			if !slices.Equal(single, wantSingle) {
				t.Errorf("single\n got %q\nwant %q", single, wantSingle)
			}
		})
	}
}

// TestPlanChunks: a merged query selects at most maxMerge distinct values;
// a last chunk of one value runs as written.
func TestPlanChunks(t *testing.T) {
	var qs []string
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		qs = append(qs, `sum(x{job="`+v+`"})`)
	}
	var got []string
	for _, j := range plan(qs, 2) {
		got = append(got, j.query)
	}
	want := []string{`sum by (job) (x{job=~"a|b"})`, `sum by (job) (x{job=~"c|d"})`, `sum(x{job="e"})`}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// FuzzPlan: for any queries, every query is answered by exactly one job,
// every merged query parses, and each member's value is selected by it.
func FuzzPlan(f *testing.F) {
	for _, s := range []string{
		"sum(rate(x{job=\"a\"}[1m]))\nsum(rate(x{job=\"b\"}[1m]))",
		"x{a=\"1\",b=\"2\"}\nx{a=\"1\",b=\"3\"}\nx{a=\"2\",b=\"2\"}",
		"avg(y{p=\"\\\\.\"})\navg(y{p=\"|\"})\nfoo",
		"{__name__=\"x\",j=\"1\"}\n{__name__=\"x\",j=\"2\"}",
	} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, in string, maxMerge uint8) {
		qs := slices.Compact(strings.Split(in, "\n"))
		if len(qs) > 64 {
			return
		}
		seen := make([]int, len(qs))
		for _, j := range plan(qs, int(maxMerge)%8+1) {
			for _, m := range j.members {
				seen[m.index]++
			}
			if j.label == "" {
				if len(j.members) != 1 || j.query != qs[j.members[0].index] {
					t.Fatalf("single job %+v", j)
				}
				continue
			}
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(j.query)
			if err != nil {
				t.Fatalf("merged query %q does not parse: %v", j.query, err)
			}
			if len(j.members) < 2 {
				t.Fatalf("merged job with %d members", len(j.members))
			}
			var sel *parser.VectorSelector
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					sel = vs
				}
				return nil
			})
			for _, m := range j.members {
				var matched bool
				for _, lm := range sel.LabelMatchers {
					if lm.Name == j.label && lm.Matches(m.value) {
						matched = true
					}
				}
				if !matched {
					t.Fatalf("merged query %q does not select %s=%q", j.query, j.label, m.value)
				}
			}
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("query %q in %d jobs", qs[i], n)
			}
		}
	})
}
