package forecast

import (
	"math"
	"time"
)

// The weekly adjustment: a daily season learns every day alike, so on a
// series whose weekdays and weekends differ, Monday's forecast carries
// Sunday's shape and the level catches up with the difference only as it
// comes (the traces' README: nyc_taxi has a strong weekly cycle; tweet
// volumes and most production traffic differ between weekdays and weekends).
// A 7-day season at the daily season's resolution would cost 10,080 floats
// a series; the adjustment costs WeekSlots, one an hour of the week.
//
// It is learned apart from the daily model and never fed back into it: at
// every observation the daily model's own one-step error (the observation
// minus level, trend and daily season, before they absorb it) is summed per
// hour; when an hour ends, its mean error is the leftover the daily model
// left at that hour of the week, and the slot of that hour moves towards it.
// The forecast adds the slots (interpolated between hour centres, as the
// daily season is) only while the adjustment has shown that it predicts the
// leftover: each hour's mean error is paired with what the slot said before
// learning it (from earlier weeks), and the adjustment acts while the
// correlation of those pairs passes the test season detection uses for a
// season, above max(0.3, 2/√pairs), and the slots removed part of the
// errors' mean square (Explained above 0), with at least a week of pairs
// (so at least two weeks of observations). Until then, and on a series without a
// weekly shape, forecasts are exactly the daily model's.
const (
	// WeekSlots is the number of weekly components: one per hour of the week.
	WeekSlots = 7 * 24
	// weekSlot is the width of one weekly component.
	weekSlot = time.Hour
	// weekPeriod is the length of the weekly cycle.
	weekPeriod = WeekSlots * weekSlot
	// weekPairWindow sets the weight of the newest pair in the running
	// moments of the significance test: 1/weekPairWindow once that many
	// pairs are in, a plain mean before. About the last four weeks count,
	// so a weekly shape that fades stops acting within weeks.
	weekPairWindow = 4 * WeekSlots
	// weekMinACF and the 2/√pairs threshold are DetectSeason's
	// (detectMinACF).
	weekMinACF = detectMinACF
)

// Week is a model's weekly adjustment and the running sums that learn and
// test it. The zero value is "no weekly adjustment"; NewWeek starts one.
type Week struct {
	// Slots are the components, one per hour of the week counted from the
	// Unix epoch (slot k covers hours k, k+168, …), in the unit of the
	// observations; nil means no weekly adjustment.
	Slots []float64
	// Hour is the hour (Unix time in hours) whose errors Sum and N hold.
	Hour int64
	// Sum and N are the sum and count of the daily model's one-step errors
	// observed within Hour.
	Sum float64
	N   int
	// Hours counts the hours learned so far; a slot has been learned from an
	// earlier week once Hours exceeds WeekSlots (give or take the hours
	// missing data).
	Hours int
	// Pairs counts the hours whose mean error was paired with its slot's
	// earlier value; MeanX, MeanY, VarX, VarY and Cov are the running means
	// of the slot's value (x), the hour's mean error (y), their squares'
	// deviations and their product's (weighted over about weekPairWindow
	// pairs).
	Pairs                         int
	MeanX, MeanY, VarX, VarY, Cov float64

	// active caches Active(); derived, never encoded.
	active bool
}

// NewWeek returns an empty weekly adjustment that starts learning.
func NewWeek() Week { return Week{Slots: make([]float64, WeekSlots)} }

// Correlation is the correlation of the slots' values with the hourly mean
// errors they were to predict, and the number of pairs it rests on.
func (w *Week) Correlation() (corr float64, pairs int) {
	if w.Pairs == 0 || !(w.VarX > 0) || !(w.VarY > 0) {
		return 0, w.Pairs
	}
	return w.Cov / math.Sqrt(w.VarX*w.VarY), w.Pairs
}

// Active reports whether the adjustment passed its significance test at
// the end of the last hour: at least a week of pairs, and a correlation
// above max(0.3, 2/√pairs) (pairs counted up to about the window the
// moments weigh).
func (w *Week) Active() bool { return w.active }

// judge works out Active from the moments.
func (w *Week) judge() bool {
	if len(w.Slots) != WeekSlots || w.Pairs < WeekSlots {
		return false
	}
	corr, pairs := w.Correlation()
	pairs = min(pairs, 2*weekPairWindow-1) // the weighted mean's effective count
	return corr > max(weekMinACF, 2/math.Sqrt(float64(pairs))) && w.Explained() > 0
}

// Explained is the share of the hourly mean errors' mean square that the
// slots' earlier values removed: 1 − mean((y−x)²) / mean(y²). A
// correlation alone does not say the slots help: two slowly wandering
// series correlate by chance over a week of hours (a level that lags a
// random walk leaves such an error), and slots of the right sign but too
// large add more error than they remove. NaN before any pair.
func (w *Week) Explained() float64 {
	sq := w.VarY + w.MeanY*w.MeanY
	if w.Pairs == 0 || !(sq > 0) {
		return math.NaN()
	}
	d := w.MeanY - w.MeanX
	return 1 - (w.VarX+w.VarY-2*w.Cov+d*d)/sq
}

// at returns the adjustment at tn: 0 unless it is active.
func (w *Week) at(tn int64) float64 {
	if !w.active {
		return 0
	}
	i, j, f := blendOn(tn, weekPeriod, weekSlot, WeekSlots)
	return w.Slots[i] + f*(w.Slots[j]-w.Slots[i])
}

// learn adds the daily model's one-step error e observed at tn, closing
// the hour before when tn is in a later one.
func (w *Week) learn(tn int64, e float64) {
	if len(w.Slots) != WeekSlots || !finite(e) {
		return
	}
	hour := floorDiv(tn, int64(weekSlot))
	if hour != w.Hour {
		if w.N > 0 {
			w.close(w.Sum / float64(w.N))
		}
		w.Hour, w.Sum, w.N = hour, 0, 0
	}
	w.Sum += e
	w.N++
}

// close learns the mean error y of the hour w.Hour: pairs it with the
// slot's earlier value when the slot has one, then moves the slot towards
// it. The slot takes the first week's value whole and then smooths with
// weight weekGamma.
func (w *Week) close(y float64) {
	k := int(floorMod(w.Hour, WeekSlots))
	x := w.Slots[k]
	if w.Hours >= WeekSlots {
		w.Pairs++
		a := 1 / float64(min(w.Pairs, weekPairWindow))
		dx, dy := x-w.MeanX, y-w.MeanY
		w.MeanX += a * dx
		w.MeanY += a * dy
		// West's weighted update of the (co)variances.
		w.VarX = (1 - a) * (w.VarX + a*dx*dx)
		w.VarY = (1 - a) * (w.VarY + a*dy*dy)
		w.Cov = (1 - a) * (w.Cov + a*dx*dy)
		w.Slots[k] = x + weekGamma*(y-x)
	} else {
		w.Slots[k] = y
	}
	w.Hours = min(w.Hours+1, math.MaxInt32)
	w.active = w.judge()
}

// weekGamma is the weekly slots' smoothing per week: a third of the way to
// each new week's leftover, so a slot reflects about the last three weeks
// and one odd week (a holiday) moves it by a third.
const weekGamma = 0.3

// clone returns a deep copy.
func (w Week) clone() Week {
	if w.Slots != nil {
		w.Slots = append([]float64(nil), w.Slots...)
	}
	return w
}

// floorDiv is a / b rounded towards minus infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// floorMod is a mod b in [0, b), for b > 0.
func floorMod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}
