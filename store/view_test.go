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
