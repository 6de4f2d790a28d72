package policy

import (
	"math"
	"slices"
	"strings"
	"time"
)

// trackingArgs are target-tracking's arguments.
type trackingArgs struct {
	// Headroom is spare capacity asked for on top of each metric's target, as a fraction: 0.1 sizes for 10 % more
	// load than the metrics show, so that growth during pod start-up does not overload the service.
	Headroom float64 `yaml:"headroom"`
	// Estimate sizes demand metrics (qps, promql with perReplica) on an estimate of the demand (the fields
	// below), and a promql total on its reading with spare replicas; false sizes every metric on its bare
	// reading, with HPA's arithmetic.
	Estimate bool `yaml:"estimate"`
	// Spread is the margin kept above the level of a demand metric, in standard deviations of how far its
	// readings recently strayed from that level: noisy load gets more spare capacity than steady load.
	Spread float64 `yaml:"spread"`
	// SpreadWindow is the time constant over which that variation is measured.
	SpreadWindow time.Duration `yaml:"spreadWindow"`
	// Hysteresis is how many more standard deviations a scale-down must clear than a scale-up.
	Hysteresis float64 `yaml:"hysteresis"`
	// LevelUp and LevelDown are the time constants with which the level follows the readings up and down.
	LevelUp   time.Duration `yaml:"levelUp"`
	LevelDown time.Duration `yaml:"levelDown"`
	// LastingFall is how long every estimate must stay below the level for a fall to count as lasting, not noise:
	// the level then drops to the highest of them instead of following them down at levelDown's pace.
	LastingFall time.Duration `yaml:"lastingFall"`
	// Trend reads a rising rate through its window: a rate over the last minute shows only part of a rise that
	// began within that minute.
	Trend bool `yaml:"trend"`
	// Spare is how many replicas, at the metric's target, a demand metric is sized for above its estimate and
	// margin (a promql total, above its reading): spare capacity that a small Deployment, whose proportional
	// margin rounds away, keeps too. A reading of zero gets none, so that a target can still go to zero.
	Spare float64 `yaml:"spare"`
	// FloorQuantile keeps capacity for the load's recent peaks: each demand metric is sized for at least this
	// quantile of its readings over the last floorWindow (0: no floor), kept per minute at that minute's highest.
	FloorQuantile float64 `yaml:"floorQuantile"`
	// FloorWindow is how far back that quantile reaches.
	FloorWindow time.Duration `yaml:"floorWindow"`
}

func trackingDefaults() *trackingArgs {
	return &trackingArgs{Estimate: true, Spread: 0.5, SpreadWindow: 30 * time.Minute, Hysteresis: 0.5, LevelUp: time.Minute,
		LevelDown: 5 * time.Minute, LastingFall: 10 * time.Minute, Trend: true, Spare: 0.5,
		FloorWindow: time.Hour}
}

// trackingRegistration is podpilot's default algorithm. It sizes the Deployment so that each metric meets its
// target, as HPA does, but answers HPA's known complaints through its defaults and rules:
//   - cooldowns instead of an up-window: it acts on the current reading at once and then waits, instead of
//     acting late on old readings (so it never scales up after the load has turned down: not even to its floor
//     on recent peaks, when args.FloorQuantile sets one, which only raises the count on a steady or rising
//     reading);
//   - a scale-down needs both the down-window (the highest recent recommendation) and the cooldown to agree;
//   - tolerances per direction, smaller for scale-up;
//   - a metric over a total (promql total) with no ready pods is sized from the spec replicas, not from zero;
//   - like every podpilot algorithm, it holds on broken metrics and starts without scale-downs until it has
//     seen a full window;
//   - a metric that measures demand (qps, promql with perReplica) is sized on an estimate of demand rather than
//     on the bare reading: a rise read through the rate window, a level that follows the readings and a margin
//     in proportion to their recent variation (see demandEstimate), and spare replicas on top (args.Spare); a
//     promql total, which is read in proportion to the replicas (HPA's External Value), gets the spare replicas
//     on its reading.
func trackingRegistration() Registration {
	return Define("target-tracking", "podpilot's default: sizes each metric to its target with a margin for its noise, reacts at once, scales down after the load has settled",
		trackingDefaults,
		func(a *trackingArgs, p *Policy, pr *Problems) {
			if a.Headroom < 0 || a.Headroom > 0.9 {
				pr.Add("headroom", "must be between 0 and 0.9, got %g", a.Headroom)
			}
			if a.Spread < 0 || a.Spread > 5 {
				pr.Add("spread", "must be between 0 and 5 (standard deviations), got %g", a.Spread)
			}
			if a.Spare < 0 || a.Spare > 10 {
				pr.Add("spare", "must be between 0 and 10 (replicas), got %g", a.Spare)
			}
			if a.Hysteresis < 0 || a.Hysteresis > 5 {
				pr.Add("hysteresis", "must be between 0 and 5 (standard deviations), got %g", a.Hysteresis)
			}
			if a.SpreadWindow < p.Interval || a.SpreadWindow > 24*time.Hour {
				pr.Add("spreadWindow", "must be between the policy's interval (%s) and 24h, got %s",
					FormatDuration(p.Interval), FormatDuration(a.SpreadWindow))
			}
			if a.LevelUp < 0 || a.LevelUp > maxWindow {
				pr.Add("levelUp", "must be between 0s and %s, got %s", FormatDuration(maxWindow), FormatDuration(a.LevelUp))
			}
			if a.LevelDown < 0 || a.LevelDown > maxWindow {
				pr.Add("levelDown", "must be between 0s and %s, got %s", FormatDuration(maxWindow), FormatDuration(a.LevelDown))
			}
			switch {
			case a.FloorQuantile < 0 || a.FloorQuantile > 1:
				pr.Add("floorQuantile", "must be between 0 (no floor) and 1 (the highest), got %g", a.FloorQuantile)
			case a.FloorQuantile > 0 && !a.Estimate:
				pr.Add("floorQuantile", "needs estimate: true (the floor is on the demand estimate)")
			case a.FloorQuantile > 0 && len(p.Metrics) > 0 && !slices.ContainsFunc(p.Metrics, func(m Metric) bool { return forecastable(&m) }):
				pr.Add("floorQuantile", "needs a demand metric (qps, or promql with perReplica) to floor")
			}
			if a.FloorWindow < floorBucket || a.FloorWindow > maxFloorWindow || a.FloorWindow%floorBucket != 0 {
				pr.Add("floorWindow", "must be whole minutes from 1m to %s, got %s", FormatDuration(maxFloorWindow), FormatDuration(a.FloorWindow))
			}
			if a.LastingFall < 0 || a.LastingFall > maxWindow {
				pr.Add("lastingFall", "must be between 0s and %s, got %s", FormatDuration(maxWindow), FormatDuration(a.LastingFall))
			}
		},
		func(*trackingArgs) Behavior { return trackingBehavior() },
		func(a *trackingArgs, p *Policy) Algorithm {
			rules := newRatioRules(p)
			rules.headroom, rules.sizeFromSpec = a.Headroom, true
			g := trackingAlgo{rules: rules, args: *a, interval: p.Interval, estimate: make([]bool, len(p.Metrics)), spared: make([]bool, len(p.Metrics)),
				through: make([]float64, len(p.Metrics)), window: make([]float64, len(p.Metrics))}
			if a.FloorQuantile > 0 {
				g.buckets = int(a.FloorWindow / floorBucket)
			}
			for i := range p.Metrics {
				m := &p.Metrics[i]
				g.estimate[i] = a.Estimate && forecastable(m)
				// A promql value compared with a total target is no demand, but its spare replicas are the same.
				g.spared[i] = a.Estimate && m.Kind == PromQL
				if strings.Contains(m.Query, ".Window") {
					g.window[i] = m.Window.Seconds()
				}
				// A rate over a window longer than the interval shows a rise only gradually; a gauge does not.
				if g.estimate[i] && a.Trend && g.window[i] > p.Interval.Seconds() {
					g.through[i] = float64(m.Window) / float64(p.Interval)
				}
				g.any = g.any || g.estimate[i] || g.spared[i]
			}
			return g
		})
}

func trackingBehavior() Behavior {
	return Behavior{
		Up: Rules{Tolerance: 0.05, Select: SelectMax, Policies: []RatePolicy{
			{Type: Percent, Value: 900, Period: 15 * time.Second},
			{Type: Pods, Value: 10, Period: 15 * time.Second},
		}},
		Down: Rules{Window: 3 * time.Minute, Cooldown: 3 * time.Minute, Tolerance: 0.1, Select: SelectMax, Policies: []RatePolicy{
			{Type: Percent, Value: 50, Period: time.Minute},
		}},
	}
}

type trackingAlgo struct {
	rules    ratioRules
	args     trackingArgs
	interval time.Duration
	estimate []bool    // per metric: sized on the demand estimate (qps and promql perReplica: forecastable)
	spared   []bool    // per metric: promql (either target), which gets spare replicas even when not estimated
	through  []float64 // per metric: the rate window in intervals, when a rise is read through it (0: not)
	window   []float64 // per metric: the rate window in seconds, when the query has one (0: a gauge)
	any      bool
	buckets  int // minutes of readings the floor reads per metric (0: no floor)
}

// The floor reads Input.Past per minute, for at most four hours.
const (
	floorBucket    = time.Minute
	maxFloorWindow = 4 * time.Hour
)

// The state of one metric's demand estimate, in target-tracking's State, one metric after the other.
const (
	stPrevTime = iota // unix seconds of the previous usable reading
	stPrev            // the previous usable reading
	stLevel           // the level
	stVar             // the exponentially weighted variance of the estimate around the level
	stRise            // evaluations the reading has been rising
	stSettle          // unix seconds until which a rise is not read through the window (new pods' rates settle)
	stReady           // ready pods at the previous evaluation
	stSeen            // 1 once the metric has had a usable reading
	stAbove           // unix seconds of the last estimate at or above the level
	stBelow           // the highest estimate since then
	stLen
)

func (a trackingAlgo) Propose(dst []Proposal, c *Context) []Proposal {
	if !a.any {
		return proposeMetrics(dst, c, a.rules)
	}
	p, in := c.Policy, c.Input
	state := c.State
	if len(state) != stLen*len(p.Metrics) {
		state = nil // fresh, or kept by another version: start again
	}
	next := make([]float64, stLen*len(p.Metrics))
	copy(next, state)
	up, down := *in, *in
	up.Metrics = append([]Observation(nil), in.Metrics...)
	down.Metrics = append([]Observation(nil), in.Metrics...)
	estimated, falling := make([]bool, len(p.Metrics)), make([]bool, len(p.Metrics))
	for i := range p.Metrics {
		if !a.estimate[i] && !a.spared[i] || i >= len(in.Metrics) {
			continue
		}
		if ok, _ := in.Metrics[i].usable(); !ok {
			continue // an invalid reading changes nothing: the estimate waits for the next one
		}
		q, qd, fall := in.Metrics[i].Value, in.Metrics[i].Value, false
		if a.estimate[i] {
			s := next[stLen*i : stLen*(i+1)]
			q, qd, fall = a.demandEstimate(s, in.Now, in.Metrics[i], in.Ready, a.through[i], a.window[i])
			if a.buckets > 0 {
				var past []Sample
				if i < len(in.Past) {
					past = in.Past[i]
				}
				f := a.floor(past, in.Now, in.Metrics[i], in.Ready)
				q, qd = math.Max(q, f), math.Max(qd, f)
			}
		}
		if q > 0 {
			spare := a.spare(&p.Metrics[i], in.Current, in.Ready)
			q, qd = q+spare, qd+spare
		}
		up.Metrics[i].Value, down.Metrics[i].Value = q, qd
		estimated[i], falling[i] = true, fall
	}
	c.Keep(next)

	start := len(dst)
	uc := *c
	uc.Input = &up
	dst = proposeMetrics(dst, &uc, a.rules)
	uc.Input = &down
	lower := proposeMetrics(make([]Proposal, 0, len(p.Metrics)), &uc, a.rules)
	plain := proposeMetrics(make([]Proposal, 0, len(p.Metrics)), c, a.rules)
	for i := range lower {
		pr := &dst[start+i]
		if !estimated[i] {
			continue
		}
		if q, r := up.Metrics[i].Value, in.Metrics[i].Value; q != r {
			pr.Estimate, pr.Value = q, r
		}
		if !pr.Valid {
			continue
		}
		switch lp, pp := lower[i], plain[i]; {
		case pr.Replicas < in.Current && lp.Valid:
			// A scale-down must clear the hysteresis too: no lower than the estimate with the wider margin.
			pr.Replicas = min(max(pr.Replicas, lp.Replicas), in.Current)
		case pr.Replicas > in.Current && falling[i] && pp.Valid:
			// The margin never scales up while the reading falls (kubernetes#96671): only the reading can.
			pr.Replicas = max(pp.Replicas, in.Current)
		}
	}
	return dst
}

// floor returns args.FloorQuantile of the metric's highest readings per minute over the floor's window: those of
// past (Input.Past, which the daemon backfills from Prometheus on a fresh start and both it and the simulator
// keep for Lookback) and reading o. Only demand metrics have a floor (forecastable): totals, whose readings at
// different replica counts compare. A reading that may be low (partial, or warned about: Sample.Low) is left
// out: it would lower the floor, which is for the peaks.
func (a trackingAlgo) floor(past []Sample, now time.Time, o Observation, ready int32) float64 {
	const per = int64(floorBucket / time.Second)
	minute := func(t time.Time) int64 { // rounded down, before 1970 too
		u := t.Unix()
		if u < 0 && u%per != 0 {
			return u/per - 1
		}
		return u / per
	}
	cur := minute(now)
	highest := make([]float64, a.buckets) // by age in minutes; -1: no reading that minute
	for i := range highest {
		highest[i] = -1
	}
	add := func(t time.Time, v float64) {
		if age := cur - minute(t); age >= 0 && age < int64(a.buckets) {
			highest[age] = math.Max(highest[age], finite(v))
		}
	}
	for _, x := range past {
		if ok, _ := (Observation{Value: x.Value, Valid: true}).usable(); ok && !x.Low && !x.Time.After(now) {
			add(x.Time, x.Value)
		}
	}
	if !o.Doubtful(ready) {
		add(now, o.Value)
	}
	vals := slices.DeleteFunc(highest, func(v float64) bool { return v < 0 })
	if len(vals) == 0 {
		return 0
	}
	slices.Sort(vals)
	// The smallest value with at least that share of them at or below it (less a rounding error: 0.07 × 100 is
	// 7.000000000000001).
	k := int(math.Ceil(a.args.FloorQuantile*float64(len(vals))-1e-9)) - 1
	return vals[max(k, 0)]
}

// Lookback is the floor's window, whose readings it reads from Input.Past.
func (a trackingAlgo) Lookback() time.Duration {
	if a.buckets == 0 {
		return 0
	}
	return a.args.FloorWindow
}

// spare is args.Spare replicas' worth of demand metric m's reading: that many times its target per replica (with
// the headroom), or for a total, the share of it that many more replicas than the ones it is multiplied by make.
func (a trackingAlgo) spare(m *Metric, cur, ready int32) float64 {
	target, _ := m.Target()
	return a.args.Spare * target / (1 + a.args.Headroom) / valueBase(m, cur, ready)
}

// valueBase is what a reading of metric m is sized in proportion to: for a value compared with a total target,
// the replicas its ratio multiplies (ratioRules.replicas: one at zero spec replicas, else the ready pods, else
// the spec replicas), and 1 for every other metric.
func valueBase(m *Metric, cur, ready int32) float64 {
	if _, mode := m.Target(); mode != Value || cur <= 0 {
		return 1
	}
	base := ready
	if base <= 0 {
		base = cur
	}
	return float64(max(base, 1))
}

// demandEstimate advances one demand metric's estimate s with reading o and returns the demand to size a
// scale-up and a scale-down for:
//
//   - through the window: a rate over a window of n intervals shows a rise that began k evaluations ago for
//     only k/n of its size, so from the second consecutive rise on the estimate adds (n − k) times the last rise,
//     and (n − 1)/2 times it once the rise has lasted longer than the window (a ramp, which the window's mean
//     trails by that many intervals). A single jump is taken as it is (a gauge, or a scrape slower than the loop,
//     moves at once), and nothing is read through the window for one window after new pods became ready, whose
//     first rates are unsettled, nor while the reading covers fewer pods than are ready;
//   - the level follows the estimate with time constant levelUp when above it and levelDown when below, and once
//     every estimate for a whole lastingFall has been below it (a lasting fall, not noise), it is no higher than
//     the highest of them since the first rate window (win seconds) of that stretch: a rate falls through its
//     window, so the readings of the window's first part still show much of the load that has gone;
//   - the spread is the standard deviation of the estimate around the level, exponentially weighted over
//     spreadWindow, where a reading below the level counts at most two standard deviations: a lasting fall is
//     not noise;
//   - a scale-up is sized for max(estimate, level + spread × sd), a scale-down for max(estimate, level +
//     (spread + hysteresis) × sd): never below the reading, with room for the load's noise, and scaling down
//     only once the level has fallen by more than the noise.
func (a trackingAlgo) demandEstimate(s []float64, now time.Time, o Observation, ready int32, n, win float64) (q, qd float64, falling bool) {
	t := float64(now.UnixNano()) / 1e9
	r := o.Value
	iv := a.interval.Seconds()
	if s[stSeen] != 1 || !(s[stLevel] >= 0) || math.IsInf(s[stLevel], 0) || !(s[stVar] >= 0) || math.IsInf(s[stVar], 0) {
		// A first reading (or a state that overflowed): the level is the reading, with no margin yet.
		s[stPrevTime], s[stPrev], s[stLevel], s[stVar], s[stRise], s[stSettle] = t, r, r, 0, 0, 0
		s[stReady], s[stSeen], s[stAbove], s[stBelow] = float64(ready), 1, t, 0
		return r, r, false
	}
	if float64(ready) > s[stReady] && n > 0 {
		s[stSettle] = t + n*iv
	}
	s[stReady] = float64(ready)
	e := r
	falling = r < s[stPrev]
	gap := t - s[stPrevTime] - iv
	// A reading that may be low (partial, or warned about) is no rise, and none after it reads through rises
	// counted across it: series younger than the window read low and rise as they age, which is not the load
	// rising.
	doubt := o.Doubtful(ready)
	// Only a reading one interval after the previous one is a rise of the rate (not a gap or a reload).
	if rise := r - s[stPrev]; rise > 0 && math.Abs(gap) <= iv/2 && !doubt {
		s[stRise]++
		// A single jump is read as it is: a gauge, or a scrape slower than the loop, moves at once.
		if n > 0 && s[stRise] >= 2 && t >= s[stSettle] {
			// A rise seen for k ≤ n evaluations began within the window: (n − k) more of it is hidden. One that
			// lasts longer is a ramp, which the window's mean trails by (n − 1)/2 intervals.
			f := (n - 1) / 2
			if s[stRise] <= n {
				f = n - s[stRise]
			}
			e = r + f*rise
		}
	} else {
		s[stRise] = 0
	}
	s[stPrevTime], s[stPrev] = t, r

	d := e - s[stLevel]
	if doubt && d < 0 {
		// Nor does one below the level move anything down: not the level, not the margin, and the watch for a
		// lasting fall starts again, as after a gap. Evaluate holds the count on it; without this, the first
		// whole reading after a stretch of low ones would scale down on a level they lowered.
		s[stAbove], s[stBelow] = t, 0
		q, qd = a.sized(e, s)
		return q, qd, falling
	}
	tau := a.args.LevelUp
	if d < 0 {
		tau = a.args.LevelDown
	}
	s[stLevel] += smoothing(a.interval, tau) * d
	// A fall that lasts: once every estimate for a whole lastingFall has been below the level, the level is no
	// higher than the highest of them since the stretch's first rate window, which the window's mean spends
	// falling (once per such stretch: from then on it is at or below that highest). A gap in the readings starts
	// the watch again: what the missing ones were is not known.
	switch {
	case d >= 0 || gap > iv/2:
		s[stAbove], s[stBelow] = t, 0
	case t-s[stAbove] <= win:
		s[stBelow] = e // still within the window's fall: only the latest counts
	default:
		s[stBelow] = math.Max(s[stBelow], e)
	}
	if d < 0 && gap <= iv/2 && t-s[stAbove] >= a.args.LastingFall.Seconds() {
		s[stLevel] = math.Min(s[stLevel], s[stBelow])
	}
	// A reading below the level counts at most two standard deviations: a lasting fall, which the level takes
	// levelDown (or lastingFall) to follow, is not noise and must not widen the margin for the next spreadWindow.
	w := smoothing(a.interval, a.args.SpreadWindow)
	sd := math.Sqrt(s[stVar])
	u := math.Max(d, -2*sd)
	s[stVar] = (1 - w) * (s[stVar] + w*u*u)
	q, qd = a.sized(e, s)
	return q, qd, falling
}

// sized is what estimate e with state s sizes a scale-up (q) and a scale-down (qd) for: the larger of e and the
// level plus the margin, which is wider by the hysteresis for a scale-down.
func (a trackingAlgo) sized(e float64, s []float64) (q, qd float64) {
	sd := math.Sqrt(s[stVar])
	// No margin is no term at all: 0 × an overflowed (infinite) deviation would be NaN, which sizes for nothing.
	q = finite(math.Max(e, s[stLevel]+times(a.args.Spread, sd)))
	qd = finite(math.Max(e, s[stLevel]+times(a.args.Spread+a.args.Hysteresis, sd)))
	return q, qd
}

// times is k × x, and 0 when k is 0 whatever x is.
func times(k, x float64) float64 {
	if k == 0 {
		return 0
	}
	return k * x
}

// smoothing is the weight of a new value in an exponentially weighted mean with time constant tau, evaluated
// every interval (1: no smoothing).
func smoothing(interval, tau time.Duration) float64 {
	if tau <= 0 {
		return 1
	}
	return 1 - math.Exp(-float64(interval)/float64(tau))
}
