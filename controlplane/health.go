package controlplane

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/api"
)

// healthProbeInterval is how often a node asks every other member's API
// for its view (/v1/cluster), and healthProbeTimeout bounds one ask: a
// dead member is shown as such within about two intervals.
const (
	healthProbeInterval = time.Second
	healthProbeTimeout  = time.Second
)

// Member health values of api.Member.Health.
const (
	healthOK       = "ok"
	healthDegraded = "degraded"
	healthDown     = "down"
	healthUnknown  = "unknown"
)

// errNotRegistered is a member's API error while its API address is not
// in this node's registry yet (a follower registers it through a join to
// the leader, about a second after the leader is known): the member may
// be up, but there is nowhere to probe.
const errNotRegistered = "API address not registered yet"

// Raft contact values of api.Member.RaftContact.
const (
	contactOK      = "ok"
	contactFailing = "failing"
	contactLeader  = "leader"
	contactUnknown = "unknown"
)

// memberHealth is what a node knows about the other members' health. Two
// sources feed it: Raft's own heartbeat observations, which only the leader
// makes (a failed heartbeat names the peer and its last contact), and a
// probe of every member's API, which gives reachability and the member's
// applied index, and, from the leader's answer, the leader's Raft view for
// followers to show. The zero value is ready to use.
type memberHealth struct {
	mu sync.Mutex
	// failing holds the peers whose heartbeats fail, by server id, with
	// their last contact (zero when the leader never reached them) and
	// when the failures were first seen; only set while this node leads.
	failing map[string]failedContact
	// probes holds the last API probe of each member, by server id.
	probes map[string]apiProbe
}

// failedContact is a peer the leader's heartbeats do not reach.
type failedContact struct {
	lastContact time.Time
	since       time.Time
}

// apiProbe is the outcome of the last ask of a member's /v1/cluster.
type apiProbe struct {
	at   time.Time
	err  string
	info api.ClusterInfo
}

// observe records one Raft observation. When it is the first successful
// heartbeat to a peer after failures, it returns the peer and how long
// its heartbeats failed, for the log.
func (h *memberHealth) observe(o raft.Observation, now time.Time) (resumed string, down time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		if h.failing == nil {
			h.failing = map[string]failedContact{}
		}
		f, seen := h.failing[string(d.PeerID)]
		if !seen {
			f.since = now
		}
		f.lastContact = d.LastContact
		h.failing[string(d.PeerID)] = f
	case raft.ResumedHeartbeatObservation:
		if f, ok := h.failing[string(d.PeerID)]; ok {
			resumed, down = string(d.PeerID), now.Sub(f.since)
		}
		delete(h.failing, string(d.PeerID))
	case raft.PeerObservation:
		if d.Removed {
			delete(h.failing, string(d.Peer.ID))
			delete(h.probes, string(d.Peer.ID))
		}
	case raft.RaftState:
		// Heartbeat observations come from the leader's replication; a
		// new term of leadership starts them afresh.
		if d != raft.Leader {
			h.failing = nil
		}
	}
	return resumed, down
}

// recordProbe stores the outcome of asking member id for its view.
func (h *memberHealth) recordProbe(id string, p apiProbe) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.probes == nil {
		h.probes = map[string]apiProbe{}
	}
	h.probes[id] = p
}

// fill sets the health fields of info's members: info is this node's view
// (Node, Role, indexes and members already set), now the current time.
func (h *memberHealth) fill(info *api.ClusterInfo, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// The reference for lag is the highest commit index known: this
	// node's or any member's at its last probe.
	ref := info.CommitIndex
	var leaderView *api.ClusterInfo
	for id, p := range h.probes {
		if p.err != "" {
			continue
		}
		ref = max(ref, p.info.CommitIndex)
		if id == info.LeaderID && p.info.Role == "leader" {
			leaderView = &p.info
		}
	}
	for i := range info.Members {
		m := &info.Members[i]
		if m.ID == info.Node {
			m.API = "reachable"
			m.AppliedIndex = info.AppliedIndex
		} else if p, ok := h.probes[m.ID]; !ok {
			m.API = healthUnknown
		} else {
			m.APICheckedAt = p.at.UTC()
			if p.err != "" {
				m.API, m.APIError = "unreachable", p.err
			} else {
				m.API, m.AppliedIndex = "reachable", p.info.AppliedIndex
			}
		}
		if m.API == "reachable" && ref >= m.AppliedIndex {
			lag := ref - m.AppliedIndex
			m.AppliedLag = &lag
		}
		h.contact(info, leaderView, m, now)
		m.Health = health(m)
	}
}

// contact sets m's Raft contact: this node's own observations when it
// leads, else the leader's as its API last reported them.
func (h *memberHealth) contact(info *api.ClusterInfo, leaderView *api.ClusterInfo, m *api.Member, now time.Time) {
	switch {
	case m.ID == info.LeaderID:
		m.RaftContact = contactLeader
	case info.Role == "leader":
		m.RaftContact = contactOK
		zero := 0.0
		m.LastContactSeconds = &zero
		if f, failing := h.failing[m.ID]; failing {
			m.RaftContact = contactFailing
			from := f.lastContact
			if from.IsZero() {
				from = f.since
			}
			s := now.Sub(from).Seconds()
			m.LastContactSeconds = &s
		}
	case leaderView != nil:
		m.RaftContact = contactUnknown
		for _, lm := range leaderView.Members {
			if lm.ID == m.ID && lm.RaftContact != "" {
				m.RaftContact = lm.RaftContact
				m.LastContactSeconds = lm.LastContactSeconds
			}
		}
	default:
		m.RaftContact = contactUnknown
	}
}

// health sums a member's Raft contact and API reachability up in one word:
// down when neither answers, degraded when one of them fails, ok when
// what is known is fine.
func health(m *api.Member) string {
	raftBad := m.RaftContact == contactFailing
	apiBad := m.API == "unreachable"
	switch {
	case raftBad && apiBad:
		return healthDown
	case raftBad || apiBad:
		return healthDegraded
	case m.RaftContact == contactUnknown && m.API == healthUnknown:
		return healthUnknown
	}
	return healthOK
}

// watchHealth feeds the node's member health until ctx ends: Raft's
// heartbeat observations as they come, and a probe of every other member's
// API each healthProbeInterval.
func (n *Node) watchHealth(ctx context.Context) {
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.PeerObservation, raft.RaftState:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	t := time.NewTicker(healthProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch:
			// The failures themselves are logged by Raft (rate-limited,
			// see raftLogger); the recovery is logged here, once.
			if peer, down := n.health.observe(o, n.now()); peer != "" {
				n.log.Info("raft: heartbeats to member resumed", "peer", peer, "failing_for", down.Round(time.Millisecond))
			}
		case <-t.C:
			n.probeMembers(ctx)
		}
	}
}

// probeMembers asks every other member's API for its view, all at once,
// and records what each said.
func (n *Node) probeMembers(ctx context.Context) {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	var wg sync.WaitGroup
	for _, s := range f.Configuration().Servers {
		id := string(s.ID)
		addr := n.fsm.nodeHTTPAddr(id)
		if id == n.cfg.NodeID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := apiProbe{at: n.now()}
			if addr == "" {
				p.err = errNotRegistered
				n.health.recordProbe(id, p)
				return
			}
			pctx, cancel := context.WithTimeout(ctx, healthProbeTimeout)
			defer cancel()
			info, err := n.peerInfo(pctx, addr)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				// net/http's error repeats the URL; the member is named already.
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err
				}
				p.err = err.Error()
			}
			p.info = info
			n.health.recordProbe(id, p)
		}()
	}
	wg.Wait()
}

// healthCollector exports member health on /metrics at scrape time:
// capstan_raft_peer_last_contact_seconds (from the leader's heartbeat
// observations, so only the leader exports it),
// capstan_raft_peer_applied_lag and capstan_raft_peer_api_up (from this
// node's API probes).
type healthCollector struct {
	n                       *Node
	lastContact, lag, apiUp *prometheus.Desc
}

func newHealthCollector(n *Node) healthCollector {
	return healthCollector{n: n,
		lastContact: prometheus.NewDesc("capstan_raft_peer_last_contact_seconds",
			"Seconds since the leader last heard from a peer: 0 while its heartbeats succeed; exported by the leader only.",
			[]string{"peer"}, nil),
		lag: prometheus.NewDesc("capstan_raft_peer_applied_lag",
			"How many Raft entries a member's applied index is behind the highest commit index this node knows; absent while the member's API does not answer.",
			[]string{"peer"}, nil),
		apiUp: prometheus.NewDesc("capstan_raft_peer_api_up",
			"1 when the member's API answered this node's last probe, else 0.",
			[]string{"peer"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lastContact
	ch <- c.lag
	ch <- c.apiUp
}

// Collect implements prometheus.Collector.
func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	if c.n.raft == nil {
		return
	}
	info, err := c.n.Cluster(context.Background())
	if err != nil {
		return
	}
	for _, m := range info.Members {
		if m.ID == info.Node {
			continue
		}
		if info.Role == "leader" && m.LastContactSeconds != nil {
			ch <- prometheus.MustNewConstMetric(c.lastContact, prometheus.GaugeValue, *m.LastContactSeconds, m.ID)
		}
		if m.AppliedLag != nil {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(*m.AppliedLag), m.ID)
		}
		up := 0.0
		if m.API == "reachable" {
			up = 1
		}
		if m.API != healthUnknown {
			ch <- prometheus.MustNewConstMetric(c.apiUp, prometheus.GaugeValue, up, m.ID)
		}
	}
}
