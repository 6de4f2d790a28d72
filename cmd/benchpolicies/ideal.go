package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/podpilot/podpilot/metrics"
)

// The idealized study (the last section of docs/tuning.md) asks whether goal 1 is out of reach for a reactive
// policy at all, or only because of the metric pipeline the simulator models. It drops the pipeline: each policy
// knows the demand of every 15 s step exactly, one reaction time late (the scrape, the loop and the start-up: five
// steps), with no rate window, no tolerance, no rate limit and no cooldown, and its capacity is what it asks for,
// rounded up to whole replicas within the bounds. Ideal hpa at target g asks for the highest demand of the last
// five minutes (HPA's scale-down window, with scale-ups at once) over g. Four forms of reactive policy ask for
// m × c(j) + a, each with its own candidates c, at every m from 1 to 4 in steps of 0.01 and every a (spare
// replicas, as target-tracking's spare argument keeps) of idealSpares:
//
//   - margin: max(demand, level + k × sd), with target-tracking's level (following the demand up with time
//     constant 1m and down with 5m) and spread (the standard deviation around the level over 30m, a fall
//     counting at most two of them), at every k of idealKs;
//   - window max: the highest demand over the last w, at every w of idealWindows (5 minutes with m = 100 / g is
//     ideal hpa);
//   - rise quantile: the demand plus the p-quantile of its rises over one reaction time during the last h, at
//     every p of idealQuantiles and h of idealHistories: spare capacity sized on the jumps the load has made;
//   - recent quantile: the larger of the demand and the p-quantile of the demand over the last w, at every p of
//     idealLevels and w of idealLevelWins: a floor that covers the load's usual peaks and gives up on its
//     rarest ones.
//
// At each hpa target the study reads, per form, the least overload of any setting whose cost is at most ideal
// hpa's. That read-off picks the setting per trace and per cost with hindsight, so it is more than a default can
// do.
var (
	idealKs        = []float64{0, 0.5, 1, 1.5, 2, 3, 4}
	idealWindows   = []time.Duration{15 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute}
	idealQuantiles = []float64{0.9, 0.95, 0.99, 1}
	idealHistories = []time.Duration{time.Hour, 4 * time.Hour}
	idealLevels    = []float64{0.5, 0.75, 0.9}
	idealLevelWins = []time.Duration{30 * time.Minute, time.Hour, 4 * time.Hour}
	idealSpares    = []float64{0, 0.5, 1, 2}
	idealTargets   = []float64{40, 50, 60, 70, 80, 90, 100}
)

// The factors m, in hundredths.
const idealMLow, idealMHigh = 100, 400

const (
	idealLag    = int(reaction / interval)        // steps from a demand to capacity sized for it
	idealWindow = int(5 * time.Minute / interval) // ideal hpa's scale-down window, in steps
)

// target-tracking's default time constants for the level and the spread (trackingDefaults in policy/tracking.go).
const idealLevelUp, idealLevelDown, idealSpread = time.Minute, 5 * time.Minute, 30 * time.Minute

// idealForm is one form of reactive policy: its candidates, each the replicas to ask for at every step, before
// the factor m.
type idealForm struct {
	name  string
	cands func(idealTrace) [][]float64
}

var idealForms = []idealForm{
	{"margin", idealTrace.margins},
	{"window max", idealTrace.windowMaxes},
	{"rise quantile", idealTrace.riseQuantiles},
	{"recent quantile", idealTrace.recentQuantiles},
}

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
	m := t.windowMax(idealWindow)
	return t.score(func(j int) float64 { return m[j] * 100 / g })
}

// windowMax is the highest demand of the last w steps, at every step.
func (t idealTrace) windowMax(w int) []float64 {
	out := make([]float64, len(t.d))
	for j := range t.d {
		for _, x := range t.d[max(0, j-w+1) : j+1] {
			out[j] = math.Max(out[j], x)
		}
	}
	return out
}

// margins are the margin form's candidates, one per k of idealKs.
func (t idealTrace) margins() [][]float64 {
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
	var out [][]float64
	for _, k := range idealKs {
		c := make([]float64, len(t.d))
		for j := range c {
			c[j] = math.Max(t.d[j], level[j]+k*sd[j])
		}
		out = append(out, c)
	}
	return out
}

// windowMaxes are the window max form's candidates, one per window of idealWindows.
func (t idealTrace) windowMaxes() [][]float64 {
	var out [][]float64
	for _, w := range idealWindows {
		out = append(out, t.windowMax(int(w/interval)))
	}
	return out
}

// riseQuantiles are the rise quantile form's candidates, one per history of idealHistories and quantile of
// idealQuantiles. A rise at step i is d(i) - d(i - idealLag): what capacity sized one reaction time earlier
// misses.
func (t idealTrace) riseQuantiles() [][]float64 {
	rise := make([]float64, len(t.d))
	for i := idealLag; i < len(t.d); i++ {
		rise[i] = t.d[i] - t.d[i-idealLag]
	}
	var out [][]float64
	for _, h := range idealHistories {
		for _, q := range rollingQuantiles(rise, int(h/interval), idealQuantiles) {
			c := make([]float64, len(t.d))
			for j := range c {
				c[j] = t.d[j] + math.Max(0, q[j])
			}
			out = append(out, c)
		}
	}
	return out
}

// recentQuantiles are the recent quantile form's candidates, one per window of idealLevelWins and quantile of
// idealLevels.
func (t idealTrace) recentQuantiles() [][]float64 {
	var out [][]float64
	for _, w := range idealLevelWins {
		for _, q := range rollingQuantiles(t.d, int(w/interval), idealLevels) {
			for j := range q {
				q[j] = math.Max(q[j], t.d[j])
			}
			out = append(out, q)
		}
	}
	return out
}

// rollingQuantiles returns, for each p of ps, the p-quantile (the smallest value with at least a share p of the
// values at or below it) of the last n values of x up to and including each step.
func rollingQuantiles(x []float64, n int, ps []float64) [][]float64 {
	out := make([][]float64, len(ps))
	for k := range out {
		out[k] = make([]float64, len(x))
	}
	var win []float64 // the window, sorted
	for i, v := range x {
		win = slices.Insert(win, sort.SearchFloat64s(win, v), v)
		if i >= n {
			j := sort.SearchFloat64s(win, x[i-n])
			win = slices.Delete(win, j, j+1)
		}
		for k, p := range ps {
			out[k][i] = win[max(0, int(math.Ceil(p*float64(len(win))))-1)]
		}
	}
	return out
}

// smooth is the weight of a new step in an exponentially weighted mean with time constant tau.
func smooth(tau time.Duration) float64 { return 1 - math.Exp(-float64(interval)/float64(tau)) }

// idealRow is one trace's result: ideal hpa at each target and, per form, the least overload of its settings
// within that cost.
type idealRow struct {
	name string
	hpa  []idealScore
	best [][]float64 // best[form][target]: overload as a share of the steps; NaN where no setting is as cheap
}

func (t idealTrace) study() idealRow {
	r := idealRow{name: t.name}
	most := 0.0
	for _, g := range idealTargets {
		h := t.hpa(g)
		r.hpa = append(r.hpa, h)
		most = math.Max(most, h.cost)
	}
	for _, f := range idealForms {
		best := make([]float64, len(idealTargets))
		for i := range best {
			best[i] = math.NaN() // until a setting as cheap is found: the first one takes it, then any less overloaded
		}
		for _, c := range f.cands(t) {
			for _, a := range idealSpares {
				for m := idealMLow; m <= idealMHigh; m++ {
					x := float64(m) / 100
					s := t.score(func(j int) float64 { return c[j]*x + a })
					if s.cost > most { // and so are the larger factors'
						break
					}
					for i, h := range r.hpa {
						if s.cost <= h.cost && (math.IsNaN(best[i]) || s.over < best[i]) {
							best[i] = s.over
						}
					}
				}
			}
		}
		r.best = append(r.best, best)
	}
	return r
}

func idealReport(w io.Writer, rows []idealRow) {
	ts := make([]string, len(idealTargets))
	for i, g := range idealTargets {
		ts[i] = fmt.Sprintf("%g %%", g)
	}
	names := make([]string, len(idealForms))
	for i, f := range idealForms {
		names[i] = f.name
	}
	settings := (len(idealKs) + len(idealWindows) + len(idealQuantiles)*len(idealHistories) + len(idealLevels)*len(idealLevelWins)) *
		len(idealSpares) * (idealMHigh - idealMLow + 1)
	durations := func(ds []time.Duration) string {
		s := make([]string, len(ds))
		for i, d := range ds {
			s[i] = duration(d)
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintf(w, `
## An idealized bound: reactive policies without the metric pipeline

Could a reactive policy halve hpa's overload at equal cost if the metric pipeline hid nothing? This drops the
pipeline (ideal.go): each policy knows the demand of every 15 s step exactly, %s late (the scrape, the loop and
the start-up), with no rate window, tolerance, rate limit or cooldown, and gets the replicas it asks for at once.
**Ideal hpa** at target g asks for the highest demand of the last five minutes over g. Four forms of policy ask
for m × c + a, at every m from %g to %g in steps of 0.01 and a = %s spare replicas (as target-tracking's `+"`spare`"+`):

- **margin**: c = max(demand, level + k × sd), with target-tracking's level (time constants %s up and %s down)
  and spread (over %s), at k = %s;
- **window max**: c = the highest demand over the last w, at w = %s
  (5m with m = 100 / g is ideal hpa);
- **rise quantile**: c = the demand plus the p-quantile of its rises over %s (what capacity sized one reaction
  time earlier misses) during the last h, at p = %s and h = %s:
  spare capacity sized on the jumps the load has made;
- **recent quantile**: c = max(demand, the p-quantile of the demand over the last w), at p = %s and w = %s:
  a floor that covers the load's usual peaks and gives up on its rarest ones.

Each cell gives, for the forms in that order (%s), the least overload of any of the form's
settings (%d in all) whose cost is at most ideal hpa's, picked per trace and per cost with hindsight, as a share
of ideal hpa's overload (goal 1 asks for %g× or less), then ideal hpa's overload (%% of the time). Reversals are
not modelled. Where all four are above %g×, none of these forms meets goal 1 there even with perfect data: what
stands in the way is the load itself, whose jumps none of them sizes well from its past, not the pipeline.

| trace | %s |
|---|%s
`, duration(reaction), float64(idealMLow)/100, float64(idealMHigh)/100, joinFloats(idealSpares), duration(idealLevelUp),
		duration(idealLevelDown), duration(idealSpread), joinFloats(idealKs), durations(idealWindows), duration(reaction),
		joinFloats(idealQuantiles), durations(idealHistories), joinFloats(idealLevels), durations(idealLevelWins),
		strings.Join(names, " / "), settings, goalOverload, goalOverload, strings.Join(ts, " | "), strings.Repeat("---|", len(ts)))
	for _, r := range rows {
		cells := make([]string, len(r.hpa))
		for i, h := range r.hpa {
			if h.over == 0 {
				cells[i] = "hpa: 0 %"
				continue
			}
			ratios := make([]string, len(r.best))
			for f, best := range r.best {
				ratios[f] = "none this cheap"
				if !math.IsNaN(best[i]) {
					ratios[f] = fmt.Sprintf("%.2f×", best[i]/h.over)
				}
			}
			cells[i] = fmt.Sprintf("%s of %.2f %%", strings.Join(ratios, " / "), 100*h.over)
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
