package controlplane

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// updateGolden rewrites the legacy fixtures from this code. They record the
// encoding of Capstan before store/ existed, so regenerate them only while
// controlplane still writes that encoding.
var updateGolden = flag.Bool("update-golden", false, "rewrite store/testdata/legacy-v1 from this code")

// goldenDir holds today's Raft log entries and snapshot; store's tests
// restore them into the new state model and require identical content.
const goldenDir = "../store/testdata/legacy-v1"

// goldenPolicyQueue tracks a label-matched cpu metric (series, a mean
// window) and a queue depth (a max window), with a 1 h history so the
// windows stay small in the fixture.
const goldenPolicyQueue = `{"id":"queue","target":{"provider":"fake","group":"workers"},"min":1,"max":20,"evaluation_interval":"30s","stale_after":"1m",
"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"1h"},
"metrics":[{"name":"cpu","type":"cpu","target":60,"source":{"match":{"job":"workers"},"match_re":{"instance":"w-.*"}}},
{"name":"backlog","type":"queue_depth","target":50}]}`

type goldenEntry struct {
	name    string
	cmd     CommandType
	payload any
}

// goldenLog is one entry of every command type the current code writes, in
// an order that leaves every kind of state behind: policies with versions,
// evaluation state and decisions, a pending intent and a resolved one,
// latest samples, windows (mean and max), series points, tokens, audit
// entries (with writes, refused writes and on their own) and the node
// registry. Entry i+1 is applied at Raft index i+1.
func goldenLog(t *testing.T) []goldenEntry {
	t.Helper()
	at := func(s int64) time.Time { return time.Unix(1_780_000_000+s, 0).UTC() }
	queue, err := policy.Parse([]byte(goldenPolicyQueue))
	if err != nil {
		t.Fatal(err)
	}
	audit := func(action, target, method, path string, s int64) *auditCmd {
		return &auditCmd{Entry: api.AuditEntry{Time: at(s), Node: "n1", Token: "deployer", Role: "write", Source: "10.0.0.9:5555",
			ForwardedBy: "n2", Via: "10.0.0.2:7000", Method: method, Path: path, Action: action, Target: target}, Max: 5}
	}
	st := policy.State{LastScaleOut: at(40), LastScaleIn: at(10),
		Changes:         []policy.Change{{At: at(40), From: 2, To: 4}},
		Recommendations: []policy.Recommendation{{At: at(35), Size: 5}, {At: at(40), Size: 4}}}
	state, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	v := 250.5
	rec := policy.Record{Time: at(40), Current: 2, Ready: 2, Reactive: 4, Predictive: 0, Recommended: 4, Desired: 4,
		Action: "scale-out", Bound: 0, Reason: "rps 250.5/100 per instance: 3; recommended 4, desired 4",
		Metrics: []policy.MetricRecord{{Name: "rps", Value: &v, Reactive: 3}}}
	bucket := func(s int64) int64 { return window.BucketOf(at(s), 30*time.Second) }
	var cpu, backlog window.Partial
	cpu.Bucket, backlog.Bucket = bucket(60), bucket(60)
	cpu.Observe(at(60).UnixNano(), 40)
	cpu.Observe(at(61).UnixNano(), 80)
	backlog.Observe(at(60).UnixNano(), 120)
	backlog.Observe(at(62).UnixNano(), 90)
	return []goldenEntry{
		{"register-node", CmdRegisterNode, registerNodeCmd{ID: "n1", HTTPAddr: "10.0.0.1:7000"}},
		{"register-node-2", CmdRegisterNode, registerNodeCmd{ID: "n2", HTTPAddr: "10.0.0.2:7000"}},
		{"put-policy", CmdPutPolicy, putPolicyCmd{Policy: testPolicy("web"), IfMatch: "0", At: at(1),
			Audit: audit(api.AuditPolicyPut, "web", "PUT", "/v1/policies/web", 1)}},
		{"put-policy-refused", CmdPutPolicy, putPolicyCmd{Policy: testPolicy("web"), IfMatch: "9", At: at(2),
			Audit: audit(api.AuditPolicyPut, "web", "PUT", "/v1/policies/web", 2)}},
		{"put-policy-queue", CmdPutPolicy, putPolicyCmd{Policy: queue, At: at(3)}},
		{"put-policy-gone", CmdPutPolicy, putPolicyCmd{Policy: testPolicy("gone"), At: at(4)}},
		{"samples", CmdSamples, samplesCmd{Samples: []api.Sample{
			{Policy: "web", Metric: "rps", Time: at(30), Value: 250.5},
			{Policy: "web", Metric: "rps", Time: at(20), Value: 1}, // older: not the latest
			{Policy: "queue", Metric: "backlog", Time: at(31), Value: 70},
			{Policy: "nobody", Metric: "rps", Time: at(30), Value: 1}, // unknown policy: ignored
		}}},
		{"evaluated", CmdEvaluated, evaluatedCmd{Policy: "web", PolicyVersion: 3, State: state, Record: &rec, Desired: 4, Ready: 2, At: at(40)}},
		{"evaluated-stale-version", CmdEvaluated, evaluatedCmd{Policy: "web", PolicyVersion: 1, Desired: 9, At: at(41)}},
		{"intent", CmdIntent, intentCmd{Intent: api.Intent{Policy: "web", Group: "web", From: 2, To: 4, Reason: "scale-out", Term: 3, Node: "n1", At: at(41)}}},
		{"intent-queue", CmdIntent, intentCmd{Intent: api.Intent{Policy: "queue", Group: "workers", From: 1, To: 3, Reason: "scale-out", Term: 3, Node: "n1", At: at(42)}}},
		{"result", CmdResult, resultCmd{Policy: "web", IntentID: 10, Outcome: "applied", At: at(43)}},
		{"buckets", CmdBuckets, bucketsCmd{
			Latest: []api.Sample{{Policy: "queue", Metric: "cpu", Time: at(61), Value: 60}, {Policy: "queue", Metric: "backlog", Time: at(62), Value: 90}},
			Partials: []metricPartial{
				{Policy: "queue", Metric: "cpu", Step: int64(30 * time.Second), Partial: cpu},
				{Policy: "queue", Metric: "backlog", Step: int64(30 * time.Second), Partial: backlog},
				{Policy: "queue", Metric: "backlog", Step: int64(time.Minute), Partial: backlog}, // wrong step: dropped
			},
			Series: []seriesUpdate{
				{Policy: "queue", Metric: "cpu", ID: 0xfeedface12345678, T: at(60).UnixNano(), V: 40},
				{Policy: "queue", Metric: "cpu", ID: 7, T: at(61).UnixNano(), V: 80},
				{Policy: "queue", Metric: "cpu", ID: 8, T: at(-100).UnixNano(), V: 5}, // older than stale_after: forgotten
			}}},
		{"create-token", CmdCreateToken, createTokenCmd{Token: auth.Token{Name: "ci", Role: auth.RoleWrite,
			Hash: "sha256:" + string(bytes.Repeat([]byte("ab"), 32)), Rate: 5, Burst: 10, CreatedAt: at(50)}}},
		{"create-token-2", CmdCreateToken, createTokenCmd{Token: auth.Token{Name: "old", Role: auth.RoleRead,
			Hash: "sha256:" + string(bytes.Repeat([]byte("cd"), 32)), CreatedAt: at(51)}}},
		{"create-token-duplicate", CmdCreateToken, createTokenCmd{Token: auth.Token{Name: "ci", Role: auth.RoleAdmin,
			Hash: "sha256:" + string(bytes.Repeat([]byte("ef"), 32)), CreatedAt: at(52)}}},
		{"delete-token", CmdDeleteToken, deleteTokenCmd{Name: "old"}},
		{"audit", CmdAudit, auditCmd{Entry: api.AuditEntry{Time: at(60), Node: "n1", Token: "viewer", Role: "read", Source: "10.0.0.7:4000",
			Method: "DELETE", Path: "/v1/cluster/members/n3", Action: api.AuditClusterRemove, Target: "n3", Status: 403, Code: "forbidden"}, Max: 5}},
		{"delete-policy", CmdDeletePolicy, deletePolicyCmd{ID: "gone", IfMatch: "6",
			Audit: audit(api.AuditPolicyDelete, "gone", "DELETE", "/v1/policies/gone", 70)}},
		{"delete-policy-missing", CmdDeletePolicy, deletePolicyCmd{ID: "gone",
			Audit: audit(api.AuditPolicyDelete, "gone", "DELETE", "/v1/policies/gone", 71)}},
	}
}

// goldenFloodLog exercises the audit log's flood rules (auditretention.go),
// which came after the first fixtures: refusals folded into one entry
// with a count, privileged changes kept apart, and an entry committed
// without rules. Written to legacy-v1-flood.
func goldenFloodLog(t *testing.T) []goldenEntry {
	t.Helper()
	at := func(s int64) time.Time { return time.Unix(1_780_000_000+s, 0).UTC() }
	flood := &auditFlood{WindowSeconds: 60, PerToken: 20}
	entry := func(token, action, target string, status int, code string, s int64) api.AuditEntry {
		return api.AuditEntry{Time: at(s), Node: "n1", Token: token, Role: "write", Source: "10.0.0.9:" + fmt.Sprint(5000+s),
			Method: "PUT", Path: "/v1/x", Action: action, Target: target, Status: status, Code: code}
	}
	write := func(s int64) *auditCmd {
		e := entry("deployer", api.AuditPolicyPut, "web", 0, "", s)
		return &auditCmd{Entry: e, Max: 6, Flood: flood}
	}
	return []goldenEntry{
		{"put-policy", CmdPutPolicy, putPolicyCmd{Policy: testPolicy("web"), IfMatch: "0", At: at(1), Audit: write(1)}},
		{"put-policy-refused", CmdPutPolicy, putPolicyCmd{Policy: testPolicy("web"), IfMatch: "9", At: at(2), Audit: write(2)}},
		{"put-policy-refused-again", CmdPutPolicy, putPolicyCmd{Policy: testPolicy("web"), IfMatch: "9", At: at(3), Audit: write(3)}},
		{"audit-refusal", CmdAudit, auditCmd{Entry: entry("viewer", api.AuditClusterRemove, "n3", 403, "forbidden", 4), Max: 6, Flood: flood}},
		{"audit-refusal-again", CmdAudit, auditCmd{Entry: entry("viewer", api.AuditClusterRemove, "n3", 403, "forbidden", 5), Max: 6, Flood: flood}},
		{"audit-token-create", CmdAudit, auditCmd{Entry: entry("root", api.AuditTokenCreate, "ci", 201, "", 6), Max: 6, Flood: flood}},
		{"audit-cluster-join", CmdAudit, auditCmd{Entry: entry("root", api.AuditClusterJoin, "n4", 204, "", 7), Max: 6, Flood: flood}},
		{"audit-without-rules", CmdAudit, auditCmd{Entry: entry("viewer", api.AuditClusterRemove, "n3", 403, "forbidden", 8), Max: 6}},
		{"delete-policy", CmdDeletePolicy, deletePolicyCmd{ID: "web", Audit: &auditCmd{Entry: entry("deployer", api.AuditPolicyDelete, "web", 0, "", 9), Max: 6, Flood: flood}}},
		{"audit-refusal-after-window", CmdAudit, auditCmd{Entry: entry("viewer", api.AuditClusterRemove, "n3", 403, "forbidden", 70), Max: 6, Flood: flood}},
	}
}

// TestGoldenLegacyFixtures writes (with -update-golden) or checks the
// fixtures: each log entry as this code encodes it, and the snapshot of
// the state they leave. Without the flag it fails when this code no longer
// writes what the fixtures hold, so they stay a true record of the
// encoding store/ must keep reading.
func TestGoldenLegacyFixtures(t *testing.T) {
	for _, set := range []struct {
		dir        string
		log        func(*testing.T) []goldenEntry
		auditCount int
	}{{goldenDir, goldenLog, 5}, {goldenDir + "-flood", goldenFloodLog, 8}} {
		t.Run(filepath.Base(set.dir), func(t *testing.T) { checkGolden(t, set.dir, set.log(t), set.auditCount) })
	}
}

func checkGolden(t *testing.T, dir string, entries []goldenEntry, auditCount int) {
	f := NewFSM(10)
	files := map[string][]byte{}
	for i, e := range entries {
		data, err := encodeCommand(e.cmd, e.payload)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Join("log", fmt.Sprintf("%02d-%s.bin", i+1, e.name))] = data
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
	}
	snap, _ := snapshotRoundTrip(t, f)
	files["snapshot.json"] = snap
	if got := len(f.AuditLog(100)); got != auditCount {
		t.Fatalf("the fixture's audit log has %d entries, want %d", got, auditCount)
	}
	for name, want := range files {
		path := filepath.Join(dir, name)
		if *updateGolden {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./controlplane -run TestGoldenLegacyFixtures -update-golden)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: this code no longer writes the legacy fixture:\nfile %s\ncode %s", name, got, want)
		}
	}
}
