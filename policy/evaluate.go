package policy

import (
	"math"
	"time"
)

// Evaluate turns one input and the history into a decision and the next history. It is pure: it reads no clock,
// does no I/O, and changes neither its arguments nor the policy. The controller and the simulator both call it,
// and both call History.Scaled after a change was made.
//
// The pipeline is HPA's, with podpilot's additions marked:
//
//  1. bounds first: a target at zero with minReplicas > 0 is left alone; one outside [min, max] is brought inside;
//  2. every algorithm proposes; the largest valid proposal is the raw recommendation;
//  3. metrics: with no valid proposal, hold; with any invalid metric, never scale down (podpilot: after
//     missingMetrics.after such evaluations, hold at least the fallback count; and podpilot, in the spirit of HPA's
//     missing-pod rule: no scale-down either while a reading covers fewer pods than are ready);
//  4. stabilization over the raw recommendations of each direction's window (podpilot: except for a scale to
//     zero at the end of an idle grace, Proposal.Idle, which the grace stabilized);
//  5. cooldown since the last scale event (podpilot);
//  6. rate limits over the real scale events of each policy's period, then clamp to [min, max];
//  7. (podpilot) a direction the target pauses (Input.NoScaleIn, NoScaleOut) holds at the current count,
//     whatever the stages before said, unless that count is out of bounds: the windows still see the raw
//     recommendation.
//
// A fresh history is seeded as HPA seeds its own: with a recommendation of the current count, so that no
// scale-down happens before a full down-window has been observed, and (podpilot) with a scale event now, so that
// cooldowns also hold after a restart or a change of leader.
func (p *Policy) Evaluate(in Input, h History) (Decision, History) {
	d, h := p.evaluate(in, h)
	if in.Current < p.MinReplicas || in.Current > p.MaxReplicas {
		return d, h // the bounds' change stands, as does a target left at zero
	}
	switch {
	case in.NoScaleIn && d.Desired < in.Current:
		d.change(StagePaused, in.Current, ScaleInPaused)
	case in.NoScaleOut && d.Desired > in.Current:
		d.change(StagePaused, in.Current, ScaleOutPaused)
	}
	return d, h
}

func (p *Policy) evaluate(in Input, h History) (Decision, History) {
	now, cur := in.Now, in.Current
	h = p.advance(h, now, cur)
	d := Decision{Time: now, Current: cur, Ready: in.Ready, Raw: cur, Desired: cur, Reason: DesiredWithinRange}

	switch {
	case cur == 0 && p.MinReplicas > 0:
		d.Reason = ScalingDisabled
		return d, h
	case cur > p.MaxReplicas:
		d.change(StageBounds, p.MaxReplicas, TooManyReplicas)
		return d, h
	case cur < p.MinReplicas:
		d.change(StageBounds, p.MinReplicas, TooFewReplicas)
		return d, h
	}

	c := Context{Policy: p, Input: &in, History: &h}
	d.Proposals = make([]Proposal, 0, len(p.Metrics)*len(p.Algorithms))
	var state [][]float64
	for i, a := range p.Algorithms {
		c.Name, c.State, c.next, c.keep = a.Name, nil, nil, false
		if i < len(h.State) {
			c.State = h.State[i]
		}
		d.Proposals = a.Impl.Propose(d.Proposals, &c)
		if c.keep {
			if state == nil {
				state = make([][]float64, len(p.Algorithms))
			}
			state[i] = c.next
		}
	}
	h.State = state
	raw, found, unproposed, idle := int32(0), false, false, false
	for _, pr := range d.Proposals {
		if pr.Valid && (!found || pr.Replicas > raw) {
			raw, found, idle = pr.Replicas, true, pr.Idle
			d.Winner = pr.label()
		}
		// A metric whose reading came but gave no proposal (no ready pod to average it over) is unknown, not low,
		// as HPA counts it among the invalid metrics.
		unproposed = unproposed || !pr.Valid && pr.Metric != ""
	}

	// A metric the input lacks is as invalid as one it reports broken.
	invalid, partial, podless := max(len(p.Metrics)-len(in.Metrics), 0), 0, 0
	for i, o := range in.Metrics {
		if ok, _ := o.usable(); !ok {
			invalid++
			// A target at zero has no pods for a cpu or qps reading: that is how it reads at zero, not a failure.
			if cur == 0 && i < len(p.Metrics) {
				if _, mode := p.Metrics[i].Target(); mode == PodAverage {
					podless++
				}
			}
		} else if o.Doubtful(in.Ready) {
			partial++
		}
	}
	// A metric that gave no proposal on a reading counts as failing too (HPA counts it among the invalid
	// metrics), except at zero, where no pod can average it.
	failing := invalid > podless || unproposed && cur > 0
	if failing {
		h.Failures++
	} else {
		h.Failures = 0
	}
	// After missingMetrics.after evaluations with a broken metric (after ≥ 1, so only while one is), a fallback holds
	// at least its replicas, whatever the valid metrics propose: KEDA's fallback stands in for the broken scaler's
	// metric, and HPA takes the largest proposal.
	fallback := p.Missing.Action == Fallback && h.Failures >= p.Missing.After
	if !found || ((invalid > 0 || unproposed) && raw < cur) || (fallback && raw < p.Missing.Replicas) {
		if found {
			d.Raw = raw
		}
		if fallback {
			floor := max(cur, p.Missing.Replicas)
			if found {
				floor = max(floor, raw)
			}
			d.change(StageFallback, min(floor, p.MaxReplicas), FallbackReplicas)
		}
		if d.Desired == cur {
			d.Stage, d.Reason = StageMetrics, MetricUnavailable
		}
		return d, h
	}
	if partial > 0 && raw < cur {
		// Pods whose metrics are missing may be busy, and a query Prometheus warned about may have missed data: a
		// reading that may be low is no reason to scale down.
		d.Raw = raw
		d.Stage, d.Reason = StageMetrics, MetricPartial
		return d, h
	}
	d.Raw = raw
	d.Desired = raw
	switch {
	case raw == cur && failing:
		// Holding while a metric is broken is not being within tolerance: the broken one might not be.
		d.Stage, d.Reason = StageMetrics, MetricUnavailable
	case raw == cur && allWithin(d.Proposals):
		d.Reason = WithinTolerance
	}

	b := &p.Behavior
	stab, why := b.stabilize(now, cur, raw, h.Recs)
	if idle && raw == 0 {
		stab = 0 // the idle grace was this scale to zero's stabilization (Proposal.Idle)
	}
	h.Recs = append(h.Recs, Rec{Time: now, Replicas: raw}) // h is advance's private copy
	d.change(StageStabilization, stab, why)

	if want := d.Desired; want != cur {
		r := &b.Down
		if want > cur {
			r = &b.Up
		}
		if r.Cooldown > 0 && now.Sub(h.Last) < r.Cooldown {
			d.change(StageCooldown, cur, CooldownActive)
		}
	}

	lim, why := b.limit(now, cur, d.Desired, p.MinReplicas, p.MaxReplicas, h.Events)
	stage := StageRate
	if why == TooManyReplicas || why == TooFewReplicas {
		stage = StageBounds
	}
	d.change(stage, lim, why)
	return d, h
}

func allWithin(ps []Proposal) bool {
	for _, pr := range ps {
		if pr.Valid && pr.Note != noteWithin {
			return false
		}
	}
	return len(ps) > 0
}

// advance returns a copy of h trimmed to what the policy can still use at now, or a seeded one when h is fresh.
func (p *Policy) advance(h History, now time.Time, cur int32) History {
	if h.Start.IsZero() {
		return History{Start: now, Last: now, Recs: []Rec{{Time: now, Replicas: cur}}}
	}
	b := &p.Behavior
	keep := max(b.Up.Window, b.Down.Window)
	out := History{Start: h.Start, Last: h.Last, Failures: h.Failures, State: h.State}
	out.Recs = make([]Rec, 0, len(h.Recs)+1)
	for _, r := range h.Recs {
		if !r.Time.Before(now.Add(-keep)) {
			out.Recs = append(out.Recs, r)
		}
	}
	period := max(b.Up.longest(), b.Down.longest())
	for i, e := range h.Events {
		if e.Time.After(now.Add(-period)) {
			// Events are in time order: the rest are recent too. Scaled never appends in place.
			out.Events = h.Events[i:len(h.Events):len(h.Events)]
			break
		}
	}
	return out
}

func (r *Rules) longest() time.Duration {
	var l time.Duration
	for _, rp := range r.Policies {
		l = max(l, rp.Period)
	}
	return l
}

// stabilize applies the stabilization windows to raw, as HPA's stabilizeRecommendationWithBehaviors (or, in
// legacy mode, stabilizeRecommendation) does.
func (b *Behavior) stabilize(now time.Time, cur, raw int32, recs []Rec) (int32, Reason) {
	if b.Legacy {
		cut := now.Add(-b.Down.Window)
		m := raw
		for _, r := range recs {
			if !r.Time.Before(cut) && r.Replicas > m {
				m = r.Replicas
			}
		}
		return m, ScaleDownStabilized
	}
	up, down := raw, raw
	upCut, downCut := now.Add(-b.Up.Window), now.Add(-b.Down.Window)
	for _, r := range recs {
		if r.Time.After(upCut) {
			up = min(up, r.Replicas)
		}
		if r.Time.After(downCut) {
			down = max(down, r.Replicas)
		}
	}
	rec := min(max(cur, up), down)
	if raw >= cur {
		return rec, ScaleUpStabilized
	}
	return rec, ScaleDownStabilized
}

// limit applies the rate-limit policies and the bounds, as HPA's convertDesiredReplicasWithBehaviorRate (or, in
// legacy mode, convertDesiredReplicasWithRules) does.
func (b *Behavior) limit(now time.Time, cur, want, lo, hi int32, events []Event) (int32, Reason) {
	if b.Legacy {
		upLimit := int32(math.Max(2*float64(cur), 4))
		maxAllowed, why := hi, TooManyReplicas
		if hi > upLimit {
			maxAllowed, why = upLimit, ScaleUpLimit
		}
		switch {
		case want < lo:
			return lo, TooFewReplicas
		case want > maxAllowed:
			return maxAllowed, why
		}
		return want, DesiredWithinRange
	}
	minAllowed, maxAllowed := lo, hi
	var why Reason
	switch {
	case want > cur:
		upLimit := max(b.Up.upLimit(now, cur, events), cur)
		if maxAllowed > upLimit {
			maxAllowed, why = upLimit, ScaleUpLimit
		} else {
			why = TooManyReplicas
		}
	case want < cur:
		downLimit := min(b.Down.downLimit(now, cur, events), cur)
		if minAllowed < downLimit {
			minAllowed, why = downLimit, ScaleDownLimit
		} else {
			why = TooFewReplicas
		}
	}
	switch {
	case want > maxAllowed:
		return maxAllowed, why
	case want < minAllowed:
		return minAllowed, why
	}
	return want, DesiredWithinRange
}

// periodStart is the replica count at the start of a period: the current count with the period's changes undone.
func periodStart(now time.Time, cur int32, period time.Duration, events []Event) int32 {
	cut := now.Add(-period)
	var added, removed int32
	for _, e := range events {
		if !e.Time.After(cut) {
			continue
		}
		if e.Change > 0 {
			added += e.Change
		} else {
			removed -= e.Change
		}
	}
	return cur - added + removed
}

func (r *Rules) upLimit(now time.Time, cur int32, events []Event) int32 {
	if r.Select == SelectDisabled {
		return cur
	}
	var res int32 = math.MinInt32
	pick := func(a, b int32) int32 { return max(a, b) }
	if r.Select == SelectMin {
		res, pick = math.MaxInt32, func(a, b int32) int32 { return min(a, b) }
	}
	for _, rp := range r.Policies {
		start := periodStart(now, cur, rp.Period, events)
		var prop int32
		if rp.Type == Pods {
			prop = satAdd(start, rp.Value)
		} else {
			prop = ceil32(float64(start) * (1 + float64(rp.Value)/100))
		}
		res = pick(res, prop)
	}
	// From zero, a rate in percent (or select: Min over one) allows nothing, ever: unless scale-up is disabled, 1
	// is allowed whatever the rules, as KEDA activates a Deployment outside the HPA's rules.
	return max(res, 1)
}

func (r *Rules) downLimit(now time.Time, cur int32, events []Event) int32 {
	if r.Select == SelectDisabled {
		return cur
	}
	var res int32 = math.MaxInt32
	pick := func(a, b int32) int32 { return min(a, b) }
	if r.Select == SelectMin {
		res, pick = math.MinInt32, func(a, b int32) int32 { return max(a, b) }
	}
	for _, rp := range r.Policies {
		start := periodStart(now, cur, rp.Period, events)
		var prop int32
		if rp.Type == Pods {
			prop = start - rp.Value
		} else {
			prop = int32(float64(start) * (1 - float64(rp.Value)/100))
		}
		res = pick(res, prop)
	}
	return res
}

func satAdd(a, b int32) int32 {
	s := int64(a) + int64(b)
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(s)
}
