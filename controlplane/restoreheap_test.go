package controlplane

import (
	"io"
	"os"
	"runtime"
	"testing"
)

// gcHalfway reads r and runs a collection once half of size bytes have
// been read: what happens, at some point, while a large snapshot is
// restored over a large state.
type gcHalfway struct {
	r          io.Reader
	read, size int
	done       bool
}

func (g *gcHalfway) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.read += n
	if !g.done && g.read >= g.size/2 {
		g.done = true
		runtime.GC()
	}
	return n, err
}

func (g *gcHalfway) Close() error { return nil }

// TestRestoreLeavesNoInflatedGoal: a snapshot restored over a state of
// the same size, with a collection while both are live, leaves the heap
// goal at about twice the state, not at twice both: the old state is
// collected when Restore returns, so a follower that installs a snapshot
// does not grow its heap towards three or four times its state.
func TestRestoreLeavesNoInflatedGoal(t *testing.T) {
	path := weekSnapshot(t, 500)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFSM(100)
	restoreFile(t, f, path)
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	runtime.GC()
	before, _ := heapNow() // the state, and the test's own heap
	if err := f.Restore(&gcHalfway{r: file, size: len(data)}); err != nil {
		t.Fatal(err)
	}
	live, goal := heapNow()
	if float64(goal) > 2.5*float64(before) || float64(live) > 1.2*float64(before) {
		t.Fatalf("after the restore: live %d MB, goal %d MB; the state and the rest %d MB", live>>20, goal>>20, before>>20)
	}
	if got := len(f.Policies()); got != 500 {
		t.Fatalf("%d policies restored", got)
	}
}
