package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/podpilot/podpilot/metrics"
)

// The idealized study (the last section of docs/tuning.md) asks whether goal 1 is out of reach for a margin kept
// over the level of the load at all, or only because of the metric pipeline the simulator models. It drops the
// pipeline: each policy knows the demand of every 15 s step exactly, one reaction time late (the scrape, the loop
// and the start-up: five steps), with no rate window, no tolerance, no rate limit and no cooldown, and its capacity
// is what it asks for, rounded up to whole replicas within the bounds. Two policies:
//
//   - ideal hpa at target g: the highest demand of the last five minutes (HPA's scale-down window, with scale-ups at
//     once) over g;
//   - ideal margin: max(demand, level + k × sd) × m, with target-tracking's level (following the demand up with
//     time constant 1m and down with 5m) and spread (the standard deviation around the level over 30m, a fall
//     counting at most two of them), at every k of idealKs and every m from 1 to 4 in steps of 0.01.
//
// At each hpa target the study reads the least overload of any margin setting whose cost is at most ideal hpa's.
// That read-off picks k and m per trace and per cost with hindsight, so it is more than a default can do.
var (
	idealKs      = []float64{0, 0.5, 1, 1.5, 2, 3, 4}
	idealTargets = []float64{40, 50, 60, 70, 80, 90, 100}
)

// The ideal margin's factors m, in hundredths.
const idealMLow, idealMHigh = 100, 400

const (
	idealLag    = int(reaction / interval)        // steps from a demand to capacity sized for it
	idealWindow = int(5 * time.Minute / interval) // ideal hpa's scale-down window, in steps
)

// target-tracking's default time constants for the level and the spread (trackingDefaults in policy/tracking.go).
const idealLevelUp, idealLevelDown, idealSpread = time.Minute, 5 * time.Minute, 30 * time.Minute

// idealTrace is one trace's demand in replicas at every 15 s step, and the step scoring starts at.
type idealTrace struct {
	name   string
	d      []float64
	from   int
	lo, hi float64 // the bounds
}

// newIdealTrace holds each sample of rec (scaled) until the next one, every interval.
func newIdealTrace(name string, rec *metrics.Recording, scale float64, warm time.Duration, lo, hi int32) idealTrace {
	t := idealTrace{name: name, lo: float64(lo), hi: float64(hi)}
	v, ts := rec.Series[0].Values, rec.Times
	k := 0
	for at := ts[0]; !at.After(ts[len(ts)-1]); at = at.Add(interval) {
		for k+1 < len(ts) && !ts[k+1].After(at) {
			k++
		}
		if at.Before(ts[0].Add(warm)) {
			t.from = len(t.d) + 1
		}
		t.d = append(t.d, v[k]*scale/capacity)
	}
	return t
}

// idealScore is a policy's cost against the lower bound and its overload as a share of the scored steps.
type idealScore struct{ cost, over float64 }

// score runs a policy that asks for want(j) replicas knowing the demand up to step j, which serve from step
// j + idealLag on.
func (t idealTrace) score(want func(j int) float64) idealScore {
	var cost, bound, over float64
	for i := t.from; i < len(t.d); i++ {
		c := t.lo
		if j := i - idealLag; j >= 0 {
			c = t.clamp(want(j))
		}
		cost += c
		bound += t.clamp(t.d[i])
		if t.d[i] > c*(1+1e-9) {
			over++
		}
	}
	return idealScore{cost / bound, over / float64(len(t.d)-t.from)}
}

func (t idealTrace) clamp(x float64) float64 {
	return math.Min(math.Max(math.Ceil(x-1e-9), t.lo), t.hi)
}

// hpa is ideal hpa at target g percent.
func (t idealTrace) hpa(g float64) idealScore {
	return t.score(func(j int) float64 {
		m := 0.0
		for _, x := range t.d[max(0, j-idealWindow+1) : j+1] {
			m = math.Max(m, x)
		}
		return m * 100 / g
	})
}

// margins scores every setting of the ideal margin.
func (t idealTrace) margins() []idealScore {
	level, sd := make([]float64, len(t.d)), make([]float64, len(t.d))
	up, down, w := smooth(idealLevelUp), smooth(idealLevelDown), smooth(idealSpread)
	l, v := t.d[0], 0.0
	for i, x := range t.d {
		dev := x - l
		if dev >= 0 {
			l += up * dev
		} else {
			l += down * dev
		}
		u := math.Max(dev, -2*math.Sqrt(v))
		v = (1 - w) * (v + w*u*u)
		level[i], sd[i] = l, math.Sqrt(v)
	}
	var out []idealScore
	for _, k := range idealKs {
		for m := idealMLow; m <= idealMHigh; m++ {
			f := float64(m) / 100
			out = append(out, t.score(func(j int) float64 { return math.Max(t.d[j], level[j]+k*sd[j]) * f }))
		}
	}
	return out
}

// smooth is the weight of a new step in an exponentially weighted mean with time constant tau.
func smooth(tau time.Duration) float64 { return 1 - math.Exp(-float64(interval)/float64(tau)) }

// idealRow is one trace's result: ideal hpa at each target, and the least overload of the margins within its cost.
type idealRow struct {
	name string
	hpa  []idealScore
	best []float64 // overload as a share of the steps; NaN where no setting is as cheap
}

func (t idealTrace) study() idealRow {
	r := idealRow{name: t.name}
	ms := t.margins()
	for _, g := range idealTargets {
		h := t.hpa(g)
		b := math.NaN() // until a setting as cheap is found: the first one takes it, then any less overloaded
		for _, s := range ms {
			if s.cost <= h.cost && (math.IsNaN(b) || s.over < b) {
				b = s.over
			}
		}
		r.hpa, r.best = append(r.hpa, h), append(r.best, b)
	}
	return r
}

func idealReport(w io.Writer, rows []idealRow) {
	ts := make([]string, len(idealTargets))
	for i, g := range idealTargets {
		ts[i] = fmt.Sprintf("%g %%", g)
	}
	fmt.Fprintf(w, `
## An idealized bound: the margin without the metric pipeline

Could any margin over the level of the load halve hpa's overload at equal cost if the metric pipeline hid nothing?
This drops the pipeline (ideal.go): each policy knows the demand of every 15 s step exactly, %s late (the scrape,
the loop and the start-up), with no rate window, tolerance, rate limit or cooldown, and gets the replicas it asks
for at once. **Ideal hpa** at target g asks for the highest demand of the last five minutes over g. The **ideal
margin** asks for max(demand, level + k × sd) × m, with target-tracking's level (time constants %s up and %s down)
and spread (over %s), at k = %s and m from %g to %g in steps of 0.01.

Each cell is the least overload of any of those %d settings whose cost is at most ideal hpa's, picked per trace
and per cost with hindsight, as a share of ideal hpa's overload (goal 1 asks for %g× or less), with ideal hpa's
overload (%% of the time) after it. Reversals are not modelled. Where a cell is above %g×, no margin of this form
meets goal 1 there even with perfect data: what stands in the way is the form of the margin, not the pipeline.

| trace | %s |
|---|%s
`, duration(reaction), duration(idealLevelUp), duration(idealLevelDown), duration(idealSpread), joinFloats(idealKs),
		float64(idealMLow)/100, float64(idealMHigh)/100, len(idealKs)*(idealMHigh-idealMLow+1), goalOverload, goalOverload, strings.Join(ts, " | "), strings.Repeat("---|", len(ts)))
	for _, r := range rows {
		cells := make([]string, len(r.hpa))
		for i, h := range r.hpa {
			switch {
			case math.IsNaN(r.best[i]):
				cells[i] = "none this cheap"
			case h.over == 0:
				cells[i] = "hpa: 0 %"
			default:
				cells[i] = fmt.Sprintf("%.2f× of %.2f %%", r.best[i]/h.over, 100*h.over)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", r.name, strings.Join(cells, " | "))
	}
}

func joinFloats(fs []float64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = fmt.Sprintf("%g", f)
	}
	return strings.Join(s, ", ")
}
