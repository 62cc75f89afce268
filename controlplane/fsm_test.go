package controlplane

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

func testPolicy(id string) policy.Policy {
	p, err := policy.Parse([]byte("id: " + id + `
target: {provider: fake, group: ` + id + `}
min: 1
max: 10
metrics: [{name: rps, type: request_rate, target: 100}]
`))
	if err != nil {
		panic(err)
	}
	return p
}

// applier feeds commands to an FSM with increasing indexes, as Raft would.
type applier struct {
	f     *FSM
	index uint64
}

func (a *applier) apply(t *testing.T, c store.Command) applyResult {
	t.Helper()
	data, err := store.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	a.index++
	return a.f.Apply(&raft.Log{Index: a.index, Type: raft.LogCommand, Data: data}).(applyResult)
}

// toStoreSamples maps API samples to the store's, as the API edge does.
func toStoreSamples(in []api.Sample) []store.Sample {
	out := make([]store.Sample, 0, len(in))
	for _, s := range in {
		out = append(out, store.Sample(s))
	}
	return out
}

func TestFSMPolicyWritesAndIfMatch(t *testing.T) {
	a := &applier{f: NewFSM(10)}
	tests := []struct {
		name    string
		payload store.Command
		wantErr error
		version uint64 // expected version of policy "web" afterwards (0 = absent)
	}{
		{"create requires absence with If-Match 0", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "0"}, nil, 1},
		{"If-Match 0 fails once it exists", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "0"}, api.ErrPrecondition, 1},
		{"stale version fails", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "7"}, api.ErrPrecondition, 1},
		{"garbage If-Match fails", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "abc"}, api.ErrPrecondition, 1},
		{"current version succeeds", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "1"}, nil, 5},
		{"star requires existence and succeeds", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "*"}, nil, 6},
		{"unconditional succeeds", store.PutPolicy{Policy: testPolicy("web")}, nil, 7},
		{"delete with a stale version fails", store.DeletePolicy{ID: "web", IfMatch: "1"}, api.ErrPrecondition, 7},
		{"delete succeeds", store.DeletePolicy{ID: "web", IfMatch: "7"}, nil, 0},
		{"delete of a missing policy is not found", store.DeletePolicy{ID: "web"}, api.ErrNotFound, 0},
		{"star on a missing policy fails", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "*"}, api.ErrPrecondition, 0},
	}
	for _, tc := range tests {
		res := a.apply(t, tc.payload)
		if !errors.Is(res.failure(), tc.wantErr) || (tc.wantErr == nil && res.failure() != nil) {
			t.Fatalf("%s: error %v, want %v", tc.name, res.failure(), tc.wantErr)
		}
		rec, err := a.f.Policy("web")
		got := rec.Version
		if err != nil {
			got = 0
		}
		if got != tc.version {
			t.Fatalf("%s: version %d, want %d", tc.name, got, tc.version)
		}
	}
}

// TestFSMRefusesUnknownCommandsLoudly: an entry of an unknown type or
// version, or one that does not decode, stops the node (a panic naming
// the entry) and changes nothing of the state.
func TestFSMRefusesUnknownCommandsLoudly(t *testing.T) {
	good, err := store.Encode(store.PutPolicy{Policy: testPolicy("api")})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{
		{99, store.CurrentVersion, '{', '}'},
		{byte(store.CmdPutPolicy), store.CurrentVersion + 1, '{', '}'},
		{1},
		good[:len(good)-1],
	} {
		a := &applier{f: NewFSM(10)}
		a.apply(t, store.PutPolicy{Policy: testPolicy("web")})
		before, _ := a.f.dump()
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), "refusing log entry 2") {
					t.Fatalf("entry %v: recovered %v, want a loud refusal", data, r)
				}
			}()
			a.f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: data})
		}()
		if after, _ := a.f.dump(); !bytes.Equal(before, after) {
			t.Fatalf("entry %v: a refused entry changed the state", data)
		}
	}
}

func TestFSMDecisionHistoryIsBoundedAndNewestFirst(t *testing.T) {
	a := &applier{f: NewFSM(3)}
	a.apply(t, store.PutPolicy{Policy: testPolicy("web")})
	for i := 1; i <= 5; i++ {
		rec := policy.Record{Desired: i, Action: "scale-out"}
		if res := a.apply(t, store.Evaluated{Policy: "web", PolicyVersion: 1, Record: &rec, Desired: i}); res.failure() != nil {
			t.Fatal(res.failure())
		}
	}
	got, err := a.f.Decisions("web", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Desired != 5 || got[2].Desired != 3 {
		t.Fatalf("history %+v: want the 3 newest, newest first", got)
	}
	// An evaluation of a replaced policy version is refused.
	a.apply(t, store.PutPolicy{Policy: testPolicy("web")})
	if res := a.apply(t, store.Evaluated{Policy: "web", PolicyVersion: 1}); !errors.Is(res.failure(), api.ErrPrecondition) {
		t.Fatalf("stale evaluation: %v, want a precondition failure", res.failure())
	}
}

func TestFSMSamplesKeepTheNewest(t *testing.T) {
	a := &applier{f: NewFSM(3)}
	a.apply(t, store.PutPolicy{Policy: testPolicy("web")})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.apply(t, store.Samples{Samples: []store.Sample{
		{Policy: "web", Metric: "rps", Time: t0.Add(time.Minute), Value: 2},
		{Policy: "web", Metric: "rps", Time: t0, Value: 1},  // older: ignored
		{Policy: "gone", Metric: "rps", Time: t0, Value: 1}, // unknown policy: ignored
	}})
	v, _ := a.f.view("web")
	if s, _ := v.Sample("rps"); s.Value != 2 {
		t.Fatalf("latest sample %+v, want value 2", s)
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

// snapshotRoundTrip persists f's snapshot and restores it into a new FSM,
// returning the snapshot's bytes and the restored FSM.
func snapshotRoundTrip(t *testing.T, f *FSM) ([]byte, *FSM) {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	restored := NewFSM(f.opt.MaxDecisions)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes(), restored
}

func TestFSMSnapshotRestoreIsExact(t *testing.T) {
	a := &applier{f: NewFSM(5)}
	a.apply(t, store.PutPolicy{Policy: testPolicy("web"), At: time.Unix(100, 0).UTC()})
	a.apply(t, store.PutPolicy{Policy: testPolicy("api"), At: time.Unix(200, 0).UTC()})
	st := policy.State{LastScaleOut: time.Unix(300, 0).UTC(), Changes: []policy.Change{{At: time.Unix(300, 0).UTC(), From: 1, To: 3}}}
	b, _ := st.MarshalBinary()
	rec := policy.Record{Desired: 3, Action: "scale-out", Reason: "because"}
	a.apply(t, store.Evaluated{Policy: "web", PolicyVersion: 1, State: b, Record: &rec, Desired: 3, Ready: 1, At: time.Unix(300, 0).UTC()})
	a.apply(t, store.PutIntent{Intent: store.Intent{Policy: "api", From: 1, To: 2, Term: 4, Node: "n1"}})
	a.apply(t, store.Samples{Samples: []store.Sample{{Policy: "web", Metric: "rps", Time: time.Unix(290, 0).UTC(), Value: 250}}})
	a.apply(t, store.RegisterNode{ID: "n1", HTTPAddr: "127.0.0.1:1"})
	// The audit log, bounded: entries committed with a write and on their own.
	a.apply(t, store.PutPolicy{Policy: testPolicy("web"), IfMatch: "1", At: time.Unix(310, 0).UTC(),
		Audit: &store.AuditCommand{Entry: store.AuditEntry{Time: time.Unix(310, 0).UTC(), Token: "deployer", Source: "127.0.0.1:5000",
			ForwardedBy: "n2", Via: "127.0.0.1:6000", Method: "PUT", Path: "/v1/policies/web", Action: api.AuditPolicyPut, Target: "web"}, Max: 3}})
	for i := range 3 {
		a.apply(t, store.AuditCommand{Entry: store.AuditEntry{Time: time.Unix(int64(320+i), 0).UTC(), Token: "viewer",
			Action: api.AuditClusterRemove, Target: "n9", Status: 403, Code: "forbidden"}, Max: 3})
	}
	if got := a.f.AuditLog(10); len(got) != 3 {
		t.Fatalf("audit log before the snapshot: %+v, want 3 entries", got)
	}

	_, restored := snapshotRoundTrip(t, a.f)
	want, _ := a.f.dump()
	got, _ := restored.dump()
	if !bytes.Equal(want, got) {
		t.Fatalf("restored state differs:\nwant %s\ngot  %s", want, got)
	}
	if w, g := a.f.AuditLog(10), restored.AuditLog(10); len(g) != 3 || !reflect.DeepEqual(w, g) {
		t.Fatalf("restored audit log differs:\nwant %+v\ngot  %+v", w, g)
	}
	if err := NewFSM(5).Restore(io.NopCloser(strings.NewReader("not json"))); err == nil {
		t.Fatal("restoring garbage succeeded")
	}
}

// TestFSMAppliedAfterRestore: Applied reports the last applied index, is 0
// after a restore (the old index belongs to the replaced state) and follows
// the applies that come after it.
func TestFSMAppliedAfterRestore(t *testing.T) {
	a := &applier{f: NewFSM(5)}
	a.apply(t, store.PutPolicy{Policy: testPolicy("web"), At: time.Unix(100, 0).UTC()})
	a.apply(t, store.PutPolicy{Policy: testPolicy("api"), At: time.Unix(200, 0).UTC()})
	src := &applier{f: NewFSM(5), index: 40}
	src.apply(t, store.PutPolicy{Policy: testPolicy("db"), At: time.Unix(300, 0).UTC()})
	snap, err := src.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func()
		want uint64
	}{
		{"after two applies", func() {}, 2},
		{"after a restore", func() {
			if err := a.f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
				t.Fatal(err)
			}
			a.index = 41 // the snapshot's index, as Raft resumes after it
		}, 0},
		{"after the next apply", func() { a.apply(t, store.PutPolicy{Policy: testPolicy("web"), At: time.Unix(400, 0).UTC()}) }, 42},
	}
	for _, s := range steps {
		s.do()
		if got := a.f.Applied(); got != s.want {
			t.Fatalf("%s: Applied() = %d, want %d", s.name, got, s.want)
		}
	}
}
