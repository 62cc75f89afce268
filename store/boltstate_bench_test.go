package store

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
	bolt "go.etcd.io/bbolt"
)

// boltGroup is how many policies one entry of the load carries: a
// 500-sample entry is one sample of each of two metrics of 250 policies.
const boltGroup = 250

// boltFixture is the same week-old state built twice from the same
// entries: wholly in memory (mem), and with its windows and evaluation
// states in bbolt (bolt, whose in-memory rest is bolt.mem).
type boltFixture struct {
	n        int
	mem      *State
	bolt     *boltState
	path     string
	end      time.Time
	index    uint64
	memHeap  uint64 // heap the in-memory state holds
	boltHeap uint64 // heap the bbolt design's in-memory rest holds
}

func boltPolicy(b *testing.B, id string) policy.Policy {
	p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"` + id + `"},"min":2,"max":50,"evaluation_interval":"10s",` +
		`"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"7d"},` +
		`"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"queue","type":"queue_depth","target":30}]}`))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// boltEvalState is a week-old policy's evaluation state: pacing, a
// change and both metrics' forecasting models.
func boltEvalState(b *testing.B, at time.Time) []byte {
	st := policy.State{LastScaleOut: at, Changes: []policy.Change{{At: at, From: 2, To: 4}},
		Models: []policy.MetricModel{{CheckedAt: at, ErrForecast: 1.5, ErrNaive: 2.5, Scored: 7, TunedAt: at, TunedSpan: time.Hour},
			{CheckedAt: at, ErrForecast: 0.5, ErrNaive: 0.7, Scored: 9, TunedAt: at, TunedSpan: time.Hour}}}
	out, err := st.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// boltEntry is the buckets entry of group g's 250 policies at time at,
// each partial holding samples samples (one a 10-second sample, 30 a
// whole 5-minute bucket of them).
func boltEntry(g int, at time.Time, samples int) Buckets {
	var c Buckets
	step := 5 * time.Minute
	phase := 2 * math.Pi * float64(at.Unix()%86400) / 86400
	for i := g * boltGroup; i < (g+1)*boltGroup; i++ {
		id := fmt.Sprintf("policy-%05d", i)
		for j, m := range []string{"rps", "queue"} {
			var p window.Partial
			for s := range samples {
				v := 1000 + 400*math.Sin(phase) + float64((i*7919+s*104729)%1000)/997
				if j == 1 {
					v /= 40
				}
				p.Observe(at.Add(time.Duration(s)*10*time.Second).UnixNano(), v)
			}
			p.Bucket = window.BucketOf(at, step)
			c.Partials = append(c.Partials, MetricPartial{Policy: id, Metric: m, Step: int64(step), Partial: p})
			c.Latest = append(c.Latest, Sample{Policy: id, Metric: m, Time: at, Value: p.Last})
		}
	}
	return c
}

// boltEvaluations is the leader's evaluations entry of one 250 ms tick:
// 10,000 policies evaluated every 10 s are 250 a tick, each with its
// whole state (the heavier of the two forms; pacing-only ones are
// smaller).
func boltEvaluations(f *boltFixture, g int, state []byte) Evaluations {
	var c Evaluations
	for i := g * boltGroup; i < (g+1)*boltGroup; i++ {
		id := fmt.Sprintf("policy-%05d", i)
		c.Items = append(c.Items, Evaluated{Policy: id, PolicyVersion: f.mem.Policies[id].Record.Version, State: state, Desired: 4, Ready: 4, At: f.end})
	}
	return c
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// newBoltFixture builds n week-old policies (n a multiple of 250) both
// ways: 7 days of 5-minute buckets of two metrics, the latest samples and
// an evaluation state each. The bbolt side is built several entries to a
// transaction, to be quick; the benchmarks then commit one per entry.
func newBoltFixture(b *testing.B, n int) *boltFixture {
	b.Helper()
	f := &boltFixture{n: n, end: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), path: filepath.Join(b.TempDir(), "state.db")}
	start := f.end.Add(-7 * 24 * time.Hour)
	state := boltEvalState(b, f.end)
	var puts []Command
	for i := range n {
		puts = append(puts, PutPolicy{Policy: boltPolicy(b, fmt.Sprintf("policy-%05d", i)), At: start})
	}
	build := func(apply func(index uint64, cs []Command)) {
		index := uint64(1)
		apply(index, puts)
		index += uint64(len(puts))
		for g := range n / boltGroup {
			var cs []Command
			for at := start; at.Before(f.end); at = at.Add(5 * time.Minute) {
				cs = append(cs, boltEntry(g, at, 30))
				if len(cs) == 288 { // a day of one group's entries a transaction
					apply(index, cs)
					index += uint64(len(cs))
					cs = cs[:0]
				}
			}
			apply(index, cs)
			index += uint64(len(cs))
			apply(index, []Command{boltEvaluations(f, g, state)})
			index++
		}
		f.index = index
	}
	h0 := heapInUse()
	f.mem = New()
	build(func(index uint64, cs []Command) {
		for i, c := range cs {
			f.mem.Apply(index+uint64(i), c, Options{})
		}
		if len(cs) > 0 && f.mem.Policies["policy-00000"] == nil {
			b.Fatal("no policies")
		}
	})
	h1 := heapInUse()
	bs, err := openBoltState(f.path, true, New())
	if err != nil {
		b.Fatal(err)
	}
	f.bolt = bs
	build(func(index uint64, cs []Command) {
		if len(cs) == 0 {
			return
		}
		if _, err := bs.ApplyBatch(index, cs); err != nil {
			b.Fatal(err)
		}
	})
	if err := bs.db.Sync(); err != nil {
		b.Fatal(err)
	}
	h2 := heapInUse()
	f.memHeap, f.boltHeap = h1-h0, h2-h1
	b.Cleanup(func() { bs.Close() })
	return f
}

// writtenBytes is what this process has passed to write calls so far
// (/proc/self/io wchar): bbolt writes its pages with pwrite.
func writtenBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io:", err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no wchar in /proc/self/io")
	return 0
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkBoltState measures the bbolt-state design against the
// in-memory state on the load (benchPolicies week-old two-metric
// policies; -store.policies=10000 is the size): the apply of a
// 500-sample buckets entry and of a tick's evaluations entry (with and
// without fsync), a second of those entries in one fsynced commit, an
// evaluation round's reads of every policy, the snapshot, and a restart
// to the first evaluation round. It logs (-v) the heap each design holds
// and the bbolt file's size. BENCHMARKS.md ("Why the state stays in
// memory") has a run at 10,000.
func BenchmarkBoltState(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a week of state twice")
	}
	n := max(boltGroup, *benchPolicies/boltGroup*boltGroup)
	f := newBoltFixture(b, n)
	st, err := os.Stat(f.path)
	if err != nil {
		b.Fatal(err)
	}
	index := f.index
	groups := n / boltGroup
	// The entries the benchmarks apply: the current bucket, one sample per
	// metric, as the ingestion path commits them.
	var entries []Buckets
	for g := range groups {
		entries = append(entries, boltEntry(g, f.end.Add(time.Duration(g)*10*time.Second), 1))
	}
	evals := make([]Evaluations, groups)
	state := boltEvalState(b, f.end)
	for g := range groups {
		evals[g] = boltEvaluations(f, g, state)
	}
	applyBench := func(name string, entry func(i int) Command) {
		b.Run(name+"/memory", func(b *testing.B) {
			i := 0
			for b.Loop() {
				index++
				f.mem.Apply(index, entry(i), Options{})
				i++
			}
		})
		for _, noSync := range []bool{false, true} {
			b.Run(name+map[bool]string{false: "/bbolt-fsync", true: "/bbolt-nosync"}[noSync], func(b *testing.B) {
				f.bolt.db.NoSync = noSync
				defer func() { f.bolt.db.NoSync = true }()
				w0 := writtenBytes(b)
				i := 0
				for b.Loop() {
					index++
					if _, err := f.bolt.Apply(index, entry(i)); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(writtenBytes(b)-w0)/float64(i), "written-B/op")
			})
		}
	}
	applyBench("apply-buckets-500", func(i int) Command { return entries[i%groups] })
	applyBench("apply-evaluations-250", func(i int) Command { return evals[i%groups] })

	// A second of the load (four buckets entries and four evaluations
	// entries) committed in one transaction with one fsync, as etcd
	// batches its commits, against eight commits.
	b.Run("apply-one-second/bbolt-fsync-batched", func(b *testing.B) {
		f.bolt.db.NoSync = false
		defer func() { f.bolt.db.NoSync = true }()
		w0 := writtenBytes(b)
		i := 0
		for b.Loop() {
			var cs []Command
			for k := range 4 {
				cs = append(cs, entries[(i+k)%groups], evals[(i+k)%groups])
			}
			if _, err := f.bolt.ApplyBatch(index+1, cs); err != nil {
				b.Fatal(err)
			}
			index += uint64(len(cs))
			i += 4
		}
		b.ReportMetric(float64(writtenBytes(b)-w0)/float64(i/4), "written-B/op")
	})

	upTo := f.end.Add(time.Minute)
	var out evalReads
	b.Run("round-reads/memory", func(b *testing.B) {
		for b.Loop() {
			for id := range f.mem.Policies {
				if err := memReads(f.mem, id, upTo, &out); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	boltRound := func(b *testing.B, bs *boltState) {
		err := bs.db.View(func(tx *bolt.Tx) error {
			for id := range bs.mem.Policies {
				if err := bs.read(tx, id, upTo, &out); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("round-reads/bbolt", func(b *testing.B) {
		for b.Loop() {
			boltRound(b, f.bolt)
		}
	})

	var memSnap, restSnap bytes.Buffer
	b.Run("snapshot/memory", func(b *testing.B) {
		for b.Loop() {
			memSnap.Reset()
			v := f.mem.View()
			if err := v.WriteSnapshot(&memSnap); err != nil {
				b.Fatal(err)
			}
			v.Release()
		}
		b.ReportMetric(float64(memSnap.Len()), "bytes")
	})
	snapPath := filepath.Join(b.TempDir(), "snap.db")
	b.Run("snapshot/bbolt", func(b *testing.B) {
		var cw countWriter
		for b.Loop() {
			restSnap.Reset()
			v := f.bolt.mem.View()
			if err := v.WriteSnapshot(&restSnap); err != nil {
				b.Fatal(err)
			}
			v.Release()
			cw.n = 0
			if err := f.bolt.db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&cw); return err }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cw.n+int64(restSnap.Len())), "bytes")
		b.ReportMetric(float64(restSnap.Len()), "rest-bytes")
	})
	// The restart's bbolt file: the snapshot's copy (as a restore would
	// write it), with the page cache warm as after a kill -9.
	if err := f.bolt.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(snapPath, 0o600) }); err != nil {
		b.Fatal(err)
	}
	b.Run("restart-to-first-round/memory", func(b *testing.B) {
		for b.Loop() {
			s, err := ReadSnapshot(bytes.NewReader(memSnap.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			for id := range s.Policies {
				if err := memReads(s, id, upTo, &out); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// A restart of the bbolt design: the rest's snapshot restored, the
	// file opened (its freelist scanned), and the first round read when
	// round is set.
	restart := func(b *testing.B, round bool) {
		for b.Loop() {
			rest, err := ReadSnapshot(bytes.NewReader(restSnap.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			bs, err := openBoltState(snapPath, false, rest)
			if err != nil {
				b.Fatal(err)
			}
			if round {
				boltRound(b, bs)
			}
			if err := bs.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("restart-to-first-round/bbolt", func(b *testing.B) { restart(b, true) })
	b.Run("restart-open-only/bbolt", func(b *testing.B) { restart(b, false) })
	b.Logf("%d policies: in-memory state %.1f MiB of heap; bbolt design %.1f MiB of heap + a %.1f MiB file", n,
		float64(f.memHeap)/(1<<20), float64(f.boltHeap)/(1<<20), float64(st.Size())/(1<<20))
	if raw, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if strings.HasPrefix(line, "VmRSS") || strings.HasPrefix(line, "RssFile") {
				b.Log(line)
			}
		}
	}
}
