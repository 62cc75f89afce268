package store

import (
	"fmt"
	"testing"
	"time"
)

// rec is a test entry: what the retention rules read, plus a count.
type rec struct {
	id                  int
	token, source, kind string
	at, last            time.Time
	refusal, privileged bool
	count               int
}

func testRetention(max int, window time.Duration, perToken int) auditRetention[rec] {
	return auditRetention[rec]{Max: max, Window: window, PerToken: perToken,
		Facts: func(r rec) auditFacts {
			return auditFacts{Token: r.token, Source: r.source, Kind: r.kind, Time: r.at, Refusal: r.refusal, Privileged: r.privileged}
		},
		Fold: func(into *rec, at time.Time) { into.count++; into.last = at },
	}
}

var t0 = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

func refusal(id int, token, source string, sec int) rec {
	return rec{id: id, token: token, source: source, kind: "PUT policy 403", at: t0.Add(time.Duration(sec) * time.Second), refusal: true, count: 1}
}

func change(id int, token string, sec int) rec {
	return rec{id: id, token: token, source: "10.0.0.1", kind: "PUT policy 200", at: t0.Add(time.Duration(sec) * time.Second), count: 1}
}

func admin(id int, sec int) rec {
	return rec{id: id, token: "root", source: "10.0.0.2", kind: "join 204", at: t0.Add(time.Duration(sec) * time.Second), privileged: true, count: 1}
}

// summary is "id×count" of each entry, oldest first.
func summary(s []rec) string {
	out := ""
	for _, r := range s {
		out += fmt.Sprintf("%d×%d ", r.id, r.count)
	}
	return out
}

func TestAuditRetention(t *testing.T) {
	for _, tc := range []struct {
		name             string
		max, perToken    int
		window           time.Duration
		add              []rec
		wantMain, wantKp string
	}{
		{"changes are appended and bounded", 3, 0, time.Minute,
			[]rec{change(1, "w", 0), change(2, "w", 1), change(3, "w", 2), change(4, "w", 3)}, "2×1 3×1 4×1 ", ""},
		{"a repeated refusal folds into the first", 10, 0, time.Minute,
			[]rec{refusal(1, "r", "1.1.1.1", 0), refusal(2, "r", "1.1.1.1", 10), refusal(3, "r", "1.1.1.1", 59)}, "1×3 ", ""},
		{"after the window a new entry starts", 10, 0, time.Minute,
			[]rec{refusal(1, "r", "1.1.1.1", 0), refusal(2, "r", "1.1.1.1", 60), refusal(3, "r", "1.1.1.1", 61)}, "1×1 2×2 ", ""},
		{"another source or token is another entry", 10, 0, time.Minute,
			[]rec{refusal(1, "r", "1.1.1.1", 0), refusal(2, "r", "2.2.2.2", 1), refusal(3, "x", "1.1.1.1", 2)}, "1×1 2×1 3×1 ", ""},
		{"changes in between do not stop the folding", 10, 0, time.Minute,
			[]rec{refusal(1, "r", "1.1.1.1", 0), change(2, "w", 1), refusal(3, "r", "1.1.1.1", 2)}, "1×2 2×1 ", ""},
		{"a change is never folded", 10, 0, time.Minute,
			[]rec{change(1, "w", 0), change(2, "w", 0)}, "1×1 2×1 ", ""},
		{"per token: beyond the cap, refusals fold into its newest", 10, 2, time.Minute,
			[]rec{refusal(1, "r", "1.1.1.1", 0), refusal(2, "r", "2.2.2.2", 1), refusal(3, "r", "3.3.3.3", 2), refusal(4, "r", "4.4.4.4", 3),
				refusal(5, "x", "5.5.5.5", 4)}, "1×1 2×3 5×1 ", ""},
		{"per token: the cap is per window", 10, 1, time.Minute,
			[]rec{refusal(1, "r", "1.1.1.1", 0), refusal(2, "r", "2.2.2.2", 1), refusal(3, "r", "3.3.3.3", 70)}, "1×2 3×1 ", ""},
		{"no window: nothing folds", 10, 0, 0,
			[]rec{refusal(1, "r", "1.1.1.1", 0), refusal(2, "r", "1.1.1.1", 0)}, "1×1 2×1 ", ""},
		{"privileged entries are kept apart", 2, 0, time.Minute,
			[]rec{admin(1, 0), change(2, "w", 1), change(3, "w", 2), change(4, "w", 3), admin(5, 4)}, "3×1 4×1 ", "1×1 5×1 "},
		{"only privileged entries evict privileged ones", 2, 0, time.Minute,
			[]rec{admin(1, 0), admin(2, 1), admin(3, 2)}, "", "2×1 3×1 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRetention(tc.max, tc.window, tc.perToken)
			var l auditLogs[rec]
			for _, e := range tc.add {
				l = r.Add(l, e)
			}
			if got := summary(l.Main); got != tc.wantMain {
				t.Errorf("main %q, want %q", got, tc.wantMain)
			}
			if got := summary(l.Kept); got != tc.wantKp {
				t.Errorf("kept %q, want %q", got, tc.wantKp)
			}
		})
	}
}

// TestAuditRetentionFlood: one token's refusals from ever new sources, far
// more than the log holds, leave the admin entries and the other tokens'
// changes in place and cost a bounded number of entries per window.
func TestAuditRetentionFlood(t *testing.T) {
	r := testRetention(100, time.Minute, 20)
	var l auditLogs[rec]
	l = r.Add(l, admin(1, 0))
	l = r.Add(l, change(2, "w", 0))
	for i := range 10_000 {
		l = r.Add(l, refusal(10+i, "r", fmt.Sprintf("10.1.%d.%d", i/256, i%256), i/100)) // 100 a second, 100 s
	}
	if len(l.Kept) != 1 || l.Kept[0].id != 1 {
		t.Fatalf("kept %s, want the admin entry", summary(l.Kept))
	}
	if l.Main[0].id != 2 {
		t.Fatalf("main starts %s, want the write token's change still there", summary(l.Main[:3]))
	}
	total := 0
	for _, e := range l.Main[1:] {
		total += e.count
	}
	if len(l.Main) > 1+2*20 || total != 10_000 {
		t.Fatalf("%d refusal entries counting %d, want at most 40 (2 windows × 20) counting all 10000", len(l.Main)-1, total)
	}
}
