package store

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// The binary encodings of the model's values, shared by commands and
// snapshots. Each writes its fields in declaration order; adding a field
// means a new CurrentVersion (registry.go) and a decoder for the old one.

// policyValue is a policy in the policy package's own JSON, its stable
// document format: policies are small and rarely written, and reusing it
// keeps one definition of what a policy is. It is written as version e.v
// holds it (policyIn).
func (e *enc) policyValue(p policy.Policy) error {
	p = policyIn(p, e.v)
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding policy %q: %w", p.ID, err)
	}
	e.bytes(b)
	return nil
}

func (d *dec) policyValue() policy.Policy {
	var p policy.Policy
	b := d.bytes()
	if d.err == nil {
		if err := json.Unmarshal(b, &p); err != nil {
			d.fail("policy: " + err.Error())
		}
	}
	return policyIn(p, d.v)
}

// policyIn is policy p as entry or snapshot version v holds it. Versions 1
// to 7 have no history step, so its windows have the shape the code of
// those versions gave them (WindowShape). Versions 1 to 13 have no
// forecast's cost bound (predictive.max_extra): a policy they hold has
// the default one, the zero value, which its JSON leaves out (the bytes
// their code wrote), and which a version-13 server, ignoring a field it
// does not know, would hold whatever the JSON said; so every server runs
// a policy written before version 14 (or while a cluster is upgraded,
// priorCostBound) as the simulator runs the same file.
func policyIn(p policy.Policy, v uint8) policy.Policy {
	if v < VersionHistoryStep {
		p.Predictive.HistoryStep = 0
	}
	if v < VersionCostBound {
		p.Predictive.MaxExtra = 0
	}
	return p
}

// priorCostBound refuses a policy write that versions before
// VersionCostBound cannot hold: one whose predictive.max_extra is not the
// default, which they would store (and a server of this version read
// back) as the default, so the operator's bound would be lost unseen.
func priorCostBound(c Command, v uint8) error {
	pp, ok := c.(PutPolicy)
	if !ok || v >= VersionCostBound || pp.Policy.Predictive.MaxExtra.Percent() == policy.DefaultMaxExtra {
		return nil
	}
	return &policy.ValidationError{Fields: []policy.FieldError{{Path: "predictive.max_extra",
		Message: fmt.Sprintf("must be the default (%v%%) while this cluster writes entry version %d (--raft-write-version): servers of that version have no cost bound; write it again once the upgrade is done",
			policy.DefaultMaxExtra, v)}}}
}

func (e *enc) record(r PolicyRecord) error {
	if err := e.policyValue(r.Policy); err != nil {
		return err
	}
	e.uvarint(r.Version)
	e.time(r.UpdatedAt)
	return nil
}

func (d *dec) record() PolicyRecord {
	return PolicyRecord{Policy: d.policyValue(), Version: d.uvarint(), UpdatedAt: d.time()}
}

func (e *enc) intent(in Intent) {
	e.uvarint(in.ID)
	e.string(in.Policy)
	e.string(in.Group)
	e.int(in.From)
	e.int(in.To)
	e.string(in.Reason)
	e.uvarint(in.Term)
	e.string(in.Node)
	e.time(in.At)
	if e.v >= VersionFenced {
		e.time(in.SendBy)
		e.time(in.Settled)
	}
}

// intent reads an intent, with its fence from VersionFenced entries and
// snapshots from version 3 on.
func (d *dec) intent() Intent {
	in := Intent{ID: d.uvarint(), Policy: d.string(), Group: d.string(), From: d.int(), To: d.int(),
		Reason: d.string(), Term: d.uvarint(), Node: d.string(), At: d.time()}
	if d.v >= VersionFenced {
		in.SendBy, in.Settled = d.time(), d.time()
	}
	return in
}

// sample omits the policy when the caller knows it (the latest samples of
// one policy in a snapshot); withPolicy says which form this is.
func (e *enc) sample(s Sample, withPolicy bool) {
	if withPolicy {
		e.string(s.Policy)
	}
	e.string(s.Metric)
	e.time(s.Time)
	e.float(s.Value)
	e.uvarint(s.Series)
}

func (d *dec) sample(policyID string, withPolicy bool) Sample {
	s := Sample{Policy: policyID}
	if withPolicy {
		s.Policy = d.string()
	}
	s.Metric, s.Time, s.Value, s.Series = d.string(), d.time(), d.float(), d.uvarint()
	return s
}

func (e *enc) samples(ss []Sample) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.sample(s, true)
	}
}

func (d *dec) samples() []Sample {
	n := d.n(4)
	var out []Sample
	for range n {
		out = append(out, d.sample("", true))
	}
	return out
}

func (e *enc) token(t Token) {
	e.string(t.Name)
	e.string(t.Role)
	e.string(t.Hash)
	e.float(t.Rate)
	e.int(t.Burst)
	e.string(t.Origin)
	e.time(t.CreatedAt)
}

func (d *dec) token() Token {
	return Token{Name: d.string(), Role: d.string(), Hash: d.string(), Rate: d.float(), Burst: d.int(),
		Origin: d.string(), CreatedAt: d.time()}
}

func (e *enc) audit(a AuditEntry) {
	e.uvarint(a.ID)
	e.time(a.Time)
	for _, s := range [...]string{a.Node, a.Token, a.Role, a.Source, a.ForwardedBy, a.Via, a.Method, a.Path, a.Action, a.Target} {
		e.string(s)
	}
	e.uvarint(a.OldVersion)
	e.uvarint(a.NewVersion)
	e.byte(uint8(a.Outcome))
	e.int(a.Status)
	e.string(a.Code)
	e.int(a.Count)
	e.time(a.Last)
}

func (d *dec) audit() AuditEntry {
	a := AuditEntry{ID: d.uvarint(), Time: d.time()}
	for _, p := range [...]*string{&a.Node, &a.Token, &a.Role, &a.Source, &a.ForwardedBy, &a.Via, &a.Method, &a.Path, &a.Action, &a.Target} {
		*p = d.string()
	}
	a.OldVersion, a.NewVersion = d.uvarint(), d.uvarint()
	a.Outcome, a.Status, a.Code = Outcome(d.byte()), d.int(), d.string()
	if a.Outcome > Conflict {
		d.fail(fmt.Sprintf("unknown outcome %d", a.Outcome))
	}
	a.Count, a.Last = d.int(), d.time()
	return a
}

func (e *enc) auditCommand(a *AuditCommand) {
	if a == nil {
		e.bool(false)
		return
	}
	e.bool(true)
	e.audit(a.Entry)
	e.int(a.Max)
	e.flood(a.Flood)
}

func (e *enc) flood(f *AuditFlood) {
	e.bool(f != nil)
	if f != nil {
		e.varint(f.WindowSeconds)
		e.int(f.PerToken)
	}
}

func (d *dec) flood() *AuditFlood {
	if !d.bool() {
		return nil
	}
	return &AuditFlood{WindowSeconds: d.varint(), PerToken: d.int()}
}

func (d *dec) auditCommand() *AuditCommand {
	if !d.bool() {
		return nil
	}
	return &AuditCommand{Entry: d.audit(), Max: d.int(), Flood: d.flood()}
}

// optFloat encodes a *float64 (absent, or a value).
func (e *enc) optFloat(v *float64) {
	e.bool(v != nil)
	if v != nil {
		e.float(*v)
	}
}

func (d *dec) optFloat() *float64 {
	if !d.bool() {
		return nil
	}
	v := d.float()
	return &v
}

// seasonScale encodes a metric's season_scale (policy.MetricRecord.SeasonScale):
// a byte for none (0, the common additive season), that byte and the factor
// where the season scales with the level.
func (e *enc) seasonScale(k float64) {
	e.bool(k != 0)
	if k != 0 {
		e.float(k)
	}
}

// seasonScale decodes what enc.seasonScale wrote. A factor present must be
// a finite number above 0: a 0 there would be written back as none, and
// Evaluate never records a negative or non-finite one.
func (d *dec) seasonScale() float64 {
	if !d.bool() {
		return 0
	}
	k := d.float()
	if !(k > 0) || math.IsInf(k, 1) {
		d.fail(fmt.Sprintf("metric's season_scale %v: a factor present must be a finite number above 0", k))
	}
	return k
}

// decision writes a decision record. Versions before VersionDecisions
// get priorRecord's form of it: the fields they know, in their order;
// versions before VersionGroupAge leave out its group age, those
// before VersionBudget write a budget bound as bounds, those before
// VersionWeeklyPart leave out each metric's weekly part, those before
// VersionTimeOfDay its skill at the time of day, and those before
// VersionScaledSeason its season's factor.
func (e *enc) decision(r policy.Record) {
	full := e.v >= VersionDecisions
	if !full {
		r = priorRecord(r)
	}
	if e.v < VersionBudget && r.Bound == policy.LimitBudget {
		r.Bound = policy.LimitBounds // what versions 1 to 5 know it as
	}
	e.time(r.Time)
	for _, v := range [...]int{r.Current, r.Ready, r.Reactive, r.Predictive, r.Recommended, r.Desired} {
		e.int(v)
	}
	e.string(r.Action)
	e.byte(uint8(r.Bound))
	e.bool(r.Stale)
	e.bool(r.Forecast)
	e.string(r.Reason)
	if full {
		e.byte(uint8(r.ScaleInRule))
		e.bool(r.Reversal)
		e.int(r.Reversals)
		e.bool(r.Damped)
		e.string(r.Schedule)
		e.float(r.HourlyCost)
	}
	if e.v >= VersionGroupAge {
		e.varint(int64(r.GroupAge))
	}
	e.bool(r.Metrics != nil)
	e.uvarint(uint64(len(r.Metrics)))
	for _, m := range r.Metrics {
		e.string(m.Name)
		e.optFloat(m.Value)
		e.bool(m.Stale)
		e.int(m.Reactive)
		e.bool(m.WithinTolerance)
		e.optFloat(m.Forecast)
		e.int(m.Predictive)
		e.varint(int64(m.Season))
		e.optFloat(m.Skill)
		e.bool(m.Trusted)
		if full {
			e.optFloat(m.Upper)
		}
		if e.v >= VersionWeeklyPart {
			e.optFloat(m.Weekly)
		}
		if e.v >= VersionTimeOfDay {
			e.optFloat(m.SlotSkill)
		}
		if e.v >= VersionScaledSeason {
			e.seasonScale(m.SeasonScale)
		}
	}
}

// priorRecord is a decision record as versions 1 to 3 hold it, for a
// cluster still running servers of those versions: without the fields
// they have no place for, and with a bound they know. Those servers know
// neither the schedule, the flapping nor the budget bound, and refuse a
// record naming one (the whole entry or snapshot, and with it the node), so
// a schedule's or the budget's clamp is written as the bound it is a form of (bounds: the size was
// clamped to a min or max), and anti-flapping's damping as the hold it is
// a form of (stabilization: a scale-in was held back). The reason text
// still names the rule. The copy shares nothing with r.
func priorRecord(r policy.Record) policy.Record {
	switch r.Bound {
	case policy.LimitSchedule, policy.LimitBudget:
		r.Bound = policy.LimitBounds
	case policy.LimitFlapping:
		r.Bound = policy.LimitStabilization
	}
	r.ScaleInRule, r.Reversal, r.Reversals, r.Damped, r.Schedule, r.HourlyCost = policy.RuleNone, false, 0, false, "", 0
	r.GroupAge = 0
	if r.Metrics != nil {
		ms := make([]policy.MetricRecord, len(r.Metrics))
		for i, m := range r.Metrics {
			m.Upper, m.Weekly, m.SlotSkill, m.SeasonScale = nil, nil, nil, 0
			ms[i] = m
		}
		r.Metrics = ms
	}
	return r
}

func (d *dec) decision() policy.Record {
	r := policy.Record{Time: d.time()}
	for _, p := range [...]*int{&r.Current, &r.Ready, &r.Reactive, &r.Predictive, &r.Recommended, &r.Desired} {
		*p = d.int()
	}
	r.Action, r.Bound, r.Stale, r.Forecast, r.Reason = d.string(), policy.Limit(d.byte()), d.bool(), d.bool(), d.string()
	// Only the limits the policy package names: a record must also be
	// writable as the JSON the API and version 1 show.
	if err := new(policy.Limit).UnmarshalText([]byte(r.Bound.String())); err != nil {
		d.fail(err.Error())
	}
	if d.v < VersionBudget && r.Bound == policy.LimitBudget {
		d.fail(fmt.Sprintf("limit %s in version %d", r.Bound, d.v))
	}
	full := d.v >= VersionDecisions
	if full {
		r.ScaleInRule, r.Reversal, r.Reversals, r.Damped = policy.ScaleInRule(d.byte()), d.bool(), d.int(), d.bool()
		r.Schedule, r.HourlyCost = d.string(), d.float()
		var rule policy.ScaleInRule
		if err := rule.UnmarshalText([]byte(r.ScaleInRule.String())); err != nil || rule != r.ScaleInRule {
			d.fail(fmt.Sprintf("unknown scale-in rule %d", r.ScaleInRule))
		}
	}
	if d.v >= VersionGroupAge {
		r.GroupAge = policy.Duration(d.varint())
	}
	hasMetrics := d.bool()
	n := d.n(8)
	if hasMetrics {
		r.Metrics = make([]policy.MetricRecord, 0, n)
	}
	for range n {
		m := policy.MetricRecord{Name: d.string(), Value: d.optFloat(), Stale: d.bool(), Reactive: d.int(),
			WithinTolerance: d.bool(), Forecast: d.optFloat(), Predictive: d.int(), Season: policy.Duration(d.varint()),
			Skill: d.optFloat(), Trusted: d.bool()}
		if full {
			m.Upper = d.optFloat()
		}
		if d.v >= VersionWeeklyPart {
			m.Weekly = d.optFloat()
		}
		if d.v >= VersionTimeOfDay {
			m.SlotSkill = d.optFloat()
		}
		if d.v >= VersionScaledSeason {
			m.SeasonScale = d.seasonScale()
		}
		r.Metrics = append(r.Metrics, m)
	}
	return r
}

// window encodes a window as it is (compact or wide) since
// VersionCompact, and wide before, whose readers know no other.
func (e *enc) window(w *window.Window) {
	if e.v < VersionCompact {
		e.scratch = w.AppendWideBinary(e.scratch[:0])
	} else {
		// AppendBinary cannot fail; its error is the BinaryAppender contract.
		e.scratch, _ = w.AppendBinary(e.scratch[:0])
	}
	e.bytes(e.scratch)
}

func (d *dec) window() *window.Window {
	b := d.borrow() // UnmarshalBinary keeps none of it
	if d.err != nil {
		return nil
	}
	w := new(window.Window)
	if err := w.UnmarshalBinary(b); err != nil {
		d.fail(err.Error())
		return nil
	}
	if !w.Wide() && d.v < VersionCompact {
		d.fail(fmt.Sprintf("a compact window in version %d, which holds only wide ones", d.v))
		return nil
	}
	return w
}

func (e *enc) partial(p window.Partial) {
	e.varint(p.Bucket)
	e.float(p.Sum)
	e.uvarint(uint64(p.N))
	e.float(p.Max)
	e.float(p.Last)
	e.varint(p.LastAt)
}

func (d *dec) partial() window.Partial {
	p := window.Partial{Bucket: d.varint(), Sum: d.float()}
	n := d.uvarint()
	if n > math.MaxUint32 {
		d.fail("partial count out of range")
	}
	p.N, p.Max, p.Last, p.LastAt = uint32(n), d.float(), d.float(), d.varint()
	return p
}
