package policy

import "math"

const noteWithin = "within tolerance"

// ratioRules is how a metric's reading becomes a replica count in the HPA family of algorithms.
type ratioRules struct {
	upTol, downTol float64
	wholePercent   bool    // HPA computes CPU utilization as a whole percent (integer division)
	headroom       float64 // extra capacity asked for on top of the target, as a fraction
	sizeFromSpec   bool    // a Value metric with no ready pods is sized from the spec replicas, not from zero
}

// newRatioRules reads the tolerances of policy p.
func newRatioRules(p *Policy) ratioRules {
	return ratioRules{upTol: p.Behavior.Up.Tolerance, downTol: p.Behavior.Down.Tolerance}
}

func (t ratioRules) within(r float64) bool {
	return 1-t.downTol <= r && r <= 1+t.upTol
}

// proposeMetrics appends one proposal per metric of the policy, computed as HPA's replica calculator does for
// the metric's mode. It is shared by every algorithm that tracks a target value.
func proposeMetrics(dst []Proposal, c *Context, rules ratioRules) []Proposal {
	p, in := c.Policy, c.Input
	for i := range p.Metrics {
		m := &p.Metrics[i]
		target, mode := m.Target()
		pr := Proposal{Algorithm: c.Name, Metric: m.Name, Target: target}
		if i >= len(in.Metrics) {
			pr.Note = "no reading"
			dst = append(dst, pr)
			continue
		}
		o := in.Metrics[i]
		if ok, why := o.usable(); !ok {
			pr.Note = why
			dst = append(dst, pr)
			continue
		}
		pr.Value = o.Value
		v := o.Value
		switch {
		case rules.wholePercent && m.Kind == CPU:
			v = math.Trunc(v)
		case m.Kind == QPS:
			// A rate over the whole Deployment: its per-pod average is over the ready pods.
			if in.Ready <= 0 {
				pr.Note = "no ready pods to average over"
				dst = append(dst, pr)
				continue
			}
			v /= float64(in.Ready)
		}
		target /= 1 + rules.headroom
		pr.Replicas, pr.Ratio, pr.Note, pr.Valid = rules.replicas(mode, v, target, in.Current, in.Ready)
		dst = append(dst, pr)
	}
	return dst
}

// replicas is HPA's replica calculation for one metric, from aggregate inputs: v is the reading, cur the spec
// replicas and ready the ready pods. Pods that are not ready are cur-ready (never negative).
func (t ratioRules) replicas(mode Mode, v, target float64, cur, ready int32) (n int32, ratio float64, note string, ok bool) {
	switch mode {
	case PodAverage:
		// GetResourceReplicas / calcPlainMetricReplicas: the average is over ready pods.
		if ready <= 0 {
			return 0, 0, "no ready pods to average over", false
		}
		r := v / target
		unready := max(cur-ready, 0)
		if unready == 0 || r <= 1 {
			if t.within(r) {
				return cur, r, noteWithin, true
			}
			return ceil32(r * float64(ready)), r, "", true
		}
		// Scale-up with unready pods: HPA counts them as using nothing and recomputes the ratio; if that flips
		// the direction or lands within tolerance, it keeps the current count.
		all := float64(ready + unready)
		r2 := r * float64(ready) / all
		if t.within(r2) || r2 < 1 {
			return cur, r, noteWithin, true
		}
		n := ceil32(r2 * all)
		if n < cur {
			return cur, r, "", true
		}
		return n, r, "", true
	case AverageValue:
		// GetExternalPerPodMetricReplicas: desired = ceil(total / target per replica).
		if cur > 0 {
			r := v / (target * float64(cur))
			if t.within(r) {
				return cur, r, noteWithin, true
			}
			return ceil32(v / target), r, "", true
		}
		return ceil32(v / target), v / target, "", true
	default:
		// getUsageRatioReplicaCount: ratio of the total to the total target, times the ready pods.
		r := v / target
		if cur == 0 {
			return ceil32(r), r, "", true
		}
		if t.within(r) {
			return cur, r, noteWithin, true
		}
		base := ready
		if base == 0 && t.sizeFromSpec {
			base = cur
		}
		return ceil32(r * float64(base)), r, "", true
	}
}
