package e2e

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

// BenchmarkScale is the control plane's documented load run (`make
// bench-scale`, issue 10): three `capstan agent` processes, each with its
// in-process fake cloud (CAPSTAN_SCALE_CLOUD=http shares one `capstan
// fakecloud` instead), CAPSTAN_SCALE_POLICIES (10,000) two-metric
// forecast-and-scale policies, one sample per metric every 10 s (2,000
// samples/s) in batches of 500 from four clients spread over the three
// nodes, for CAPSTAN_SCALE_DURATION (default 3m; the run is 30m).
// Everything is measured from outside the processes: terms and leaders
// from /v1/cluster, push latency at the client, CPU and RSS from /proc,
// snapshots from the data directories. Then all three are killed with
// SIGKILL and restarted (time to the first evaluation), and a follower's
// data directory is wiped (time to catch up). It prints a summary table.
// Run with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	dur := envDuration(b, "CAPSTAN_SCALE_DURATION", 3*time.Minute)
	plan := scalePlan{Policies: envInt(b, "CAPSTAN_SCALE_POLICIES", 10000), Clients: 4, Batch: 500, Period: 10 * time.Second}
	// A small smoke setting keeps each series at one sample per batch.
	plan.Batch = min(plan.Batch, plan.series()/plan.Clients)
	httpCloud := os.Getenv("CAPSTAN_SCALE_CLOUD") == "http"
	history := envDuration(b, "CAPSTAN_SCALE_HISTORY", 0)
	// CAPSTAN_SCALE_LOGS names a directory to keep each agent's log in
	// (NODE.log), and CAPSTAN_SCALE_LOG_LEVEL their level (warn; info
	// adds Raft's snapshot lines, to line elections up with snapshots).
	logDir, logLevel := os.Getenv("CAPSTAN_SCALE_LOGS"), cmp.Or(os.Getenv("CAPSTAN_SCALE_LOG_LEVEL"), "warn")
	// CAPSTAN_SCALE_GOMEMLIMIT is the agents' GOMEMLIMIT (README,
	// "Memory"), set for them only: the benchmark process holds the
	// seeded state too.
	limit := os.Getenv("CAPSTAN_SCALE_GOMEMLIMIT")
	// CAPSTAN_SCALE_RAFT_MULTIPLIER is the agents' --raft-multiplier
	// (default: the agent's default), to measure elections under load at
	// another Raft timing (BENCHMARKS.md, "Elections under load").
	raftArgs := raftDefault()
	if m := os.Getenv("CAPSTAN_SCALE_RAFT_MULTIPLIER"); m != "" {
		raftArgs = []string{"--raft-multiplier", m}
	}
	// CAPSTAN_SCALE_AGENT_ARGS adds flags to every agent (split on
	// spaces), to measure a setting before it becomes a default, e.g.
	// "--snapshot-bytes 64MiB --trailing-logs 512".
	raftArgs = append(raftArgs, strings.Fields(os.Getenv("CAPSTAN_SCALE_AGENT_ARGS"))...)
	for range b.N {
		var seeded string
		c := startClusterWith(b, 3, func(c *cluster) {
			c.inProcessCloud = !httpCloud
			c.nodeArgs = func(nd *node) []string { return []string{"--debug-addr", debugAddr(b, nd)} }
			if limit != "" {
				c.env = append(c.env, "GOMEMLIMIT="+limit)
			}
			if history > 0 {
				c.startWait = 5 * time.Minute
				c.seed = func(nodes []*node) error {
					t0 := time.Now()
					if err := mkdirs(nodes); err != nil {
						return err
					}
					size, err := seedHistory(nodes, plan.Policies, history, time.Now().UTC().Truncate(time.Minute))
					seeded = fmt.Sprintf("%s of history seeded as a %.1f MB snapshot in %s", history, float64(size)/1e6, time.Since(t0).Round(time.Second))
					return err
				}
			}
		}, append(raftArgs, "--log-level", logLevel)...)
		for _, nd := range c.nodes {
			b.Logf("%s: pid %d, pprof at http://%s/debug/pprof/", nd.id, nd.cmd.Process.Pid, debugAddr(b, nd))
		}
		if seeded != "" {
			b.Log(seeded)
		} else {
			loadStart := time.Now()
			putScalePolicies(b, c, plan.Policies)
			b.Logf("%d policies written in %s", plan.Policies, time.Since(loadStart).Round(time.Millisecond))
		}

		r := runScaleLoad(b, c, plan, dur)
		for _, nd := range c.nodes {
			c.kill(nd) // SIGKILL; its log is complete once it has exited
		}
		killed := time.Now()
		r.raftLog = electionLines(c)
		if logDir != "" {
			keepLogs(b, c, logDir)
		}
		rows := r.rows(plan)
		rows = append(rows, restartAll(b, c, killed), catchUp(b, c))
		var out bytes.Buffer
		fmt.Fprintf(&out, "\nload run: %d policies, %.0f samples/s, %s, cloud %s\n", plan.Policies, plan.rate(), dur,
			map[bool]string{true: "HTTP (capstan fakecloud)", false: "in-process fake"}[httpCloud])
		if seeded != "" {
			fmt.Fprintln(&out, seeded)
		}
		fmt.Fprintln(&out)
		writeScaleTable(&out, rows)
		b.Log(out.String())
		fmt.Fprint(os.Stderr, out.String())
	}
}

// debugAddr is a node's pprof address: one fixed port per node of this
// cluster, chosen once.
func debugAddr(b *testing.B, nd *node) string {
	if nd.debug == "" {
		nd.debug = freePort(b)
	}
	return nd.debug
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := parseDays(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s: want a positive duration such as 3m, 30m or 7d, got %q", name, v)
	}
	return d
}

// parseDays is time.ParseDuration that also takes whole days ("7d").
func parseDays(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(v)
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s: want a positive integer, got %q", name, v)
	}
	return n
}

// putScalePolicies writes n policies through all three nodes, 32 at a time.
func putScalePolicies(b *testing.B, c *cluster, n int) { putPolicies(b, c, n, scalePolicy) }

// putPolicies writes n policies, body(i) the i-th's JSON, through all
// three nodes, 32 at a time.
func putPolicies(b *testing.B, c *cluster, n int, body func(i int) string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := c.nodes[w%len(c.nodes)]
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if _, err := nd.client.PutPolicy(context.Background(), []byte(body(i)), "application/json", ""); err != nil {
					b.Errorf("policy %d via %s: %v", i, nd.id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// scaleResult is what the load phase measured.
type scaleResult struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    map[string]int
	late      int // rounds a client started late because its last push was still running
	terms     map[uint64]bool
	leaders   []string // leader ids in the order seen
	cpu       map[string]time.Duration
	rss       map[string]int64 // peak
	leaderCPU time.Duration    // CPU of the node that led at the end, over the run
	wall      time.Duration
	snaps     map[string][]snapshotSeen
	raftLog   string // counts of Raft's election warnings in the agents' logs
	pushed    atomic.Int64
}

// runScaleLoad sends the plan's load for dur while sampling the nodes.
func runScaleLoad(b *testing.B, c *cluster, plan scalePlan, dur time.Duration) *scaleResult {
	r := &scaleResult{errors: map[string]int{}, terms: map[uint64]bool{}, cpu: map[string]time.Duration{}, rss: map[string]int64{}, snaps: map[string][]snapshotSeen{}}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	cpu0 := map[string]time.Duration{}
	for _, nd := range c.nodes {
		u, err := readProc(nd.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		cpu0[nd.id] = u.CPU
	}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		feedScale(ctx, c, plan, start, r)
	}()
	watches := map[string]*snapshotWatch{}
	for _, nd := range c.nodes {
		watches[nd.id] = newSnapshotWatch(nd.dataDir)
		watches[nd.id].look(time.Now(), true)
	}
	probe := time.NewTicker(200 * time.Millisecond)
	defer probe.Stop()
	lastLeader := ""
	for n := 0; ctx.Err() == nil; n++ {
		<-probe.C
		now := time.Now()
		for _, nd := range c.nodes {
			watches[nd.id].look(now, false)
		}
		if n%10 != 0 { // every 2 s: /proc and the cluster view
			continue
		}
		for _, nd := range c.nodes {
			if u, err := readProc(nd.cmd.Process.Pid); err == nil {
				r.rss[nd.id] = max(r.rss[nd.id], u.RSS)
			}
			cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
			info, err := nd.client.Cluster(cctx)
			ccancel()
			if err != nil {
				continue
			}
			if !r.terms[info.Term] {
				r.terms[info.Term] = true
				b.Logf("%s: %s at term %d (%s)", now.Sub(start).Round(time.Second), nd.id, info.Term, info.Role)
			}
			if info.LeaderID != "" && info.LeaderID != lastLeader {
				lastLeader = info.LeaderID
				r.leaders = append(r.leaders, info.LeaderID)
				b.Logf("%s: leader %s, term %d", now.Sub(start).Round(time.Second), info.LeaderID, info.Term)
			}
		}
	}
	wg.Wait()
	r.wall = time.Since(start)
	for _, nd := range c.nodes {
		u, err := readProc(nd.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		r.cpu[nd.id] = u.CPU - cpu0[nd.id]
		r.rss[nd.id] = max(r.rss[nd.id], u.RSS)
		r.snaps[nd.id] = watches[nd.id].seen
	}

	if lastLeader != "" {
		r.leaderCPU = r.cpu[lastLeader]
	}
	return r
}

// feedScale is the load run's feeder: plan.Clients clients, spread over
// the nodes, each sending one batch a round on a fixed schedule from
// start until ctx ends, recording push latencies, errors, late rounds and
// accepted samples in r. It returns when every client has stopped.
func feedScale(ctx context.Context, c *cluster, plan scalePlan, start time.Time, r *scaleResult) {
	var wg sync.WaitGroup
	for k := range plan.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := c.nodes[k%len(c.nodes)]
			// Rounds start on a fixed schedule; a push that overruns its
			// round delays the next (counted as late) rather than piling up.
			for round, due := 0, start; ctx.Err() == nil; round++ {
				if wait := time.Until(due); wait > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				} else if round > 0 {
					r.mu.Lock()
					r.late++
					r.mu.Unlock()
				}
				due = due.Add(plan.round())
				samples := plan.batch(k, round, time.Now().UTC())
				t0 := time.Now()
				pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := nd.client.PushMetrics(pctx, samples)
				pcancel()
				took := time.Since(t0)
				r.mu.Lock()
				r.latencies = append(r.latencies, took)
				var ae *api.Error
				switch {
				case errors.As(err, &ae):
					r.errors[fmt.Sprintf("HTTP %d %s", ae.Status, ae.Code)]++
				case err != nil:
					r.errors["transport"]++
				case res.Accepted != len(samples):
					r.errors["partly rejected"]++
				default:
					r.pushed.Add(int64(len(samples)))
				}
				r.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// rows summarizes the load phase against the targets.
func (r *scaleResult) rows(plan scalePlan) []scaleRow {
	lat := slices.Clone(r.latencies)
	p50, p99, pmax := percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1)
	changes := max(len(r.leaders)-1, len(r.terms)-1, 0)
	rows := []scaleRow{
		{What: "samples accepted", Got: fmt.Sprintf("%d (%.0f/s over %s)", r.pushed.Load(), float64(r.pushed.Load())/r.wall.Seconds(), r.wall.Round(time.Second)),
			Target: fmt.Sprintf("%.0f/s", plan.rate())},
		{What: "leadership changes (new terms or leaders)", Got: fmt.Sprintf("%d (terms %v, leaders %v; raft log lines: %s)", changes, sortedTerms(r.terms), r.leaders, r.raftLog),
			Target: "0", Met: check(changes == 0)},
		{What: "push latency p50 / p99 / max", Got: fmt.Sprintf("%s / %s / %s (%d pushes, %d late rounds)", ms(p50), ms(p99), ms(pmax), len(lat), r.late),
			Target: "p99 < 250 ms", Met: check(p99 < 250*time.Millisecond)},
		{What: "push errors", Got: fmt.Sprintf("%v", r.errors), Target: "none", Met: check(len(r.errors) == 0)},
	}
	var maxRSS int64
	for _, id := range sortedKeys(r.cpu) {
		share := r.cpu[id].Seconds() / r.wall.Seconds()
		role := ""
		if len(r.leaders) > 0 && r.leaders[len(r.leaders)-1] == id {
			role = " (leader)"
		}
		rows = append(rows, scaleRow{What: "CPU, " + id + role, Got: fmt.Sprintf("%.1f %% of a core", 100*share)})
		maxRSS = max(maxRSS, r.rss[id])
	}
	leaderShare := r.leaderCPU.Seconds() / r.wall.Seconds()
	rows = append(rows, scaleRow{What: "leader CPU, average", Got: fmt.Sprintf("%.1f %% of a core", 100*leaderShare), Target: "< 50 %", Met: check(leaderShare < 0.5)})
	rows = append(rows, scaleRow{What: "peak RSS per node", Got: fmt.Sprintf("%v", mib(r.rss)), Target: "< 1 GiB", Met: check(maxRSS < 1<<30)})
	for _, id := range sortedKeys(r.snaps) {
		s := r.snaps[id]
		var persist []time.Duration
		var size int64
		for _, x := range s {
			persist = append(persist, x.Persist())
			size = max(size, x.Size)
		}
		rows = append(rows, scaleRow{What: "snapshots, " + id, Got: fmt.Sprintf("%d, largest %.1f MB, persist ≤ %s (seen by polling every 200 ms)",
			len(s), float64(size)/1e6, ms(percentile(persist, 1)))})
	}
	return rows
}

// restartAll starts the nodes, killed with SIGKILL at killed, again on
// their data, and times the first evaluation by the new leader.
func restartAll(b *testing.B, c *cluster, killed time.Time) scaleRow {
	for _, nd := range c.nodes {
		c.restart(nd)
	}
	leader := c.waitLeader(5 * time.Minute)
	ready := time.Since(killed)
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := leader.client.State(ctx, scalePolicyID(0))
		cancel()
		if err == nil && st.LastEvaluation != nil && st.LastEvaluation.After(killed) {
			took := time.Since(killed)
			return scaleRow{What: "restart of all three after SIGKILL: leader / first evaluation",
				Got: fmt.Sprintf("%s / %s", ready.Round(10*time.Millisecond), took.Round(10*time.Millisecond)), Target: "< 15 s", Met: check(took < 15*time.Second)}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return scaleRow{What: "restart of all three after SIGKILL", Got: "no evaluation within 5 min", Target: "< 15 s", Met: check(false)}
}

// catchUp kills a follower, wipes its data directory, starts it again and
// times until it has applied what the leader had committed.
func catchUp(b *testing.B, c *cluster) scaleRow {
	leader := c.waitLeader(time.Minute)
	f := c.follower(leader)
	c.kill(f)
	if err := os.RemoveAll(f.dataDir); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	info, err := leader.client.Cluster(ctx)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	wiped := time.Now()
	c.restart(f)
	deadline := wiped.Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := f.client.Cluster(ctx)
		cancel()
		if err == nil && got.AppliedIndex >= info.CommitIndex && got.LeaderID != "" {
			took := time.Since(wiped)
			return scaleRow{What: "wiped follower caught up (index " + strconv.FormatUint(info.CommitIndex, 10) + ")",
				Got: took.Round(10 * time.Millisecond).String(), Target: "< 15 s", Met: check(took < 15*time.Second)}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return scaleRow{What: "wiped follower caught up", Got: "not within 5 min", Target: "< 15 s", Met: check(false)}
}

// electionLines counts, over the logs of the agents (stopped: a running
// agent's log is still being written), the lines in which Raft reports a
// lost leader or an election.
func electionLines(c *cluster) string {
	var parts []string
	for _, nd := range c.nodes {
		n := 0
		for _, line := range strings.Split(nd.log.String(), "\n") {
			for _, s := range []string{"heartbeat timeout reached", "entering candidate state", "failed to contact quorum", "stepping down"} {
				if strings.Contains(line, s) {
					n++
					break
				}
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d", nd.id, n))
	}
	return strings.Join(parts, ", ")
}

// keepLogs writes each agent's log so far to dir/NODE.log.
func keepLogs(b *testing.B, c *cluster, dir string) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	for _, nd := range c.nodes {
		if err := os.WriteFile(filepath.Join(dir, nd.id+".log"), []byte(nd.log.String()), 0o640); err != nil {
			b.Fatal(err)
		}
	}
}

// sortedTerms is the terms seen, in order.
func sortedTerms(m map[uint64]bool) []uint64 {
	var out []uint64
	for t := range m {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
