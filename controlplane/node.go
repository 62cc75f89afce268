// Package controlplane runs Capstan as a Raft-replicated service: the FSM,
// Raft's glue around the state that package store owns (its model,
// commands and encodings); the node that wires hashicorp/raft to bbolt
// storage and a TCP or mutual-TLS transport (or, in tests, to in-memory
// stores and transport: Config.Storage); the leader-only loop that
// evaluates policies and actuates through cloud drivers, writing an
// intent before every cloud call; and the api.Backend the REST API serves,
// which maps the API's types to the store's.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/tlsutil"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/controlplane/raftls"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// Config is a node's configuration. DefaultConfig fills what can be
// defaulted; Validate checks the rest.
type Config struct {
	// NodeID is this server's stable Raft id.
	NodeID string
	// DataDir holds the Raft log and stable store (bbolt) and snapshots.
	DataDir string
	// RaftAddr is the TCP address Raft advertises: the address peers dial
	// and the one in the cluster configuration. It must resolve to an IP
	// address this node is reachable at.
	RaftAddr string
	// RaftBind is the address Raft listens on; empty listens on RaftAddr.
	// A node in a container binds 0.0.0.0:PORT and advertises its DNS name.
	RaftBind string
	// HTTPAddr is the address peers and clients reach this node's API at.
	HTTPAddr string
	// BootstrapExpect is how many servers to wait for before bootstrapping
	// a new cluster; 0 joins an existing cluster through Join instead.
	BootstrapExpect int
	// Join lists peers' HTTP addresses (host:port) used to discover the
	// other servers at bootstrap, or to join an existing cluster.
	Join []string

	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout are Raft's
	// failure-detection timings: DefaultRaftMultiplier times the base
	// timing (RaftTiming), unless set. The lease is how long a leader
	// goes on without hearing from a quorum before it steps down; it does
	// not slow a failover (followers notice a lost leader by the
	// heartbeat timeout), so it is as long as Validate allows, the
	// heartbeat timeout: at 250 ms a leader stepped down whenever both
	// followers were held up for a quarter second, as while a week of
	// history is snapshotted on a busy machine (round trips of 130 ms
	// measured).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// SnapshotThreshold is how many log entries each node takes between
	// its snapshots. The voters take turns (snapturns.go): one of three
	// snapshots a third of the threshold after another, so that they do
	// not all write at once; Raft's own trigger is left at twice the
	// threshold, as a fallback.
	SnapshotThreshold uint64
	// SnapshotBytes is how many bytes of log entries each node applies
	// between its snapshots, whichever of this and SnapshotThreshold
	// comes first (0: entries only), with the same turns. Entries differ
	// in size by a thousand times (a tick's evaluations against an
	// intent), and the log's bytes are what a restart replays and what
	// raft.db holds.
	SnapshotBytes uint64
	// SnapshotInterval is how often Raft checks its fallback trigger; a
	// node looks for its turn every second (or this, when shorter).
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries are kept after a snapshot, so a
	// follower slightly behind catches up from the log.
	TrailingLogs uint64
	// TrailingBytes bounds the entries kept after a snapshot by their
	// bytes too (0: by count alone): a snapshot keeps the latest entries
	// that fit in it, at most TrailingLogs of them (logtail.go).
	TrailingBytes uint64

	// MaxDecisions bounds the decision history kept per policy.
	MaxDecisions int
	// MaxAuditEntries bounds the audit log; the oldest entries are
	// dropped. 0 means DefaultMaxAuditEntries.
	MaxAuditEntries int
	// Tick is how often the leader loop looks for policies that are due.
	Tick time.Duration
	// Workers evaluate due policies in parallel on the leader.
	Workers int
	// CloudTimeout bounds each cloud call. A resize's bound is also its
	// fence: no request for it is sent after its intent's SendBy, which is
	// CloudTimeout after the intent (docs/fencing.md).
	CloudTimeout time.Duration
	// CloudSettle is how long after SendBy a request the provider already
	// received may still take effect. Until then a resize whose outcome is
	// unknown keeps its group in doubt: no new action, and it counts for
	// cooldowns and rate limits.
	CloudSettle time.Duration
	// ApplyTimeout bounds each Raft write.
	ApplyTimeout time.Duration
	// StateSync is the longest the leader goes without committing a policy's
	// state: its pacing is committed whenever it changes, the rest (the
	// forecasting models) at this period, and a decision record alone does
	// not carry it.
	StateSync time.Duration
	// ModelSync is the longest the leader goes without committing a
	// policy's forecasting models (never less often than StateSync): the
	// commits in between carry the state without them, and every node
	// keeps the models it holds. A week-old policy's models are most of
	// its state's 5 KB. A successor resumes forecasting from models at
	// most this old (or from those of the policy's last action). Each
	// policy's fall due at times of its own, a period apart at an offset
	// of its own, so that a term's policies do not commit theirs all in
	// one round (modelsDueAfter), and a new term commits them when the
	// committed ones come due on those times (seedModelsDue), not all in
	// its first round. Entry version 7 on; in older ones the models go at
	// every state commit.
	ModelSync time.Duration
	// GroupRefresh is how often the leader describes, in batches, every
	// group its policies scale (groupcache.go). Evaluations read that
	// state; one never acts on state older than twice this period, and
	// describes the group again first.
	GroupRefresh time.Duration
	// DefaultCosts price, by provider, the policies with no cost of their
	// own, so their decisions and capstan_policy_hourly_cost speak in
	// money too (policy.WithDefaultCost); nil prices none.
	DefaultCosts map[string]policy.Cost

	// Drivers resolves a target provider to its cloud driver.
	Drivers func(provider string) (cloud.Driver, error)
	// CloudBudget, when set, is the call budget the drivers spend
	// (cloud/budget): a new leader tells it that the providers' buckets
	// were just spent by its predecessor (groupcache.go). nil: none.
	CloudBudget CallBudget
	// Readers resolves a pulled metric source kind (prometheus, sqs) to
	// its reader; nil supports pushed metrics only.
	Readers func(kind policy.SourceKind) (MetricReader, error)
	// Logger receives the node's logs; Registerer its metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// HTTPClient reaches peers' APIs at bootstrap and join. With TLS it
	// must verify peers against the cluster CA and present the node
	// certificate (see tlsutil.Store.DialTLSContext).
	HTTPClient *http.Client
	// TLS, when set, holds the node certificate and the cluster CA: Raft
	// runs over mutual TLS, peers' APIs are reached over https, this
	// node's API address is advertised as https://HTTPAddr, and a server
	// joins only if it proves, with a node certificate of the cluster CA,
	// that it is the server it says it is. nil runs plaintext.
	TLS *tlsutil.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// WriteVersion is the encoding version of the Raft entries and
	// snapshots this server writes (store.VersionJSON to
	// store.CurrentVersion; 0 means store.CurrentVersion). An older one is
	// for rolling upgrades only: set it on every new server to the version
	// the servers not yet upgraded write, so that they read everything the
	// new ones send, and restart the new ones without it once none runs
	// the old version (README, rolling-upgrade rule). Every server reads
	// every version up to its own either way. What an older version has no
	// place for is left out (store.EncodeVersion).
	WriteVersion int
	// Storage, when set, replaces the node's Raft storage and network
	// (raft-boltdb in DataDir, file snapshots, TCP or mutual TLS): tests
	// run whole clusters in one process on raft's in-memory stores and
	// InmemTransport. nil in production.
	Storage *RaftStorage
}

// RaftStorage is what a Raft server needs besides its FSM: its log, its
// stable store, its snapshots and its transport.
type RaftStorage struct {
	Logs      raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
	Transport raft.Transport
}

// writeVersion is the encoding version WriteVersion asks for, once
// validated.
func (c *Config) writeVersion() uint8 {
	if c.WriteVersion == 0 {
		return store.CurrentVersion
	}
	return uint8(c.WriteVersion)
}

// DefaultSnapshotThreshold is the most log entries between a node's
// snapshots. Under 10,000 two-metric policies the log grew by about 600
// entries a second while each evaluation was an entry of its own, so each
// node snapshotted about once a minute. Since evaluations are committed a
// tick at a time (entry version 7) the count swings with what the policies
// do: about 200 entries a second while they scale (an intent, its result
// and the evaluation for each action), a few a second while they hold,
// when DefaultSnapshotBytes comes first.
const DefaultSnapshotThreshold = 32768

// DefaultSnapshotBytes is the most log bytes between a node's snapshots:
// at the 0.4 MB a second 10,000 week-old policies commit while they hold
// (BenchmarkEvaluatedEntries), a snapshot about every 3 minutes on each
// node. It bounds what a restart replays and, with DefaultTrailingBytes,
// raft.db, whose pages count in RSS as bbolt reads them back: at 256 MB
// the leader's mapped raft.db reached 252 MiB between compactions
// (BENCHMARKS.md, run Q), at 64 MB 150 MiB with the trailing log bounded
// as well.
const DefaultSnapshotBytes = 64 << 20

// DefaultTrailingLogs is the most entries kept after a snapshot, so that
// a follower slightly behind catches up from the log (further behind, it
// installs a snapshot).
const DefaultTrailingLogs = 2048

// DefaultTrailingBytes is the most bytes of entries kept after a
// snapshot. Entries carrying a tick's evaluations are about 100 KB with a
// week of history: 2,048 of them were about 200 MB of raft.db; 32 MB keeps
// about a minute of log while 10,000 policies hold, and the whole 2,048
// small entries while they scale.
const DefaultTrailingBytes = 32 << 20

// baseRaftTimeout is Raft's heartbeat, election and lease timeout at
// multiplier 1: a lost leader is replaced in about a second on a LAN of
// machines with CPU to spare.
const baseRaftTimeout = 500 * time.Millisecond

// DefaultRaftMultiplier scales the base Raft timing by default (as
// Consul's raft_multiplier does). At 1, a busy 2-core machine lost its
// leader several times in a few minutes (BENCHMARKS.md, "Elections under
// load"): a heartbeat round trip there can take a second, when the
// agents get a few percent of a core each beside a compile, collect a
// heap of half a gigabyte, or write a snapshot. A larger multiplier
// holds leadership through that at the price of a slower failover (about
// the heartbeat timeout, randomized up to twice it, plus the election).
const DefaultRaftMultiplier = 3

// MaxRaftMultiplier is the largest multiplier RaftTiming accepts (5 s
// timeouts; Consul's raft_multiplier has the same bound).
const MaxRaftMultiplier = 10

// RaftTiming returns the heartbeat, election and leader lease timeouts at
// multiplier m (1 to MaxRaftMultiplier): the base timing times m.
func RaftTiming(m int) (heartbeat, election, lease time.Duration, err error) {
	if m < 1 || m > MaxRaftMultiplier {
		return 0, 0, 0, fmt.Errorf("raft-multiplier: must be 1 to %d (got %d)", MaxRaftMultiplier, m)
	}
	d := time.Duration(m) * baseRaftTimeout
	return d, d, d, nil
}

// ScaleRaftTiming sets the Raft timeouts left at zero from multiplier m
// (RaftTiming): a timeout given explicitly wins, and an unset lease is the
// heartbeat timeout, the longest Validate allows. It changes nothing when
// m is out of range.
func (c *Config) ScaleRaftTiming(m int) error {
	heartbeat, election, lease, err := RaftTiming(m)
	if err != nil {
		return err
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = heartbeat
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = election
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = min(lease, c.HeartbeatTimeout)
	}
	return nil
}

// DefaultConfig returns the tunables' defaults.
func DefaultConfig() Config {
	d := time.Duration(DefaultRaftMultiplier) * baseRaftTimeout
	return Config{
		HeartbeatTimeout:   d,
		ElectionTimeout:    d,
		LeaderLeaseTimeout: d,
		SnapshotThreshold:  DefaultSnapshotThreshold,
		SnapshotBytes:      DefaultSnapshotBytes,
		SnapshotInterval:   30 * time.Second,
		TrailingLogs:       DefaultTrailingLogs,
		TrailingBytes:      DefaultTrailingBytes,
		MaxDecisions:       100,
		Tick:               250 * time.Millisecond,
		Workers:            8,
		CloudTimeout:       10 * time.Second,
		CloudSettle:        20 * time.Second,
		ApplyTimeout:       5 * time.Second,
		StateSync:          60 * time.Second,
		ModelSync:          5 * time.Minute,
		GroupRefresh:       15 * time.Second,
	}
}

// Validate reports every configuration problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node-id: required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: required"))
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		errs = append(errs, fmt.Errorf("raft-addr: must be host:port: %w", err))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http-addr: must be host:port: %w", err))
	}
	if c.RaftBind != "" {
		if _, _, err := net.SplitHostPort(c.RaftBind); err != nil {
			errs = append(errs, fmt.Errorf("raft-bind: must be host:port: %w", err))
		}
	}
	if c.BootstrapExpect < 0 {
		errs = append(errs, errors.New("bootstrap-expect: must be >= 0"))
	}
	if c.BootstrapExpect > 1 && len(c.Join) == 0 {
		errs = append(errs, errors.New("join: required to find the other servers when bootstrap-expect > 1"))
	}
	if c.ElectionTimeout <= 0 || c.HeartbeatTimeout <= 0 || c.LeaderLeaseTimeout <= 0 {
		errs = append(errs, errors.New("raft timeouts: must be > 0"))
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, errors.New("leader-lease-timeout: must not exceed heartbeat-timeout"))
	}
	if c.GroupRefresh <= 0 {
		errs = append(errs, fmt.Errorf("group-refresh: must be > 0 (got %s)", c.GroupRefresh))
	}
	if c.CloudSettle < 0 {
		errs = append(errs, fmt.Errorf("cloud-settle: must be >= 0 (got %s)", c.CloudSettle))
	}
	if c.WriteVersion != 0 && (c.WriteVersion < int(store.VersionJSON) || c.WriteVersion > int(store.CurrentVersion)) {
		errs = append(errs, fmt.Errorf("raft-write-version: must be a version this server writes, %d to %d (got %d)", store.VersionJSON, store.CurrentVersion, c.WriteVersion))
	}
	if c.Drivers == nil {
		errs = append(errs, errors.New("drivers: required"))
	}
	return errors.Join(errs...)
}

// Node is one Capstan server.
type Node struct {
	cfg  Config
	fsm  *FSM
	raft *raft.Raft
	// storage is Raft's log, stable store, snapshots and transport.
	storage RaftStorage
	// closers close the storage and transport NewNode opened, in order.
	closers []io.Closer
	// layer is the mutual-TLS stream under the transport (nil without
	// TLS); peers says which servers it lets in.
	layer   *raftls.Layer
	peers   *raftPeers
	health  memberHealth
	log     *slog.Logger
	metrics *nodeMetrics
	now     func() time.Time

	// barrierFn is raft's Barrier; tests replace it to make it fail.
	barrierFn func(timeout time.Duration) error
	// barrierBackoff is the first wait before retrying a failed barrier.
	barrierBackoff time.Duration
	// roundTripEvery is how often the leader measures its Raft round
	// trip (the roundTripEvery constant when zero; tests shorten it).
	roundTripEvery time.Duration
	// registered is closed when the register loop is done: this node's
	// address is in the registry (or Run ended), and the loop no longer
	// writes it.
	registered chan struct{}
	// snapBytes is fsm.appliedBytes when this node last took a snapshot
	// at its turn (0 before the first).
	snapBytes atomic.Uint64
	// snapshotTurns says whether Run takes this node's snapshot turns
	// (snapturns.go); tests that step them themselves turn it off.
	snapshotTurns bool

	leaderCh chan bool
	// fresh carries policy ids with new samples to the leader loop.
	fresh chan string
	// seriesMu serializes the commits of label-matched series samples,
	// which read the committed series points (series.go); seriesIdx is
	// the compiled label matchers of the current policies.
	seriesMu  sync.Mutex
	seriesIdx atomic.Pointer[seriesIndex]

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// NewNode opens the node's storage and starts Raft. Call Run to bootstrap
// or join and to run the leader loop; call Shutdown to stop.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	n := &Node{
		cfg: cfg, fsm: NewFSM(cfg.MaxDecisions), log: cfg.Logger.With("node", cfg.NodeID), now: cfg.Now,
		leaderCh: make(chan bool, 8), fresh: make(chan string, 1024), peers: &raftPeers{}, registered: make(chan struct{}),
		snapshotTurns: true,
	}
	n.fsm.onSamples = n.notifyFresh
	// Snapshots have versions of their own since entry version 7, which
	// changed only entries: the newest snapshot version not above the
	// entries'.
	n.fsm.snapshotVersion = min(cfg.writeVersion(), store.SnapshotVersion)
	m, err := newNodeMetrics(cfg.Registerer, n)
	if err != nil {
		return nil, err
	}
	n.metrics = m

	hlog := newRaftLogger(n.log, hclog.Info, cfg.Now)
	if cfg.Storage != nil {
		n.storage = *cfg.Storage
	} else if err := n.openStorage(hlog); err != nil {
		n.close()
		return nil, err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	// The turns snapshot every SnapshotThreshold entries; Raft's own
	// trigger only catches a node whose turns stall.
	rc.SnapshotThreshold = max(cfg.SnapshotThreshold*2, cfg.SnapshotThreshold) // no overflow
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NotifyCh = n.leaderCh
	// Concurrent writes share one log append and fsync.
	rc.BatchApplyCh = true
	rc.Logger = hlog
	st := n.storage
	r, err := raft.NewRaft(rc, n.fsm, st.Logs, st.Stable, st.Snapshots, st.Transport)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	n.raft = r
	n.barrierFn = func(timeout time.Duration) error { return r.Barrier(timeout).Error() }
	n.barrierBackoff = barrierBackoff
	n.peers.r.Store(r)
	return n, nil
}

// openStorage opens the durable Raft storage in DataDir (raft-boltdb for
// the log and stable store, file snapshots) and the network transport.
func (n *Node) openStorage(hlog hclog.Logger) error {
	path := filepath.Join(n.cfg.DataDir, "raft.db")
	// Checked read-only first: a corrupt store is refused, never written.
	if err := checkRaftStore(path); err != nil {
		return err
	}
	bolt, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		return fmt.Errorf("opening raft store: %w", err)
	}
	n.closers = append(n.closers, bolt)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("opening snapshot store: %w", err)
	}
	trans, err := n.newTransport(hlog)
	if err != nil {
		return err
	}
	// The transport closes before the store.
	n.closers = append([]io.Closer{trans}, n.closers...)
	n.storage = RaftStorage{Logs: bolt, Stable: bolt, Snapshots: snaps, Transport: trans}
	return nil
}

// close closes what openStorage opened and returns the first error.
func (n *Node) close() error {
	var first error
	for _, c := range n.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	n.closers = nil
	return first
}

// newTransport is Raft's network transport: plain TCP, or mutual TLS when
// the node has a certificate, in which case only current members (see
// raftPeers) may connect, each speaking only as itself.
func (n *Node) newTransport(hlog hclog.Logger) (*raft.NetworkTransport, error) {
	const maxPool, timeout = 3, 5 * time.Second
	addr, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("raft-addr: %w", err)
	}
	bind := n.cfg.RaftBind
	if bind == "" {
		bind = n.cfg.RaftAddr
	}
	if n.cfg.TLS == nil {
		trans, err := raft.NewTCPTransportWithLogger(bind, addr, maxPool, timeout, hlog)
		if err != nil {
			return nil, fmt.Errorf("raft transport: %w", err)
		}
		return trans, nil
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft-addr: %s is not an address peers can reach (it is the advertised address; listen on all interfaces with raft-bind)", n.cfg.RaftAddr)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft-bind: %w", err)
	}
	layer, err := raftls.New(raftls.Options{Listener: ln, Advertise: addr,
		Server: n.cfg.TLS.PeerServerConfig(), Client: n.cfg.TLS.PeerClientConfig(),
		Logger: n.log, Registerer: n.cfg.Registerer, Members: n.peers.lookup})
	if err != nil {
		ln.Close()
		return nil, err
	}
	n.layer = layer
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: maxPool, Timeout: timeout, Logger: hlog}), nil
}

// apiAddr is this node's API address as it registers it: HTTPAddr, with
// the https scheme when the API is served over TLS, so peers forwarding
// to it know to use TLS.
func (n *Node) apiAddr() string {
	if n.cfg.TLS != nil {
		return "https://" + n.cfg.HTTPAddr
	}
	return n.cfg.HTTPAddr
}

// peerURL is the URL of path on a peer's API. peer is host:port (the
// scheme follows whether this node uses TLS) or a URL with a scheme.
func (n *Node) peerURL(peer, path string) string {
	if strings.Contains(peer, "://") {
		return strings.TrimRight(peer, "/") + path
	}
	if n.cfg.TLS != nil {
		return "https://" + peer + path
	}
	return "http://" + peer + path
}

// Run forms or joins the cluster, keeps this node's HTTP address registered,
// and runs the leader loop whenever this node leads, until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	n.cancel = cancel
	n.wg.Add(5)
	go func() { defer n.wg.Done(); n.monitorLeadership(ctx) }()
	go func() {
		defer n.wg.Done()
		if n.snapshotTurns {
			n.takeSnapshotTurns(ctx)
		}
	}()
	go func() { defer n.wg.Done(); n.watchHealth(ctx) }()
	go func() { defer n.wg.Done(); n.register(ctx) }()
	go func() { defer n.wg.Done(); n.refreshPeers(ctx, 5*time.Second) }()
	if err := n.formCluster(ctx); err != nil && ctx.Err() == nil {
		n.log.Error("forming the cluster failed", "err", err)
	}
	<-ctx.Done()
	return nil
}

// Shutdown stops the loops and Raft and closes storage. A leader hands
// leadership to another server first, so the cluster keeps evaluating.
func (n *Node) Shutdown() error {
	if n.raft.State() == raft.Leader && n.voters() > 1 {
		start := time.Now()
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			n.log.Warn("leadership transfer failed", "err", err)
		} else {
			// Operators doing a rolling restart look for this line.
			n.log.Info("leadership handed over before stopping", "took", time.Since(start).Round(time.Millisecond))
		}
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	err := n.raft.Shutdown().Error()
	if cerr := n.close(); err == nil {
		err = cerr
	}
	return err
}

func (n *Node) voters() int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			c++
		}
	}
	return c
}

// FSM exposes the state machine (read-only use), for tests and wiring.
func (n *Node) FSM() *FSM { return n.fsm }

// Raft exposes the Raft instance, for tests and metrics.
func (n *Node) Raft() *raft.Raft { return n.raft }

// raftLeader is the current leader's server id, or "".
func (n *Node) raftLeader() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// apply commits a command and waits for the FSM's answer.
func (n *Node) apply(ctx context.Context, c store.Command) error {
	_, err := n.applyResult(ctx, c)
	return err
}

// applyResult commits a command and returns the FSM's answer and, for a
// refused command, the API error its outcome maps to.
func (n *Node) applyResult(ctx context.Context, c store.Command) (applyResult, error) {
	data, err := store.EncodeVersion(c, n.cfg.writeVersion())
	if err != nil {
		return applyResult{}, err
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		return applyResult{}, applyError(err)
	}
	return errorFrom(f.Response())
}

// applyError maps a failed Raft apply to what the client can do about it.
// Refused before the entry was handed to Raft (not the leader, a transfer
// under way, the queue full): the write was not made, 503 no_leader.
// Handed over and then leadership was lost (or Raft shut down): the entry
// may still commit under the next leader, 503 outcome_unknown.
func applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", api.ErrNoLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: leadership was lost after the write was handed to Raft: %w", api.ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("raft apply: %w", err)
}
