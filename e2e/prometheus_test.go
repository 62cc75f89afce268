package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capstan-io/capstan/metrics/prom"
	"github.com/capstan-io/capstan/policy"
)

// prometheusBinary is where Debian's prometheus package installs the server;
// .ci/run installs it.
const prometheusBinary = "/usr/bin/prometheus"

// exporterMetric is the gauge the test exporter serves and Prometheus scrapes.
const exporterMetric = "capstan_e2e_requests_rate"

// needPrometheus skips the test when no Prometheus is installed, unless
// CAPSTAN_REQUIRE_PROMETHEUS is set (as .ci/run does): there a missing
// server is a broken CI machine, and a skip would hide it.
func needPrometheus(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(prometheusBinary); err != nil {
		if os.Getenv("CAPSTAN_REQUIRE_PROMETHEUS") != "" {
			t.Fatalf("CAPSTAN_REQUIRE_PROMETHEUS is set but %s is missing: %v (apt-get install prometheus)", prometheusBinary, err)
		}
		t.Skipf("%s not installed (apt-get install prometheus; set CAPSTAN_REQUIRE_PROMETHEUS=1 to fail instead)", prometheusBinary)
	}
}

// exporter is an HTTP endpoint serving one gauge in the Prometheus text
// format, as an application would.
type exporter struct {
	gauge prometheus.Gauge
	addr  string // host:port, for a scrape config
}

func startExporter(t *testing.T, value float64) *exporter {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: exporterMetric, Help: "Requests per second the e2e test pretends to serve."})
	reg.MustRegister(g)
	g.Set(value)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return &exporter{gauge: g, addr: strings.TrimPrefix(srv.URL, "http://")}
}

// promServer is a Prometheus process the test started.
type promServer struct {
	url string
	cmd *exec.Cmd
	log *bytes.Buffer
}

// scrapeConfig is a Prometheus configuration scraping the exporter every
// second; extra is appended (a remote_write section).
func scrapeConfig(exp *exporter, extra string) string {
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: [%q]
%s`, exp.addr, extra)
}

// startPrometheus runs Prometheus on loopback with config and waits until it
// is ready to answer queries.
func startPrometheus(t *testing.T, config string) *promServer {
	t.Helper()
	needPrometheus(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	p := &promServer{url: "http://" + addr, log: &bytes.Buffer{}}
	p.cmd = exec.Command(prometheusBinary,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("---- prometheus log ----\n%s", tail(p.log.String(), 40))
		}
	})
	hc := &http.Client{Timeout: time.Second}
	eventually(t, 30*time.Second, "prometheus ready", func() error {
		if p.cmd.ProcessState != nil {
			return fmt.Errorf("prometheus exited: %s", p.log.String())
		}
		res, err := hc.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	})
	t.Logf("prometheus %s ready in %s", p.url, time.Since(start).Round(time.Millisecond))
	return p
}

// reader returns a metrics/prom Reader against the server.
func (p *promServer) reader(t *testing.T) *prom.Reader {
	t.Helper()
	r, err := prom.NewReader(prom.Options{Address: p.url, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitValue polls query until it returns want, and says how long that took.
func waitValue(t *testing.T, r *prom.Reader, query string, want float64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, within, fmt.Sprintf("%s = %v", query, want), func() error {
		v, _, err := r.Read(ctx(t), policy.Source{Kind: policy.SourcePrometheus, Query: query})
		if err != nil {
			return err
		}
		if v != want {
			return fmt.Errorf("value %v", v)
		}
		return nil
	})
	return time.Since(start)
}

// agentHelp is `capstan agent --help`, which says which optional features
// this build of the agent has.
func agentHelp(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(binary, "agent", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("capstan agent --help: %v\n%s", err, out)
	}
	return string(out)
}

// TestPrometheusQuerySource runs metrics/prom against a real Prometheus
// that scrapes a test exporter: the value set in the exporter comes back
// from the query, and each failure class maps to its sentinel.
func TestPrometheusQuerySource(t *testing.T) {
	exp := startExporter(t, 42)
	p := startPrometheus(t, scrapeConfig(exp, ""))
	r := p.reader(t)

	d := waitValue(t, r, exporterMetric, 42, 30*time.Second)
	t.Logf("first scraped value readable after %s", d.Round(time.Millisecond))
	exp.gauge.Set(77)
	d = waitValue(t, r, exporterMetric, 77, 15*time.Second)
	t.Logf("changed value readable after %s", d.Round(time.Millisecond))

	src := func(q string) policy.Source { return policy.Source{Kind: policy.SourcePrometheus, Query: q} }
	v, at, err := r.Read(ctx(t), src(`scalar(`+exporterMetric+`) * 2`))
	if err != nil || v != 154 {
		t.Fatalf("scalar query: %v, %v", v, err)
	}
	if skew := time.Since(at); skew < -time.Second || skew > 5*time.Second {
		t.Fatalf("sample time %v is %s from now", at, skew)
	}
	v, _, err = r.Read(ctx(t), src(`sum by (job) (`+exporterMetric+`)`))
	if err != nil || v != 77 {
		t.Fatalf("aggregated query: %v, %v", v, err)
	}

	bad := []struct {
		query string
		want  error
	}{
		{`capstan_e2e_no_such_metric`, prom.ErrNoData},
		{`{job="exporter"}`, prom.ErrAmbiguous}, // the gauge, up, scrape_* …
		{`sum(` + exporterMetric, prom.ErrBadQuery},
		{exporterMetric + `[1m]`, prom.ErrBadResult},
		{exporterMetric + ` / 0`, prom.ErrBadResult},
		{`{job="exporter"} + on() group_left {job="exporter"}`, prom.ErrBadQuery}, // many-to-many: 422
	}
	for _, b := range bad {
		_, _, err := r.Read(ctx(t), src(b.query))
		if !errors.Is(err, b.want) {
			t.Errorf("%s: error %v, want %v", b.query, err, b.want)
		} else {
			t.Logf("%s: %v", b.query, err)
		}
	}

	// A Prometheus that is gone is unavailable, after the retries.
	down, err := prom.NewReader(prom.Options{Address: "http://" + freePort(t), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := down.Read(ctx(t), src(exporterMetric)); !errors.Is(err, prom.ErrUnavailable) {
		t.Fatalf("nobody listening: error %v, want ErrUnavailable", err)
	}
}

// queryPolicy is a policy whose one metric is pulled from Prometheus.
const queryPolicy = `{
  "id": "web",
  "target": {"provider": "fake", "group": "web"},
  "min": 2, "max": 40, "warmup": "1s", "evaluation_interval": "1s", "tolerance": 0.1,
  "metrics": [{"name": "rps", "type": "request_rate", "target": 100,
               "source": {"kind": "prometheus", "query": "` + exporterMetric + `"}}],
  "scale_out": {"cooldown": "1s", "max_step": {"instances": 100, "percent": 0, "period": "1s"}},
  "scale_in": {"cooldown": "1h", "stabilization": "1h"},
  "stale_after": "1h"
}`

// TestPrometheusQueryDrivesCluster: a three-node cluster whose policy pulls
// its metric from Prometheus scales the fake group as the exporter's value
// changes.
func TestPrometheusQueryDrivesCluster(t *testing.T) {
	needPrometheus(t)
	if !strings.Contains(agentHelp(t), "--prometheus-url") {
		t.Skip("capstan agent has no --prometheus-url flag yet")
	}
	exp := startExporter(t, 300)
	p := startPrometheus(t, scrapeConfig(exp, ""))
	waitValue(t, p.reader(t), exporterMetric, 300, 30*time.Second)

	c := startCluster(t, 3, "--prometheus-url", p.url)
	leader := c.waitLeader(10 * time.Second)
	if _, err := c.follower(leader).client.PutPolicy(ctx(t), []byte(queryPolicy), "application/json", ""); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	start := time.Now()
	waitDesired(t, c, 3, 30*time.Second) // ceil(300 / 100)
	t.Logf("scaled to 3 on the queried value after %s", time.Since(start).Round(time.Millisecond))

	exp.gauge.Set(900)
	start = time.Now()
	waitDesired(t, c, 9, 30*time.Second)
	t.Logf("scaled to 9 after the exporter changed, in %s", time.Since(start).Round(time.Millisecond))
	waitMetricValue(t, c.follower(leader), "web", "rps", 900, 10*time.Second)
}

// remoteWriteConfig forwards the exporter's gauge to an agent, labelled so
// that it matches the web policy's rps metric, with short batching so the
// test does not wait on Prometheus's defaults. tokenFile, when not empty,
// holds the bearer token Prometheus sends (a write token).
func remoteWriteConfig(agentAddr, tokenFile string) string {
	return remoteWriteSection(agentAddr, tokenFile, `      - target_label: capstan_policy
        replacement: web
      - target_label: capstan_metric
        replacement: rps
`)
}

// remoteWriteSection forwards the exporter's gauge to an agent, with more
// write_relabel_configs rules appended, sending the token in tokenFile
// (none when empty).
func remoteWriteSection(agentAddr, tokenFile, relabel string) string {
	authz := ""
	if tokenFile != "" {
		authz = "\n    authorization:\n      credentials_file: " + tokenFile
	}
	return fmt.Sprintf(`remote_write:
  - url: http://%s/api/v1/write%s
    remote_timeout: 5s
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    write_relabel_configs:
      - source_labels: [__name__]
        regex: %s
        action: keep
%s`, agentAddr, authz, exporterMetric, relabel)
}

// boolFlag matches a pflag help line for a flag that takes no value.
func boolFlag(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(name) + `\s{2,}`)
}

// TestPrometheusRemoteWriteFeedsPolicy: Prometheus remote-writes the
// exporter's gauge into a follower, which forwards to the leader, and the
// samples reach the policy's metric on every node and scale the group.
func TestPrometheusRemoteWriteFeedsPolicy(t *testing.T) {
	needPrometheus(t)
	help := agentHelp(t)
	var extra []string
	if boolFlag("--remote-write").MatchString(help) {
		extra = append(extra, "--remote-write")
	}
	c := startCluster(t, 3, extra...)
	leader := c.waitLeader(10 * time.Second)
	if !strings.Contains(help, "--remote-write") {
		// No flag to look for: ask the route itself. An empty body is
		// invalid remote-write, so anything but 404 means it is served.
		req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, "http://"+leader.httpAddr+"/api/v1/write", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		if c.auth != nil {
			req.Header.Set("Authorization", "Bearer "+c.auth.secrets["write"])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			t.Skip("capstan agent serves no /api/v1/write yet (404) and has no --remote-write flag")
		}
	}
	putWeb(t, leader, "1s")

	exp := startExporter(t, 420)
	start := time.Now()
	startPrometheus(t, scrapeConfig(exp, remoteWriteConfig(c.follower(leader).httpAddr, c.auth.secretFile(t, "write"))))
	for _, nd := range c.nodes {
		waitMetricValue(t, nd, "web", "rps", 420, 45*time.Second)
	}
	t.Logf("remote-written value on every node %s after Prometheus started", time.Since(start).Round(time.Millisecond))
	waitDesired(t, c, 5, 30*time.Second) // ceil(420 / 100)
}

// waitDesired waits for the fake group's desired size.
func waitDesired(t *testing.T, c *cluster, want int, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("desired %d", want), func() error {
		if d := c.groupDesired(t); d != want {
			return fmt.Errorf("desired %d", d)
		}
		return nil
	})
}

// waitMetricValue waits until a node's policy state shows the metric's value.
func waitMetricValue(t *testing.T, nd *node, policyID, metric string, want float64, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%s/%s = %v on %s", policyID, metric, want, nd.id), func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := nd.client.State(cctx, policyID)
		if err != nil {
			return err
		}
		for _, m := range st.Metrics {
			if m.Name != metric {
				continue
			}
			if m.Value == nil {
				return errors.New("no value yet")
			}
			if math.Abs(*m.Value-want) > 1e-9*math.Abs(want) {
				return fmt.Errorf("value %v", *m.Value)
			}
			return nil
		}
		return fmt.Errorf("metric %s not in state %+v", metric, st.Metrics)
	})
}

// TestPrometheusRemoteWriteSumsMatchedSeries: Prometheus scrapes two
// instances of an exporter and remote-writes their gauges as they are, with
// no capstan_* labels; the policy's label matcher routes both series to its
// request_rate metric, whose value on every node is their sum.
func TestPrometheusRemoteWriteSumsMatchedSeries(t *testing.T) {
	needPrometheus(t)
	c := startCluster(t, 3)
	leader := c.waitLeader(10 * time.Second)
	pol := `{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":20,"evaluation_interval":"1s",
"scale_out":{"cooldown":"1s"},"metrics":[{"name":"rps","type":"request_rate","target":100,
"source":{"match":{"__name__":"` + exporterMetric + `","job":"exporter"}}}]}`
	if _, err := leader.client.PutPolicy(ctx(t), []byte(pol), "application/json", ""); err != nil {
		t.Fatal(err)
	}
	a, b := startExporter(t, 150), startExporter(t, 270)
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: [%q, %q]
%s`, a.addr, b.addr, remoteWriteSection(c.follower(leader).httpAddr, c.auth.secretFile(t, "write"), ""))
	startPrometheus(t, config)
	for _, nd := range c.nodes {
		waitMetricValue(t, nd, "web", "rps", 420, 45*time.Second)
	}
	waitDesired(t, c, 5, 30*time.Second) // ceil(420 / 100)
	b.gauge.Set(30)
	waitMetricValue(t, leader, "web", "rps", 180, 30*time.Second)
}
