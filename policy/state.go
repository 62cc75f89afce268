package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// State is what a policy remembers between evaluations: the last actions
// (cooldowns), recent size changes (rate limits), recent recommendations
// (scale-in stabilization) and each metric's forecasting model. It is a value
// the caller keeps; the replicated control plane stores it, so failover
// neither resets a cooldown nor forgets history.
type State struct {
	// LastScaleOut is when the policy last grew the group; zero if never.
	LastScaleOut time.Time
	// LastScaleIn is when the policy last shrank the group; zero if never.
	LastScaleIn time.Time
	// Changes are the size changes made within the longest rate-limit
	// period, oldest first.
	Changes []Change
	// Recommendations is a monotonic queue of the recommendations within the
	// scale-in stabilization window: times increase and sizes strictly
	// decrease, so the first entry is always the window's highest.
	Recommendations []Recommendation
	// Models holds one forecasting model per policy metric (empty while
	// prediction is off).
	Models []MetricModel
}

// Change is one size change made by the policy.
type Change struct {
	// At is when the change was decided.
	At time.Time
	// From and To are the sizes before and after.
	From, To int
}

// Recommendation is a size recommended at an instant.
type Recommendation struct {
	// At is when it was recommended.
	At time.Time
	// Size is the recommended size.
	Size int
}

// MetricModel is one metric's forecasting state: the smoother and the
// running score of its forecasts against persistence (the last value).
type MetricModel struct {
	// Model is the smoother.
	Model forecast.Model
	// CheckedAt is when the season was last detected or configured; zero
	// forces a (re)configuration at the next evaluation.
	CheckedAt time.Time
	// Pending are forecasts made at past observations, waiting for the
	// first observation at or after their target time to be scored.
	Pending []PendingForecast
	// ErrForecast and ErrNaive are exponentially weighted mean squared
	// errors, at the lead horizon, of the forecast and of persistence.
	ErrForecast, ErrNaive float64
	// Scored counts the forecasts scored so far.
	Scored int
}

// PendingForecast is a forecast waiting for its outcome.
type PendingForecast struct {
	// At is the target time (Unix nanoseconds).
	At int64
	// Forecast is what the model expected at At; Naive is the value observed
	// when the forecast was made, persistence's forecast for At.
	Forecast, Naive float64
}

// Skill is 1 − ErrForecast/ErrNaive: above 0 the forecasts beat
// persistence at the lead horizon. NaN until enough forecasts are scored.
func (m *MetricModel) Skill() float64 {
	if m.Scored < minScoredForecasts || !(m.ErrNaive > 0) {
		return math.NaN()
	}
	return 1 - m.ErrForecast/m.ErrNaive
}

// Clone returns a deep copy, for callers that need to keep a state after
// handing it to Evaluate (which reuses its buffers).
func (s State) Clone() State {
	c := s
	c.Changes = append([]Change(nil), s.Changes...)
	c.Recommendations = append([]Recommendation(nil), s.Recommendations...)
	c.Models = make([]MetricModel, len(s.Models))
	for i, m := range s.Models {
		c.Models[i] = m
		c.Models[i].Model = m.Model.Clone()
		c.Models[i].Pending = append([]PendingForecast(nil), m.Pending...)
	}
	if s.Models == nil {
		c.Models = nil
	}
	return c
}

// stateVersion is the first byte of the binary encoding; a decoder refuses
// versions it does not know rather than guessing.
const stateVersion = 1

// maxStateEntries bounds every list in a decoded state so that garbage input
// cannot make the decoder allocate without limit.
const maxStateEntries = 1 << 16

// ErrBadState is returned when a binary state does not decode.
var ErrBadState = errors.New("policy: malformed state encoding")

// MarshalBinary encodes the state compactly (varints; times as Unix nanoseconds).
func (s State) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, stateVersion)
	b = appendTime(b, s.LastScaleOut)
	b = appendTime(b, s.LastScaleIn)
	b = binary.AppendUvarint(b, uint64(len(s.Changes)))
	for _, c := range s.Changes {
		b = appendTime(b, c.At)
		b = binary.AppendVarint(b, int64(c.From))
		b = binary.AppendVarint(b, int64(c.To))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Recommendations)))
	for _, r := range s.Recommendations {
		b = appendTime(b, r.At)
		b = binary.AppendVarint(b, int64(r.Size))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Models)))
	for i := range s.Models {
		b = appendTime(b, s.Models[i].CheckedAt)
		b = s.Models[i].Model.AppendBinary(b)
		b = appendFloat(b, s.Models[i].ErrForecast)
		b = appendFloat(b, s.Models[i].ErrNaive)
		b = binary.AppendUvarint(b, uint64(s.Models[i].Scored))
		b = binary.AppendUvarint(b, uint64(len(s.Models[i].Pending)))
		for _, pf := range s.Models[i].Pending {
			b = binary.AppendVarint(b, pf.At)
			b = appendFloat(b, pf.Forecast)
			b = appendFloat(b, pf.Naive)
		}
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced. It never panics on
// malformed input and leaves s unchanged on error.
func (s *State) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != stateVersion {
		return fmt.Errorf("%w: unknown version %d", ErrBadState, v)
	}
	var out State
	out.LastScaleOut = d.time()
	out.LastScaleIn = d.time()
	if n := d.count(); n > 0 {
		out.Changes = make([]Change, n)
		for i := range out.Changes {
			out.Changes[i] = Change{At: d.time(), From: d.int(), To: d.int()}
		}
	}
	if n := d.count(); n > 0 {
		out.Recommendations = make([]Recommendation, n)
		for i := range out.Recommendations {
			out.Recommendations[i] = Recommendation{At: d.time(), Size: d.int()}
		}
	}
	if n := d.count(); n > 0 {
		out.Models = make([]MetricModel, n)
		for i := range out.Models {
			out.Models[i].CheckedAt = d.time()
			if d.err != nil {
				break
			}
			rest, err := out.Models[i].Model.DecodeBinary(d.b)
			if err != nil {
				d.err = err
				break
			}
			d.b = rest
			mm := &out.Models[i]
			mm.ErrForecast, mm.ErrNaive = d.float(), d.float()
			mm.Scored = int(min(d.uvarint(), maxScored))
			if n := d.count(); n > 0 {
				mm.Pending = make([]PendingForecast, n)
				for j := range mm.Pending {
					mm.Pending[j] = PendingForecast{At: d.varint(), Forecast: d.float(), Naive: d.float()}
				}
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, d.err)
	}
	*s = out
	return nil
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads varints and remembers the first error, so decoding code
// reads straight through and checks once.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) float() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = errShort
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) int() int {
	v := d.varint()
	if v > 1<<31 || v < -(1<<31) {
		if d.err == nil {
			d.err = fmt.Errorf("size %d out of range", v)
		}
		return 0
	}
	return int(v)
}

func (d *decoder) time() time.Time {
	v := d.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) count() int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > maxStateEntries || v > uint64(len(d.b)) { // every entry takes at least one byte
		d.err = fmt.Errorf("list of %d entries is too long", v)
		return 0
	}
	return int(v)
}
