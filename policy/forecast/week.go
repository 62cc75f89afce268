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
// It learns from the observations alone, apart from the model, and never
// feeds back into it: it depends neither on the smoothing nor on the
// season a rebuild chooses, so it survives the rebuilds that choose the
// daily model afresh from a history window too short to show a week. The
// observations are averaged per hour; when an hour ends, the slot of that
// hour of the week moves towards the hour's mean minus a reference level,
// the mean of about the last day of hours (Ref), so a slot is how far that
// hour of the week runs above or below the day before it, whatever the
// level has done over the weeks. The daily season already carries the
// shape every day shares; what the adjustment adds is the weekly
// deviation: a slot minus the mean of the seven slots at the same hour of
// the day.
//
// The model's level follows the deseasonalised observations, so it already
// holds part of that deviation. Held follows the deviation with the level's
// own weight at every observation while the adjustment acts (what the
// level has absorbed of it; it starts from the deviation at the hour the
// adjustment starts acting), and
// the forecast adds the deviation at the target time minus Held: the part
// of the weekly shape still to come, or not yet absorbed.
//
// It acts only on a model with a daily season, and only while it has shown
// that it predicts the hours better than the average day: each hour's
// deviation from the reference level, less the seven slots' mean at its
// hour of the day, is paired with what its own slot said before learning
// it (from earlier weeks, less the same mean). The adjustment acts while
// the correlation of those pairs passes the test season detection uses
// for a season, above max(0.3, 2/√n), with n the pairs counted in days (the
// hours of one day are not independent), and the slot predicted the hours
// better than the average day did (Explained above 0), with at least a
// week of pairs (so at least two weeks of observations). Until then, and
// on a series without a weekly shape, forecasts are exactly the daily
// model's.
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
	// weekMinACF is DetectSeason's floor on a correlation worth a season
	// (detectMinACF); the 2/√n above it is its significance threshold too,
	// with n counted in days here (judge).
	weekMinACF = detectMinACF
)

// Week is a model's weekly adjustment and the running sums that learn and
// test it. The zero value is "no weekly adjustment"; NewWeek starts one.
type Week struct {
	// Slots are the components, one per hour of the week counted from the
	// Unix epoch (slot k covers hours k, k+168, …): how far that hour's
	// mean ran above the reference level, in the unit of the observations;
	// nil means no weekly adjustment. float32: a slot is an hour's mean
	// above a reference, for which 7 digits are plenty, and at 10,000
	// two-metric policies the slots are held in every node's state (and
	// twice on the leader): 13 MB instead of 27 MB a copy.
	Slots []float32
	// Hour is the hour (Unix time in hours) whose values Sum and N hold.
	Hour int64
	// Sum and N are the sum and count of the observations within Hour.
	Sum float64
	N   int
	// Ref is the reference level an hour is measured from: the hourly
	// means smoothed with weight 1/weekRefHours.
	Ref float64
	// Held is the part of the weekly deviation the model's level holds:
	// the deviation at each observation, smoothed with the level's weight,
	// while the adjustment acts (see close).
	Held float64
	// Hours counts the hours learned so far; a slot has been learned from an
	// earlier week once Hours exceeds WeekSlots (give or take the hours
	// missing data).
	Hours int
	// Pairs counts the hours paired with their slot's earlier value;
	// MeanX, MeanY, VarX, VarY and Cov are the running means of what the
	// slot predicted (x) and what the hour brought (y), both less the mean
	// day's slot at that hour, their variances and their covariance
	// (weighted over about weekPairWindow pairs).
	Pairs                         int
	MeanX, MeanY, VarX, VarY, Cov float64

	// active caches Active(); derived, never encoded.
	active bool
}

// NewWeek returns an empty weekly adjustment that starts learning.
func NewWeek() Week { return Week{Slots: make([]float32, WeekSlots)} }

// Correlation is the correlation of the slots' weekly deviations with the
// hours' they were to predict, and the number of pairs it rests on.
func (w *Week) Correlation() (corr float64, pairs int) {
	if w.Pairs == 0 || !(w.VarX > 0) || !(w.VarY > 0) {
		return 0, w.Pairs
	}
	return w.Cov / math.Sqrt(w.VarX*w.VarY), w.Pairs
}

// Active reports whether the adjustment passed its test at the end of the
// last hour: at least a week of pairs, a correlation above
// max(0.3, 2/√days) (the pairs counted in days, up to about the window the
// moments weigh), and Explained above 0.
func (w *Week) Active() bool { return w.active }

// judge works out Active from the moments.
func (w *Week) judge() bool {
	if len(w.Slots) != WeekSlots || w.Pairs < WeekSlots {
		return false
	}
	corr, pairs := w.Correlation()
	pairs = min(pairs, 2*weekPairWindow-1) // the weighted mean's effective count
	// The hours of one day are not independent draws: a day that runs high
	// runs high all day, on a random walk as on a weekly series. So the
	// pairs are counted in days, as season detection counts its pairs in
	// buckets of the candidate's own scale.
	days := float64(pairs) / 24
	return corr > max(weekMinACF, 2/math.Sqrt(days)) && w.Explained() > 0
}

// Explained is 1 − mean((y−x)²) / mean(y²): how much better an hour's own
// slot predicted it than the mean day's slot at its hour (y − x is the
// hour against its slot, y against the mean day). A correlation alone does
// not say the slots help: two slowly wandering series correlate by chance
// over a week of hours (a random walk's hours against the day before
// them), and slots of the right sign but too large add more error than
// they remove. NaN before any pair.
func (w *Week) Explained() float64 {
	sq := w.VarY + w.MeanY*w.MeanY
	if w.Pairs == 0 || !(sq > 0) {
		return math.NaN()
	}
	d := w.MeanY - w.MeanX
	return 1 - (w.VarX+w.VarY-2*w.Cov+d*d)/sq
}

// deviation returns the weekly deviation interpolated at tn, between the
// centres of the hours around it as the daily season interpolates.
func (w *Week) deviation(tn int64) float64 {
	i, j, f := blendOn(tn, int64(weekPeriod), int64(weekSlot), WeekSlots)
	di, dj := float64(w.Slots[i])-w.meanDay(i), float64(w.Slots[j])-w.meanDay(j)
	return di + f*(dj-di)
}

// meanDay is the mean of the seven slots at slot k's hour of the day: the
// part of slot k every day shares, which the daily season carries.
func (w *Week) meanDay(k int) float64 {
	var sum float64
	for h := k % 24; h < WeekSlots; h += 24 {
		sum += float64(w.Slots[h])
	}
	return sum / 7
}

// learn adds the observation z at tn (a number: Observe drops the
// others), closing the hour before when tn is in a later one. It is small
// enough to inline: within the hour (all but one observation in sixty on
// 1-minute data) it is a comparison, a sum and a count.
func (w *Week) learn(tn int64, z float64) {
	// tn − the hour's start, unsigned: also past the hour when negative.
	if uint64(tn-w.Hour*int64(weekSlot)) >= uint64(weekSlot) {
		w.turn(tn)
	}
	w.Sum += z
	w.N++
}

// turn closes the hour learned so far, if it holds a value, and starts the
// one tn falls in.
func (w *Week) turn(tn int64) {
	if w.N > 0 && len(w.Slots) == WeekSlots {
		w.close(w.Sum / float64(w.N))
	}
	hour := tn / int64(weekSlot)
	if tn%int64(weekSlot) < 0 { // before 1970: round down, not towards zero
		hour--
	}
	w.Hour, w.Sum, w.N = hour, 0, 0
}

// follow moves Held towards the deviation at tn by a, the share of an
// observation the model's level takes in; only while the adjustment acts
// (Held starts when it does: close).
func (w *Week) follow(tn int64, a float64) {
	w.Held += a * (w.deviation(tn) - w.Held)
}

// weekRefHours is the reference level's memory in hours: a day, so an
// hour's deviation is from the day before it, and a weekday's shape is
// measured against the weekdays, a Saturday against the Friday.
const weekRefHours = 24

// close learns the hour w.Hour, whose observations averaged m: its
// height v above the reference level is paired with the slot's earlier
// value when the slot has one (both less the mean day's slot at that hour),
// then the slot moves towards v (the first week's value whole, later weeks
// with weight weekGamma), and the reference level takes in m.
func (w *Week) close(m float64) {
	if w.Hours == 0 {
		w.Ref = m
	}
	v := m - w.Ref
	w.Ref += (m - w.Ref) / weekRefHours
	k := int(w.Hour % WeekSlots)
	if k < 0 {
		k += WeekSlots
	}
	x := float64(w.Slots[k])
	if w.Hours >= WeekSlots {
		day := w.meanDay(k)
		w.Pairs++
		a := 1 / float64(min(w.Pairs, weekPairWindow))
		dx, dy := x-day-w.MeanX, v-day-w.MeanY
		w.MeanX += a * dx
		w.MeanY += a * dy
		// West's weighted update of the (co)variances.
		w.VarX = (1 - a) * (w.VarX + a*dx*dx)
		w.VarY = (1 - a) * (w.VarY + a*dy*dy)
		w.Cov = (1 - a) * (w.Cov + a*dx*dy)
		w.Slots[k] = float32(x + weekGamma*(v-x))
	} else {
		w.Slots[k] = float32(v)
	}
	w.Hours = min(w.Hours+1, math.MaxInt32)
	was := w.active
	if w.active = w.judge(); w.active && !was {
		// Held is followed only while the adjustment acts, so an
		// observation of a series without a weekly shape costs a sum and
		// a count. On starting, the level is taken to hold the deviation
		// of the hour just closed: a level smoothing of 0.05 a minute or
		// a 5-minute step takes in 95 % of a change within 5 hours.
		w.Held = w.deviation((w.Hour+1)*int64(weekSlot) - 1)
	}
}

// Weekly returns the weekly adjustment's part of Forecast(t): the weekly
// deviation at t less the part of it the level already holds (Week.Held),
// in the unit of the observations; and whether the adjustment acts at all.
// While it only learns (before it passed its test, after it failed it, or
// on a model without a daily season) it returns 0 and false, and the
// model's forecasts are exactly the daily model's. Forecast(t) minus it is
// the same model's forecast without the adjustment, which never feeds back
// into level, trend or season. A decision records it, so an operator can
// tell how much the day of the week moved a forecast.
func (m *Model) Weekly(t time.Time) (part float64, acting bool) {
	// weekly's own test, spelled out there too: a shared helper would
	// take weekly past the inliner's budget in seasonScaled, which every
	// forecast calls.
	if !m.Week.active || m.Period != weekPeriod/7 {
		return 0, false
	}
	return m.weekly(t.UnixNano()), true
}

// weekGamma is the weekly slots' smoothing per week: a third of the way to
// each new week's leftover, so a slot reflects about the last three weeks
// and one odd week (a holiday) moves it by a third.
const weekGamma = 0.3

// Clone returns a deep copy, so that a copy can learn without touching the
// original's slots.
func (w Week) Clone() Week {
	if w.Slots != nil {
		w.Slots = append([]float32(nil), w.Slots...)
	}
	return w
}
