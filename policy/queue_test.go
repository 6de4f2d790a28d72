package policy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// any as a tick's want checks nothing: the test looks at the returned decisions instead.

// series is a metric's past readings from f, every step within [from, to).
func series(from, to time.Time, step time.Duration, f func(time.Time) float64) []Sample {
	var s []Sample
	for at := from; at.Before(to); at = at.Add(step) {
		s = append(s, Sample{Time: at, Value: f(at)})
	}
	return s
}

const queuePolicy = `
target: {namespace: shop, name: worker}
minReplicas: 0
maxReplicas: 50
algorithm: {name: queue}
metrics: [{kind: queue, queue: jobs, drainTime: 1m, ratePerReplica: 10}]
`

// A backlog is drained within drainTime of the pods being ready, and pods that are still starting count: while
// they start and the backlog stands still, the count does not grow (HPA and KEDA size on the backlog alone, and
// either keep adding pods while the backlog waits for them, or drain ever more slowly as it shrinks). A failed
// scrape mid-drain (outage: the evaluation whose reading is broken) keeps the plan, and so does a reading of an
// empty queue that Prometheus warned about (a partial response may have left out the queue's series): it
// neither ends the plan nor becomes the baseline of the arrival rate, which the next good reading would
// otherwise measure as the whole backlog arriving at once (25 replicas, not 12, before this was fixed).
func TestQueueDrainsWithinDrainTime(t *testing.T) {
	drainsWithin(t, -1, false)
	drainsWithin(t, 4, false)
	drainsWithin(t, 4, true)
}

func drainsWithin(t *testing.T, outage int, warned bool) {
	// The algorithm's own counts: without the default down-window, which holds them for 5m after the drain
	// (TestQueueDownWindow).
	p := mustParse(t, queuePolicy+"behavior: {scaleDown: {stabilizationWindow: 0s}}\n")
	const (
		arrivals = 20.0 // messages per second
		rate     = 10.0 // per ready replica
		step     = 15 * time.Second
		startup  = 45 * time.Second
	)
	backlog := 6000.0
	spec, ready := int32(2), int32(2)
	var starting []time.Time // when each starting pod will be ready
	h := warm
	var past [][]Sample
	var asked []int32
	var readyAt, drainedAt time.Duration = -1, -1
	for i := range 25 {
		at := time.Duration(i) * step
		now := t0.Add(at)
		for len(starting) > 0 && !starting[0].After(now) {
			starting, ready = starting[1:], ready+1
		}
		if readyAt < 0 && ready >= 12 {
			readyAt = at
		}
		v := backlog
		if i == outage {
			v = bad
		}
		o := obs([]float64{v})
		if i == outage && warned {
			o[0] = Observation{Value: 0, Valid: true, Warning: "partial response"}
		}
		in := Input{Now: now, Current: spec, Ready: ready, Metrics: o, Past: past}
		d, nh := p.Evaluate(in, h)
		asked = append(asked, d.Desired)
		if d.Scale() {
			nh = nh.Scaled(now, spec, d.Desired)
		}
		for ; spec < d.Desired; spec++ {
			starting = append(starting, now.Add(startup))
		}
		for ; spec > d.Desired; spec-- {
			if len(starting) > 0 {
				starting = starting[:len(starting)-1]
			} else {
				ready--
			}
		}
		h, past = nh, AppendPast(past, in, p.Lookback())
		backlog = math.Max(0, backlog+(arrivals-float64(ready)*rate)*step.Seconds())
		if drainedAt < 0 && backlog == 0 {
			drainedAt = at + step
		}
	}
	// ceil((6000 / 60 + 20) / 10): drains 6000 messages in a minute while 20 a second arrive.
	if diff := cmp.Diff([]int32{12, 12, 12, 12, 12, 12, 12}, asked[:7]); diff != "" {
		t.Errorf("outage at evaluation %d (warned empty: %v): counts asked for while draining (-want +got):\n%s", outage, warned, diff)
	}
	if readyAt < 0 || drainedAt < 0 || drainedAt-readyAt > time.Minute {
		t.Errorf("outage at evaluation %d (warned empty: %v): pods ready at t+%s, backlog drained at t+%s; want drained within drainTime (1m) of the pods being ready (counts %v)", outage, warned, readyAt, drainedAt, asked)
	}
	// Drained, the queue reads empty although 20 messages a second arrive: the consumers keep up. The rate
	// measured while they were busy is kept until the idle grace (5m) has passed.
	for i := 15; i < 25; i++ {
		if asked[i] != 2 {
			t.Fatalf("t+%s, after the drain: %d replicas; want 2 (20 messages/s at 10 each): %v", time.Duration(i)*step, asked[i], asked)
		}
	}
}

// The default down-window holds the drain's count for 5m after the backlog is gone (consumers that were just
// needed are not stopped at each lull: flapping), then it goes down at most -50 % a minute; the scale to zero
// at the idle grace's end is not held by the window, which would otherwise keep the last counts 5m longer.
func TestQueueDownWindow(t *testing.T) {
	p := mustParse(t, queuePolicy)
	walkPast(t, p, warm, nil, []tick{
		{at: 0, cur: 2, vals: []float64{6000}, want: 12},              // ceil((6000/60 + 20) / 10): the 2 ready pods were busy
		{at: time.Minute, cur: prev, vals: []float64{3000}, want: 12}, // the drain plan holds
		{at: 2 * time.Minute, cur: prev, vals: []float64{0}, want: 12, reason: ScaleDownStabilized},
		{at: 5*time.Minute + 45*time.Second, cur: prev, vals: []float64{0}, want: 12, reason: ScaleDownStabilized},
		{at: 6*time.Minute + 15*time.Second, cur: prev, vals: []float64{0}, want: 6, reason: ScaleDownLimit}, // the 12 of 1m left the window
		{at: 7 * time.Minute, cur: prev, vals: []float64{0}, want: 6, reason: CooldownActive},                // idle since 2m: to zero...
		{at: 7*time.Minute + 30*time.Second, cur: prev, vals: []float64{0}, want: 3, reason: ScaleDownLimit}, // ...at -50 % a minute
		{at: 8*time.Minute + 45*time.Second, cur: prev, vals: []float64{0}, want: 1, reason: ScaleDownLimit},
		{at: 10 * time.Minute, cur: prev, vals: []float64{0}, want: 0}, // past the window's 1s of 5m45s and 6m15s
	})
}

// ANCHOR 6 (keda#2446): to zero once the queue has been empty for the idle grace, and back on the first message.
func TestQueueToAndFromZero(t *testing.T) {
	p := mustParse(t, queuePolicy)
	walkPast(t, p, warm, nil, []tick{
		{at: 0, cur: 3, vals: []float64{0}, want: 1}, // empty: one consumer stays
		{at: time.Minute, cur: prev, vals: []float64{0}, want: 1},
		{at: 4*time.Minute + 45*time.Second, cur: prev, vals: []float64{0}, want: 1},
		{at: 5 * time.Minute, cur: prev, vals: []float64{0}, want: 0}, // idle for 5m
		{at: 6 * time.Minute, cur: 0, ready: -1, vals: []float64{0}, want: 0},
		{at: 7 * time.Minute, cur: 0, ready: -1, vals: []float64{1}, want: 1}, // one message wakes it
	})
	// A message during the grace starts it again; an outage never counts as idle time.
	walkPast(t, p, warm, nil, []tick{
		{at: 0, cur: 1, vals: []float64{0}, want: 1},
		{at: 4 * time.Minute, cur: prev, vals: []float64{3}, want: 1},
		{at: 5 * time.Minute, cur: prev, vals: []float64{0}, want: 1},
		{at: 9 * time.Minute, cur: prev, vals: []float64{bad}, want: 1, reason: MetricUnavailable},
		{at: 9*time.Minute + 15*time.Second, cur: prev, vals: []float64{0}, want: 1},
		{at: 14 * time.Minute, cur: prev, vals: []float64{0}, want: 1},
		{at: 14*time.Minute + 15*time.Second, cur: prev, vals: []float64{0}, want: 0},
	})
}

// An empty reading Prometheus warned about (a partial response may have left out the queue's series) is no
// idle time: five minutes of them, then one whole empty reading, do not take the consumers to zero.
func TestQueueWarnedEmptyNotIdle(t *testing.T) {
	eval := evaluator(mustParse(t, queuePolicy), 1)
	for at := time.Duration(0); at <= 5*time.Minute; at += 15 * time.Second {
		if d := eval(at, Observation{Value: 0, Valid: true, Warning: "partial response"}); d.Desired != 1 {
			t.Fatalf("t+%s on a warned empty reading: %d (%s); want 1", at, d.Desired, d.Reason)
		}
	}
	if d := eval(5*time.Minute+15*time.Second, Observation{Value: 0, Valid: true}); d.Desired != 1 {
		t.Errorf("the first whole empty reading after them: %d (%s); want 1, the idle grace only starting", d.Desired, d.Reason)
	}
	if d := eval(10*time.Minute+15*time.Second, Observation{Value: 0, Valid: true}); d.Desired != 0 {
		t.Errorf("five minutes of whole empty readings later: %d (%s); want 0", d.Desired, d.Reason)
	}
}

func TestQueueArgs(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		ticks []tick
	}{
		{"activation: a few messages do not wake it", queuePolicy + "algorithm: {name: queue, args: {activation: 10}}\n", []tick{
			{at: 0, cur: 0, ready: -1, vals: []float64{9}, want: 0, reason: DesiredWithinRange},
			{at: 15 * time.Second, cur: 0, ready: -1, vals: []float64{10}, want: 1},
		}},
		{"idle: a shorter grace", queuePolicy + "algorithm: {name: queue, args: {idle: 1m}}\n", []tick{
			{at: 0, cur: 1, vals: []float64{0}, want: 1},
			{at: time.Minute, cur: prev, vals: []float64{0}, want: 0},
		}},
		{"minReplicas above zero is the floor", queuePolicy + "minReplicas: 2\n", []tick{
			{at: 0, cur: 4, vals: []float64{0}, want: 2},
			{at: 10 * time.Minute, cur: prev, vals: []float64{0}, want: 2},
		}},
		// perReplica on the same metric: the stricter target wins.
		{"perReplica too", queuePolicy + "metrics: [{kind: queue, queue: jobs, drainTime: 10m, ratePerReplica: 10, perReplica: 100}]\n", []tick{
			{at: 0, cur: 1, vals: []float64{1000}, want: 10},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { walkPast(t, mustParse(t, dedupe(tt.src)), warm, nil, tt.ticks) })
	}
}

// The arrival rate: growth plus what the busy consumers processed, from the past readings after a start.
func TestQueueArrivals(t *testing.T) {
	p := mustParse(t, queuePolicy)
	// The backlog grew by 600 in a minute while 4 ready pods processed 40 a second: 50 arrive each second.
	past := [][]Sample{series(t0.Add(-time.Minute), t0, 15*time.Second, func(at time.Time) float64 {
		return 1000 + 10*at.Sub(t0.Add(-time.Minute)).Seconds()
	})}
	d, _ := p.Evaluate(Input{Now: t0, Current: 4, Ready: 4, Metrics: obs([]float64{1600}), Past: past}, warm)
	// ceil((1600 / 60 + 50) / 10) = ceil(7.67)
	if d.Desired != 8 {
		t.Errorf("Evaluate = %d (%+v); want 8", d.Desired, d.Proposals)
	}
	// The same first reading with a Prometheus warning: sized on the same arrivals (not on none, which would be
	// 3 replicas), though it keeps no state.
	warned := []Observation{{Value: 1600, Valid: true, Warning: "partial response"}}
	if d, _ := p.Evaluate(Input{Now: t0, Current: 4, Ready: 4, Metrics: warned, Past: past}, warm); d.Desired != 8 {
		t.Errorf("a warned first reading: Evaluate = %d (%+v); want 8", d.Desired, d.Proposals)
	}
	// An empty queue says nothing about what idle consumers could process: only growth counts.
	past = [][]Sample{series(t0.Add(-time.Minute), t0, 15*time.Second, func(time.Time) float64 { return 0 })}
	d, _ = p.Evaluate(Input{Now: t0, Current: 4, Ready: 4, Metrics: obs([]float64{0}), Past: past}, warm)
	if d.Raw != 1 {
		t.Errorf("empty queue: raw = %d (%+v); want 1 (one consumer until idle)", d.Raw, d.Proposals)
	}
}

func TestQueueValidation(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"no drain metric", `
target: {namespace: shop, name: worker}
maxReplicas: 5
algorithm: {name: queue}
metrics: [{kind: queue, queue: jobs, perReplica: 10}]
`, []string{`test.yaml:4:1: algorithm.args: the queue algorithm needs a queue metric with drainTime and ratePerReplica`}},
		{"bad args", queuePolicy + "algorithm: {name: queue, args: {idle: 48h, activation: 0, rateWindow: 5s}}\n", []string{
			`test.yaml:6:33: algorithm.args.idle: must be at most 1d, got 2d`,
			`test.yaml:6:44: algorithm.args.activation: must be greater than 0 (the backlog that wakes the target), got 0`,
			`test.yaml:6:59: algorithm.args.rateWindow: must be between the policy's interval (15s) and 1h, got 5s`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(dedupe(tt.src)), Builtin())
			if diff := cmp.Diff(tt.want, errorLines(t, err)); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}

// The first message wakes a consumer at zero whatever its scale-up rules: a rate limit in percent of zero pods,
// or select: Min over the defaults, would otherwise allow none ever.
func TestQueueWakesUnderAnyRules(t *testing.T) {
	for _, up := range []string{
		"{policies: [{type: Percent, value: 100, period: 15s}]}",
		"{select: Min}",
		"{select: Disabled}",
	} {
		p := mustParse(t, queuePolicy+"behavior: {scaleUp: "+up+"}\n")
		d, _ := p.Evaluate(Input{Now: t0, Current: 0, Ready: 0, Metrics: []Observation{{Value: 5000, Valid: true}}}, warm)
		want := int32(1)
		if up == "{select: Disabled}" {
			want = 0 // scale-up turned off is off
		}
		if d.Desired != want {
			t.Errorf("scaleUp %s, at zero with a backlog of 5000: %d (%s, raw %d); want %d", up, d.Desired, d.Reason, d.Raw, want)
		}
	}
}

// A metric no algorithm sizes on is refused: queue alone would query a cpu metric and scale nothing on it.
func TestQueueUnusedMetric(t *testing.T) {
	metrics := "metrics: [{kind: queue, queue: jobs, drainTime: 1m, ratePerReplica: 10}, {kind: cpu, utilization: 50}]\n"
	head := "target: {namespace: shop, name: worker}\nminReplicas: 0\nmaxReplicas: 50\n"
	_, err := Parse("test.yaml", []byte(head+"algorithm: {name: queue}\n"+metrics), Builtin())
	want := "test.yaml:5:74: metrics[1]: no algorithm of this policy uses this cpu metric (queue sizes only on queue metrics with drainTime and ratePerReplica): remove it, or list an algorithm that uses it"
	if fmt.Sprint(err) != want {
		t.Errorf("queue with a cpu metric: %v\nwant %s", err, want)
	}
	if _, err := Parse("test.yaml", []byte(head+"algorithms: [{name: queue}, {name: target-tracking}]\n"+metrics), Builtin()); err != nil {
		t.Errorf("queue and target-tracking share the metrics: %v", err)
	}
	// schedule uses no metric: beside queue the cpu metric is still unused; alone it keeps the metric it must list.
	sched := `{name: schedule, args: {windows: [{days: "*", start: "02:00", end: "04:00", replicas: 20}]}}`
	_, err = Parse("test.yaml", []byte(head+"algorithms: [{name: queue}, "+sched+"]\n"+metrics), Builtin())
	if want := "no algorithm of this policy uses this cpu metric (queue sizes only on queue metrics with drainTime and ratePerReplica)"; !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("queue and schedule with a cpu metric: %v\nwant %s", err, want)
	}
	if _, err := Parse("test.yaml", []byte(head+"algorithms: ["+sched+"]\n"+metrics), Builtin()); err != nil {
		t.Errorf("schedule alone: %v", err)
	}
}
