package prom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capstan-io/capstan/policy"
)

// prometheusBinary is where Debian's prometheus package installs the
// server; .ci/run installs it (and e2e runs it too).
const prometheusBinary = "/usr/bin/prometheus"

// startPrometheus runs a real Prometheus on loopback scraping target every
// second, and returns its URL once it answers. Without the binary the test
// skips, unless CAPSTAN_REQUIRE_PROMETHEUS is set (as in CI).
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	if _, err := os.Stat(prometheusBinary); err != nil {
		if os.Getenv("CAPSTAN_REQUIRE_PROMETHEUS") != "" {
			t.Fatalf("CAPSTAN_REQUIRE_PROMETHEUS is set but %s is missing: %v", prometheusBinary, err)
		}
		t.Skipf("%s not installed (apt-get install prometheus)", prometheusBinary)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command(prometheusBinary, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get(url + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadBatchMatchesReadOnRealPrometheus: against a real Prometheus,
// every source of a batch gets what its own Read gets (the same value and
// the same error sentinel), for merged and unmerged queries alike, and the
// batch sends fewer queries than it has sources.
func TestReadBatchMatchesReadOnRealPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	load := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "app_load", Help: "Test load."}, []string{"svc", "pod"})
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "Test requests."}, []string{"svc"})
	reg.MustRegister(load, reqs)
	for i, svc := range []string{"web", "api", "batch", "a.b", "c|d"} {
		load.WithLabelValues(svc, "p1").Set(float64(10 * (i + 1)))
		reqs.WithLabelValues(svc).Add(float64(i))
	}
	load.WithLabelValues("web", "p2").Set(5) // web has two pods: ambiguous unless aggregated
	const many = 300                         // more values than one merged query takes
	for i := range many {
		load.WithLabelValues(fmt.Sprintf("gen-%d", i), "p1").Set(float64(i))
	}
	exp := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(exp.Close)
	url := startPrometheus(t, strings.TrimPrefix(exp.URL, "http://"))

	r, err := NewReader(Options{Address: url, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	for {
		if _, _, err := r.Read(ctx, promSource(fmt.Sprintf(`sum(app_load{svc="gen-%d"})`, many-1))); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("the exporter was never scraped: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	var srcs []policy.Source
	for _, svc := range []string{"web", "api", "batch", "a.b", "c|d", "missing"} {
		for _, q := range []string{`sum(app_load{svc=%q})`, `avg(app_load{svc=%q})`, `count(app_load{svc=%q,job="app"})`,
			`app_load{svc=%q}`, `max(max_over_time(app_load{svc=%q}[1m]))`, `sum(rate(app_requests_total{svc=%q}[1m]))`,
			`sum(app_load{svc=%q}) * 2`} {
			srcs = append(srcs, promSource(fmt.Sprintf(q, svc)))
		}
	}
	for i := range many {
		srcs = append(srcs, promSource(fmt.Sprintf(`sum(app_load{svc="gen-%d"})`, i)))
	}
	srcs = append(srcs, promSource(`sum(app_load{svc="api"`), promSource(`app_load{svc="api"}[1m]`))

	f := &countingTransport{next: keepAliveTransport(4)}
	br, err := NewReader(Options{Address: url, Timeout: 2 * time.Second, RoundTripper: f})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]got, len(srcs))
	br.ReadBatch(ctx, srcs, func(i int, v float64, at time.Time, err error) { batch[i] = got{v: v, at: at, err: err, calls: 1} })
	sentinels := []error{ErrNoData, ErrAmbiguous, ErrBadResult, ErrBadQuery, ErrUnavailable}
	for i, src := range srcs {
		v, at, err := r.Read(ctx, src)
		b := batch[i]
		for _, s := range sentinels {
			if errors.Is(err, s) != errors.Is(b.err, s) {
				t.Errorf("%s: Read error %v, batch error %v", src.Query, err, b.err)
			}
		}
		if (err == nil) != (b.err == nil) || v != b.v {
			t.Errorf("%s: Read %v (%v), batch %v (%v)", src.Query, v, err, b.v, b.err)
		}
		if err == nil && (b.at.Sub(at) > 5*time.Second || at.Sub(b.at) > 5*time.Second) {
			t.Errorf("%s: Read at %v, batch at %v", src.Query, at, b.at)
		}
	}
	t.Logf("%d sources answered by %d queries", len(srcs), f.n.Load())
	// 6 merged shapes, the sum one in two queries for its 306 values (at
	// most 256 each); the *2 one is not mergeable: 6 singles; 2 invalid.
	if n := f.n.Load(); n != 7+6+2 {
		t.Errorf("%d queries sent, want 15", n)
	}
}
