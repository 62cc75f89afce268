package controlplane

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/capstan-io/capstan/store"
)

// restorePolicies is how many week-old policies BenchmarkRestoreOver's
// snapshot holds.
var restorePolicies = flag.Int("restore.policies", 2000, "week-old policies in BenchmarkRestoreOver's snapshot")

// weekSnapshot writes the snapshot of n load-run policies (loadPolicy),
// each window filled for a week, one sample per 5-minute bucket, to a file
// and returns its path: read from disk, as Raft's snapshot store does, the
// snapshot takes no heap.
func weekSnapshot(tb testing.TB, n int) string {
	tb.Helper()
	s := store.New()
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	index := uint64(0)
	var samples []store.Sample
	for i := range n {
		id := fmt.Sprintf("p%05d", i)
		index++
		s.Apply(index, store.PutPolicy{Policy: loadPolicy(tb, id), At: end.Add(-7 * 24 * time.Hour)}, store.Options{})
		samples = samples[:0]
		for t := end.Add(-7 * 24 * time.Hour); t.Before(end); t = t.Add(5 * time.Minute) {
			samples = append(samples, store.Sample{Policy: id, Metric: "rps", Time: t, Value: loadValue(i, 0, t)},
				store.Sample{Policy: id, Metric: "queue", Time: t, Value: loadValue(i, 1, t)})
		}
		index++
		s.Apply(index, store.Samples{Samples: samples}, store.Options{})
	}
	path := filepath.Join(tb.TempDir(), "state.bin")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := s.WriteSnapshot(f); err != nil {
		tb.Fatal(err)
	}
	return path
}

// restoreFile restores the snapshot at path into f.
func restoreFile(tb testing.TB, f *FSM, path string) {
	tb.Helper()
	r, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Restore(r); err != nil {
		tb.Fatal(err)
	}
}

// heapNow reads the live heap the last collection marked and the heap
// size the next one is due at.
func heapNow() (live, goal uint64) {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64(), m[1].Value.Uint64()
}

// BenchmarkRestoreOver measures what a node that installs a snapshot
// while it holds a state of the same size (a lagging follower, Raft's
// InstallSnapshot) is left with: both states are live while the new one
// is read, so a collection during the restore sets the next one's goal at
// twice both; goal-MB is the heap goal right after Restore returns and
// live-MB the live heap the last collection found, both against the
// state's own live heap (state-MB).
//
//	go test -run '^$' -bench RestoreOver -benchtime 3x ./controlplane/ -args -restore.policies=2000
func BenchmarkRestoreOver(b *testing.B) {
	snap := weekSnapshot(b, *restorePolicies)
	f := NewFSM(100)
	restoreFile(b, f, snap)
	runtime.GC()
	state, _ := heapNow()
	var goal, live uint64
	for b.Loop() {
		restoreFile(b, f, snap)
		l, g := heapNow()
		live, goal = max(live, l), max(goal, g)
	}
	b.ReportMetric(float64(state)/1e6, "state-MB")
	b.ReportMetric(float64(goal)/1e6, "goal-MB")
	b.ReportMetric(float64(live)/1e6, "live-MB")
	runtime.KeepAlive(f)
}
