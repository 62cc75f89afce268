package controlplane

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
)

// BenchmarkPolicyGauges measures the leader's heap held by its
// per-policy Prometheus series (capacity.go, the freshness gauges) after
// one evaluation of each of 10,000 load-run policies, the series they
// export, and one scrape of them: gathering and writing the text format
// (wall and CPU time, the page's size).
//
//	go test -run '^$' -bench PolicyGauges -benchtime 1x ./controlplane/
func BenchmarkPolicyGauges(b *testing.B) {
	const policies = 10000
	now := time.Now().UTC()
	ps := make([]policy.Policy, policies)
	ds := make([]policy.Decision, policies)
	ins := make([]policy.Inputs, policies)
	for i := range ps {
		ps[i] = loadPolicy(b, fmt.Sprintf("s%05d", i))
		ins[i] = policy.Inputs{Current: 4, Ready: 4}
		for m := range 2 {
			ins[i].Metrics[m] = policy.Sample{Time: now, Value: loadValue(i, m, now), Present: true}
		}
		ds[i] = policy.Evaluate(ps[i], ins[i], policy.State{}, now)
	}
	gs := cloud.GroupState{Desired: 4, InService: 4, Min: 1, Max: 50}
	for range b.N {
		reg := prometheus.NewRegistry()
		m, err := newNodeMetrics(reg, &Node{fsm: NewFSM(10)})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range ps {
			m.policies.observe(ps[i], gs, ins[i], ds[i], now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		// A scrape: gather and write the text format, as /metrics does.
		start, cpu0 := time.Now(), cpuTime()
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		var page bytes.Buffer
		enc := expfmt.NewEncoder(&page, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "scrape-ms")
		b.ReportMetric(float64((cpuTime() - cpu0).Milliseconds()), "scrape-cpu-ms")
		b.ReportMetric(float64(page.Len())/1e6, "pageMB")
		series := 0
		for _, mf := range mfs {
			series += len(mf.GetMetric())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "heapMB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/policies, "B/policy")
		b.ReportMetric(float64(series)/policies, "series/policy")
		runtime.KeepAlive(m)
	}
}
