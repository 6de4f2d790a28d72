package policy

import (
	"math"
	"sort"
	"time"
)

// predictiveArgs are predictive's arguments.
type predictiveArgs struct {
	// Startup is how long a new pod takes to serve. The forecast looks Startup plus one interval ahead: the
	// capacity asked for now is ready by then, and the next evaluation can add more.
	Startup time.Duration `yaml:"startup"`
	// Season is the period of the load's pattern (0: none, only the recent trend is extrapolated).
	Season time.Duration `yaml:"season"`
	// Weekly adds a 168h season; with a week of history both seasons' forecasts are averaged.
	Weekly bool `yaml:"weekly"`
	// Window is the recent stretch the level and the trend are measured over.
	Window time.Duration `yaml:"window"`
	// MaxError: while the recent forecasts were off by more than this fraction, only the reactive proposal counts.
	MaxError float64 `yaml:"maxError"`
}

const week = 7 * 24 * time.Hour

// predictiveRegistration scales out ahead of the load it forecasts from each metric's own history (Input.Past),
// and scales in reactively: it proposes the larger of target-tracking's proposal and the same arithmetic on the
// forecast. The forecast is seasonal-naive with a level correction, or a linear trend while there is no season
// of history; it watches its own error and stands aside while it is high.
//
// Only metrics that measure demand are forecast (qps, and promql with perReplica). The history of cpu
// utilization, of a queue's backlog and of a promql value compared with a total (HPA's External Value, read in
// proportion to the replicas) reflects the replica counts podpilot itself chose, so it does not say what the
// demand will be; those metrics are tracked reactively.
func predictiveRegistration() Registration {
	return Define("predictive", "forecasts demand from its daily (and weekly) pattern and scales out ahead of it; scales in reactively",
		func() *predictiveArgs {
			return &predictiveArgs{Startup: time.Minute, Season: 24 * time.Hour, Window: 15 * time.Minute, MaxError: 0.3}
		},
		func(a *predictiveArgs, p *Policy, pr *Problems) {
			if a.Startup > maxWindow {
				pr.Add("startup", "must be at most %s, got %s", FormatDuration(maxWindow), FormatDuration(a.Startup))
			}
			if a.Window < 4*p.Interval || a.Window > 6*time.Hour {
				pr.Add("window", "must be between 4 intervals (%s) and 6h, got %s", FormatDuration(4*p.Interval), FormatDuration(a.Window))
			}
			if least := a.Window + a.Startup + p.Interval; a.Season != 0 && (a.Season < least || a.Season > week) {
				pr.Add("season", "must be 0 (no season) or between window + startup + interval (%s) and 168h, got %s",
					FormatDuration(least), FormatDuration(a.Season))
			}
			if a.MaxError <= 0 {
				pr.Add("maxError", "must be greater than 0 (a fraction: 0.3 is 30%%), got %g", a.MaxError)
			}
			forecast := false
			for i := range p.Metrics {
				forecast = forecast || forecastable(&p.Metrics[i])
			}
			if !forecast {
				pr.Add("", "predictive forecasts qps metrics and promql metrics with perReplica, and the policy has none (cpu, a queue's backlog and a promql total depend on the replicas podpilot chose)")
			}
		},
		func(*predictiveArgs) Behavior { return trackingBehavior() },
		func(a *predictiveArgs, p *Policy) Algorithm {
			rules := newRatioRules(p)
			rules.sizeFromSpec = true
			g := predictiveAlgo{args: *a, rules: rules, interval: p.Interval, horizon: a.Startup + p.Interval}
			if a.Season > 0 {
				g.seasons = append(g.seasons, a.Season)
			}
			if a.Weekly && a.Season != week {
				g.seasons = append(g.seasons, week)
			}
			// The error is an exponentially weighted mean over about four horizons.
			g.alpha = 1 - math.Exp(-float64(p.Interval)/float64(4*g.horizon))
			return g
		})
}

// forecastable reports whether a metric measures demand, which does not depend on the replica count: qps, or a
// promql total that each replica carries a share of (perReplica). A promql value compared with a total target
// is sized in proportion to the replicas (HPA's External Value: desired = value / target × replicas), as a
// latency or a per-pod average is: it depends on the replicas podpilot chose, like cpu.
func forecastable(m *Metric) bool {
	if _, mode := m.Target(); mode == Value {
		return false
	}
	return m.Kind == QPS || m.Kind == PromQL
}

type predictiveAlgo struct {
	args     predictiveArgs
	rules    ratioRules
	interval time.Duration
	horizon  time.Duration   // startup + interval: how far ahead the forecast looks
	seasons  []time.Duration // in order: season, then 168h when weekly
	alpha    float64         // weight of each new error in the mean
}

// Lookback covers the longest season, the level window one season back and the horizon, for forecasts made from
// a backtest's span plus a horizon ago on.
func (a predictiveAlgo) Lookback() time.Duration {
	var s time.Duration
	for _, x := range a.seasons {
		s = max(s, x)
	}
	return s + max(a.args.Window, a.horizon) + a.interval + a.backtestSpan() + a.horizon
}

// backtestSpan is how long a backtest scores forecasts for: four horizons, the error's time constant.
func (a predictiveAlgo) backtestSpan() time.Duration { return 4 * a.horizon }

// backtest is the error the forecasts would have had over the last backtestSpan of past, as Propose measures it
// (false: no forecast in that span had its reading). A fresh start (a restart, a new leader) thus
// knows its recent error from the history backfilled from Prometheus, instead of trusting the forecast until it
// has scored new ones.
func (a predictiveAlgo) backtest(past []Sample, now time.Time, scale float64) (float64, bool) {
	var errMean float64
	known := false
	from := now.Add(-a.horizon - a.backtestSpan())
	for k := after(past, from); k < len(past); k++ {
		made := past[k]
		if made.Time.Add(a.horizon).After(now) {
			break
		}
		if !usableValue(made.Value) {
			continue
		}
		j := nearest(past, made.Time.Add(a.horizon))
		if j < 0 || absDuration(past[j].Time.Sub(made.Time.Add(a.horizon))) > a.interval/2 || !usableValue(past[j].Value) {
			continue
		}
		f, ok := a.forecast(past[:k], made.Time, made.Value)
		if !ok {
			continue
		}
		actual := past[j].Value
		e := finite(math.Abs(f-actual) / math.Max(actual, scale))
		if !known {
			errMean, known = e, true
		} else {
			errMean += a.alpha * (e - errMean)
		}
	}
	return errMean, known
}

// nearest is the index of the sample of past nearest to at (-1: none).
func nearest(past []Sample, at time.Time) int {
	j := sort.Search(len(past), func(i int) bool { return !past[i].Time.Before(at) })
	if j > 0 && (j == len(past) || at.Sub(past[j-1].Time) <= past[j].Time.Sub(at)) {
		j--
	}
	if j >= len(past) {
		return -1
	}
	return j
}

const (
	noteForecast  = "sized on the forecast"
	noteForecastX = "forecast error above maxError: reactive"
	maxPending    = 32 // forecasts awaiting their actual value, per metric
)

// Propose proposes, per metric, target-tracking's replica count, raised to the count the same arithmetic gives
// on the forecast when that is larger and the recent forecasts were good enough.
//
// Its state holds, per metric, the mean relative error and the forecasts not yet compared with their actual
// value: [error, known (0 or 1), n, (made at: unix seconds, forecast) × n] one metric after the other.
func (a predictiveAlgo) Propose(dst []Proposal, c *Context) []Proposal {
	p, in := c.Policy, c.Input
	now := in.Now
	start := len(dst)
	dst = proposeMetrics(dst, c, a.rules)

	fin := *in
	fin.Metrics = append([]Observation(nil), in.Metrics...)
	trust := make([]bool, len(p.Metrics))
	state := c.State
	next := make([]float64, 0, len(state)+3*len(p.Metrics)+2)
	nowS := float64(now.UnixNano()) / 1e9
	settle := nowS - a.horizon.Seconds() + a.interval.Seconds()/2
	for i := range p.Metrics {
		var errMean, known float64
		var pending []float64
		if len(state) >= 3 {
			n := int(state[2])
			if n < 0 || 3+2*n > len(state) {
				state = nil // not ours: start again
			} else {
				errMean, known, pending = state[0], state[1], state[3:3+2*n]
				state = state[3+2*n:]
			}
		}
		m := &p.Metrics[i]
		var ok bool
		var actual float64
		if i < len(in.Metrics) {
			o := in.Metrics[i]
			ok, _ = o.usable()
			actual = o.Value
		}
		if !forecastable(m) {
			next = append(next, 0, 0, 0)
			continue
		}
		scale, _ := m.Target()
		var past []Sample
		if i < len(in.Past) {
			past = in.Past[i]
		}
		if known == 0 && len(pending) == 0 {
			if e, ok := a.backtest(past, now, scale); ok {
				errMean, known = e, 1
			}
		}
		// Compare the forecasts made a horizon ago with the reading they forecast.
		k := 0
		for ; k+1 < len(pending) && pending[k] <= settle; k += 2 {
			if !ok {
				continue
			}
			e := finite(math.Abs(pending[k+1]-actual) / math.Max(actual, scale))
			if known == 0 {
				errMean, known = e, 1
			} else {
				errMean += a.alpha * (e - errMean)
			}
		}
		pending = pending[k:]
		if len(pending) >= 2*maxPending {
			pending = pending[len(pending)-2*(maxPending-1):]
		}
		var forecast float64
		var has bool
		if ok {
			forecast, has = a.forecast(past, now, actual)
		}
		n := len(pending) / 2
		if has {
			n++
		}
		next = append(next, errMean, known, float64(n))
		next = append(next, pending...)
		if has {
			next = append(next, nowS, forecast)
			fin.Metrics[i].Value = forecast
			dst[start+i].Forecast = forecast
		}
		if known == 1 {
			dst[start+i].ForecastError = errMean
		}
		switch {
		case has && (known == 0 || errMean <= a.args.MaxError):
			trust[i] = true
		case has && dst[start+i].Valid && dst[start+i].Note == "":
			dst[start+i].Note = noteForecastX
		}
	}
	c.Keep(next)

	fc := *c
	fc.Input = &fin
	ahead := proposeMetrics(make([]Proposal, 0, len(p.Metrics)), &fc, a.rules)
	for i, t := range trust {
		pr, fp := &dst[start+i], &ahead[i]
		if t && pr.Valid && fp.Valid && fp.Replicas > pr.Replicas {
			pr.Replicas, pr.Note = fp.Replicas, noteForecast
		}
	}
	return dst
}

// forecast forecasts a metric a horizon after now from its past readings and its current reading: the mean of
// the seasonal forecasts that have the history they need, or else the recent linear trend.
func (a predictiveAlgo) forecast(past []Sample, now time.Time, cur float64) (float64, bool) {
	var sum float64
	n := 0
	var recent float64
	if len(a.seasons) > 0 {
		m, k := meanIn(past, now.Add(-a.args.Window), now, false)
		recent = m + (cur-m)/float64(k+1)
	}
	for _, s := range a.seasons {
		if f, ok := a.seasonal(past, now, recent, s); ok {
			sum += f / 2 // at most two seasons: the sum cannot overflow
			n++
		}
	}
	if n > 0 {
		return sum * 2 / float64(n), true
	}
	return a.trend(past, now, cur)
}

// seasonal is the seasonal-naive forecast with a level correction: the reading one season before the time
// forecast, times the ratio of the recent level (the mean over the window ending now) to the level one season
// ago (the mean over the same window a season back). It needs the reading a season back and half the readings
// of the window a season back. recent is the mean over the window ending now, the current reading included.
func (a predictiveAlgo) seasonal(past []Sample, now time.Time, recent float64, season time.Duration) (float64, bool) {
	at := now.Add(a.horizon - season)
	j := nearest(past, at)
	if j < 0 || absDuration(past[j].Time.Sub(at)) > a.interval || !usableValue(past[j].Value) {
		return 0, false
	}
	base := past[j].Value

	then := now.Add(-season)
	old, n := meanIn(past, then.Add(-a.args.Window), then, false)
	if n == 0 || n < int(a.args.Window/a.interval)/2 {
		return 0, false
	}
	ratio := 1.0
	if old > 0 {
		ratio = min(max(recent/old, 0.2), 5)
	}
	f := base * ratio
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// trend extrapolates the least-squares line through the window's readings a horizon ahead. It needs three
// readings; it never forecasts below zero.
func (a predictiveAlgo) trend(past []Sample, now time.Time, cur float64) (float64, bool) {
	from := after(past, now.Add(-a.args.Window))
	// Means first (x in seconds before now), then the sums of products around them.
	mx, my, n := 0.0, cur, 1.0
	for k := from; k < len(past) && past[k].Time.Before(now); k++ {
		if v := past[k].Value; usableValue(v) {
			n++
			mx += (past[k].Time.Sub(now).Seconds() - mx) / n
			my += (v - my) / n
		}
	}
	if n < 3 {
		return 0, false
	}
	sxy, sxx := (0-mx)*(cur-my), (0-mx)*(0-mx)
	for k := from; k < len(past) && past[k].Time.Before(now); k++ {
		if v := past[k].Value; usableValue(v) {
			dx := past[k].Time.Sub(now).Seconds() - mx
			sxy += dx * (v - my)
			sxx += dx * dx
		}
	}
	if sxx <= 0 {
		return 0, false
	}
	f := my + sxy/sxx*(a.horizon.Seconds()-mx)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return max(f, 0), true
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
