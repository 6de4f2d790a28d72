package simulate

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// Named is a policy with the label it has in reports.
type Named struct {
	Name   string
	Policy *policy.Policy
}

// Result is a whole simulation: one run per policy over one recording.
type Result struct {
	Config    Config
	Recording Info
	Runs      []Run
}

// Info describes the recording a simulation read.
type Info struct {
	File    string
	Start   time.Time
	End     time.Time
	Step    time.Duration
	Samples int
	Gaps    []metrics.Gap
}

// Run is one policy's simulation.
type Run struct {
	Name     string
	Policy   *policy.Policy
	Interval time.Duration // the policy's
	Pass     time.Duration // the loop's pass: the policy is evaluated on the passes at which it is due (Policy.Due)
	Tick     time.Duration // the model's step: the time each Step and each of Summary.Steps stands for
	Summary  Summary
	Bound    Summary // the clairvoyant lower bound under this policy's bounds
	Steps    []Step  // when Config.Steps
}

// Summary scores a run. Scores the mode cannot know (overload in replay, for example) are NaN.
type Summary struct {
	ReplicaSeconds  float64 // cost: the spec replicas over time
	CostRatio       float64 // ReplicaSeconds over the lower bound's
	OverloadSeconds float64 // time with demand above ready capacity
	SLOSeconds      float64 // time violating the SLO
	ScaleEvents     int
	Reversals       int     // scale events whose direction differs from the previous one's
	Unserved        float64 // demand above ready capacity, times seconds
	PeakReplicas    int32
	Steps           int  // scored model steps, of Run.Tick each
	Queue           bool // a queue workload (the policy has a queue metric): its SLO is the messages' wait
}

// Miss is what a sweep weighs against cost: the SLO-violation seconds of a queue workload, whose consumers may
// take in more than they serve for as long as the backlog waits less than the SLO, and the overload-seconds of
// a request workload, which drops what it cannot serve.
func (s Summary) Miss() float64 {
	if s.Queue {
		return s.SLOSeconds
	}
	return s.OverloadSeconds
}

// MissName names Miss as the tables head it.
func (s Summary) MissName() string {
	if s.Queue {
		return "SLO violation (s)"
	}
	return "overload (s)"
}

// Step is one model step of a run (Run.Tick long). The policy decides at some of them (Decided); at the others
// Desired is Current and the stage, reason, winner and metrics are empty.
type Step struct {
	Time     time.Time
	Decided  bool
	Demand   float64 // NaN in replay
	Bound    int32   // the lower bound at this step (0 in replay)
	Current  int32   // spec replicas before the decision
	Seen     int32   // ready replicas the policy saw
	Ready    int32   // ready replicas during the step, after the decision
	Desired  int32
	Metrics  []float64            // what the policy saw, in policy order; NaN when invalid
	Obs      []policy.Observation // the same readings in full: the pods they covered, their warnings
	Stage    policy.Stage
	Reason   policy.Reason
	Winner   string
	Overload bool
	Backlog  float64 // queue workloads: messages waiting at the end of the step
}

// Simulate runs every policy over the recording. Runs are independent and deterministic.
func Simulate(rec *metrics.Recording, pols []Named, cfg Config) (*Result, error) {
	names := map[string]bool{}
	for _, np := range pols {
		for _, m := range np.Policy.Metrics {
			names[m.Name] = true
		}
	}
	cfg, err := cfg.withDefaults(rec, names)
	if err != nil {
		return nil, err
	}
	res := &Result{Config: cfg, Recording: Info{File: rec.File, Start: rec.Times[0], End: rec.Times[len(rec.Times)-1],
		Step: rec.Step(), Samples: len(rec.Times), Gaps: rec.Gaps()}}
	for _, np := range pols {
		if cfg.Mode == Replay {
			for j, m := range np.Policy.Metrics {
				if rec.Lookup(m.Name) < 0 {
					return nil, fmt.Errorf("%s: no series %q, which policy %s needs for metrics[%d] (the recording has %s)",
						rec.File, m.Name, np.Name, j, seriesNames(rec))
				}
			}
		}
	}
	for _, np := range pols {
		run, err := simulate(rec, np, cfg)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

// maxSteps bounds a run's steps (and its memory): ten million, about 4.8 years at 15 s.
const maxSteps = 10_000_000

// cursor walks one series forward in time, never past the time it is asked for.
type cursor struct {
	times  []time.Time
	series *metrics.Series
	k      int // index of the latest time at or before the last time asked; -1 before the first
	last   int // index of the series' latest sample among those; -1 before its first
}

func newCursor(rec *metrics.Recording, series int) *cursor {
	return &cursor{times: rec.Times, series: &rec.Series[series], k: -1, last: -1}
}

// at returns the series' latest sample at or before t and its time, as an instant query would: times where the
// series is absent (a merged recording's other series) are passed over. Times asked must not decrease.
func (c *cursor) at(t time.Time) (float64, time.Time, bool) {
	for c.k+1 < len(c.times) && !c.times[c.k+1].After(t) {
		c.k++
		if c.series.Has(c.k) {
			c.last = c.k
		}
	}
	if c.last < 0 {
		return 0, time.Time{}, false
	}
	return c.series.Values[c.last], c.times[c.last], true
}

// replayer reads each metric of a policy from the recording's series of the same name, as recorded.
type replayer struct {
	metrics []*cursor
	maxAge  []time.Duration
	// pods has, for each metric with a podsQuery, the pods its readings covered (the series NAME:pods), and ready
	// the target's ready pods then; nil where the recording lacks them.
	pods  []*cursor
	ready *cursor
}

func newReplayer(rec *metrics.Recording, p *policy.Policy, maxAge time.Duration) *replayer {
	r := &replayer{}
	if i := rec.Lookup(metrics.ReadyColumn); i >= 0 && !hasMetric(p, metrics.ReadyColumn) {
		r.ready = newCursor(rec, i)
	}
	for _, m := range p.Metrics {
		i := rec.Lookup(m.Name)
		r.metrics = append(r.metrics, newCursor(rec, i))
		age := maxAge
		if age == 0 {
			// A coarser series merged with a finer one is not stale between its samples.
			if age = 2 * rec.SeriesStep(i); age == 0 {
				age = 2 * rec.Step() // a series of one sample
			}
		}
		r.maxAge = append(r.maxAge, age)
		var pc *cursor
		if k := rec.Lookup(m.Name + metrics.PodsSuffix); k >= 0 && m.PodsQuery != "" && r.ready != nil {
			pc = newCursor(rec, k)
		}
		r.pods = append(r.pods, pc)
	}
	return r
}

// observe fills obs with each metric's reading at t, ready the replay's ready pods. A reading the recording says
// covered fewer pods than were ready misses as many of the replay's ready pods: it is partial, as the daemon saw it.
func (r *replayer) observe(obs []policy.Observation, t time.Time, ready int32) {
	readyNow, readyAt, readyOK := math.NaN(), time.Time{}, false
	if r.ready != nil {
		readyNow, readyAt, readyOK = r.ready.at(t)
	}
	for j, c := range r.metrics {
		v, at, ok := c.at(t)
		switch {
		case !ok:
			obs[j] = policy.Observation{Reason: "no sample yet"}
		case t.Sub(at) > r.maxAge[j]:
			obs[j] = policy.Observation{Reason: fmt.Sprintf("stale: last sample %s old", t.Sub(at))}
		default:
			obs[j] = policy.Observation{Value: v, Valid: true}
		}
		if r.pods[j] == nil {
			continue
		}
		// The pods count is the same evaluation as the reading (the daemon runs both in one query).
		n, nat, ok := r.pods[j].at(t)
		if ok && nat.Equal(at) && !math.IsNaN(n) && readyOK && t.Sub(readyAt) <= r.maxAge[j] && !math.IsNaN(readyNow) {
			missing := max(0, math.Round(readyNow)-math.Round(n))
			obs[j].PodsKnown = true
			obs[j].Pods = int32(max(0, float64(ready)-missing))
		}
	}
}

// pods is the in-memory scaler: spec replicas, of which some are ready and some still starting.
type pods struct {
	spec, ready int32
	starting    []time.Time // when each starting pod becomes ready, in order

	now     time.Time // the step being decided, for scale
	startup time.Duration
}

// scale is the scaler policy.Step calls: it never fails.
func (p *pods) scale(to int32) error {
	p.set(to, p.now, p.startup)
	return nil
}

func (p *pods) advance(t time.Time) {
	n := 0
	for n < len(p.starting) && !p.starting[n].After(t) {
		n++
	}
	p.ready += int32(n)
	p.starting = p.starting[n:]
}

// set scales to n at t. New pods start; a scale-down removes starting pods (the newest first) before ready ones,
// as a ReplicaSet does.
func (p *pods) set(n int32, t time.Time, startup time.Duration) {
	if n > p.spec {
		for range n - p.spec {
			p.starting = append(p.starting, t.Add(startup))
		}
	} else {
		remove := p.spec - n
		drop := min(int(remove), len(p.starting))
		p.starting = p.starting[:len(p.starting)-drop]
		p.ready -= remove - int32(drop)
	}
	p.spec = n
}

// interval is the true state of the workload over one step, the raw material of the metric pipeline.
type interval struct {
	usage   float64 // CPU in use, in replicas' requests
	ready   float64
	demand  float64
	backlog float64
}

// tickFor is the model's step: the pass, refined to the scrape interval and the demand's step, so that the
// demand between passes and the pipeline's lag are seen as they are. A refinement is their greatest common divisor
// in whole seconds, and only one of at least a quarter of the finer of the two: a jittery step (59 s, 61 s) or an
// odd one (7 s) leaves the step as it was instead of dropping it to 1 s.
func tickFor(pass time.Duration, more ...time.Duration) time.Duration {
	t := pass
	for _, d := range more {
		if d <= 0 {
			continue
		}
		if g := gcd(t, d); g%time.Second == 0 && 4*g >= min(t, d) {
			t = g
		}
	}
	return t
}

func gcd(a, b time.Duration) time.Duration {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func simulate(rec *metrics.Recording, np Named, cfg Config) (Run, error) {
	p := np.Policy
	iv := p.Interval
	if cfg.Interval != 0 && cfg.Interval != iv {
		// The algorithms were built for the policy's interval: a loop at another would match no daemon.
		return Run{Name: np.Name, Policy: p}, fmt.Errorf("policy %s: interval %s differs from the simulation's %s: set it in the policy",
			np.Name, policy.FormatDuration(iv), policy.FormatDuration(cfg.Interval))
	}
	closed := cfg.Mode == ClosedLoop
	model := cfg.Model
	pass := cfg.Pass
	if pass == 0 {
		pass = iv
	}
	tick := pass
	if closed {
		step := rec.SeriesStep(rec.Lookup(cfg.Demand)) // the demand's own step, not a merged timeline's
		if step == 0 {
			step = rec.Step()
		}
		tick = tickFor(pass, model.Scrape, step)
	}
	every := int(pass / tick) // ticks per pass
	start, end := rec.Times[0], rec.Times[len(rec.Times)-1]
	run := Run{Name: np.Name, Policy: p, Interval: iv, Pass: pass, Tick: tick}
	n := int(end.Sub(start)/tick) + 1
	if n > maxSteps {
		return run, fmt.Errorf("%s: the recording spans %s, %d steps of %s for policy %s: more than %d (are its timestamps seconds?)",
			rec.File, policy.FormatDuration(end.Sub(start)), n, policy.FormatDuration(tick), np.Name, maxSteps)
	}
	if first := (cfg.Warmup + tick - 1) / tick; int(first) >= n {
		return run, fmt.Errorf("warm-up %s leaves no step of policy %s (every %s) to score before the recording ends at %s",
			policy.FormatDuration(cfg.Warmup), np.Name, policy.FormatDuration(tick), end.Format(time.RFC3339))
	}
	secs := tick.Seconds()

	var demand *cursor
	if closed {
		demand = newCursor(rec, rec.Lookup(cfg.Demand))
	}
	var replay *replayer
	if !closed {
		replay = newReplayer(rec, p, cfg.MaxAge)
	}
	queue := false
	win := make([]int, len(p.Metrics))
	for j, m := range p.Metrics {
		queue = queue || m.Kind == policy.Queue
		win[j] = max(1, int(math.Round(float64(m.Window)/float64(tick))))
	}
	lag := max(1, int(math.Round(float64(model.Scrape)/float64(tick))))

	bound := func(d float64) int32 {
		b := math.Ceil(d/model.Capacity - 1e-9) // a float: demand near MaxFloat64 must not wrap to a small count
		return int32(min(max(b, float64(p.MinReplicas)), float64(p.MaxReplicas)))
	}
	var d0 float64
	if closed {
		v, _, _ := demand.at(start)
		d0 = v * cfg.Scale
	}
	initial := cfg.Initial
	if initial == 0 {
		switch {
		case closed:
			initial = bound(d0)
		case rec.Lookup(metrics.ReplicasColumn) >= 0 && !hasMetric(p, metrics.ReplicasColumn):
			r := &rec.Series[rec.Lookup(metrics.ReplicasColumn)]
			j := 0
			for j < len(r.Values)-1 && (!r.Has(j) || math.IsNaN(r.Values[j])) { // a merged recording may start before the replicas column
				j++
			}
			initial = p.MinReplicas
			if v := r.Values[j]; !math.IsNaN(v) {
				initial = int32(min(math.Round(v), math.MaxInt32))
			}
		default:
			initial = p.MinReplicas
		}
	}
	pd := &pods{spec: initial, ready: initial, startup: model.Startup}
	scale := pd.scale
	// hist[0] is the state before the first tick; hist[k+1] is tick k's.
	var hist []interval
	if closed {
		hist = make([]interval, 1, n+1)
		hist[0] = state(d0, float64(initial), 0, model)
	}

	var h policy.History
	var past [][]policy.Sample
	var last time.Time // the policy's last evaluation
	lookback := p.Lookback()
	obs := make([]policy.Observation, len(p.Metrics))
	s := &run.Summary
	b := &run.Bound
	s.Queue, b.Queue = queue, queue
	var lastDir, lastBoundDir, lastBound int32
	backlog, boundBacklog := 0.0, 0.0
	if !closed {
		b.ReplicaSeconds, b.OverloadSeconds, b.SLOSeconds, b.Unserved = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		s.OverloadSeconds, s.SLOSeconds, s.Unserved = math.NaN(), math.NaN(), math.NaN()
	}
	scoreFrom := start.Add(cfg.Warmup)
	for i := range n {
		t := start.Add(time.Duration(i) * tick)
		scored := !t.Before(scoreFrom)
		pd.advance(t)
		dem := math.NaN()
		if closed {
			v, _, _ := demand.at(t)
			dem = v * cfg.Scale
		}
		cur := pd.spec
		step := Step{Time: t, Demand: dem, Current: cur, Seen: pd.ready, Desired: cur}
		// The daemon evaluates a policy on the passes at which it is due.
		if i%every == 0 && p.Due(last, t, pass) {
			last = t
			if closed {
				observe(obs, p, hist, i, lag, win)
			} else {
				replay.observe(obs, t, pd.ready)
			}
			in := policy.Input{Now: t, Current: cur, Ready: pd.ready, Metrics: obs, Past: past}
			var d policy.Decision
			pd.now = t
			d, h, _ = p.Step(in, h, scale)
			past = policy.AppendPast(past, in, lookback)
			pd.advance(t)
			if scored && d.Scale() {
				s.ScaleEvents++
				dir := sign(d.Desired - cur)
				if lastDir != 0 && dir != lastDir {
					s.Reversals++
				}
				lastDir = dir
			}
			step.Decided, step.Desired, step.Stage, step.Reason, step.Winner = true, d.Desired, d.Stage, d.Reason, d.Winner
			if cfg.Steps && scored {
				step.Obs = slices.Clone(obs)
				step.Metrics = make([]float64, len(obs))
				for j, o := range obs {
					step.Metrics[j] = o.Value
					if !o.Valid {
						step.Metrics[j] = math.NaN()
					}
				}
			}
		}
		step.Ready = pd.ready

		if scored {
			s.Steps++
			s.ReplicaSeconds += float64(pd.spec) * secs
			s.PeakReplicas = max(s.PeakReplicas, pd.spec)
		}
		if closed {
			capacity := float64(pd.ready) * model.Capacity
			step.Overload = over(dem, capacity)
			backlog = math.Max(0, backlog+(dem-capacity)*secs)
			if scored {
				if step.Overload {
					s.OverloadSeconds += secs
					s.Unserved += (dem - capacity) * secs
				}
				if violates(dem, capacity, backlog, queue, cfg) {
					s.SLOSeconds += secs
				}
			}
			qb := 0.0 // a request workload drops what it cannot serve: only a queue's consumers stay busy on a backlog
			if queue {
				qb = backlog
			}
			step.Backlog = qb
			st := state(dem, float64(pd.ready), qb, model)
			hist = append(hist, st)

			lb := bound(dem)
			step.Bound = lb
			boundBacklog = math.Max(0, boundBacklog+(dem-float64(lb)*model.Capacity)*secs)
			if scored {
				b.ReplicaSeconds += float64(lb) * secs
				b.PeakReplicas = max(b.PeakReplicas, lb)
				bcap := float64(lb) * model.Capacity
				if over(dem, bcap) {
					b.OverloadSeconds += secs
					b.Unserved += (dem - bcap) * secs
				}
				if violates(dem, bcap, boundBacklog, queue, cfg) {
					b.SLOSeconds += secs
				}
				if i > 0 && lb != lastBound {
					b.ScaleEvents++
					dir := sign(lb - lastBound)
					if lastBoundDir != 0 && dir != lastBoundDir {
						b.Reversals++
					}
					lastBoundDir = dir
				}
			}
			lastBound = lb
		}
		if cfg.Steps && scored {
			run.Steps = append(run.Steps, step)
		}
	}
	b.Steps = s.Steps
	s.CostRatio = s.ReplicaSeconds / b.ReplicaSeconds
	if closed {
		b.CostRatio = 1
	} else {
		s.CostRatio, b.CostRatio = math.NaN(), math.NaN()
	}
	return run, nil
}

// over reports demand above capacity, ignoring rounding noise.
func over(demand, capacity float64) bool {
	return demand > capacity+1e-9*math.Max(1, capacity)
}

// state is the true workload over one step, given the demand, the ready replicas and the backlog.
func state(demand, ready, backlog float64, m Model) interval {
	limit := ready * m.Capacity * m.MaxUtilization
	served := math.Min(demand, limit)
	if backlog > 0 {
		served = math.Min(ready*m.Capacity, limit) // a queue consumer with a backlog is busy
	}
	return interval{usage: served / m.Capacity, ready: ready, demand: demand, backlog: backlog}
}

// observe fills obs with what the metric pipeline shows at step i: each metric's window of steps, ending lag
// steps before i (never the step being decided).
func observe(obs []policy.Observation, p *policy.Policy, hist []interval, i, lag int, win []int) {
	last := max(i+1-lag, 0) // hist[i] is the newest complete step, hist[i+1-lag] the freshest the pipeline shows
	for j, m := range p.Metrics {
		first := max(last-win[j]+1, 0)
		var usage, ready, demand float64
		for k := first; k <= last; k++ {
			usage += hist[k].usage
			ready += hist[k].ready
			demand += hist[k].demand
		}
		cnt := float64(last - first + 1)
		known, covered := m.PodsQuery != "", 0.0
		if known {
			// The pods a count like the default qps podsQuery finds: those that served through the whole window.
			// Pods ready since (after a scale-up, or within the pipeline's lag) are not covered yet: the reading is
			// partial, as the daemon's is.
			covered = hist[last].ready
			for k := first; k < last; k++ {
				covered = min(covered, hist[k].ready)
			}
		}
		switch m.Kind {
		case policy.CPU:
			if ready == 0 {
				obs[j] = policy.Observation{Reason: "no pods report CPU"}
				continue
			}
			obs[j] = policy.Observation{Value: 100 * usage / ready, Valid: true}
		case policy.QPS:
			if ready == 0 {
				obs[j] = policy.Observation{Reason: "no pods report requests"}
				continue
			}
			obs[j] = policy.Observation{Value: demand / cnt, Valid: true, PodsKnown: known, Pods: int32(covered)}
		case policy.Queue:
			obs[j] = policy.Observation{Value: hist[last].backlog, Valid: true}
		default:
			obs[j] = policy.Observation{Value: demand / cnt, Valid: true, PodsKnown: known, Pods: int32(covered)}
		}
	}
}

func violates(demand, capacity, backlog float64, queue bool, cfg Config) bool {
	if queue {
		if backlog <= 0 {
			return false
		}
		return capacity == 0 || backlog/capacity > cfg.SLOWait.Seconds()
	}
	if capacity == 0 {
		return demand > 0
	}
	return demand/capacity > cfg.SLOUtilization
}

func sign(x int32) int32 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// hasMetric reports whether p has a metric called name: a recording's column of that name is its reading.
func hasMetric(p *policy.Policy, name string) bool {
	return slices.ContainsFunc(p.Metrics, func(m policy.Metric) bool { return m.Name == name })
}
