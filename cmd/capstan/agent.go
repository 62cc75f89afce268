package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws"
	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/budget"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/controlplane"
	"github.com/capstan-io/capstan/metrics/prom"
	"github.com/capstan-io/capstan/metrics/sqs"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// agentOptions are `capstan agent`'s settings, from flags or a config file
// whose keys are the flag names with underscores.
type agentOptions struct {
	NodeID             string        `yaml:"node_id"`
	DataDir            string        `yaml:"data_dir"`
	RaftAddr           string        `yaml:"raft_addr"`
	HTTPAddr           string        `yaml:"http_addr"`
	RaftBind           string        `yaml:"raft_bind"`
	HTTPBind           string        `yaml:"http_bind"`
	BootstrapExpect    int           `yaml:"bootstrap_expect"`
	Join               []string      `yaml:"join"`
	HeartbeatTimeout   time.Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `yaml:"election_timeout"`
	LeaderLeaseTimeout time.Duration `yaml:"leader_lease_timeout"`
	RaftMultiplier     int           `yaml:"raft_multiplier"`
	SnapshotThreshold  uint64        `yaml:"snapshot_threshold"`
	SnapshotInterval   time.Duration `yaml:"snapshot_interval"`
	TrailingLogs       uint64        `yaml:"trailing_logs"`
	SnapshotBytes      string        `yaml:"snapshot_bytes"`
	TrailingBytes      string        `yaml:"trailing_bytes"`
	MaxDecisions       int           `yaml:"max_decisions"`
	MaxAuditEntries    int           `yaml:"max_audit_entries"`
	RaftWriteVersion   int           `yaml:"raft_write_version"`
	RaftLegacyEncoding bool          `yaml:"raft_legacy_encoding"`
	FakeCloud          string        `yaml:"fake_cloud"`
	FakeBootDelay      time.Duration `yaml:"fake_boot_delay"`
	LogLevel           string        `yaml:"log_level"`
	MaxBody            int64         `yaml:"max_body_bytes"`
	DebugAddr          string        `yaml:"debug_addr"`
	CloudTimeout       time.Duration `yaml:"cloud_timeout"`
	CloudSettle        time.Duration `yaml:"cloud_settle"`
	CloudReadRate      budget.Rates  `yaml:"cloud_read_rate"`
	CloudWriteRate     budget.Rates  `yaml:"cloud_write_rate"`
	GroupRefresh       time.Duration `yaml:"group_refresh"`
	DefaultPrice       policy.Prices `yaml:"default_price"`
	DefaultCurrency    string        `yaml:"default_price_currency"`
	AWSEndpoint        string        `yaml:"aws_endpoint"`
	GCPEndpoint        string        `yaml:"gcp_endpoint"`
	GCPNoAuth          bool          `yaml:"gcp_no_auth"`
	AzureEndpoint      string        `yaml:"azure_endpoint"`
	AzureAudience      string        `yaml:"azure_audience"`
	AzureAuthority     string        `yaml:"azure_authority_host"`
	AzureEmulatorToken string        `yaml:"azure_emulator_token"`
	PrometheusURL      string        `yaml:"prometheus_url"`
	PrometheusTimeout  time.Duration `yaml:"prometheus_timeout"`
	SQSEndpoint        string        `yaml:"sqs_endpoint"`
	TLSCert            string        `yaml:"tls_cert"`
	TLSKey             string        `yaml:"tls_key"`
	TLSCA              string        `yaml:"tls_ca"`
	TLSClientCA        string        `yaml:"tls_client_ca"`
	TLSClientAuth      string        `yaml:"tls_client_auth"`
	TLSNodeCertAdmin   bool          `yaml:"tls_node_cert_admin"`
	MemoryLimit        string        `yaml:"memory_limit"`
	GCPercent          int           `yaml:"gc_percent"`

	// Authentication (agent_auth.go).
	TokenFile      string         `yaml:"token_file"`
	Tokens         auth.TokenList `yaml:"tokens"`
	InsecureNoAuth bool           `yaml:"insecure_no_auth"`
	TokenRate      float64        `yaml:"token_rate"`
	TokenBurst     int            `yaml:"token_burst"`
	NodeTokenFile  string         `yaml:"node_token_file"`
}

func newAgentCommand() *cobra.Command {
	d := controlplane.DefaultConfig()
	o := agentOptions{
		RaftMultiplier:    controlplane.DefaultRaftMultiplier,
		SnapshotThreshold: d.SnapshotThreshold, SnapshotInterval: d.SnapshotInterval, TrailingLogs: d.TrailingLogs,
		SnapshotBytes: formatSize(d.SnapshotBytes), TrailingBytes: formatSize(d.TrailingBytes),
		MaxDecisions: d.MaxDecisions, MaxAuditEntries: controlplane.DefaultMaxAuditEntries, FakeBootDelay: 30 * time.Second, LogLevel: "info", MaxBody: 1 << 20,
		CloudTimeout: d.CloudTimeout, CloudSettle: d.CloudSettle, GroupRefresh: d.GroupRefresh, PrometheusTimeout: 5 * time.Second, TLSClientAuth: "none",
		DefaultCurrency: "USD", TokenRate: defaultTokenRate, TokenBurst: defaultTokenBurst, MemoryLimit: "auto",
	}
	var configFile string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a Capstan server (one node of a Raft cluster) with its REST API",
		Long: `Run one Capstan server. Three servers started with --bootstrap-expect 3 and
each other's HTTP addresses in --join form a cluster by themselves; a server
restarted on its data directory rejoins with no flag changes. Settings can
also come from --config FILE (YAML, keys are the flag names with
underscores); flags given on the command line win.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				if err := loadAgentConfig(configFile, &o, cmd.Flags()); err != nil {
					return err
				}
			}
			return runAgent(cmd.Context(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML config file")
	f.StringVar(&o.NodeID, "node-id", "", "this server's stable id (required)")
	f.StringVar(&o.DataDir, "data-dir", "", "directory for the Raft log, stable store and snapshots (required)")
	f.StringVar(&o.RaftAddr, "raft-addr", "127.0.0.1:7001", "host:port peers reach Raft at (advertised; also listened on unless --raft-bind)")
	f.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:8081", "host:port peers and clients reach the REST API at (advertised; also listened on unless --http-bind)")
	f.StringVar(&o.RaftBind, "raft-bind", "", "host:port Raft listens on, e.g. 0.0.0.0:7001 in a container whose --raft-addr is its DNS name (default --raft-addr)")
	f.StringVar(&o.HTTPBind, "http-bind", "", "host:port the REST API listens on, e.g. 0.0.0.0:8081 (default --http-addr)")
	f.IntVar(&o.BootstrapExpect, "bootstrap-expect", 0, "form a new cluster once this many servers are known (0: join an existing cluster)")
	f.StringSliceVar(&o.Join, "join", nil, "peers' HTTP addresses (host:port, comma-separated) to discover or join")
	f.IntVar(&o.RaftMultiplier, "raft-multiplier", o.RaftMultiplier, "scale of Raft's timing, 1 to 10: the heartbeat, election and leader lease timeouts are 500ms times it unless given; 1 replaces a lost leader fastest on machines with CPU to spare, larger holds leadership on busy ones (README: Raft timing)")
	f.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", 0, "Raft heartbeat timeout (default 500ms x --raft-multiplier)")
	f.DurationVar(&o.ElectionTimeout, "election-timeout", 0, "Raft election timeout (default 500ms x --raft-multiplier)")
	f.DurationVar(&o.LeaderLeaseTimeout, "leader-lease-timeout", 0, "Raft leader lease timeout, at most --heartbeat-timeout (default the heartbeat timeout)")
	f.Uint64Var(&o.SnapshotThreshold, "snapshot-threshold", o.SnapshotThreshold, "log entries between snapshots")
	f.DurationVar(&o.SnapshotInterval, "snapshot-interval", o.SnapshotInterval, "how often to check whether to snapshot")
	f.Uint64Var(&o.TrailingLogs, "trailing-logs", o.TrailingLogs, "log entries kept after a snapshot")
	f.StringVar(&o.TrailingBytes, "trailing-bytes", o.TrailingBytes, "most bytes of log entries kept after a snapshot, at most --trailing-logs of them: a size (32MiB) or 0 for the count alone; it bounds raft.db (README: Memory)")
	f.StringVar(&o.SnapshotBytes, "snapshot-bytes", o.SnapshotBytes, "bytes of log entries between snapshots, whichever of this and --snapshot-threshold comes first: a size (64MiB) or 0 for entries only; it bounds raft.db and what a restart replays (README: Memory)")
	f.IntVar(&o.MaxDecisions, "max-decisions", o.MaxDecisions, "decision records kept per policy")
	f.IntVar(&o.MaxAuditEntries, "max-audit-entries", o.MaxAuditEntries, "audit log entries kept (the oldest are dropped); the leader's value applies")
	f.IntVar(&o.RaftWriteVersion, "raft-write-version", 0, fmt.Sprintf("encoding version of the Raft entries and snapshots this server writes, %d to %d (0: the newest, %d); an older one only while upgrading a cluster from servers that write it (README)", store.VersionJSON, store.CurrentVersion, store.CurrentVersion))
	f.BoolVar(&o.RaftLegacyEncoding, "raft-legacy-encoding", false, "the same as --raft-write-version 1: the JSON encoding servers before store/ read")
	f.StringVar(&o.FakeCloud, "fake-cloud", "", "base URL of a `capstan fakecloud` server for provider fake (default: an in-process fake cloud)")
	f.DurationVar(&o.FakeBootDelay, "fake-boot-delay", o.FakeBootDelay, "boot delay of the in-process fake cloud")
	f.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	f.Int64Var(&o.MaxBody, "max-body-bytes", o.MaxBody, "largest request body the API accepts")
	f.StringVar(&o.DebugAddr, "debug-addr", "", "serve Go's pprof profiles on this host:port (keep it on loopback)")
	f.IntVar(&o.GCPercent, "gc-percent", 0, fmt.Sprintf("the Go collector's goal, in percent of the live heap it may grow by before the next collection (GOGC); 0: GOGC when set, else %d (README: Memory)", defaultGCPercent))
	f.StringVar(&o.MemoryLimit, "memory-limit", o.MemoryLimit, "the Go runtime's soft memory limit: a size (e.g. 900MiB), off, or auto: GOMEMLIMIT when set, else 90% of the cgroup's (container's) memory limit, else none (README: Memory)")
	f.DurationVar(&o.CloudTimeout, "cloud-timeout", o.CloudTimeout, "bound on each cloud call, retries included; no resize request is sent after it")
	f.DurationVar(&o.CloudSettle, "cloud-settle", o.CloudSettle, "how long after --cloud-timeout a resize the provider received may still take effect; its group is held until then (docs/fencing.md)")
	f.Var(&o.CloudReadRate, "cloud-read-rate", "call budget for reads (describes), in calls per second per provider account (AWS: per region, GCP: per project, Azure: per subscription), e.g. aws=20,gcp=8; 0: unlimited; providers not given keep their defaults: "+budgetDefaults(func(p budget.Provider) float64 { return p.Read })+" (README: Cloud providers)")
	f.Var(&o.CloudWriteRate, "cloud-write-rate", "call budget for writes (resizes), like --cloud-read-rate; writes go before reads; defaults: "+budgetDefaults(func(p budget.Provider) float64 { return p.Write }))
	f.DurationVar(&o.GroupRefresh, "group-refresh", o.GroupRefresh, "how often the leader describes every group its policies scale, in batches; evaluations read that state, and state older than twice this is described again before it is acted on")
	f.Var(&o.DefaultPrice, "default-price", "price per instance-hour by provider, e.g. aws=0.096,gcp=0.0949, for policies without a cost of their own: their decisions and capstan_policy_hourly_cost show it (README: Cost)")
	f.StringVar(&o.DefaultCurrency, "default-price-currency", o.DefaultCurrency, "currency of --default-price: three uppercase letters (ISO 4217)")
	f.StringVar(&o.AWSEndpoint, "aws-endpoint", "", "AWS Auto Scaling endpoint override (other partitions, emulators); default: the SDK's")
	f.StringVar(&o.GCPEndpoint, "gcp-endpoint", "", "Compute Engine endpoint override (private endpoints, emulators); default: the SDK's")
	f.BoolVar(&o.GCPNoAuth, "gcp-no-auth", false, "send GCP calls without credentials (emulators only)")
	f.StringVar(&o.AzureEndpoint, "azure-endpoint", "", "Azure Resource Manager endpoint override (sovereign clouds, emulators); default: Azure public cloud")
	f.StringVar(&o.AzureAudience, "azure-audience", "", "token audience for --azure-endpoint (default: the endpoint)")
	f.StringVar(&o.AzureAuthority, "azure-authority-host", "", "Microsoft Entra authority host for --azure-endpoint's cloud")
	f.StringVar(&o.AzureEmulatorToken, "azure-emulator-token", "", "use this fixed bearer token and allow plain http (emulators only; never a real token)")
	f.StringVar(&o.PrometheusURL, "prometheus-url", "", "Prometheus server that metrics with source kind prometheus are queried on")
	f.DurationVar(&o.PrometheusTimeout, "prometheus-timeout", o.PrometheusTimeout, "bound on each PromQL query")
	f.StringVar(&o.SQSEndpoint, "sqs-endpoint", "", "Amazon SQS endpoint override (VPC endpoints, emulators); default: the SDK's")
	f.StringVar(&o.TLSCert, "tls-cert", "", "node certificate (PEM): serve the API over https and run Raft over mutual TLS with it; SIGHUP reloads it")
	f.StringVar(&o.TLSKey, "tls-key", "", "private key of --tls-cert (PEM)")
	f.StringVar(&o.TLSCA, "tls-ca", "", "cluster CA (PEM): peers' certificates must chain to it")
	f.StringVar(&o.TLSClientCA, "tls-client-ca", "", "CA (PEM) for API client certificates, besides --tls-ca")
	f.StringVar(&o.TLSClientAuth, "tls-client-auth", o.TLSClientAuth, "API client certificates: none, request (verified when given) or require")
	f.BoolVar(&o.TLSNodeCertAdmin, "tls-node-cert-admin", false, "let clients use a node certificate as their API client certificate on admin routes (by default only nodes' own requests to each other may)")
	f.StringVar(&o.TokenFile, "token-file", "", "YAML file of API tokens (tokens: [{name, role, hash, rate, burst}]); capstan token generate prints entries; SIGHUP reloads it")
	f.StringVar(&o.NodeTokenFile, "node-token-file", "", "file holding the secret of an admin token this node presents to its peers' APIs to discover and join them (required with --join)")
	f.BoolVar(&o.InsecureNoAuth, "insecure-no-auth", false, "serve the API without authentication (logs a warning at every start; never on a network)")
	f.Float64Var(&o.TokenRate, "token-rate", o.TokenRate, "default request rate limit per token on this node, per second (0: unlimited)")
	f.IntVar(&o.TokenBurst, "token-burst", o.TokenBurst, "default request burst per token above --token-rate")
	return cmd
}

// raftWriteVersion is the encoding version --raft-write-version asks for,
// with --raft-legacy-encoding, the flag of the release that could write
// only version 1, kept as its alias. Config.Validate checks the range.
func raftWriteVersion(o agentOptions) (int, error) {
	if !o.RaftLegacyEncoding {
		return o.RaftWriteVersion, nil
	}
	if o.RaftWriteVersion != 0 && o.RaftWriteVersion != int(store.VersionJSON) {
		return 0, fmt.Errorf("--raft-legacy-encoding: is --raft-write-version %d, which contradicts --raft-write-version %d; give only --raft-write-version", store.VersionJSON, o.RaftWriteVersion)
	}
	return int(store.VersionJSON), nil
}

// defaultCosts is --default-price in --default-price-currency, as the
// control plane takes it; the prices were checked as they were parsed.
func defaultCosts(o agentOptions) (map[string]policy.Cost, error) {
	if len(o.DefaultPrice) == 0 {
		return nil, nil
	}
	if err := policy.CheckCurrency(o.DefaultCurrency); err != nil {
		return nil, fmt.Errorf("--default-price-currency: %w", err)
	}
	return o.DefaultPrice.Costs(o.DefaultCurrency), nil
}

// loadAgentConfig reads a YAML config file into o, leaving alone the
// settings given as flags on the command line.
func loadAgentConfig(path string, o *agentOptions, flags *pflag.FlagSet) error {
	data, err := readFileLimited(path, maxPolicyFile)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	fromFile := *o
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fromFile); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	// Flags set on the command line win over the file. Each flag's field
	// is the one whose yaml key is the flag name with underscores.
	fileV, flagV := reflect.ValueOf(&fromFile).Elem(), reflect.ValueOf(o).Elem()
	flags.Visit(func(fl *pflag.Flag) {
		key := strings.ReplaceAll(fl.Name, "-", "_")
		for i := 0; i < fileV.NumField(); i++ {
			if fileV.Type().Field(i).Tag.Get("yaml") == key {
				fileV.Field(i).Set(flagV.Field(i))
			}
		}
	})
	*o = fromFile
	return nil
}

func runAgent(ctx context.Context, stderr io.Writer, o agentOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: must be debug, info, warn or error (got %q)", o.LogLevel)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	memLimit, err := parseMemoryLimit(o.MemoryLimit)
	if err != nil {
		return err
	}
	gcp, gcWhy, err := gcPercent(o.GCPercent, os.Getenv("GOGC"))
	if err != nil {
		return err
	}
	if gcp != 0 {
		debug.SetGCPercent(gcp)
	}
	logger.Info("collector goal", "gc_percent", gcp, "from", gcWhy)
	// Before the state is restored: restoring a week of history is the
	// first large heap.
	if limit, why := memLimit.resolve(memoryLimitSource{env: os.Getenv("GOMEMLIMIT"), cgroup: memlimit.FromCgroup}); limit != 0 {
		debug.SetMemoryLimit(limit)
		logger.Info("memory limit", "bytes", limit, "from", why)
	} else {
		logger.Info("memory limit", "from", why)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	authSetup, err := newAgentAuth(o, logger)
	if err != nil {
		return err
	}

	tlsSetup, err := newAgentTLS(o, logger)
	if err != nil {
		return err
	}
	drivers, calls, err := newDrivers(o, logger, reg)
	if err != nil {
		return err
	}
	cfg := controlplane.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.RaftAddr, cfg.HTTPAddr = o.NodeID, o.DataDir, o.RaftAddr, o.HTTPAddr
	cfg.RaftBind = o.RaftBind
	cfg.BootstrapExpect, cfg.Join = o.BootstrapExpect, o.Join
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = o.HeartbeatTimeout, o.ElectionTimeout, o.LeaderLeaseTimeout
	if err := cfg.ScaleRaftTiming(o.RaftMultiplier); err != nil {
		return fmt.Errorf("--%w", err)
	}
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = o.SnapshotThreshold, o.SnapshotInterval, o.TrailingLogs
	if cfg.SnapshotBytes, err = parseLogBytes("--snapshot-bytes", o.SnapshotBytes); err != nil {
		return err
	}
	if cfg.TrailingBytes, err = parseLogBytes("--trailing-bytes", o.TrailingBytes); err != nil {
		return err
	}
	cfg.MaxDecisions, cfg.Drivers, cfg.Logger, cfg.Registerer = o.MaxDecisions, drivers, logger, reg
	cfg.CloudTimeout, cfg.CloudSettle, cfg.GroupRefresh = o.CloudTimeout, o.CloudSettle, o.GroupRefresh
	cfg.CloudBudget = calls
	if o.MaxAuditEntries <= 0 {
		return fmt.Errorf("--max-audit-entries: must be > 0 (got %d)", o.MaxAuditEntries)
	}
	cfg.MaxAuditEntries = o.MaxAuditEntries
	if cfg.DefaultCosts, err = defaultCosts(o); err != nil {
		return err
	}
	if cfg.WriteVersion, err = raftWriteVersion(o); err != nil {
		return err
	}
	cfg.TLS = tlsSetup.Store()
	cfg.HTTPClient = &http.Client{Transport: tlsSetup.transport(), Timeout: 5 * time.Second}
	cfg.HTTPClient = authSetup.peerClient(cfg.HTTPClient)
	readers, err := newReaders(o, logger, reg)
	if err != nil {
		return err
	}
	cfg.Readers = readers
	if o.MaxBody <= 0 {
		return fmt.Errorf("--max-body-bytes: must be > 0")
	}

	httpBind, bindFlag := o.HTTPAddr, "--http-addr"
	if o.HTTPBind != "" {
		httpBind, bindFlag = o.HTTPBind, "--http-bind"
	}
	ln, err := net.Listen("tcp", httpBind)
	if err != nil {
		return fmt.Errorf("%s: %w", bindFlag, err)
	}
	node, err := controlplane.NewNode(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	authn, err := authSetup.authenticator(node.FSM())
	if err != nil {
		_ = node.Shutdown()
		ln.Close()
		return err
	}
	apiOpts := api.Options{Backend: node, NodeID: o.NodeID, Version: version, Logger: logger, Registerer: reg, Gatherer: reg,
		MaxBodyBytes: o.MaxBody, Auth: authn, HTTPClient: forwardingClient(tlsSetup.transport())}
	if authSetup != nil {
		apiOpts.NodeSecret = authSetup.nodeSecret // proves to peers that this node forwards and relays
	}
	if st := tlsSetup.Store(); st != nil {
		apiOpts.PeerNode = st.NodeOf
		apiOpts.NodeCertAdmin = o.TLSNodeCertAdmin
	}
	// Slow, idle and too many clients are bounded (api.DefaultServerLimits).
	limits := api.DefaultServerLimits()
	srv := api.NewServer(api.NewHandler(apiOpts), limits)
	started := []any{"node", o.NodeID, "http", o.HTTPAddr, "raft", o.RaftAddr, "version", version}
	if o.HTTPBind != "" {
		started = append(started, "http_bind", o.HTTPBind)
	}
	if o.RaftBind != "" {
		started = append(started, "raft_bind", o.RaftBind)
	}
	logger.Info("capstan agent starting", started...)

	if o.DebugAddr != "" {
		dbg := &http.Server{Addr: o.DebugAddr, Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Warn("debug server", "err", err)
			}
		}()
		defer dbg.Close()
	}
	authSetup.reloadOnHUP(ctx)
	serveErr := make(chan error, 1)
	go func() { serveErr <- tlsSetup.serve(srv, api.LimitListener(ln, limits)) }()
	tlsSetup.reloadOnHUP(ctx)
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = node.Run(ctx) }()

	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			result = fmt.Errorf("http server: %w", err)
		}
	}
	logger.Info("shutting down")
	// Hand over leadership and stop Raft first, so the cluster keeps
	// evaluating; then stop serving.
	if err := node.Shutdown(); err != nil {
		logger.Warn("raft shutdown", "err", err)
	}
	<-runDone
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return result
}

// forwardingClient carries writes from followers to the leader over tr.
// It keeps many idle connections to the leader: with the default two,
// concurrent forwarded writes would open and close a connection each.
func forwardingClient(tr *http.Transport) *http.Client {
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 128
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// pprofMux serves the runtime profiles; on its own listener so the API
// never exposes them.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// newDrivers returns the driver lookup, one explicit switch over the
// providers Capstan supports (adding a provider is one case here), and
// the call budget its drivers spend, which a new leader empties
// (controlplane.Config.CloudBudget). Drivers
// are built on first use, so an agent that never scales on a provider
// needs no credentials for it, and a failed build (no credentials yet) is
// retried at the next evaluation rather than remembered.
func newDrivers(o agentOptions, logger *slog.Logger, reg prometheus.Registerer) (func(string) (cloud.Driver, error), *budget.Budget, error) {
	if o.CloudTimeout <= 0 {
		return nil, nil, fmt.Errorf("--cloud-timeout: must be > 0")
	}
	calls, err := budget.New(budget.Options{Read: o.CloudReadRate, Write: o.CloudWriteRate, Registerer: reg, Logger: logger,
		DetachedWait: o.CloudTimeout})
	if err != nil {
		return nil, nil, fmt.Errorf("--cloud-read-rate, --cloud-write-rate: %w", err)
	}
	var fakeDriver cloud.Driver
	if o.FakeCloud != "" {
		if !strings.HasPrefix(o.FakeCloud, "http://") && !strings.HasPrefix(o.FakeCloud, "https://") {
			return nil, nil, fmt.Errorf("--fake-cloud: must be an http:// or https:// URL (got %q)", o.FakeCloud)
		}
		fakeDriver = fake.NewClient(strings.TrimRight(o.FakeCloud, "/"), &http.Client{Timeout: 10 * time.Second})
	} else {
		if o.FakeBootDelay < 0 {
			return nil, nil, fmt.Errorf("--fake-boot-delay: must be >= 0")
		}
		fakeDriver = fake.NewDriver(fake.New(fake.Options{BootDelay: o.FakeBootDelay, AutoCreate: true, DefaultMax: 1000}))
		logger.Info("provider fake uses an in-process fake cloud; give --fake-cloud to share one between agents")
	}
	azureOpts, err := azureOptions(o, logger, calls.Transport("azure", cloudTransport()))
	if err != nil {
		return nil, nil, err
	}
	if o.GCPNoAuth {
		logger.Warn("--gcp-no-auth: GCP calls carry no credentials; use it only with an emulator")
	}
	// Transient failures (throttling, 5xx, timeouts) are retried with
	// capped, jittered backoff within each call's deadline. The call
	// budget sits under the retries, so that every attempt takes a token.
	// AWS and the fake cloud make one request per call (a batch: per 100
	// groups), so the budget counts their calls; the GCP and Azure
	// drivers make several, of irregular shapes, so their HTTP clients
	// send through the budget's transport, which counts each request.
	retrying := func(provider string, d cloud.Driver) cloud.Driver {
		var budgeted cloud.Driver
		switch provider {
		case "gcp", "azure":
			budgeted = calls.WrapMetered(provider, d)
		default:
			budgeted = calls.Wrap(provider, d)
		}
		return cloud.NewRetrying(budgeted, cloud.DefaultRetryOptions())
	}
	fakeDriver = retrying("fake", fakeDriver)
	lazy := func(provider string, build func(context.Context) (cloud.Driver, error)) func() (cloud.Driver, error) {
		var mu sync.Mutex
		var d cloud.Driver
		return func() (cloud.Driver, error) {
			mu.Lock()
			defer mu.Unlock()
			if d != nil {
				return d, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), o.CloudTimeout)
			defer cancel()
			built, err := build(ctx)
			if err != nil {
				return nil, err
			}
			d = retrying(provider, built)
			return d, nil
		}
	}
	awsDriver := lazy("aws", func(ctx context.Context) (cloud.Driver, error) {
		return aws.New(ctx, aws.Options{BaseEndpoint: o.AWSEndpoint, Logger: logger})
	})
	gcpDriver := lazy("gcp", func(ctx context.Context) (cloud.Driver, error) {
		opts := gcp.Options{Endpoint: o.GCPEndpoint, Logger: logger}
		// The SDK's authenticating transport over the budget's: every
		// Compute Engine request takes a token (WrapMetered).
		auth := []option.ClientOption{option.WithScopes(compute.DefaultAuthScopes()...)}
		if o.GCPNoAuth {
			auth = append(auth, option.WithoutAuthentication())
		}
		tr, err := htransport.NewTransport(ctx, calls.Transport("gcp", cloudTransport()), auth...)
		if err != nil {
			return nil, fmt.Errorf("gcp: credentials: %w", err)
		}
		// HTTPClient, not option.WithHTTPClient: the driver then sends
		// its list calls' pages under the caller's context, which the
		// SDK's List methods leave off (Get sets it), so a list's pages
		// reach the budget with their deadline and priority. Timeout: no
		// request of the driver's may outlive --cloud-timeout anyway.
		opts.HTTPClient = &http.Client{Transport: tr, Timeout: o.CloudTimeout}
		return gcp.New(ctx, opts)
	})
	azureDriver := lazy("azure", func(ctx context.Context) (cloud.Driver, error) {
		return azure.New(ctx, azureOpts)
	})
	return func(provider string) (cloud.Driver, error) {
		switch provider {
		case "fake":
			return fakeDriver, nil
		case "aws":
			return awsDriver()
		case "gcp":
			return gcpDriver()
		case "azure":
			return azureDriver()
		default:
			return nil, fmt.Errorf("provider %q: unknown", provider)
		}
	}, calls, nil
}

// cloudTransport is the HTTP transport under the budget's for the GCP and
// Azure SDKs: Go's default (proxy from the environment, HTTP/2) with an
// idle pool sized for batches of concurrent requests to one endpoint,
// where the default keeps two connections and closes the rest.
func cloudTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 64, 32
	return tr
}

// budgetDefaults lists the providers' default budget rates for --help.
func budgetDefaults(rate func(budget.Provider) float64) string {
	defaults := budget.Defaults()
	parts := make([]string, 0, len(defaults))
	for _, name := range slices.Sorted(maps.Keys(defaults)) {
		parts = append(parts, fmt.Sprintf("%s=%g", name, rate(defaults[name])))
	}
	return strings.Join(parts, ",")
}

// Both pulled-source readers read many sources at once; the leader's pull
// cache finds that by type assertion, so it is checked here at compile time.
var (
	_ controlplane.BatchReader = (*prom.Reader)(nil)
	_ controlplane.BatchReader = (*sqs.Reader)(nil)
)

// newReaders returns the lookup of pulled metric sources, again one explicit
// switch. The Prometheus reader exists only with --prometheus-url; the SQS
// reader is built on first use, like the cloud drivers.
func newReaders(o agentOptions, logger *slog.Logger, reg prometheus.Registerer) (func(policy.SourceKind) (controlplane.MetricReader, error), error) {
	var promReader controlplane.MetricReader
	if o.PrometheusURL != "" {
		r, err := prom.NewReader(prom.Options{Address: o.PrometheusURL, Timeout: o.PrometheusTimeout, Registerer: reg, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("--prometheus-url: %w", err)
		}
		promReader = r
	}
	var (
		mu        sync.Mutex
		sqsReader controlplane.MetricReader
	)
	return func(kind policy.SourceKind) (controlplane.MetricReader, error) {
		switch kind {
		case policy.SourcePrometheus:
			if promReader == nil {
				return nil, errors.New("source kind prometheus: start the agent with --prometheus-url")
			}
			return promReader, nil
		case policy.SourceSQS:
			mu.Lock()
			defer mu.Unlock()
			if sqsReader == nil {
				ctx, cancel := context.WithTimeout(context.Background(), o.CloudTimeout)
				defer cancel()
				r, err := sqs.NewReader(ctx, sqs.Options{BaseEndpoint: o.SQSEndpoint, Logger: logger, Registerer: reg})
				if err != nil {
					return nil, err
				}
				sqsReader = r
			}
			return sqsReader, nil
		default:
			return nil, fmt.Errorf("source kind %q: not pulled", kind)
		}
	}, nil
}

// azureOptions turns the --azure-* flags into driver options.
func azureOptions(o agentOptions, logger *slog.Logger, transport http.RoundTripper) (azure.Options, error) {
	// Every Resource Manager request takes a token of the call budget
	// (WrapMetered), polls of a resize's operation included.
	opts := azure.Options{Logger: logger, HTTPClient: &http.Client{Transport: transport}}
	// A scale-out's operation lasts until the new VMs are provisioned,
	// often minutes: stop waiting a little before the cloud timeout and
	// let describe report the group busy meanwhile.
	opts.OperationWait = o.CloudTimeout * 8 / 10
	if o.AzureEndpoint != "" {
		audience := o.AzureAudience
		if audience == "" {
			audience = o.AzureEndpoint
		}
		opts.Cloud = azcloud.Configuration{
			ActiveDirectoryAuthorityHost: o.AzureAuthority,
			Services: map[azcloud.ServiceName]azcloud.ServiceConfiguration{
				azcloud.ResourceManager: {Endpoint: strings.TrimRight(o.AzureEndpoint, "/"), Audience: audience},
			},
		}
	}
	if o.AzureEmulatorToken != "" {
		logger.Warn("--azure-emulator-token: Azure calls use a fixed token and may go over plain http; use it only with an emulator")
		opts.Credential = staticToken(o.AzureEmulatorToken)
		opts.InsecureAllowCredentialWithHTTP = true
		if o.AzureEndpoint == "" {
			return opts, errors.New("--azure-emulator-token: needs --azure-endpoint")
		}
	}
	if err := opts.Validate(); err != nil {
		return opts, fmt.Errorf("--azure-*: %w", err)
	}
	return opts, nil
}

// staticToken is a credential that always presents the same token; it
// exists for emulators, which only check that a bearer token arrives.
type staticToken string

func (t staticToken) GetToken(context.Context, azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}
