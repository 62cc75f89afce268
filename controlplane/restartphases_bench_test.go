package controlplane

import (
	"bytes"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/store"
)

var (
	phasesPolicies = flag.Int("phases.policies", 500, "policies in BenchmarkRestartPhases")
	phasesHistory  = flag.Duration("phases.history", 7*24*time.Hour, "history BenchmarkRestartPhases seeds each window with, one sample per 5 minutes")
)

// BenchmarkRestartPhases takes apart, in process, what the load run
// (make bench-scale) times only in sum after it kills its three nodes: a
// node's restart restores its latest snapshot and then applies the log
// after it, and a wiped follower installs the leader's snapshot and
// applies the log after it up to the leader's commit index, which by then
// holds the new term's first commits too.
//
// A leader (loadRig: the load run's policies and feed) runs a term's
// first round and one ModelSync of rounds, so that its log is as a
// running cluster's; its snapshot is taken there, and one more ModelSync
// of rounds makes the log after it. A new term (a restart's) then runs
// one ModelSync of rounds. Reported: the snapshot's size and the time to
// restore it into a fresh FSM (restore-ms), the log after it and the time
// to apply it (replay-ms, replay-MB), each scaled to 10,000 policies; and
// what the new term commits: in its first round (term-first-MB@10k), in
// the rest of its first ModelSync (term-rest-MB@10k), and how many times
// each policy's models went in that ModelSync (models/policy).
//
//	go test -run '^$' -bench RestartPhases -benchtime 5x ./controlplane/ -args -phases.policies=500
func BenchmarkRestartPhases(b *testing.B) {
	policies := *phasesPolicies
	r := newLoadRig(b, policies, *phasesHistory, loadValue, nil)
	n := r.n
	period := int(max(n.cfg.ModelSync, n.cfg.StateSync) / (10 * time.Second))
	for range period + 1 {
		r.round(b)
	}
	// The round's evaluations are applied when round returns: the state
	// the snapshot holds is the log up to here.
	snapIndex := n.Raft().LastIndex()
	fs, err := n.fsm.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	var snap memSink
	if err := fs.Persist(&snap); err != nil {
		b.Fatal(err)
	}
	fs.Release()
	for range period {
		r.round(b)
	}
	last := n.Raft().LastIndex()
	var tail []*raft.Log
	tailBytes := 0
	for i := snapIndex + 1; i <= last; i++ {
		e := new(raft.Log)
		if err := n.storage.Logs.GetLog(i, e); err != nil {
			b.Fatal(err)
		}
		tail = append(tail, e)
		tailBytes += len(e.Data)
	}

	// A new term, as after the restart: its first ModelSync of rounds.
	r.startTerm()
	models := 0
	var first, rest entryCount
	for i := range period {
		from := n.Raft().LastIndex()
		r.round(b)
		c := countEntries(b, n.storage.Logs, from, n.Raft().LastIndex(), func(x store.Evaluated) {
			if x.State != nil {
				models++
			}
		})
		if i == 0 {
			first = c
		} else {
			rest.bytes += c.bytes
		}
	}

	scale := 10000 / float64(policies)
	var restore, replay time.Duration
	b.ResetTimer()
	for b.Loop() {
		f := NewFSM(n.cfg.MaxDecisions)
		start := time.Now()
		if err := f.Restore(io.NopCloser(bytes.NewReader(snap.Bytes()))); err != nil {
			b.Fatal(err)
		}
		restored := time.Now()
		for _, e := range tail {
			f.Apply(e)
		}
		restore += restored.Sub(start)
		replay += time.Since(restored)
	}
	runs := float64(b.N)
	b.ReportMetric(float64(snap.Len())*scale/1e6, "snapshot-MB@10k")
	b.ReportMetric(restore.Seconds()*1e3/runs*scale, "restore-ms@10k")
	b.ReportMetric(float64(tailBytes)*scale/1e6, "replay-MB@10k")
	b.ReportMetric(float64(len(tail)), "replay-entries")
	b.ReportMetric(replay.Seconds()*1e3/runs*scale, "replay-ms@10k")
	b.ReportMetric(float64(first.bytes)*scale/1e6, "term-first-MB@10k")
	b.ReportMetric(float64(rest.bytes)*scale/1e6, "term-rest-MB@10k")
	b.ReportMetric(float64(models)/float64(policies), "models/policy")
}
