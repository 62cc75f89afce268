package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/emukit"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
	"github.com/capstan-io/capstan/policy"
)

// BenchmarkCloudScale is issue 15's documented load run (`make
// bench-cloud`, BENCHMARKS.md "Cloud load run"): three `capstan agent`
// processes and CAPSTAN_CLOUD_POLICIES (10,000) load-run policies
// (scalePolicyOn), each scaling a group of its own in the emulator of
// CAPSTAN_CLOUD_PROVIDER (aws, gcp or azure), which this process serves
// over HTTP with a per-account rate limit of CAPSTAN_CLOUD_READ_RATE (20)
// reads and CAPSTAN_CLOUD_WRITE_RATE (10) writes a second, answering the
// provider's own throttle errors beyond it. The agents spend a call budget
// of the same rates (--cloud-read-rate, --cloud-write-rate) and refresh
// their group-state cache every --group-refresh (15 s).
//
// The groups start at 3 instances and BenchmarkScale's feeder sends
// samples that keep them there (300 requests/s against 100 per
// instance); after CAPSTAN_CLOUD_DURATION (2m) one push asks for 800
// requests/s on CAPSTAN_CLOUD_SCALEOUTS (10) random groups, and each
// group's size is watched in the emulator until it grows. Then the feeder
// stops and the leader's CPU is read from /proc over CAPSTAN_CLOUD_IDLE
// (1m). Everything is measured from outside the agents: the emulator's
// throttle counter and call log, every policy's decisions (a failed
// action whose reason is a throttle, group_age), the leader's /metrics
// (the group-state age histogram, the oldest cached state, the call
// budget's counters) and the load average. It prints a summary table.
// Run with -benchtime 1x.
func BenchmarkCloudScale(b *testing.B) {
	o := cloudRunOptions{
		Provider:  cmp.Or(os.Getenv("CAPSTAN_CLOUD_PROVIDER"), "aws"),
		Policies:  envInt(b, "CAPSTAN_CLOUD_POLICIES", 10000),
		ScaleOuts: envInt(b, "CAPSTAN_CLOUD_SCALEOUTS", 10),
		Feed:      envDuration(b, "CAPSTAN_CLOUD_DURATION", 2*time.Minute),
		Idle:      envDuration(b, "CAPSTAN_CLOUD_IDLE", time.Minute),
		Limit: emukit.RateLimit{ReadsPerSecond: float64(envInt(b, "CAPSTAN_CLOUD_READ_RATE", 20)),
			WritesPerSecond: float64(envInt(b, "CAPSTAN_CLOUD_WRITE_RATE", 10))},
	}
	o.ScaleOuts = min(o.ScaleOuts, o.Policies)
	logDir := os.Getenv("CAPSTAN_CLOUD_LOGS")
	for range b.N {
		emu, err := newLoadEmulator(o.Provider, o.Limit)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for i := range o.Policies {
			if err := emu.create(i); err != nil {
				b.Fatal(err)
			}
		}
		srv := httptest.NewServer(emu.handler)
		b.Cleanup(srv.Close)
		b.Logf("%s emulator at %s: %d groups of %d in %s; limit %v reads/s, %v writes/s per account",
			o.Provider, srv.URL, o.Policies, loadGroupSize, time.Since(t0).Round(time.Millisecond), o.Limit.ReadsPerSecond, o.Limit.WritesPerSecond)
		load0 := loadAverage()
		rates := []string{"--cloud-read-rate", fmt.Sprintf("%s=%v", o.Provider, o.Limit.ReadsPerSecond),
			"--cloud-write-rate", fmt.Sprintf("%s=%v", o.Provider, o.Limit.WritesPerSecond)}
		c := startClusterWith(b, 3, func(c *cluster) {
			c.inProcessCloud = true
			c.env = emu.env
			c.nodeArgs = func(nd *node) []string { return []string{"--debug-addr", debugAddr(b, nd)} }
		}, append(append(append(emu.args(srv.URL), rates...), raftDefault()...), "--log-level", "warn")...)
		t0 = time.Now()
		putPolicies(b, c, o.Policies, func(i int) string { return scalePolicyOn(i, emu.target(i)) })
		b.Logf("%d policies written in %s", o.Policies, time.Since(t0).Round(time.Millisecond))

		res := runCloudLoad(b, c, emu, o, logDir)
		res.load = [2]string{load0, loadAverage()}
		res.decisions = readDecisions(b, c, o.Policies)
		res.emulator = emu.summary()
		if logDir != "" {
			for _, nd := range c.nodes {
				c.kill(nd)
			}
			keepLogs(b, c, logDir)
		}
		var out bytes.Buffer
		fmt.Fprintf(&out, "\ncloud load run: %s emulator, %d policies, %v reads/s and %v writes/s per account, fed %s, %d scale-outs, idle %s; load average %s at the start, %s at the end\n\n",
			o.Provider, o.Policies, o.Limit.ReadsPerSecond, o.Limit.WritesPerSecond, o.Feed, o.ScaleOuts, o.Idle, res.load[0], res.load[1])
		writeScaleTable(&out, res.rows(o))
		b.Log(out.String())
		fmt.Fprint(os.Stderr, out.String())
	}
}

// cloudRunOptions are a cloud load run's settings.
type cloudRunOptions struct {
	Provider            string
	Policies, ScaleOuts int
	Feed, Idle          time.Duration
	Limit               emukit.RateLimit
}

// Sizes of the load run's groups and the samples that hold or grow them:
// the policies ask for one instance per 100 requests/s and per 50 queued.
const (
	loadGroupSize = 3
	loadRPS       = 300 // holds a group at 3
	loadQueue     = 100 // asks for 2: never the larger proposal
	loadBurstRPS  = 800 // asks for 8
)

// loadEmulator is one provider's emulator as the load run uses it.
type loadEmulator struct {
	handler http.Handler
	env     []string
	args    func(url string) []string
	// target is the i-th policy's target JSON; create makes its group.
	target func(i int) string
	create func(i int) error
	// desired is the i-th group's desired size in the emulator.
	desired func(i int) (int, error)
	// summary is the emulator's count of throttled calls and its call
	// log by operation.
	summary func() emulatorSummary
}

// emulatorSummary is what an emulator counted.
type emulatorSummary struct {
	Throttled uint64
	// Calls and ThrottledCalls are per operation, from the call log.
	Calls, ThrottledCalls map[string]int
}

// loadCallLog bounds the emulators' call logs: a run of minutes at tens
// of calls a second fits, throttled calls included.
const loadCallLog = 500_000

// The load run's accounts and their layouts: GCP groups in four zones,
// Azure scale sets in ten resource groups (BENCHMARKS "Batch describes").
const (
	loadGCPProject     = "capstan-load"
	loadAzureSub       = "10ad0000-0000-4000-8000-000000000015"
	loadGCPZones       = 4
	loadAzureResGroups = 10
)

// newLoadEmulator makes provider's emulator with the rate limit.
func newLoadEmulator(provider string, limit emukit.RateLimit) (*loadEmulator, error) {
	count := func(ops []string, throttled []bool, total uint64) emulatorSummary {
		s := emulatorSummary{Throttled: total, Calls: map[string]int{}, ThrottledCalls: map[string]int{}}
		for i, op := range ops {
			s.Calls[op]++
			if throttled[i] {
				s.ThrottledCalls[op]++
			}
		}
		return s
	}
	switch provider {
	case "aws":
		emu := awsemu.New(awsemu.Options{RateLimit: limit, MaxCalls: loadCallLog})
		return &loadEmulator{
			handler: emu,
			env:     []string{"AWS_ACCESS_KEY_ID=AKIDLOADRUN", "AWS_SECRET_ACCESS_KEY=e2e-not-a-secret", "AWS_EC2_METADATA_DISABLED=true"},
			args:    func(url string) []string { return []string{"--aws-endpoint", url} },
			target: func(i int) string {
				return `{"provider":"aws","group":"` + scalePolicyID(i) + `","region":"us-east-1"}`
			},
			create: func(i int) error { return emu.CreateGroup(scalePolicyID(i), 0, 50, loadGroupSize) },
			desired: func(i int) (int, error) {
				n, ok := emu.Desired(scalePolicyID(i))
				if !ok {
					return 0, fmt.Errorf("no group %s", scalePolicyID(i))
				}
				return n, nil
			},
			summary: func() emulatorSummary {
				var ops []string
				var thr []bool
				for _, c := range emu.Calls() {
					ops, thr = append(ops, c.Action), append(thr, c.Throttled)
				}
				return count(ops, thr, emu.Throttled())
			},
		}, nil
	case "gcp":
		emu := gcpemu.New(gcpemu.Options{RateLimit: limit, MaxCalls: loadCallLog})
		ref := func(i int) cloud.GroupRef {
			return cloud.GroupRef{Provider: "gcp", Project: loadGCPProject, Zone: fmt.Sprintf("us-central1-%c", 'a'+i%loadGCPZones), Group: scalePolicyID(i)}
		}
		return &loadEmulator{
			handler: emu,
			args:    func(url string) []string { return []string{"--gcp-endpoint", url, "--gcp-no-auth"} },
			target: func(i int) string {
				r := ref(i)
				return `{"provider":"gcp","project":"` + r.Project + `","zone":"` + r.Zone + `","group":"` + r.Group + `"}`
			},
			create:  func(i int) error { return emu.CreateGroup(ref(i), loadGroupSize, &gcpemu.Autoscaler{Min: 0, Max: 50}) },
			desired: func(i int) (int, error) { return emu.Desired(ref(i)) },
			summary: func() emulatorSummary {
				var ops []string
				var thr []bool
				for _, c := range emu.Calls() {
					ops, thr = append(ops, string(c.Op)), append(thr, c.Throttled)
				}
				return count(ops, thr, emu.Throttled())
			},
		}, nil
	case "azure":
		emu := azemu.New(azemu.Options{RateLimit: limit, MaxCalls: loadCallLog})
		rg := func(i int) string { return fmt.Sprintf("rg-%d", i%loadAzureResGroups) }
		return &loadEmulator{
			handler: emu,
			args: func(url string) []string {
				return []string{"--azure-endpoint", url, "--azure-emulator-token", azemu.DefaultToken}
			},
			target: func(i int) string {
				return `{"provider":"azure","subscription":"` + loadAzureSub + `","resource_group":"` + rg(i) + `","scale_set":"` + scalePolicyID(i) + `"}`
			},
			create:  func(i int) error { return emu.CreateGroup(loadAzureSub, rg(i), scalePolicyID(i), 0, 50, loadGroupSize) },
			desired: func(i int) (int, error) { return emu.Desired(loadAzureSub, rg(i), scalePolicyID(i)) },
			summary: func() emulatorSummary {
				var ops []string
				var thr []bool
				for _, c := range emu.Calls() {
					ops, thr = append(ops, c.Op), append(thr, c.Throttled)
				}
				return count(ops, thr, emu.Throttled())
			},
		}, nil
	}
	return nil, fmt.Errorf("CAPSTAN_CLOUD_PROVIDER: want aws, gcp or azure, got %q", provider)
}

// cloudResult is what a cloud load run measured.
type cloudResult struct {
	feed *scaleResult
	// scaleOut is each scaled-out group's time from the push to the
	// emulator's new size; missed counts those not grown within 30 s.
	scaleOut []time.Duration
	missed   int
	// decided is each scaled-out group's time from the push to the
	// leader's scale-out decision (the record's time), the evaluation's
	// share of scaleOut.
	decided []time.Duration
	// feedCPU is the CPU the leader at the end used while fed.
	feedCPU time.Duration
	// oldest is the largest capstan_group_state_oldest_seconds the
	// leader reported while polled every 2 s.
	oldest float64
	// leader is the node that led at the end; idleCPU its CPU over idle.
	leader  string
	idleCPU time.Duration
	// metricsErr is why the leader's /metrics could not be read at the
	// end ("" when it was).
	metricsErr string
	idle       time.Duration
	metrics    leaderMetrics
	load       [2]string
	// decisions summarizes every policy's decision records.
	decisions decisionSummary
	emulator  emulatorSummary
}

// runCloudLoad feeds samples, asks for the scale-outs, then idles, and
// reads the leader's metrics.
// With a logDir, the leader's CPU profile of the idle phase is kept there
// (leader-idle.pprof).
func runCloudLoad(b *testing.B, c *cluster, emu *loadEmulator, o cloudRunOptions, logDir string) *cloudResult {
	res := &cloudResult{}
	var mu sync.Mutex
	burst := map[int]bool{}
	plan := scalePlan{Policies: o.Policies, Clients: 4, Batch: 500, Period: 10 * time.Second,
		Value: func(pol, metric int, _ time.Time) float64 {
			if metric == 1 {
				return loadQueue
			}
			mu.Lock()
			defer mu.Unlock()
			if burst[pol] {
				return loadBurstRPS
			}
			return loadRPS
		}}
	plan.Batch = min(plan.Batch, plan.series()/plan.Clients)
	feed := &scaleResult{errors: map[string]int{}, terms: map[uint64]bool{}}
	res.feed = feed
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cpu0 := map[string]time.Duration{}
	for _, nd := range c.nodes {
		if u, err := readProc(nd.cmd.Process.Pid); err == nil {
			cpu0[nd.id] = u.CPU
		}
	}
	start := time.Now()
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		feedScale(ctx, c, plan, start, feed)
	}()
	// Poll the cluster view and the leader's oldest cached state every 2 s
	// until the idle phase starts.
	probeCtx, stopProbe := context.WithCancel(context.Background())
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-probeCtx.Done():
				return
			case <-tick.C:
			}
			leader := observeCluster(b, c, feed, start)
			if leader == nil {
				continue
			}
			if m, err := scrapeMetricsWithin(c, leader, 5*time.Second); err == nil {
				mu.Lock()
				res.oldest = max(res.oldest, m.gauge("capstan_group_state_oldest_seconds"))
				mu.Unlock()
			}
		}
	}()

	time.Sleep(o.Feed)
	picks := rand.Perm(o.Policies)[:o.ScaleOuts]
	samples := make([]api.Sample, 0, len(picks))
	now := time.Now().UTC()
	for _, i := range picks {
		samples = append(samples, api.Sample{Policy: scalePolicyID(i), Metric: scaleMetrics[0], Time: now, Value: loadBurstRPS})
	}
	mu.Lock()
	for _, i := range picks {
		burst[i] = true // the feeder's next samples ask for the same
	}
	mu.Unlock()
	pushed := time.Now()
	if _, err := c.nodes[0].client.PushMetrics(context.Background(), samples); err != nil {
		b.Fatalf("the scale-out push: %v", err)
	}
	res.scaleOut, res.missed = watchScaleOut(emu, picks, pushed, 30*time.Second)
	b.Logf("scale-outs: %d grew, %d did not within 30 s", len(res.scaleOut), res.missed)
	res.decided = decisionLags(b, c, picks, pushed)
	cancel()
	<-fed
	feed.wall = time.Since(start)
	if leader := c.waitLeader(time.Minute); leader != nil {
		if u, err := readProc(leader.cmd.Process.Pid); err == nil {
			res.feedCPU = u.CPU - cpu0[leader.id]
		}
	}

	// Idle: no samples, and no probes (a scrape of the leader's /metrics,
	// a series per policy, cost more than half of the leader's idle CPU
	// when it ran every 2 s). The evaluations that were due settle first.
	stopProbe()
	<-probed
	time.Sleep(10 * time.Second)
	leader := c.waitLeader(time.Minute)
	idle0, err := readProc(leader.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if logDir != "" {
		profileCPU(b, leader, o.Idle, filepath.Join(logDir, "leader-idle.pprof"))
	}
	time.Sleep(time.Until(t0.Add(o.Idle)))
	idle1, err := readProc(leader.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	res.leader, res.idleCPU, res.idle = leader.id, idle1.CPU-idle0.CPU, time.Since(t0)
	// A busy leader with 10,000 policies can take seconds to render its
	// /metrics (a series per policy): the last read gets a minute.
	m, err := scrapeMetricsWithin(c, leader, time.Minute)
	if err != nil {
		b.Logf("the leader's /metrics: %v", err)
		res.metricsErr = err.Error()
	}
	res.metrics = summarizeLeaderMetrics(m)
	return res
}

// observeCluster records the terms and leaders the nodes report in r, as
// runScaleLoad does, and returns the leader's node (nil if none).
func observeCluster(b *testing.B, c *cluster, r *scaleResult, start time.Time) *node {
	var leader *node
	for _, nd := range c.nodes {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		info, err := nd.client.Cluster(cctx)
		ccancel()
		if err != nil {
			continue
		}
		r.mu.Lock()
		if !r.terms[info.Term] {
			r.terms[info.Term] = true
			b.Logf("%s: %s at term %d (%s)", time.Since(start).Round(time.Second), nd.id, info.Term, info.Role)
		}
		if info.LeaderID != "" && (len(r.leaders) == 0 || r.leaders[len(r.leaders)-1] != info.LeaderID) {
			r.leaders = append(r.leaders, info.LeaderID)
		}
		r.mu.Unlock()
		if info.LeaderID == nd.id {
			leader = nd
		}
	}
	return leader
}

// watchScaleOut polls the picked groups' sizes every 5 ms until each has
// grown past loadGroupSize or within has passed, and returns the time
// from pushed to each growth and how many never grew.
func watchScaleOut(emu *loadEmulator, picks []int, pushed time.Time, within time.Duration) ([]time.Duration, int) {
	waiting := slices.Clone(picks)
	var got []time.Duration
	for len(waiting) > 0 && time.Since(pushed) < within {
		waiting = slices.DeleteFunc(waiting, func(i int) bool {
			n, err := emu.desired(i)
			if err == nil && n > loadGroupSize {
				got = append(got, time.Since(pushed))
				return true
			}
			return false
		})
		time.Sleep(5 * time.Millisecond)
	}
	return got, len(waiting)
}

// loadAverage is /proc/loadavg's three averages.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// readDecisions reads every policy's decisions, 16 policies at a time, and
// summarizes them.
func readDecisions(b *testing.B, c *cluster, n int) decisionSummary {
	var mu sync.Mutex
	var all []policy.Record
	work := make(chan int)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := c.nodes[w%len(c.nodes)]
			for i := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				recs, err := nd.client.Decisions(ctx, scalePolicyID(i), 100)
				cancel()
				if err != nil {
					b.Errorf("decisions of %s: %v", scalePolicyID(i), err)
					continue
				}
				mu.Lock()
				all = append(all, recs...)
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return summarizeDecisions(all)
}

// profileCPU writes nd's CPU profile over d (its --debug-addr pprof) to
// file; a failure is logged, not fatal: the profile only explains figures.
func profileCPU(b *testing.B, nd *node, d time.Duration, file string) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr(b, nd), int(d.Seconds()))
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Get(url)
	if err != nil {
		b.Logf("CPU profile of %s: %v", nd.id, err)
		return
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		b.Logf("CPU profile of %s: %v", nd.id, err)
		return
	}
	f, err := os.Create(file)
	if err != nil {
		b.Logf("CPU profile of %s: %v", nd.id, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		b.Logf("CPU profile of %s: %v", nd.id, err)
	}
}

// decisionLags reads the picked policies' decisions and returns, for each
// that has a scale-out decided after pushed, how long after it came.
func decisionLags(b *testing.B, c *cluster, picks []int, pushed time.Time) []time.Duration {
	var out []time.Duration
	for _, i := range picks {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		recs, err := c.nodes[0].client.Decisions(ctx, scalePolicyID(i), 100)
		cancel()
		if err != nil {
			b.Logf("decisions of %s: %v", scalePolicyID(i), err)
			continue
		}
		var first time.Time
		for _, r := range recs {
			if r.Action == "scale-out" && !r.Time.Before(pushed) && (first.IsZero() || r.Time.Before(first)) {
				first = r.Time
			}
		}
		if !first.IsZero() {
			out = append(out, first.Sub(pushed))
		}
	}
	return out
}
