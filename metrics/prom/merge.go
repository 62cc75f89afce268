package prom

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Merging queries: many policies often pull the same expression for
// different services, say sum(rate(http_requests_total{job="web"}[1m])) and
// the same with job="api". Such queries are answered by one query that
// selects every value with a regex matcher and keeps the label apart with
// `by`:
//
//	sum by (job) (rate(http_requests_total{job=~"web|api"}[1m]))
//
// and each policy's value is the series whose label has its value. The rule
// is exact: two queries merge when both have the shape below and are equal
// except for the value of one label's equality matcher.
//
// The shape, checked on the parsed expression (parentheses around the whole
// expression are ignored):
//
//	[AGG(] [FUNC(] SELECTOR [RANGE] [)] [)]
//
//   - AGG, when present, is sum, avg, min, max, count, group, stddev or
//     stdvar, with no by or without clause: an aggregation whose groups,
//     split by the factored label, are exactly the single queries' inputs.
//   - FUNC, when present, is a function of one range vector that works
//     series by series and keeps every label but the metric name: rate,
//     irate, increase, delta, idelta, deriv, or avg, min, max, sum, count or
//     last _over_time.
//   - SELECTOR has exactly one matcher on the factored label, an equality
//     with a non-empty value, and that label is not __name__ (the functions
//     drop the name, so the series could not be told apart). Offsets and @
//     modifiers are part of the template and must be equal.
//
// Anything else (binary operators, scalars, subqueries, other functions,
// aggregations with by/without or a parameter, topk, a query that does not
// parse) is run as written, one query per source. Matchers are compared in
// the printer's sorted order, so x{a="1",b="2"} and x{b="2",a="1"} share a
// template.
//
// A query may have several labels it could be merged on. Each candidate
// (label, template) is counted over the whole batch, and a query joins its
// most shared candidate, ties going to the smaller label name: greedy, but
// deterministic. A candidate that ends with one distinct value is not
// worth merging and runs as written.

// mergeAggregations are the aggregation operators a merged query may keep,
// with `by (label)` added.
var mergeAggregations = map[parser.ItemType]bool{
	parser.SUM: true, parser.AVG: true, parser.MIN: true, parser.MAX: true,
	parser.COUNT: true, parser.GROUP: true, parser.STDDEV: true, parser.STDVAR: true,
}

// mergeFunctions are the series-by-series range functions a merged query
// may keep.
var mergeFunctions = map[string]bool{
	"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true,
	"avg_over_time": true, "min_over_time": true, "max_over_time": true, "sum_over_time": true,
	"count_over_time": true, "last_over_time": true,
}

// DefaultMaxMerge is how many sources one merged query answers at most when
// Options.MaxMerge is zero: Prometheus matches a regex that is an
// alternation of up to 256 literal values with a set lookup
// (model/labels maxSetMatches), and a longer one with a slower scan.
const DefaultMaxMerge = 256

// job is one query a batch sends: either a single source's query as
// written, or a merged query answering several sources.
type job struct {
	// query is what is sent to Prometheus.
	query string
	// label is the factored label of a merged query; empty for a single.
	label string
	// members are the batch indexes of the queries the job answers and,
	// for a merged job, the label value that picks each one's series.
	members []member
}

// member is one query a job answers.
type member struct {
	index int
	value string
}

// shaped is a parsed query of a mergeable shape.
type shaped struct {
	expr parser.Expr
	agg  *parser.AggregateExpr // nil without an aggregation
	sel  *parser.VectorSelector
}

// newParser returns the parser merging uses; a fresh one per plan, since
// parser.Parser is not documented as safe for concurrent use.
func newParser() parser.Parser { return parser.NewParser(parser.Options{}) }

// mergeShape parses q and reports whether it has a mergeable shape.
func mergeShape(p parser.Parser, q string) (shaped, bool) {
	expr, err := p.ParseExpr(q)
	if err != nil {
		return shaped{}, false
	}
	e := unparen(expr)
	s := shaped{expr: e}
	if a, ok := e.(*parser.AggregateExpr); ok {
		if !mergeAggregations[a.Op] || a.Param != nil || a.Without || len(a.Grouping) > 0 {
			return shaped{}, false
		}
		s.agg = a
		e = unparen(a.Expr)
	}
	switch e := e.(type) {
	case *parser.VectorSelector:
		s.sel = e
	case *parser.Call:
		if e.Func == nil || !mergeFunctions[e.Func.Name] || len(e.Args) != 1 {
			return shaped{}, false
		}
		m, ok := e.Args[0].(*parser.MatrixSelector)
		if !ok {
			return shaped{}, false
		}
		vs, ok := m.VectorSelector.(*parser.VectorSelector)
		if !ok {
			return shaped{}, false
		}
		s.sel = vs
	default:
		return shaped{}, false
	}
	return s, true
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// candidates returns the labels s may be merged on, each with its value
// and its template (the query printed with that label's value replaced),
// in label order.
func (s shaped) candidates() []candidate {
	count := map[string]int{}
	for _, m := range s.sel.LabelMatchers {
		count[m.Name]++
	}
	var out []candidate
	for i, m := range s.sel.LabelMatchers {
		if m.Name == labels.MetricName || m.Type != labels.MatchEqual || m.Value == "" || count[m.Name] != 1 {
			continue
		}
		// Any fixed placeholder works: the key holds the label name, and the
		// other matchers are printed unchanged, so two templates are equal
		// exactly when their queries differ in this label's value alone.
		s.sel.LabelMatchers[i] = &labels.Matcher{Type: labels.MatchEqual, Name: m.Name, Value: "\x00"}
		out = append(out, candidate{label: m.Name, value: m.Value, key: m.Name + "\x00" + s.expr.String()})
		s.sel.LabelMatchers[i] = m
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.label, b.label) })
	return out
}

// candidate is one way to merge a query.
type candidate struct {
	label, value, key string
}

// plan decides which queries run merged. queries are the batch's distinct
// queries; every index appears in exactly one job. maxMerge (> 0) bounds
// the members of a merged job. Jobs come out in a deterministic order:
// merged jobs by key, then singles by index.
func plan(queries []string, maxMerge int) []job {
	p := newParser()
	shapes := make([]shaped, len(queries))
	cands := make([][]candidate, len(queries))
	counts := map[string]int{}
	for i, q := range queries {
		s, ok := mergeShape(p, q)
		if !ok {
			continue
		}
		shapes[i] = s
		cands[i] = s.candidates()
		for _, c := range cands[i] {
			counts[c.key]++
		}
	}
	groups := map[string][]int{}
	chosen := make([]candidate, len(queries))
	var singles []int
	for i := range queries {
		best := -1
		for j, c := range cands[i] {
			if best < 0 || counts[c.key] > counts[cands[i][best].key] {
				best = j
			}
		}
		if best < 0 {
			singles = append(singles, i)
			continue
		}
		chosen[i] = cands[i][best]
		groups[chosen[i].key] = append(groups[chosen[i].key], i)
	}
	var jobs []job
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		idx := groups[key]
		values := map[string]bool{}
		for _, i := range idx {
			values[chosen[i].value] = true
		}
		if len(values) < 2 {
			singles = append(singles, idx...)
			continue
		}
		// Members sharing a value stay in one chunk, so each value is
		// asked for once; chunks are cut by distinct values.
		slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(chosen[a].value, chosen[b].value) })
		for len(idx) > 0 {
			n, distinct := 0, 0
			for n < len(idx) {
				if n == 0 || chosen[idx[n]].value != chosen[idx[n-1]].value {
					if distinct == maxMerge {
						break
					}
					distinct++
				}
				n++
			}
			chunk := idx[:n]
			idx = idx[n:]
			if distinct < 2 {
				singles = append(singles, chunk...)
				continue
			}
			jobs = append(jobs, mergedJob(p, queries[chunk[0]], chosen[chunk[0]].label, chunk, chosen))
		}
	}
	slices.Sort(singles)
	for _, i := range singles {
		jobs = append(jobs, job{query: queries[i], members: []member{{index: i}}})
	}
	return jobs
}

// mergedJob rewrites query (a member of the chunk) to select every member's
// value of label and keep the label in the result.
func mergedJob(p parser.Parser, query, label string, chunk []int, chosen []candidate) job {
	// A fresh parse: the shapes in plan share their matchers with the
	// candidates' keys, and this rewrite must not disturb them.
	s, _ := mergeShape(p, query)
	var values []string
	j := job{label: label}
	for _, i := range chunk {
		v := chosen[i].value
		if len(values) == 0 || values[len(values)-1] != v {
			values = append(values, v)
		}
		j.members = append(j.members, member{index: i, value: v})
	}
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = regexp.QuoteMeta(v)
	}
	re := labels.MustNewMatcher(labels.MatchRegexp, label, strings.Join(quoted, "|"))
	for i, m := range s.sel.LabelMatchers {
		if m.Name == label {
			s.sel.LabelMatchers[i] = re
		}
	}
	if s.agg != nil {
		s.agg.Grouping = []string{label}
	}
	j.query = s.expr.String()
	return j
}
