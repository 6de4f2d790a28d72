package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const burstPolicy = `
target: {namespace: shop, name: web}
maxReplicas: 100
algorithm: {name: burst}
metrics: [{kind: qps, perReplica: 10}]
`

// burstBare leaves scale-down to burst alone: no down-window, no cooldown, -50 % per 15 s (Knative's rate).
const burstBare = burstPolicy + `behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s, policies: [{type: Percent, value: 50, period: 15s}]}}
`

// steady is n ticks of 15 s from at, all at the same reading and the previous count.
func steady(at time.Duration, n int, v float64, want int32) []tick {
	var ts []tick
	for i := range n {
		ts = append(ts, tick{at: at + time.Duration(i)*15*time.Second, cur: prev, vals: []float64{v}, want: want})
	}
	return ts
}

// ANCHOR 4 (kubernetes#110317): a burst is met in one evaluation, and the count is not cut while it lasts. HPA
// doubles per 15 s; Knative's KPA panics on the short window, as burst does.
func TestBurstSpike(t *testing.T) {
	p := mustParse(t, burstBare)
	ticks := []tick{{at: 0, cur: 10, vals: []float64{100}, want: 10}}
	ticks = append(ticks, steady(15*time.Second, 7, 100, 10)...)
	ticks = append(ticks,
		// 5x at t+2m: the panic window (the last 30 s: 100 and 500) asks for 30, three times the ready pods.
		tick{at: 2 * time.Minute, cur: prev, ready: 10, vals: []float64{500}, want: 30, reason: DesiredWithinRange},
		tick{at: 2*time.Minute + 15*time.Second, cur: prev, ready: 10, vals: []float64{500}, want: 50},
		// The burst ends: the panic window falls below the threshold, but panic holds the count for a whole
		// stable window after the last evaluation over it (t+2m15s).
		tick{at: 2*time.Minute + 30*time.Second, cur: prev, vals: []float64{100}, want: 50},
		tick{at: 2*time.Minute + 45*time.Second, cur: prev, vals: []float64{100}, want: 50},
		tick{at: 3 * time.Minute, cur: prev, vals: []float64{100}, want: 50},
		tick{at: 3*time.Minute + 14*time.Second, cur: prev, vals: []float64{100}, want: 50},
		// Out of panic: the stable window (100, 100, 100, 100 and 500 at t+2m15s) asks for 18; -50 % per 15 s.
		tick{at: 3*time.Minute + 15*time.Second, cur: prev, vals: []float64{100}, want: 25, reason: ScaleDownLimit},
	)
	ds := walkPast(t, p, warm, nil, ticks)
	for _, d := range ds[8:14] {
		if d.Proposals[0].Note != notePanic {
			t.Errorf("t+%s: proposal %+v; want it in panic", d.Time.Sub(t0), d.Proposals[0])
		}
	}
	if n := ds[14].Proposals[0].Note; n == notePanic {
		t.Errorf("t+3m15s: still in panic")
	}
	// With its default behaviour (target-tracking's), the down-window also holds the count after the panic.
	walkPast(t, mustParse(t, burstPolicy), warm, nil, append(ticks[:14:14],
		tick{at: 3*time.Minute + 15*time.Second, cur: prev, vals: []float64{100}, want: 50, reason: ScaleDownStabilized}))
}

// Outside panic the stable window decides: a short dip does not scale down at once, a lasting one does.
func TestBurstStable(t *testing.T) {
	p := mustParse(t, burstBare)
	ticks := steady(0, 4, 200, anyCount)
	ticks[0].cur = 20
	ticks = append(ticks,
		// The stable window holds the last 60 s: the readings at 15, 30 and 45 s and the current one.
		tick{at: time.Minute, cur: prev, vals: []float64{150}, want: 20, reason: WithinTolerance}, // mean 187.5
		tick{at: time.Minute + 15*time.Second, cur: prev, vals: []float64{100}, want: 17},         // mean 162.5
	)
	walkPast(t, p, warm, nil, ticks)
}

// A fresh history starts in panic when pods serve, as Knative's autoscaler does after a restart: it cannot
// scale down before it has seen a stable window.
func TestBurstFreshStart(t *testing.T) {
	p := mustParse(t, burstBare)
	walkPast(t, p, History{}, nil, []tick{
		{at: 0, cur: 20, vals: []float64{50}, want: 20},
		{at: 45 * time.Second, cur: prev, vals: []float64{50}, want: 20},
		{at: time.Minute, cur: prev, vals: []float64{50}, want: 10, reason: ScaleDownLimit},
	})
}

// Panic is measured on the demand, as Knative's is: pods that are still starting after a scale-up to 10, with 4
// ready serving exactly their target, are no burst, whatever tolerance makes of the count.
func TestBurstPanicOnDemand(t *testing.T) {
	p := mustParse(t, burstBare)
	for _, tc := range []struct {
		ready int32
		qps   float64
		panic bool
	}{
		{ready: 4, qps: 40},                // 4 pods' worth: 1× the ready pods
		{ready: 4, qps: 70},                // 7 pods' worth: 1.75×
		{ready: 4, qps: 80, panic: true},   // 8 pods' worth: 2×
		{ready: 10, qps: 250, panic: true}, // 25 pods' worth: 2.5×
	} {
		d, h := p.Evaluate(Input{Now: t0, Current: 10, Ready: tc.ready, Metrics: []Observation{{Value: tc.qps, Valid: true}}}, warm)
		if got := len(h.State) > 0 && h.State[0] != nil; got != tc.panic {
			t.Errorf("%d ready, %g requests/s: panic %v (%+v); want %v", tc.ready, tc.qps, got, d.Proposals, tc.panic)
		}
	}
}

func TestBurstValidation(t *testing.T) {
	src := burstPolicy + "algorithm: {name: burst, args: {stableWindow: 2h, panicWindow: 0s, panicThreshold: 1}}\n"
	_, err := Parse("test.yaml", []byte(dedupe(src)), Builtin())
	want := []string{
		`test.yaml:5:33: algorithm.args.stableWindow: must be between the policy's interval (15s) and 1h, got 2h`,
		`test.yaml:5:51: algorithm.args.panicWindow: must be at least 1s and at most stableWindow (2h), got 0s`,
		`test.yaml:5:68: algorithm.args.panicThreshold: must be between 1.1 and 10 (times the ready pods), got 1`,
	}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("Parse errors (-want +got):\n%s", diff)
	}
}

// A reading that may read low (partial, or warned) holds the scale-down when it comes, and is left out of the
// windows afterwards: five minutes of partial readings do not make a later full one scale down.
func TestBurstDoubtfulPast(t *testing.T) {
	for _, c := range []struct {
		name string
		low  Observation
	}{
		{"partial", Observation{Value: 20, Valid: true, PodsKnown: true, Pods: 2}},
		{"warned", Observation{Value: 20, Valid: true, Warning: "partial response"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			eval := evaluator(mustParse(t, burstPolicy), 10)
			full := Observation{Value: 100, Valid: true, PodsKnown: true, Pods: 10}
			eval(0, full)
			for at := 15 * time.Second; at <= 5*time.Minute; at += 15 * time.Second {
				if d := eval(at, c.low); d.Desired != 10 || d.Reason != MetricPartial {
					t.Fatalf("t+%s on a %s reading: %d (%s); want held at 10 (%s)", at, c.name, d.Desired, d.Reason, MetricPartial)
				}
			}
			if d := eval(5*time.Minute+15*time.Second, full); d.Desired != 10 {
				t.Errorf("the full reading after them: %d (%s); want 10, what 100 req/s needs", d.Desired, d.Reason)
			}
			if s := AppendPast(nil, Input{Now: t0, Ready: 10, Metrics: []Observation{c.low}}, time.Hour)[0][0]; s.Value != 20 || !s.Low {
				t.Errorf("Past holds the %s reading as %+v; want 20, marked low", c.name, s)
			}
		})
	}
}
