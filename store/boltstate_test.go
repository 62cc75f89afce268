package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
	bolt "go.etcd.io/bbolt"
)

// boltState is a measuring prototype of the design issue 10 weighed
// against the in-memory state (BENCHMARKS.md, "Why the state stays in
// memory"): what dominates the state, the policies' metric windows and
// evaluation states, lives in bbolt, one write transaction per applied
// Raft entry, and a snapshot is a read transaction streamed out
// (tx.WriteTo), as etcd does. It lives in a test file because it is not
// part of the product: it exists to be measured (boltstate_bench_test.go).
//
// Layout: a bucket per policy (its id), holding
//   - "e": the evaluation state, policy.State's binary encoding as the
//     in-memory state keeps it;
//   - "h" metric: the newest bucket index of the metric's window (8 bytes);
//   - "w" metric 0x00 chunk: one chunk of 64 consecutive buckets of the
//     metric's window (chunk = bucket index / 64, 8 bytes big-endian, so a
//     window's chunks are adjacent and in order), encoded as a 64-bucket
//     window.Window: the window package's own encoding and Merge, so the
//     buckets mean exactly what they do in memory. A partial rewrites one
//     chunk (about 600 bytes), not the window;
//
// and a "meta" bucket with the index of the last applied entry, written in
// the same transaction as the entry's changes: on restart a node replays
// the Raft log only past it (etcd's consistent index).
//
// Everything else (policy records, latest samples, decision history,
// intents, series, tokens, audit, nodes) stays in the in-memory State,
// applied by its own Apply, and is snapshotted by its own WriteSnapshot
// next to the bbolt file: it is small next to the windows. Reads for an
// evaluation decode from a read transaction, with no cache: a cache of
// the decoded windows would be the in-memory state again.
//
// Not modelled, since the load has none: a policy replaced with
// a different window shape empties the metric's chunks at once, where the
// in-memory state reshapes a window at its next sample; and an entry of
// the other precision (Wide) converts only the chunks it touches, where
// the in-memory state converts the whole window (only while a cluster is
// upgraded from entry version 8).
type boltState struct {
	db  *bolt.DB
	mem *State
	opt Options
}

var (
	boltMeta    = []byte("meta")
	boltApplied = []byte("applied")
	boltEval    = []byte("e")
)

// openBoltState opens (or creates) the bbolt file at path; mem holds the
// rest of the state (New() for an empty one).
func openBoltState(path string, noSync bool, mem *State) (*boltState, error) {
	// The freelist as etcd keeps it: not written by each commit (rebuilt
	// by a scan at open), in a map.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: noSync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("boltstate: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltMeta)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstate: meta bucket: %w", err)
	}
	return &boltState{db: db, mem: mem}, nil
}

func (b *boltState) Close() error { return b.db.Close() }

// Applied is the index of the last entry applied to the bbolt part.
func (b *boltState) Applied() (uint64, error) {
	var n uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(boltMeta).Get(boltApplied); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n, err
}

// Apply applies one entry: its windows and evaluation states in one bbolt
// write transaction (with the applied index), then the rest to the
// in-memory state once that transaction has committed.
func (b *boltState) Apply(index uint64, c Command) (Result, error) {
	return b.ApplyBatch(index, []Command{c})
}

// ApplyBatch applies consecutive entries from index on in one transaction:
// only for building a benchmark's state quickly (a replicated apply
// commits each entry, Apply).
func (b *boltState) ApplyBatch(index uint64, cs []Command) (Result, error) {
	rest := make([]Command, len(cs))
	err := b.db.Update(func(tx *bolt.Tx) error {
		for i, c := range cs {
			r, err := b.applyTx(tx, c)
			if err != nil {
				return fmt.Errorf("boltstate: apply %d: %w", index+uint64(i), err)
			}
			rest[i] = r
		}
		return tx.Bucket(boltMeta).Put(boltApplied, binary.BigEndian.AppendUint64(nil, index+uint64(len(cs)-1)))
	})
	if err != nil {
		return Result{}, err
	}
	var res Result
	for i, r := range rest {
		if r != nil {
			res = b.mem.Apply(index+uint64(i), r, b.opt)
		}
	}
	return res, nil
}

// applyTx writes c's windows and evaluation states in tx and returns what
// the in-memory state still applies (nil: nothing).
func (b *boltState) applyTx(tx *bolt.Tx, c Command) (Command, error) {
	switch c := c.(type) {
	case PutPolicy:
		pb, err := tx.CreateBucketIfNotExists([]byte(c.Policy.ID))
		if err != nil {
			return nil, err
		}
		if old := b.mem.Policies[c.Policy.ID]; old != nil {
			if o, _ := checkIfMatch(c.IfMatch, old.Record.Version); o == OK && !sameShape(old.Record.Policy, c.Policy) {
				if err := deleteWindows(pb); err != nil {
					return nil, err
				}
			}
		}
		return c, nil
	case DeletePolicy:
		var version uint64
		if old := b.mem.Policies[c.ID]; old != nil {
			version = old.Record.Version
		}
		if o, _ := checkIfMatch(c.IfMatch, version); o == OK && version != 0 {
			if err := tx.DeleteBucket([]byte(c.ID)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return nil, err
			}
		}
		return c, nil
	case Buckets:
		for _, p := range c.Partials {
			if err := b.merge(tx, p.Policy, p.Metric, p.Step, p.Partial, c.Wide); err != nil {
				return nil, err
			}
		}
		return Buckets{Latest: c.Latest, Series: c.Series}, nil
	case Samples:
		for _, x := range c.Samples {
			e := b.mem.Policies[x.Policy]
			if e == nil {
				continue
			}
			step, _ := WindowShape(e.Record.Policy)
			p := window.Partial{Bucket: window.BucketOf(x.Time, step)}
			p.Observe(x.Time.UnixNano(), x.Value)
			if err := b.merge(tx, x.Policy, x.Metric, int64(step), p, c.Wide); err != nil {
				return nil, err
			}
		}
		// Only the latest samples are left: keepLatest is what Apply does
		// after the windows.
		b.mem.keepLatest(c.Samples)
		return nil, nil
	case Evaluated:
		return b.evaluated(tx, c)
	case Evaluations:
		rest := Evaluations{Items: make([]Evaluated, 0, len(c.Items))}
		for _, x := range c.Items {
			r, err := b.evaluated(tx, x)
			if err != nil {
				return nil, err
			}
			rest.Items = append(rest.Items, r.(Evaluated))
		}
		return rest, nil
	}
	return c, nil
}

// evaluated writes the evaluation state of an evaluation the in-memory
// state will accept (the same policy version) and returns the evaluation
// without it.
func (b *boltState) evaluated(tx *bolt.Tx, c Evaluated) (Command, error) {
	e := b.mem.Policies[c.Policy]
	state, pacing := c.State, c.Pacing
	c.State, c.Pacing = nil, nil
	if e == nil || e.Record.Version != c.PolicyVersion {
		return c, nil
	}
	pb := tx.Bucket([]byte(c.Policy))
	switch {
	case state != nil:
		return c, pb.Put(boltEval, state)
	case pacing != nil:
		return c, pb.Put(boltEval, withStoredModels(pacing, pb.Get(boltEval)))
	}
	return c, nil
}

// windowKind is what metricWindow decides for a metric of a policy: its
// aggregation and the factor its samples are scaled by (ok false: the
// policy has no such metric).
func windowKind(e *Policy, metric string) (agg window.Agg, factor float64, ok bool) {
	i := slices.IndexFunc(e.Record.Policy.Metrics, func(m policy.Metric) bool { return m.Name == metric })
	if i < 0 {
		return 0, 0, false
	}
	m := e.Record.Policy.Metrics[i]
	agg, factor = window.Mean, 1.0
	if m.Type == policy.MetricQueueDepth {
		agg = window.Max
	}
	if m.Type == policy.MetricCPU {
		factor = float64(max(e.Ready, 1))
	}
	return agg, factor, true
}

func sameShape(a, b policy.Policy) bool {
	as, al := WindowShape(a)
	bs, bl := WindowShape(b)
	return as == bs && al == bl
}

func boltHeadKey(metric string) []byte { return append([]byte("h"), metric...) }

func boltChunkKey(metric string, chunk int64) []byte {
	k := append(append([]byte("w"), metric...), 0)
	return binary.BigEndian.AppendUint64(k, uint64(chunk))
}

func deleteWindows(pb *bolt.Bucket) error {
	var keys [][]byte
	err := pb.ForEach(func(k, _ []byte) error {
		if len(k) > 0 && (k[0] == 'w' || k[0] == 'h') {
			keys = append(keys, slices.Clone(k))
		}
		return nil
	})
	for _, k := range keys {
		if err == nil {
			err = pb.Delete(k)
		}
	}
	return err
}

// merge folds a partial into its chunk, as window.Merge folds it into the
// whole window: a newer bucket advances the window (and drops the chunks
// it leaves), an older one than the window spans is ignored.
func (b *boltState) merge(tx *bolt.Tx, id, metric string, stepNS int64, p window.Partial, wide bool) error {
	e := b.mem.Policies[id]
	if e == nil {
		return nil
	}
	step, length := WindowShape(e.Record.Policy)
	agg, factor, ok := windowKind(e, metric)
	if !ok || int64(step) != stepNS || p.N == 0 {
		return nil
	}
	pb := tx.Bucket([]byte(id))
	hk := boltHeadKey(metric)
	if v := pb.Get(hk); len(v) == 8 {
		head := int64(binary.BigEndian.Uint64(v))
		if p.Bucket <= head-int64(length) {
			return nil
		}
		if p.Bucket > head {
			if err := dropChunks(pb, metric, floorChunk(p.Bucket-int64(length)+1)); err != nil {
				return err
			}
		}
		if p.Bucket <= head {
			return mergeChunk(pb, metric, step, agg, p, factor, wide)
		}
	}
	if err := pb.Put(hk, binary.BigEndian.AppendUint64(nil, uint64(p.Bucket))); err != nil {
		return err
	}
	return mergeChunk(pb, metric, step, agg, p, factor, wide)
}

func floorChunk(bucket int64) int64 {
	if bucket < 0 {
		return (bucket - 63) / 64
	}
	return bucket / 64
}

// dropChunks deletes the metric's chunks before chunk cut.
func dropChunks(pb *bolt.Bucket, metric string, cut int64) error {
	prefix := boltChunkKey(metric, 0)[:len(metric)+2]
	end := boltChunkKey(metric, cut)
	c := pb.Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix) && bytes.Compare(k, end) < 0; k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

func mergeChunk(pb *bolt.Bucket, metric string, step time.Duration, agg window.Agg, p window.Partial, factor float64, wide bool) error {
	key := boltChunkKey(metric, floorChunk(p.Bucket))
	w := window.New(step, 64, agg)
	if v := pb.Get(key); v != nil {
		if err := w.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("chunk %x: %w", key, err)
		}
	}
	w.SetWide(wide)
	w.Merge(p, factor)
	v, _ := w.AppendBinary(nil)
	return pb.Put(key, v)
}

// evalReads is what an evaluation reads of one policy: its evaluation
// state and the values of each metric's window (Values up to the round's
// time), in the policy's metric order.
type evalReads struct {
	State  policy.State
	Values [][]float64
}

// read reads what an evaluation of policy id needs, in tx.
func (b *boltState) read(tx *bolt.Tx, id string, upTo time.Time, out *evalReads) error {
	e := b.mem.Policies[id]
	pb := tx.Bucket([]byte(id))
	if e == nil || pb == nil {
		return fmt.Errorf("boltstate: no policy %q", id)
	}
	out.State = policy.State{}
	if v := pb.Get(boltEval); len(v) > 0 {
		if err := out.State.UnmarshalBinary(v); err != nil {
			return err
		}
	}
	step, length := WindowShape(e.Record.Policy)
	out.Values = out.Values[:0]
	var w window.Window
	for _, m := range e.Record.Policy.Metrics {
		hv := pb.Get(boltHeadKey(m.Name))
		if len(hv) != 8 {
			out.Values = append(out.Values, nil)
			continue
		}
		head := int64(binary.BigEndian.Uint64(hv))
		first, last := head-int64(length)+1, min(head, window.BucketOf(upTo, step))
		if last < first {
			out.Values = append(out.Values, nil)
			continue
		}
		vals := make([]float64, last-first+1)
		for i := range vals {
			vals[i] = math.NaN()
		}
		c := pb.Cursor()
		end := boltChunkKey(m.Name, floorChunk(last))
		for k, v := c.Seek(boltChunkKey(m.Name, floorChunk(first))); k != nil && bytes.Compare(k, end) <= 0; k, v = c.Next() {
			if err := w.UnmarshalBinary(v); err != nil {
				return err
			}
			start, cv := w.Values(upTo)
			for j, x := range cv {
				if i := window.BucketOf(start, step) + int64(j) - first; i >= 0 && i < int64(len(vals)) && !math.IsNaN(x) {
					vals[i] = x
				}
			}
		}
		out.Values = append(out.Values, vals)
	}
	return nil
}

// memReads is the same read of the in-memory state.
func memReads(s *State, id string, upTo time.Time, out *evalReads) error {
	e := s.Policies[id]
	if e == nil {
		return fmt.Errorf("no policy %q", id)
	}
	out.State = policy.State{}
	if len(e.EvalState) > 0 {
		if err := out.State.UnmarshalBinary(e.EvalState); err != nil {
			return err
		}
	}
	out.Values = out.Values[:0]
	for _, m := range e.Record.Policy.Metrics {
		var vals []float64
		if w := e.Windows[m.Name]; w != nil {
			_, vals = w.Values(upTo)
		}
		out.Values = append(out.Values, vals)
	}
	return nil
}

// TestBoltStateHoldsWhatMemoryHolds drives the prototype and the in-memory
// state with the same entries (policies, buckets of partials across more
// than a window's span, samples, evaluations with states and with pacing
// only, a stale partial, a refused evaluation) and checks that an
// evaluation reads the same from both, before and after a restart of the
// bbolt file; the measurements are only worth something if it does.
func TestBoltStateHoldsWhatMemoryHolds(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run(map[bool]string{false: "compact", true: "wide"}[wide], func(t *testing.T) { testBoltState(t, wide) })
	}
}

func testBoltState(t *testing.T, wide bool) {
	const policies = 3
	path := filepath.Join(t.TempDir(), "state.db")
	bs, err := openBoltState(path, true, New())
	if err != nil {
		t.Fatal(err)
	}
	mem := New()
	index := uint64(0)
	apply := func(c Command) {
		t.Helper()
		index++
		want := mem.Apply(index, c, Options{})
		got, err := bs.Apply(index, c)
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != want.Outcome || !slices.Equal(got.Refused, want.Refused) {
			t.Fatalf("entry %d (%T): bbolt result %+v, memory %+v", index, c, got, want)
		}
	}
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// A 1-hour history of 10 s buckets: 361 buckets, 6 chunks and a bit,
	// so a 2-hour run drops chunks.
	start := end.Add(-2 * time.Hour)
	for i := range policies {
		id := fmt.Sprintf("p%d", i)
		p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"g"},"min":1,"max":50,"evaluation_interval":"10s",` +
			`"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"1h"},` +
			`"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"cpu","type":"cpu","target":60},{"name":"q","type":"queue_depth","target":5}]}`))
		if err != nil {
			t.Fatal(err)
		}
		apply(PutPolicy{Policy: p, At: start})
	}
	version := func(id string) uint64 { return mem.Policies[id].Record.Version }
	// Whole states carry forecasting models; pacing-only ones do not, and
	// must keep the stored models.
	stateOf := func(k int, models bool) []byte {
		st := policy.State{LastScaleOut: start.Add(time.Duration(k) * time.Minute), Changes: []policy.Change{{At: start, From: 2, To: 2 + k%5}}}
		if models {
			st.Models = []policy.MetricModel{{CheckedAt: start, ErrForecast: float64(k), Scored: k}, {Scored: 1}, {Scored: 2}}
		}
		b, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	step := 10 * time.Second
	for k, at := 0, start; at.Before(end); k, at = k+1, at.Add(step) {
		c := Buckets{Wide: wide}
		for i := range policies {
			id := fmt.Sprintf("p%d", i)
			for j, m := range []string{"rps", "cpu", "q"} {
				var part window.Partial
				for s := range 1 + (k+i)%3 {
					part.Observe(at.Add(time.Duration(s)*time.Second).UnixNano(), float64(100*j+k%17+s)+0.1)
				}
				part.Bucket = window.BucketOf(at, step)
				c.Partials = append(c.Partials, MetricPartial{Policy: id, Metric: m, Step: int64(step), Partial: part})
			}
			c.Latest = append(c.Latest, Sample{Policy: id, Metric: "rps", Time: at, Value: float64(k)})
		}
		// A partial older than the window spans is ignored by both.
		stale := window.Partial{Bucket: window.BucketOf(start, step)}
		stale.Observe(start.UnixNano(), 1e6)
		c.Partials = append(c.Partials, MetricPartial{Policy: "p0", Metric: "rps", Step: int64(step), Partial: stale})
		apply(c)
		if k%50 == 0 {
			apply(Samples{Wide: wide, Samples: []Sample{{Policy: "p1", Metric: "cpu", Time: at.Add(3 * time.Second), Value: 77.3}}})
		}
		if k%40 == 0 {
			ev := Evaluations{}
			for i := range policies {
				id := fmt.Sprintf("p%d", i)
				x := Evaluated{Policy: id, PolicyVersion: version(id), Desired: 2 + k%5, Ready: 2 + k%5, At: at}
				if (k/40+i)%3 != 1 {
					x.State = stateOf(k+i, true)
				} else {
					x.Pacing = stateOf(k+i, false)
				}
				ev.Items = append(ev.Items, x)
			}
			ev.Items = append(ev.Items, Evaluated{Policy: "p2", PolicyVersion: 999, State: stateOf(1000, true), At: at})
			apply(ev)
		}
	}
	check := func(bs *boltState, when string) {
		t.Helper()
		err := bs.db.View(func(tx *bolt.Tx) error {
			for i := range policies {
				id := fmt.Sprintf("p%d", i)
				for _, upTo := range []time.Time{end, end.Add(-30 * time.Minute)} {
					var got, want evalReads
					if err := bs.read(tx, id, upTo, &got); err != nil {
						return err
					}
					if err := memReads(mem, id, upTo, &want); err != nil {
						return err
					}
					gs, _ := got.State.MarshalBinary()
					ws, _ := want.State.MarshalBinary()
					if string(gs) != string(ws) {
						t.Errorf("%s: %s evaluation state differs", when, id)
					}
					for j := range want.Values {
						if !slices.EqualFunc(got.Values[j], want.Values[j], func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }) {
							t.Errorf("%s: %s metric %d up to %s: bbolt %d values, memory %d, or they differ", when, id, j, upTo.Format(time.TimeOnly), len(got.Values[j]), len(want.Values[j]))
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(bs, "live")
	// The windows left the chunks they no longer span: 361 buckets of 10 s
	// touch at most 7 chunks of 64.
	if err := bs.db.View(func(tx *bolt.Tx) error {
		n := 0
		err := tx.Bucket([]byte("p0")).ForEach(func(k, _ []byte) error {
			if k[0] == 'w' && string(k[1:4]) == "rps" {
				n++
			}
			return nil
		})
		if n > 7 {
			t.Errorf("p0's rps window holds %d chunks, want at most 7", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := openBoltState(path, true, bs.mem)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if n, err := reopened.Applied(); err != nil || n != index {
		t.Errorf("applied index after reopening: %d, %v; want %d", n, err, index)
	}
	check(reopened, "reopened")
}
