package policy

import (
	"math"
	"time"
)

// burstArgs are burst's arguments.
type burstArgs struct {
	// StableWindow is the long window: outside panic the Deployment is sized on each metric's mean over it.
	StableWindow time.Duration `yaml:"stableWindow"`
	// PanicWindow is the short window that detects a burst.
	PanicWindow time.Duration `yaml:"panicWindow"`
	// PanicThreshold: panic when the panic window asks for this many times the ready pods.
	PanicThreshold float64 `yaml:"panicThreshold"`
}

// burstRegistration is Knative's KPA over podpilot's metrics: two windows over the same readings, each sized
// with target-tracking's replica arithmetic. A burst that the short window sees at PanicThreshold times the ready
// pods starts panic mode: the count follows the short window at once and never goes down until the readings
// have stayed below the threshold for a whole stable window.
func burstRegistration() Registration {
	return Define("burst", "Knative-like: a stable and a panic window; meets a burst at once and holds through it",
		func() *burstArgs {
			return &burstArgs{StableWindow: time.Minute, PanicWindow: 30 * time.Second, PanicThreshold: 2}
		},
		func(a *burstArgs, p *Policy, pr *Problems) {
			if a.StableWindow < p.Interval || a.StableWindow > maxWindow {
				pr.Add("stableWindow", "must be between the policy's interval (%s) and %s, got %s",
					FormatDuration(p.Interval), FormatDuration(maxWindow), FormatDuration(a.StableWindow))
			}
			if a.PanicWindow < time.Second || a.PanicWindow > a.StableWindow {
				pr.Add("panicWindow", "must be at least 1s and at most stableWindow (%s), got %s",
					FormatDuration(a.StableWindow), FormatDuration(a.PanicWindow))
			}
			if a.PanicThreshold < 1.1 || a.PanicThreshold > 10 {
				pr.Add("panicThreshold", "must be between 1.1 and 10 (times the ready pods), got %g", a.PanicThreshold)
			}
		},
		func(*burstArgs) Behavior { return burstBehavior() },
		func(a *burstArgs, p *Policy) Algorithm {
			rules := newRatioRules(p)
			rules.sizeFromSpec = true
			return burstAlgo{args: *a, rules: rules}
		})
}

// burstBehavior is target-tracking's: at 15 s evaluations a stable window holds only a few readings, too few to
// be the only smoothing of scale-down (Knative averages every 2 s).
func burstBehavior() Behavior { return trackingBehavior() }

type burstAlgo struct {
	args  burstArgs
	rules ratioRules
}

// Lookback covers the stable window.
func (a burstAlgo) Lookback() time.Duration { return a.args.StableWindow }

const notePanic = "panic mode: no scale-down"

// Propose sizes every metric on its stable-window mean, or in panic on the larger of both windows and never
// below the current count. Its state is the last time the panic window was over the threshold, while in panic.
func (a burstAlgo) Propose(dst []Proposal, c *Context) []Proposal {
	in := c.Input
	now := in.Now
	start := len(dst)
	dst = proposeMetrics(dst, a.over(c, a.args.StableWindow), a.rules)
	panicked := proposeMetrics(make([]Proposal, 0, len(c.Policy.Metrics)), a.over(c, a.args.PanicWindow), a.rules)

	// Knative's test: the pods the panic window's demand needs, before tolerance and the current count, over the
	// ready pods. (A proposal within tolerance is the current count: while new pods start, that alone would be
	// panic after every scale-up of twice the ready pods.)
	over := false
	for i, pp := range panicked {
		if pp.Valid {
			_, mode := c.Policy.Metrics[i].Target()
			over = over || pp.Ratio*base(mode, in.Current, in.Ready)/math.Max(float64(in.Ready), 1) >= a.args.PanicThreshold
		}
	}

	var last time.Time // the last evaluation over the threshold, while in panic
	if s := c.State; len(s) == 2 {
		last = time.Unix(int64(s[0]), int64(s[1]))
	}
	if c.History.Start.Equal(now) && in.Ready > 1 {
		// A fresh history (a restart, a new leader) starts in panic, as Knative's autoscaler does: it cannot
		// scale down before it has seen a stable window.
		last = now
	}
	switch {
	case over:
		last = now
	case !last.IsZero() && now.Sub(last) >= a.args.StableWindow:
		last = time.Time{}
	}
	if last.IsZero() {
		return dst
	}
	c.Keep([]float64{float64(last.Unix()), float64(last.Nanosecond())})
	for i := range dst[start:] {
		pr, pp := &dst[start+i], &panicked[i]
		if !pr.Valid {
			continue
		}
		n := max(pr.Replicas, in.Current)
		if pp.Valid && pp.Replicas >= n {
			*pr = *pp
			n = pp.Replicas
		}
		pr.Replicas, pr.Note = n, notePanic
	}
	return dst
}

// base is what a proposal's ratio multiplies into pods for a metric of the mode, as ratioRules.replicas sizes it
// (with sizeFromSpec): the ready pods for an average over them, else the spec replicas or, from zero, one.
func base(mode Mode, cur, ready int32) float64 {
	switch {
	case mode == PodAverage:
		return float64(ready)
	case cur == 0:
		return 1
	case mode == AverageValue || ready == 0:
		return float64(cur)
	}
	return float64(ready)
}

// over returns a context whose readings are each metric's mean over the window ending now: its past readings
// within the window and the current one. A metric whose current reading is invalid stays invalid.
func (a burstAlgo) over(c *Context, w time.Duration) *Context {
	in := *c.Input
	in.Metrics = make([]Observation, len(c.Input.Metrics))
	for i, o := range c.Input.Metrics {
		in.Metrics[i] = o
		if ok, _ := o.usable(); !ok || i >= len(in.Past) {
			continue
		}
		m, n := meanIn(in.Past[i], in.Now.Add(-w), in.Now, true)
		in.Metrics[i].Value = m + (o.Value-m)/float64(n+1)
	}
	cc := *c
	cc.Input = &in
	return &cc
}

// meanIn is the mean of the usable samples of s within (from, to], and how many there are; without the ones
// that may read low, where whole. It cannot overflow.
func meanIn(s []Sample, from, to time.Time, whole bool) (float64, int) {
	m, n := 0.0, 0
	for k := after(s, from); k < len(s) && !s[k].Time.After(to); k++ {
		if v := s[k].Value; usableValue(v) && !(whole && s[k].Low) {
			n++
			m += (v - m) / float64(n)
		}
	}
	return m, n
}

// usableValue reports whether a past reading can be used: AppendPast stores invalid readings as NaN, and a backfill
// may hold anything Prometheus returned.
func usableValue(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }
