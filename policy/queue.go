package policy

import (
	"math"
	"sort"
	"time"
)

// queueArgs are queue's arguments.
type queueArgs struct {
	// Idle is how long every queue must stay below Activation (empty, with the default) before the target is
	// scaled to zero. Until then at least one consumer stays.
	Idle time.Duration `yaml:"idle"`
	// Activation is the backlog that wakes a target at zero; below it a queue counts as empty.
	Activation float64 `yaml:"activation"`
	// RateWindow is how far back the arrival rate is estimated from.
	RateWindow time.Duration `yaml:"rateWindow"`
}

// queueRegistration sizes a consumer Deployment so that each queue's backlog drains within its drainTime while
// messages keep arriving, and takes it to and from zero as KEDA does (keda#2446), on the policy's own queue
// metrics (those with drainTime and ratePerReplica).
func queueRegistration() Registration {
	return Define("queue", "sizes queue consumers so the backlog drains within drainTime; to zero when idle, back on the first message",
		func() *queueArgs {
			return &queueArgs{Idle: 5 * time.Minute, Activation: 1, RateWindow: time.Minute}
		},
		func(a *queueArgs, p *Policy, pr *Problems) {
			if a.Idle > maxCooldown {
				pr.Add("idle", "must be at most %s, got %s", FormatDuration(maxCooldown), FormatDuration(a.Idle))
			}
			if a.Activation <= 0 {
				pr.Add("activation", "must be greater than 0 (the backlog that wakes the target), got %g", a.Activation)
			}
			if a.RateWindow < p.Interval || a.RateWindow > maxWindow {
				pr.Add("rateWindow", "must be between the policy's interval (%s) and %s, got %s",
					FormatDuration(p.Interval), FormatDuration(maxWindow), FormatDuration(a.RateWindow))
			}
			if !hasDrainMetric(p) {
				pr.Add("", "the queue algorithm needs a queue metric with drainTime and ratePerReplica")
			}
		},
		func(*queueArgs) Behavior { return queueBehavior() },
		func(a *queueArgs, p *Policy) Algorithm {
			return queueAlgo{args: *a, rules: newRatioRules(p)}
		})
}

func hasDrainMetric(p *Policy) bool {
	for i := range p.Metrics {
		if isDrainMetric(&p.Metrics[i]) {
			return true
		}
	}
	return false
}

func isDrainMetric(m *Metric) bool { return m.Kind == Queue && m.DrainTime > 0 && m.RatePerReplica > 0 }

// Uses: queue sizes on its drain metrics only.
func (queueAlgo) Uses(m *Metric) bool { return isDrainMetric(m) }

func (queueAlgo) UsesOnly() string { return "queue metrics with drainTime and ratePerReplica" }

// queueBehavior is target-tracking's scale-up, and a scale-down with HPA's 5-minute window (the drain plan holds
// the count while a backlog drains, and the window after it: consumers that were just needed are kept through a
// lull, not stopped and started again), a one-minute cooldown and at most -50 % a minute. Sized on the arrivals
// alone, as it is, the queue tracks their noise: without a window it reversed 1.6–1.9 times as often as KEDA's
// HPA on the benchmark's traces at equal cost (docs/benchmarks.md, "Queue consumers"), with a 3m one 1.1–1.3 times.
func queueBehavior() Behavior {
	b := trackingBehavior()
	b.Down = Rules{Window: 5 * time.Minute, Cooldown: time.Minute, Tolerance: 0.1, Select: SelectMax, Policies: []RatePolicy{
		{Type: Percent, Value: 50, Period: time.Minute},
	}}
	return b
}

type queueAlgo struct {
	args  queueArgs
	rules ratioRules
}

// Lookback covers the arrival-rate window and the idle grace (read once, after a start).
func (a queueAlgo) Lookback() time.Duration { return max(a.args.Idle, a.args.RateWindow) }

// The numbers queue keeps per policy metric, in its State, one metric after the other.
const (
	qEmpty         = iota // 1 while the queue is empty...
	qEmptySec             // ...since when (unix seconds...
	qEmptyNsec            // ...and nanoseconds)
	qLast                 // 1 when the last reading was good...
	qLastSec              // ...its time...
	qLastNsec             //
	qLastBacklog          // ...the backlog then...
	qLastReady            // ...and the ready pods then
	qArrivals             // the arrival rate estimate, messages per second
	qPlan                 // the drain plan's replicas (0: none)
	qPlanReady            // 1 once all the plan's pods were ready...
	qPlanReadySec         // ...since when
	qPlanReadyNsec        //
	queueState            // how many numbers per metric
)

const (
	noteIdle   = "queue idle: to zero"
	noteAsleep = "below activation: stays at zero"
)

// Propose proposes, for each queue metric with a drain time, the replicas that drain the backlog B within
// drainTime D while messages arrive at rate A, when one replica processes R messages a second:
//
//	desired = ceil((B/D + A) / R)
//
// A is the backlog's growth plus what the consumers processed: between two evaluations, the pods that were
// ready at the first one processed R each a second if the queue was not empty at either. Its estimate is a
// moving average over rateWindow (seeded from the past readings after a start). The count is in spec replicas:
// pods still starting are part of it, so a backlog that has not yet drained does not add pods on top of those
// already asked for, and pods do not count as processing before they are ready.
//
// The count asked for when a backlog appears is a drain plan: it holds until the queue is empty, or until
// drainTime has passed since that many pods were ready, unless a larger count is needed. Asking
// again on the smaller backlog at every evaluation would drain it ever more slowly (to 37 % after drainTime).
func (a queueAlgo) Propose(dst []Proposal, c *Context) []Proposal {
	p, in := c.Policy, c.Input
	now, cur := in.Now, in.Current
	next := make([]float64, queueState*len(p.Metrics))
	for i := range p.Metrics {
		m := &p.Metrics[i]
		if !isDrainMetric(m) {
			continue
		}
		target, _ := m.Target()
		pr := Proposal{Algorithm: c.Name, Metric: m.Name, Target: target}
		var st []float64
		if k := queueState * i; k+queueState <= len(c.State) {
			st = c.State[k : k+queueState]
		}
		nx := next[queueState*i : queueState*(i+1)]
		var o Observation // a metric the input lacks: no reading
		if i < len(in.Metrics) {
			o = in.Metrics[i]
		}
		if ok, why := o.usable(); !ok {
			pr.Note = why
			carry(st, nx)
			dst = append(dst, pr)
			continue
		}
		backlog := o.Value
		pr.Value = backlog
		var past []Sample
		if i < len(in.Past) {
			past = in.Past[i]
		}

		empty := backlog < a.args.Activation
		idle := false
		rate := m.RatePerReplica
		ready := float64(max(in.Ready, 0))
		// A reading that may read low (a partial response, or one that covers fewer pods than are ready) is
		// sized on as it is but changes no state, as after an outage: it says nothing of an idle queue (the grace
		// starts again after it), and it neither ends the drain plan nor becomes the arrival estimate's baseline,
		// which the next good reading brings up to date from the last good one.
		doubt := o.Doubtful(in.Ready)
		var arr float64
		if doubt {
			carry(st, nx)
			if st != nil && st[qLast] == 1 {
				arr = st[qArrivals]
			} else { // after a start or an outage: from the past readings, as arrivals would, but not kept
				arr = pastArrivals(past, now, a.args.RateWindow, backlog, ready*rate)
			}
		} else {
			if empty {
				since := a.emptySince(st, past, now)
				idle = now.Sub(since) >= a.args.Idle
				nx[qEmpty], nx[qEmptySec], nx[qEmptyNsec] = 1, float64(since.Unix()), float64(since.Nanosecond())
			}
			arr = a.arrivals(st, past, now, backlog, ready*rate, rate)
			if idle {
				arr = 0
			}
			nx[qLast], nx[qLastSec], nx[qLastNsec], nx[qLastBacklog], nx[qLastReady], nx[qArrivals] = 1, float64(now.Unix()), float64(now.Nanosecond()), backlog, ready, arr
		}

		need := finite(backlog/m.DrainTime.Seconds() + arr)
		n := ceil32(need / rate)
		ratio := need / (rate * float64(max(cur, 1)))
		if m.PerReplica > 0 {
			n = max(n, ceil32(backlog/m.PerReplica))
			ratio = max(ratio, backlog/(m.PerReplica*float64(max(cur, 1))))
		}
		pr.Ratio, pr.Valid = finite(ratio), true
		var plan int32
		switch {
		case !doubt:
			plan = a.plan(st, nx, now, m.DrainTime, empty, n, p.MaxReplicas, in.Ready)
		case st != nil:
			plan = int32(min(st[qPlan], math.MaxInt32)) // kept, as carry kept it
		}
		switch {
		case cur == 0 && empty:
			n, pr.Note = 0, noteAsleep
		case cur == 0:
			n = max(n, 1) // the first messages wake it
		case idle:
			n, pr.Note, pr.Idle = 0, noteIdle, true
		case a.rules.within(ratio) && plan <= cur:
			n, pr.Note = cur, noteWithin
		default:
			n = max(n, plan, 1) // one consumer stays until the queue has been idle long enough
		}
		pr.Replicas = n
		dst = append(dst, pr)
	}
	c.Keep(next)
	return dst
}

// carry keeps the state st into nx across a reading that is missing or broken. A failed scrape mid-drain
// must not end the drain plan, or the next reading would plan again on the smaller backlog and drain ever more
// slowly; nor the arrival estimate, which the next good reading brings up to date over the whole gap from the
// last good one (seeding it again from the past readings, which do not say how many pods were ready, would
// overestimate it while pods have just become ready). An outage never counts as idle: the grace starts again.
func carry(st, nx []float64) {
	if st != nil {
		copy(nx[qLast:], st[qLast:queueState])
	}
}

// plan returns the drain plan's count (0 when there is none), keeping it in nx: a plan starts with a backlog,
// is raised when more is needed, and ends when the queue is empty or drainTime after its pods (at most
// maxReplicas) were all ready.
func (a queueAlgo) plan(st, nx []float64, now time.Time, drain time.Duration, empty bool, n, most, ready int32) int32 {
	if empty {
		return 0
	}
	var plan int32
	var readyAt time.Time
	if st != nil && st[qPlan] > 0 {
		plan = int32(min(st[qPlan], math.MaxInt32))
		if st[qPlanReady] == 1 {
			readyAt = time.Unix(int64(st[qPlanReadySec]), int64(st[qPlanReadyNsec]))
		}
	}
	if !readyAt.IsZero() && now.Sub(readyAt) >= drain {
		plan, readyAt = 0, time.Time{} // drained on plan, or late: plan again on the backlog as it is
	}
	if n > plan {
		plan, readyAt = n, time.Time{}
	}
	if readyAt.IsZero() && ready >= min(plan, most) {
		readyAt = now
	}
	nx[qPlan] = float64(plan)
	if !readyAt.IsZero() {
		nx[qPlanReady], nx[qPlanReadySec], nx[qPlanReadyNsec] = 1, float64(readyAt.Unix()), float64(readyAt.Nanosecond())
	}
	return plan
}

// arrivals updates the arrival rate estimate with the interval since the last evaluation, or estimates it from
// the past readings when there was no good last reading (after a start or an outage).
//
// While the queue holds messages at both ends of the interval the consumers were busy all along, so the rate is
// measured: growth plus what the pods ready at the start processed. It is a moving average over rateWindow.
// Otherwise an empty queue hides what the consumers took at once: an empty queue reads the same whether nothing
// arrives or the consumers keep up. The estimate then only rises (to the growth seen) and is otherwise kept,
// until the queue has been idle long enough to go to zero.
func (a queueAlgo) arrivals(st []float64, past []Sample, now time.Time, backlog, processing, rate float64) float64 {
	if st == nil || st[qLast] != 1 {
		return pastArrivals(past, now, a.args.RateWindow, backlog, processing)
	}
	dt := now.Sub(time.Unix(int64(st[qLastSec]), int64(st[qLastNsec]))).Seconds()
	if dt <= 0 {
		return st[qArrivals]
	}
	growth := (backlog - st[qLastBacklog]) / dt
	if backlog <= 0 || st[qLastBacklog] <= 0 {
		return finite(max(st[qArrivals], growth))
	}
	inst := max(finite(growth+st[qLastReady]*rate), 0)
	alpha := 1 - math.Exp(-dt/a.args.RateWindow.Seconds())
	return finite(st[qArrivals] + alpha*(inst-st[qArrivals]))
}

// emptySince is when the queue became empty: from the state when the last evaluation saw it empty too,
// otherwise from the past readings (after a start, or when it has just emptied).
func (a queueAlgo) emptySince(st []float64, past []Sample, now time.Time) time.Time {
	if st != nil && st[qEmpty] == 1 {
		if t := time.Unix(int64(st[qEmptySec]), int64(st[qEmptyNsec])); !t.After(now) {
			return t
		}
		return now
	}
	since := now
	cut := now.Add(-a.args.Idle)
	for k := len(past) - 1; k >= 0 && !since.Before(cut); k-- {
		s := past[k]
		if !usableValue(s.Value) || s.Low || s.Value >= a.args.Activation || s.Time.After(now) {
			break
		}
		since = s.Time
	}
	return since
}

// pastArrivals estimates the arrival rate (messages per second) over the window before now from the backlog's
// growth, plus the processing rate of the ready consumers when the backlog never ran empty (they were busy
// all along). It is never negative.
func pastArrivals(past []Sample, now time.Time, window time.Duration, backlog, processing float64) float64 {
	busy := backlog > 0
	var first *Sample
	for k := after(past, now.Add(-window)); k < len(past) && past[k].Time.Before(now); k++ {
		s := &past[k]
		if !usableValue(s.Value) {
			continue
		}
		if first == nil {
			first = s
		}
		if s.Value <= 0 {
			busy = false
		}
	}
	a := 0.0
	if first != nil {
		if dt := now.Sub(first.Time).Seconds(); dt > 0 {
			a = (backlog - first.Value) / dt
		}
	}
	if busy {
		a += processing
	}
	return max(finite(a), 0)
}

// after returns the index of the first sample of s later than t (len(s) when none is): s[after(s, t):] are the
// samples within (t, ...). Past is in time order, so it is a binary search.
func after(s []Sample, t time.Time) int {
	return sort.Search(len(s), func(i int) bool { return s[i].Time.After(t) })
}

// finite maps NaN to 0 and ±Inf to ±MaxFloat64, so that no proposal carries a non-finite number.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}
