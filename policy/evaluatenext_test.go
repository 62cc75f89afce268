package policy

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// fillNonZero sets every settable field of v (recursively through structs
// and arrays) to a value other than its zero value: times to t0, numbers to
// 7 or 1.5, booleans to true, strings to "x". Slices, maps and pointers are
// left alone (a Decision has none outside Next).
func fillNonZero(v reflect.Value) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(t0))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.String:
		v.SetString("x")
	case reflect.Array:
		for i := range v.Len() {
			fillNonZero(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fillNonZero(v.Field(i))
			}
		}
	}
}

// garbageDecision is a Decision with every field but Next set to something
// other than its zero value, with next as its Next.
func garbageDecision(t *testing.T, next State) Decision {
	t.Helper()
	var d Decision
	v := reflect.ValueOf(&d).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Name != "Next" {
			fillNonZero(v.Field(i))
			if v.Field(i).IsZero() {
				t.Fatalf("fillNonZero left Decision.%s zero", v.Type().Field(i).Name)
			}
		}
	}
	d.Next = next
	return d
}

// TestClearButNextCoversEveryField: clearButNext leaves every field of a
// Decision but Next at its zero value and Next as it was, so a field added
// to Decision and not to clearButNext fails here, not in a replay whose
// decisions carry the last one's value.
func TestClearButNextCoversEveryField(t *testing.T) {
	next := State{LastScaleOut: t0, Recommendations: []Recommendation{{At: t0, Size: 3}}, Extra: ExtraAccount{Held: 2, Shadow: 4}}
	d := garbageDecision(t, next)
	d.clearButNext()
	v := reflect.ValueOf(d)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Next" {
			continue
		}
		if !v.Field(i).IsZero() {
			t.Errorf("clearButNext leaves Decision.%s = %v", name, v.Field(i))
		}
	}
	if !reflect.DeepEqual(d.Next, next) {
		t.Errorf("clearButNext changed Next: %+v, want %+v", d.Next, next)
	}
}

// sameDecision describes how b differs from a, field by field (floats by
// their bits, so NaN equals NaN; Next by its binary encoding and the
// fields that encoding leaves out), or returns "" when it does not.
func sameDecision(a, b *Decision) string {
	av, bv := reflect.ValueOf(*a), reflect.ValueOf(*b)
	for i := range av.NumField() {
		name := av.Type().Field(i).Name
		if name == "Next" {
			continue
		}
		if diff := sameValue(av.Field(i), bv.Field(i)); diff != "" {
			return name + diff
		}
	}
	ea, errA := a.Next.MarshalBinary()
	eb, errB := b.Next.MarshalBinary()
	if errA != nil || errB != nil || !bytes.Equal(ea, eb) {
		return fmt.Sprintf("Next encodes differently (%v, %v)", errA, errB)
	}
	return ""
}

func sameValue(a, b reflect.Value) string {
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		if math.Float64bits(a.Float()) != math.Float64bits(b.Float()) {
			return fmt.Sprintf(": %v, want %v", b.Float(), a.Float())
		}
	case reflect.Array:
		for i := range a.Len() {
			if d := sameValue(a.Index(i), b.Index(i)); d != "" {
				return fmt.Sprintf("[%d]%s", i, d)
			}
		}
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[time.Time]() {
			if !a.Interface().(time.Time).Equal(b.Interface().(time.Time)) {
				return fmt.Sprintf(": %v, want %v", b, a)
			}
			return ""
		}
		for i := range a.NumField() {
			if d := sameValue(a.Field(i), b.Field(i)); d != "" {
				return "." + a.Type().Field(i).Name + d
			}
		}
	default:
		if !a.Equal(b) {
			return fmt.Sprintf(": %v, want %v", b, a)
		}
	}
	return ""
}

// TestEvaluateNextMatchesEvaluate: a replay that carries its state in one
// Decision evaluated in place (EvaluateNext), starting from a decision
// whose every other field holds garbage, decides exactly as one that
// carries it through Evaluate's return value and one through
// EvaluateInto: every field, at every evaluation, and the same state
// (byte for byte in its encoding). The policy predicts with the cost bound
// on and every pacing rule; the series has a daily shape, stale stretches
// (a metric missing for minutes) and a gap of hours, so that the state's
// queues, the account, the models and the reversals all move.
func TestEvaluateNextMatchesEvaluate(t *testing.T) {
	p := basePolicy(
		Metric{Name: "rps", Type: MetricRequestRate, Target: 200},
		Metric{Name: "cpu", Type: MetricCPU, Target: 60},
	)
	p.Tolerance = 0.05
	p.ScaleOut = ScaleOut{Cooldown: Duration(time.Minute), MaxStep: MaxStep{Instances: 4, Percent: 100, Period: Duration(time.Minute)}}
	p.ScaleIn = ScaleIn{Cooldown: Duration(2 * time.Minute), Stabilization: Duration(5 * time.Minute), MaxStep: MaxStep{Instances: 2, Percent: 10, Period: Duration(time.Minute)}}
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(3 * time.Minute), Season: Season{Period: time.Hour}, History: Duration(24 * time.Hour)}
	if !p.Predictive.MaxExtra.On() {
		t.Fatal("the cost bound is off: the test would not move its account")
	}
	var (
		byValue State
		into    Decision
	)
	next := garbageDecision(t, State{})
	in := Inputs{Current: 10, Ready: 10}
	now := t0
	for i := range 3000 {
		now = now.Add(10 * time.Second)
		if i == 2000 {
			now = now.Add(3 * time.Hour) // an outage: a gap the account caps
		}
		phase := 2 * math.Pi * float64(i%360) / 360
		in.Metrics[0] = Sample{Time: now, Value: 2000 + 900*math.Sin(phase) + float64(i%7)*40, Present: true}
		if i%97 < 90 { // the cpu metric goes quiet for 70 s out of every ~16 minutes
			in.Metrics[1] = Sample{Time: now, Value: 50 + 15*math.Cos(phase), Present: true}
		}
		want := Evaluate(p, in, byValue, now)
		EvaluateInto(&into, &p, &in, into.Next, now)
		EvaluateNext(&next, &p, &in, now)
		if diff := sameDecision(&want, &into); diff != "" {
			t.Fatalf("evaluation %d: EvaluateInto's %s", i, diff)
		}
		if diff := sameDecision(&want, &next); diff != "" {
			t.Fatalf("evaluation %d: EvaluateNext's %s", i, diff)
		}
		byValue = want.Next
		in.Current, in.Ready = want.Desired, want.Desired
	}
	if len(byValue.Models) != 2 || byValue.Extra.Empty() || byValue.LastScaleIn.IsZero() || byValue.LastScaleOut.IsZero() {
		t.Fatalf("the replay did not exercise the state: %+v", byValue)
	}
}

// TestModeScales: scales is m == PredictForecastAndScale for the modes and
// for strings that share its length, a prefix or a suffix with it.
func TestModeScales(t *testing.T) {
	for _, m := range []PredictiveMode{PredictForecastAndScale, PredictForecastOnly, PredictOff, "",
		"forecast-and-scalE", "Forecast-and-scale", "forecast-and-sca", "forecast-and-scalee", "forecast-and-scbla", "xx"} {
		if got, want := m.scales(), m == PredictForecastAndScale; got != want {
			t.Errorf("%q.scales() = %v, want %v", m, got, want)
		}
	}
}
