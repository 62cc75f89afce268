package store

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// TestViewIsImmutable: a view written while Apply goes on (concurrently,
// so the race detector sees any sharing) holds exactly the state at the
// moment it was taken, and taking views does not change what Apply does.
func TestViewIsImmutable(t *testing.T) {
	entries := legacyEntries(t)
	withViews, without := New(), New()
	at := time.Unix(1_780_000_000, 0).UTC()
	// More commands after the legacy log, touching everything a view
	// shares: windows, samples, series, pending intents, decisions, audit.
	more := []Command{
		Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at.Add(time.Hour), Value: 7}}},
		Buckets{Latest: []Sample{{Policy: "queue", Metric: "cpu", Time: at.Add(time.Hour), Value: 1}},
			Series: []SeriesUpdate{{Policy: "queue", Metric: "cpu", ID: 7, T: at.Add(time.Hour).UnixNano(), V: 3}}},
		IntentResult{Policy: "queue", IntentID: 11},
		PutIntent{Intent: Intent{Policy: "web", From: 4, To: 5}},
		AuditCommand{Entry: AuditEntry{Status: 400, Code: "bad_request"}, Max: 2},
		// Refusals folded into an entry a view holds (flood rules).
		AuditCommand{Entry: AuditEntry{Token: "t", Source: "a:1", Time: at, Status: 403}, Max: 5, Flood: &AuditFlood{WindowSeconds: 60, PerToken: 5}},
		AuditCommand{Entry: AuditEntry{Token: "t", Source: "a:2", Time: at.Add(time.Second), Status: 403}, Max: 5, Flood: &AuditFlood{WindowSeconds: 60, PerToken: 5}},
		AuditCommand{Entry: AuditEntry{Token: "t", Source: "a:3", Time: at.Add(2 * time.Second), Status: 403}, Max: 5, Flood: &AuditFlood{WindowSeconds: 60, PerToken: 5}},
		CreateToken{Token: Token{Name: "late", Role: "read"}},
		RegisterNode{ID: "n3", HTTPAddr: "c:1"},
		PutPolicy{Policy: testPolicy(t, "web", `[{"name":"cpu","type":"cpu","target":50}]`)},
		DeletePolicy{ID: "queue"},
	}
	var want [][]byte
	var wg sync.WaitGroup
	got := make([][]byte, len(entries)+len(more))
	step := func(i int, c Command) {
		without.Apply(uint64(i+1), c, legacyOptions)
		v := withViews.View()
		want = append(want, snapshotBytes(t, without))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			if err := v.WriteSnapshot(&b); err != nil {
				t.Error(err)
			}
			got[i] = b.Bytes()
			// As Raft does once Persist is done: from here on Apply may
			// change in place what this view shared (unless a newer
			// view is still held), concurrently with the other views.
			v.Release()
		}()
		withViews.Apply(uint64(i+1), c, legacyOptions)
	}
	for i, data := range entries {
		c, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		// The view is taken before the command, so it must equal the
		// state without views before it: apply to "without" after.
		step(i, c)
	}
	for j, c := range more {
		step(len(entries)+j, c)
	}
	wg.Wait()
	// want[i] was taken after applying command i to "without"; the view
	// i was taken before applying it to "withViews": compare with i-1.
	empty := snapshotBytes(t, New())
	for i := range got {
		prev := empty
		if i > 0 {
			prev = want[i-1]
		}
		if !bytes.Equal(got[i], prev) {
			t.Fatalf("view %d does not hold the state it was taken from", i)
		}
	}
	if !bytes.Equal(snapshotBytes(t, withViews), snapshotBytes(t, without)) {
		t.Fatal("taking views changed the state")
	}
}

// TestReleasedViewStopsCopies: while a view is held, Apply copies a policy
// before its first change (the view keeps the old one); once every view
// is released, Apply changes policies in place again. Before Release,
// every snapshot made the state copy every policy it touched afterwards,
// week-old windows included, for as long as the node ran.
func TestReleasedViewStopsCopies(t *testing.T) {
	at := time.Unix(1_780_000_000, 0).UTC()
	tests := []struct {
		name     string
		views    int // taken before the change
		released int // of those, released before the change
		wantCopy bool
	}{
		{"no view", 0, 0, false},
		{"a view held", 1, 0, true},
		{"a view released", 1, 1, false},
		{"two views, one released", 2, 1, true},
		{"two views, both released", 2, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			s.Apply(1, PutPolicy{Policy: testPolicy(t, "web", `[{"name":"rps","type":"request_rate","target":100}]`), At: at}, Options{})
			s.Apply(2, Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at, Value: 1}}}, Options{})
			var views []*State
			for range tc.views {
				views = append(views, s.View())
			}
			for _, v := range views[:tc.released] {
				v.Release()
				v.Release() // a second call changes nothing
			}
			before := s.Policies["web"]
			var snap []byte
			if len(views) > 0 {
				snap = snapshotBytes(t, views[len(views)-1])
			}
			s.Apply(3, Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at.Add(time.Minute), Value: 2}}}, Options{})
			if copied := s.Policies["web"] != before; copied != tc.wantCopy {
				t.Fatalf("policy copied: %v, want %v", copied, tc.wantCopy)
			}
			if tc.wantCopy && !bytes.Equal(snapshotBytes(t, views[len(views)-1]), snap) {
				t.Fatal("a held view changed under Apply")
			}
			// The next change never copies again within the same epoch.
			after := s.Policies["web"]
			s.Apply(4, Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at.Add(2 * time.Minute), Value: 3}}}, Options{})
			if s.Policies["web"] != after {
				t.Fatal("a second change copied the policy again")
			}
		})
	}
}
