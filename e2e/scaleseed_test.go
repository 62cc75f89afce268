package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// seedHistory builds the state of a cluster that has run the load plan's
// policies for `history` up to end (every window bucket filled, a daily
// cycle in the values) and writes it as a Raft snapshot (term 1, the
// three nodes as voters) into each node's data directory, so the agents
// start on it as on a week-old cluster. The API cannot do this: a pushed
// sample older than an hour is refused. It returns the snapshot's size.
func seedHistory(nodes []*node, policies int, history time.Duration, end time.Time) (int, error) {
	s := store.New()
	index := uint64(1)
	start := end.Add(-history)
	for i := range policies {
		p, err := policy.Parse([]byte(scalePolicy(i)))
		if err != nil {
			return 0, fmt.Errorf("policy %d: %w", i, err)
		}
		index++
		s.Apply(index, store.PutPolicy{Policy: p, At: start}, store.Options{})
		step, _ := store.WindowShape(p)
		var samples []store.Sample
		for t := start.Add(step); !t.After(end); t = t.Add(step) {
			for m, name := range scaleMetrics {
				samples = append(samples, store.Sample{Policy: p.ID, Metric: name, Time: t, Value: scaleValue(i, m, t)})
			}
		}
		index++
		s.Apply(index, store.Samples{Samples: samples}, store.Options{})
	}
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		return 0, err
	}
	var servers []raft.Server
	for _, nd := range nodes {
		servers = append(servers, raft.Server{ID: raft.ServerID(nd.id), Address: raft.ServerAddress(nd.raftAddr), Suffrage: raft.Voter})
	}
	// Create encodes the old-format peer list through a transport; every
	// transport encodes an address as its bytes, so an in-memory one does.
	_, trans := raft.NewInmemTransport("")
	for _, nd := range nodes {
		snaps, err := raft.NewFileSnapshotStore(nd.dataDir, 2, io.Discard)
		if err != nil {
			return 0, err
		}
		sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{Servers: servers}, 1, trans)
		if err != nil {
			return 0, err
		}
		if _, err := sink.Write(buf.Bytes()); err != nil {
			sink.Cancel()
			return 0, fmt.Errorf("seeding %s: %w", nd.id, err)
		}
		if err := sink.Close(); err != nil {
			return 0, fmt.Errorf("seeding %s: %w", nd.id, err)
		}
	}
	return buf.Len(), nil
}

// mkdirs creates each node's data directory.
func mkdirs(nodes []*node) error {
	for _, nd := range nodes {
		if err := os.MkdirAll(nd.dataDir, 0o750); err != nil {
			return err
		}
	}
	return nil
}
