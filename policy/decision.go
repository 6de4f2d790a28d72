package policy

import (
	"math"
	"time"
)

// Input is what one evaluation sees.
type Input struct {
	Now     time.Time
	Current int32         // the scale subresource's spec.replicas
	Ready   int32         // pods ready to serve
	Metrics []Observation // one per policy metric, in the policy's order
	// Past holds, per metric, the earlier readings, oldest first, all before Now, reaching back Policy.Lookback
	// at most (invalid readings are NaN). Algorithms that look back (burst, queue, predictive) read it; the caller
	// keeps it with AppendPast. It may be shorter than asked, right after a start.
	Past [][]Sample
	// NoScaleIn and NoScaleOut pause one direction (the target's podpilot.io/paused-scale-in and
	// paused-scale-out annotations, as KEDA's): the policy still decides, and a change that way holds at Current
	// (ScaleInPaused, ScaleOutPaused). A count outside [min, max] is still brought inside, as HPA does under
	// KEDA's pause of a direction.
	NoScaleIn, NoScaleOut bool
}

// Sample is one past reading of a metric; NaN when it was invalid.
type Sample struct {
	Time  time.Time
	Value float64
	// Low marks a reading that may read low (partial, or warned): it held scale-downs when it came, and a window
	// that can scale down (burst's) leaves it out later. A forecast still reads it, as the best there is of that time.
	Low bool
}

// AppendPast returns past with in's readings added and what is older than lookback before in.Now dropped. It
// is how the controller and the simulator keep Input.Past; it reuses past's storage, so the caller must own it.
func AppendPast(past [][]Sample, in Input, lookback time.Duration) [][]Sample {
	if lookback <= 0 {
		return past
	}
	if len(past) < len(in.Metrics) {
		past = append(past, make([][]Sample, len(in.Metrics)-len(past))...)
	}
	cut := in.Now.Add(-lookback)
	for i, o := range in.Metrics {
		v, ok := o.Value, true
		if ok, _ = o.usable(); !ok {
			v = math.NaN()
		}
		s := past[i]
		k := 0
		for k < len(s) && !s[k].Time.After(cut) {
			k++
		}
		if k > 0 && k > len(s)/2 {
			// Slide the window back to the start of the array now and then, so that it never grows.
			s = append(s[:0], s[k:]...)
		} else {
			s = s[k:]
		}
		past[i] = append(s, Sample{Time: in.Now, Value: v, Low: ok && o.Doubtful(in.Ready)})
	}
	return past
}

// Observation is one metric's reading. Its zero value is invalid, so that a reading that never arrived can never
// pass for a zero.
type Observation struct {
	Value  float64
	Valid  bool
	Reason string // why the reading is invalid: empty result, NaN, stale sample, query error...
	// Pods is how many pods the reading covers, where PodsKnown says the metric's query tells (the default qps
	// template does). A reading that covers fewer pods than are ready is partial: it may scale up, not down.
	Pods      int32
	PodsKnown bool
	// Warning is what Prometheus warned about the query that gave the reading (a partial response from a store
	// that is down, a remote read that failed), or that the count of the pods it covers could not be read: such
	// a reading may be low, so it may scale up, not down.
	Warning string
}

// Partial reports whether o covers fewer pods than the ready ones.
func (o Observation) Partial(ready int32) bool { return o.PodsKnown && o.Pods < ready }

// Doubtful reports whether o may read low: it is partial, or its query came with a warning.
func (o Observation) Doubtful(ready int32) bool { return o.Partial(ready) || o.Warning != "" }

// usable reports whether o can be used, and why not.
// Usable reports whether a policy reads o as a value, and if not, why: an invalid, non-finite or negative reading
// is no value. The daemon reports what it says, so that a reading the policy refuses is never refused in silence.
func (o Observation) Usable() (bool, string) { return o.usable() }

func (o Observation) usable() (bool, string) {
	switch {
	case !o.Valid:
		if o.Reason == "" {
			return false, "no reading"
		}
		return false, o.Reason
	case math.IsNaN(o.Value) || math.IsInf(o.Value, 0):
		return false, "value is not a finite number"
	case o.Value < 0:
		return false, "value is negative"
	}
	return true, ""
}

// Proposal is one algorithm's raw replica count from one metric (or from none, for algorithms that do not read
// metrics).
type Proposal struct {
	Algorithm string
	Metric    string
	Value     float64 // the metric's reading
	Target    float64 // the metric's target
	Ratio     float64 // value (or Estimate, when set) relative to target, as HPA's usage ratio
	Replicas  int32   // the proposal; meaningful only when Valid
	Valid     bool
	Note      string // why the proposal is invalid, or "within tolerance"
	// Estimate is the demand the proposal was sized for when it is not the reading (target-tracking's demand
	// estimate: the reading with a rise read through its window, a margin for its noise, its floor and its spare
	// replicas; for a promql total, the reading and its spare replicas; 0 when none).
	Estimate float64
	// Forecast is the metric's value forecast for when pods started now are ready (predictive; 0 when none).
	Forecast float64
	// ForecastError is the recent relative error of those forecasts (predictive; 0 when unknown).
	ForecastError float64
	// Idle marks a proposal of zero at the end of an idle grace (queue's idle): the grace was its stabilization,
	// so when it wins the down-window does not hold it, as KEDA's cooldownPeriod, not the HPA's window, times a
	// scale to zero.
	Idle bool
}

// label names the proposal as Decision.Winner does: "algorithm/metric", or the algorithm alone.
func (pr *Proposal) label() string {
	if pr.Metric == "" {
		return pr.Algorithm
	}
	return pr.Algorithm + "/" + pr.Metric
}

// Stage names a step of the decision pipeline.
type Stage string

// The stages, in pipeline order.
const (
	StageBounds        Stage = "bounds"        // outside [min, max] before anything else, or final clamp
	StageMetrics       Stage = "metrics"       // invalid metrics hold the count or block a scale-down
	StageFallback      Stage = "fallback"      // fallback replicas after repeated metric failures
	StageStabilization Stage = "stabilization" // windows over raw recommendations
	StageCooldown      Stage = "cooldown"      // time since the last scale event
	StageRate          Stage = "rate"          // rate-limit policies over real scale events
	StagePaused        Stage = "paused"        // a direction paused on the target
)

// Reason explains a decision. Where HPA has a word for it, podpilot uses the same.
type Reason string

// The reasons.
const (
	DesiredWithinRange  Reason = "DesiredWithinRange"  // the recommendation passed every stage
	ScaleUpStabilized   Reason = "ScaleUpStabilized"   // an up-window held the count lower
	ScaleDownStabilized Reason = "ScaleDownStabilized" // a down-window held the count higher
	ScaleUpLimit        Reason = "ScaleUpLimit"        // an up rate limit cut the change
	ScaleDownLimit      Reason = "ScaleDownLimit"      // a down rate limit cut the change
	TooManyReplicas     Reason = "TooManyReplicas"     // clamped to maxReplicas
	TooFewReplicas      Reason = "TooFewReplicas"      // clamped to minReplicas
	ScalingDisabled     Reason = "ScalingDisabled"     // the target is at zero and minReplicas is not: left alone, as HPA does
	MetricUnavailable   Reason = "MetricUnavailable"   // no valid metric, or a hold at the recommendation while one is invalid
	MetricPartial       Reason = "MetricPartial"       // a scale-down while a reading covers fewer pods than are ready: hold
	FallbackReplicas    Reason = "FallbackReplicas"    // metrics failed long enough: hold at least the fallback count
	CooldownActive      Reason = "CooldownActive"      // too soon after the last scale event
	WithinTolerance     Reason = "WithinTolerance"     // every metric is within tolerance of its target
	ScaleInPaused       Reason = "ScaleInPaused"       // a scale-down held: the target pauses scale-in
	ScaleOutPaused      Reason = "ScaleOutPaused"      // a scale-up held: the target pauses scale-out
)

// Step is one stage that changed the count.
type Step struct {
	Stage  Stage
	From   int32
	To     int32
	Reason Reason
}

// Decision is the outcome of one evaluation, with everything needed to explain it.
type Decision struct {
	Time      time.Time
	Current   int32
	Ready     int32
	Raw       int32  // the winning proposal before the behaviour stages (Current when there was none)
	Desired   int32  // what the target should be scaled to
	Winner    string // "algorithm/metric" of the winning proposal
	Stage     Stage  // the last stage that changed the count ("" when none did)
	Reason    Reason
	Proposals []Proposal
	Steps     []Step
}

// Scale reports whether the decision asks for a change.
func (d *Decision) Scale() bool { return d.Desired != d.Current }

// change records a stage that moved the count.
func (d *Decision) change(s Stage, to int32, r Reason) {
	if to == d.Desired {
		return
	}
	d.Steps = append(d.Steps, Step{Stage: s, From: d.Desired, To: to, Reason: r})
	d.Desired, d.Stage, d.Reason = to, s, r
}

// History is what a policy remembers between evaluations. It is small, copied by Evaluate, and never shared.
type History struct {
	Start    time.Time   // first evaluation; zero for a fresh history
	Last     time.Time   // last scale event
	Recs     []Rec       // raw recommendations within the longest stabilization window
	Events   []Event     // scale events within the longest rate-limit period
	Failures int         // consecutive evaluations with an invalid metric
	State    [][]float64 // what each algorithm (in policy order) keeps between evaluations; small
}

// Rec is one raw recommendation.
type Rec struct {
	Time     time.Time
	Replicas int32
}

// Event is one real scale event.
type Event struct {
	Time   time.Time
	Change int32 // positive for up, negative for down
}

// Scaled returns h with a scale event from → to at now. The caller calls it after the change was really made,
// so that rate limits count real scale events only, as HPA's do.
func (h History) Scaled(now time.Time, from, to int32) History {
	if from == to {
		return h
	}
	h.Events = append(h.Events[:len(h.Events):len(h.Events)], Event{Time: now, Change: to - from})
	h.Last = now
	return h
}

// ceil32 rounds up and saturates to the int32 range.
func ceil32(x float64) int32 {
	x = math.Ceil(x)
	switch {
	case x >= math.MaxInt32:
		return math.MaxInt32
	case x <= 0:
		return 0
	}
	return int32(x)
}

// Step is one control-loop step: it evaluates, applies a change through scale, and records the scale event only
// when scale succeeded. The controller and the simulator both call it, so that they share every decision; a
// failed scale returns its error with the decision and the history without the event.
func (p *Policy) Step(in Input, h History, scale func(to int32) error) (Decision, History, error) {
	d, nh := p.Evaluate(in, h)
	if !d.Scale() {
		return d, nh, nil
	}
	if err := scale(d.Desired); err != nil {
		return d, nh, err
	}
	return d, nh.Scaled(in.Now, in.Current, d.Desired), nil
}
