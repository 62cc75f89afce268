package e2e

// The building blocks of the cloud load run (BenchmarkCloudScale, `make
// bench-cloud`): reading an agent's /metrics, summarizing decisions and
// metrics, and the summary's rows. The pure ones are checked by
// TestCloudLoadBlocks in milliseconds.

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/capstan-io/capstan/policy"
)

// metricFamilies is a parsed /metrics page.
type metricFamilies map[string]*dto.MetricFamily

// parseMetrics parses Prometheus's text exposition format.
func parseMetrics(r io.Reader) (metricFamilies, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// scrapeMetricsWithin reads nd's /metrics with the read token, waiting at
// most within.
func scrapeMetricsWithin(c *cluster, nd *node, within time.Duration) (metricFamilies, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+nd.httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if c.auth != nil {
		req.Header.Set("Authorization", "Bearer "+c.auth.secrets["read"])
	}
	resp, err := (&http.Client{Timeout: within}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics on %s: HTTP %d", nd.id, resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// labelsOf is a sample's labels.
func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// gauge is the value of an unlabelled gauge, 0 when absent.
func (f metricFamilies) gauge(name string) float64 {
	if mf, ok := f[name]; ok && len(mf.GetMetric()) > 0 {
		return mf.GetMetric()[0].GetGauge().GetValue()
	}
	return 0
}

// sums adds a counter's or gauge's samples up by the value of label key.
func (f metricFamilies) sums(name, key string) map[string]float64 {
	out := map[string]float64{}
	mf, ok := f[name]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		out[labelsOf(m)[key]] += v
	}
	return out
}

// leaderMetrics is what the load run reads from the leader's /metrics.
type leaderMetrics struct {
	// Evaluations counts the group-state ages observed; Over30s those
	// above 30 s (the histogram's 30 s bucket); AgeP99 is the upper bound
	// of the bucket holding the 99th percentile (+Inf past the last).
	Evaluations, Over30s uint64
	AgeP99               float64
	// Calls are capstan_cloud_calls_total by "op result".
	Calls map[string]float64
	// DescribeErrors are evaluations that could not describe their group.
	DescribeErrors float64
	// Described are groups described for the cache, by reason.
	Described map[string]float64
	// Rates are the budget buckets' current rates, by bucket (read, write).
	Rates map[string]float64
}

// summarizeLeaderMetrics reads leaderMetrics out of a /metrics page.
func summarizeLeaderMetrics(f metricFamilies) leaderMetrics {
	lm := leaderMetrics{Calls: map[string]float64{}, Described: f.sums("capstan_group_describes_total", "reason"),
		Rates: f.sums("capstan_cloud_budget_rate", "bucket")}
	if mf, ok := f["capstan_group_state_age_seconds"]; ok && len(mf.GetMetric()) > 0 {
		h := mf.GetMetric()[0].GetHistogram()
		lm.Evaluations = h.GetSampleCount()
		lm.AgeP99 = math.Inf(1)
		found := false
		for _, bk := range h.GetBucket() {
			if bk.GetUpperBound() == 30 {
				lm.Over30s = lm.Evaluations - bk.GetCumulativeCount()
			}
			if !found && float64(bk.GetCumulativeCount()) >= 0.99*float64(lm.Evaluations) {
				lm.AgeP99, found = bk.GetUpperBound(), true
			}
		}
	}
	if mf, ok := f["capstan_cloud_calls_total"]; ok {
		for _, m := range mf.GetMetric() {
			l := labelsOf(m)
			lm.Calls[l["op"]+" "+l["result"]] += m.GetCounter().GetValue()
		}
	}
	lm.DescribeErrors = f.sums("capstan_evaluation_errors_total", "stage")["describe"]
	return lm
}

// decisionSummary is what every policy's decision records show.
type decisionSummary struct {
	Records int
	Actions map[string]int
	// Throttled are failed or in-doubt actions whose reason is a
	// provider's throttle answer; HeldBack those the call budget held back
	// (never sent).
	Throttled, HeldBack int
	// Failures are the reasons of the first few failed or in-doubt
	// actions, for the report.
	Failures []string
	// Examples are the first reason seen of each action.
	Examples map[string]string
	// Ages are the group ages the decisions record (those that have one).
	Ages []time.Duration
}

// throttleWords are what the providers' throttle answers say, as the
// drivers pass them into an error's text (lower case): AWS's Throttling
// "Rate exceeded", GCP's rateLimitExceeded ("Rate Limit Exceeded"), ARM's
// 429 TooManyRequests,
// and cloud.ErrThrottled's own "throttled".
var throttleWords = []string{"throttl", "rate exceeded", "rate limit exceeded", "ratelimitexceeded", "too many requests", "toomanyrequests", "429"}

// isThrottleReason reports whether a decision's reason carries a
// provider's throttle answer.
func isThrottleReason(reason string) bool {
	r := strings.ToLower(reason)
	return slices.ContainsFunc(throttleWords, func(w string) bool { return strings.Contains(r, w) })
}

// summarizeDecisions counts actions and throttle failures and collects
// the group ages of recs.
func summarizeDecisions(recs []policy.Record) decisionSummary {
	s := decisionSummary{Records: len(recs), Actions: map[string]int{}, Examples: map[string]string{}}
	for _, r := range recs {
		s.Actions[r.Action]++
		if _, ok := s.Examples[r.Action]; !ok {
			s.Examples[r.Action] = r.Reason
		}
		if r.GroupAge > 0 {
			s.Ages = append(s.Ages, time.Duration(r.GroupAge))
		}
		if r.Action != "failed" && r.Action != "in_doubt" {
			continue
		}
		switch {
		case isThrottleReason(r.Reason):
			s.Throttled++
		case strings.Contains(r.Reason, "no call token"):
			s.HeldBack++
		}
		if len(s.Failures) < 3 {
			s.Failures = append(s.Failures, r.Action+": "+r.Reason)
		}
	}
	return s
}

// rows summarizes a cloud load run against issue 15's targets.
func (r *cloudResult) rows(o cloudRunOptions) []scaleRow {
	d, lm, e := r.decisions, r.metrics, r.emulator
	ages := slices.Clone(d.Ages)
	lat := slices.Clone(r.scaleOut)
	p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)
	changes := max(len(r.feed.leaders)-1, len(r.feed.terms)-1, 0)
	thrLeader := 0.0
	for k, v := range lm.Calls {
		if strings.HasSuffix(k, " throttled") {
			thrLeader += v
		}
	}
	idle := r.idleCPU.Seconds() / max(r.idle.Seconds(), 1e-9)
	oldestOK := r.oldest <= 30 && lm.Over30s == 0
	return []scaleRow{
		{What: "throttled calls (emulator)", Got: fmt.Sprintf("%d; calls by op %v, throttled %v", e.Throttled, e.Calls, e.ThrottledCalls)},
		{What: "throttled calls (leader's capstan_cloud_calls_total)", Got: fmt.Sprintf("%.0f; by op and result %v%s", thrLeader, lm.Calls, unread(r.metricsErr))},
		{What: "throttled answers reaching a decision", Got: fmt.Sprintf("%d (of %d decisions %v; held back by the budget %d; failures %q)", d.Throttled, d.Records, d.Actions, d.HeldBack, d.Failures),
			Target: "0", Met: check(d.Throttled == 0)},
		{What: "decisions: a reason of each action", Got: fmt.Sprintf("%q", d.Examples)},
		{What: "evaluations whose describe failed", Got: fmt.Sprintf("%.0f", lm.DescribeErrors)},
		{What: "group state age: decisions' group_age p99 / max", Got: fmt.Sprintf("%s / %s (%d decisions)", ms(percentile(ages, 0.99)), ms(percentile(ages, 1)), len(ages))},
		{What: "group state age: evaluations over 30 s, p99 bucket; oldest cached (polled every 2 s)",
			Got: fmt.Sprintf("%d of %d, p99 ≤ %g s; oldest %.1f s", lm.Over30s, lm.Evaluations, lm.AgeP99, r.oldest), Target: "≤ 30 s", Met: check(oldestOK)},
		{What: "groups described for the cache, by reason", Got: fmt.Sprintf("%v", lm.Described)},
		{What: "budget rate at the end, by bucket", Got: fmt.Sprintf("%v (configured %v reads/s, %v writes/s)", lm.Rates, o.Limit.ReadsPerSecond, o.Limit.WritesPerSecond)},
		{What: "scale-out: push to the emulator's new size, p50 / p99", Got: fmt.Sprintf("%s / %s (%d groups, %d not within 30 s)", ms(p50), ms(p99), len(lat), r.missed),
			Target: "p99 < 1 s", Met: check(r.missed == 0 && len(lat) > 0 && p99 < time.Second)},
		{What: "scale-out: push to the leader's decision, p50 / max", Got: fmt.Sprintf("%s / %s (%d decided)", ms(percentile(slices.Clone(r.decided), 0.5)), ms(percentile(slices.Clone(r.decided), 1)), len(r.decided))},
		{What: "leader CPU while fed (" + r.leader + ")", Got: fmt.Sprintf("%.1f %% of a core", 100*r.feedCPU.Seconds()/max(r.feed.wall.Seconds(), 1e-9))},
		{What: "samples accepted while feeding", Got: fmt.Sprintf("%d over %s, push errors %v", r.feed.pushed.Load(), r.feed.wall.Round(time.Second), r.feed.errors)},
		{What: "leadership changes", Got: fmt.Sprintf("%d (terms %v, leaders %v)", changes, sortedTerms(r.feed.terms), r.feed.leaders), Target: "0", Met: check(changes == 0)},
		{What: "leader CPU at idle (" + r.leader + ", no samples)", Got: fmt.Sprintf("%.1f %% of a core over %s", 100*idle, r.idle.Round(time.Second)),
			Target: "< 5 %", Met: check(idle < 0.05)},
	}
}

// unread notes, after a figure from the leader's /metrics, that it could
// not be read.
func unread(err string) string {
	if err == "" {
		return ""
	}
	return " (the leader's /metrics unread: " + err + ")"
}
