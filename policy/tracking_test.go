package policy

import (
	"testing"
	"time"
)

const tracking = `
target: {namespace: shop, name: web}
minReplicas: 2
maxReplicas: 100
metrics: [{kind: qps, perReplica: 10}]
`

// ANCHORS 2 and 5: a cooldown after any scale event, for every scale-down (not only to zero), and a down-window
// that keeps noise from flapping.
func TestTrackingCooldown(t *testing.T) {
	p := mustParse(t, tracking)
	walk(t, p, warm, []tick{
		{at: 0, cur: 4, vals: []float64{200}, want: 20},
		{at: 15 * time.Second, cur: prev, vals: []float64{50}, want: 20, reason: ScaleDownStabilized},
		{at: 150 * time.Second, cur: prev, vals: []float64{50}, want: 20, reason: ScaleDownStabilized},
		// window and cooldown both end three minutes after the scale-up
		{at: 195 * time.Second, cur: prev, vals: []float64{50}, want: 10, reason: ScaleDownLimit}, // at most -50 % a minute
		{at: 210 * time.Second, cur: prev, vals: []float64{50}, want: 10, reason: CooldownActive},
	})
}

// ANCHOR 2: where HPA's legacy path keeps scaling up after the load turned down (TestHPALegacy), target-tracking
// acts on the current reading at once and never scales up while the reading is below the current count.
func TestTrackingNoLateScaleUp(t *testing.T) {
	p := mustParse(t, tracking)
	walk(t, p, warm, []tick{
		{at: 0, cur: 2, vals: []float64{200}, want: 20},
		{at: 15 * time.Second, cur: prev, vals: []float64{150}, want: 20},
		{at: 30 * time.Second, cur: prev, vals: []float64{100}, want: 20},
		{at: 45 * time.Second, cur: prev, vals: []float64{80}, want: 20},
	})
}

// ANCHOR 1: a broken metric never scales in; a fallback only ever raises the count (keda#4249, #6659).
func TestTrackingMissingMetrics(t *testing.T) {
	fallback := tracking + "missingMetrics: {action: fallback, replicas: 6, after: 2}\n"
	tests := []struct {
		name  string
		src   string
		ticks []tick
	}{
		{"hold keeps the count", tracking, []tick{
			{at: 0, cur: 10, vals: []float64{bad}, want: 10, reason: MetricUnavailable},
			{at: time.Hour, cur: prev, vals: []float64{bad}, want: 10, reason: MetricUnavailable},
		}},
		{"fallback raises after N failures", fallback, []tick{
			{at: 0, cur: 2, vals: []float64{bad}, want: 2, reason: MetricUnavailable},
			{at: 15 * time.Second, cur: prev, vals: []float64{bad}, want: 6, reason: FallbackReplicas},
			{at: 30 * time.Second, cur: prev, vals: []float64{bad}, want: 6},
		}},
		{"fallback never lowers", fallback, []tick{
			{at: 0, cur: 30, vals: []float64{bad}, want: 30},
			{at: 15 * time.Second, cur: prev, vals: []float64{bad}, want: 30},
			{at: 30 * time.Second, cur: prev, vals: []float64{bad}, want: 30},
		}},
		{"recovery resets the count of failures", fallback, []tick{
			{at: 0, cur: 2, vals: []float64{bad}, want: 2},
			{at: 15 * time.Second, cur: prev, vals: []float64{20}, want: 2},
			{at: 30 * time.Second, cur: prev, vals: []float64{bad}, want: 2, reason: MetricUnavailable},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { walk(t, mustParse(t, dedupe(tt.src)), warm, tt.ticks) })
	}
}

// ANCHOR 9: a fresh history (a restart, a new leader) scales nothing down until it has seen a full window, and
// its cooldowns count from the start.
func TestTrackingFreshStart(t *testing.T) {
	p := mustParse(t, tracking)
	walk(t, p, History{}, []tick{
		{at: 0, cur: 20, vals: []float64{50}, want: 20},
		{at: 179 * time.Second, cur: prev, vals: []float64{50}, want: 20},
		{at: 180 * time.Second, cur: prev, vals: []float64{50}, want: 10},
	})
	// Scale-up is not held back by the start.
	walk(t, p, History{}, []tick{{at: 0, cur: 2, vals: []float64{100}, want: 10}})
}

// ANCHOR 3: tolerance per policy and direction, so a large Deployment can ask for a 2 % band.
func TestTrackingTolerance(t *testing.T) {
	p := mustParse(t, dedupe(tracking+"maxReplicas: 200\nbehavior: {scaleUp: {tolerance: 0.02}}\n"))
	walk(t, p, warm, []tick{
		{at: 0, cur: 100, vals: []float64{1020}, want: 100, reason: WithinTolerance},
		{at: 15 * time.Second, cur: prev, vals: []float64{1030}, want: 103},
	})
}

// ANCHOR 4: a spike is met at once: a 5x spike at 75 % takes one evaluation, not six (metrics-server#763).
func TestTrackingSpike(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: cpu, utilization: 75}]
`)
	walk(t, p, warm, []tick{{at: 0, cur: 10, vals: []float64{375}, want: 50}})
	h := mustParse(t, dedupe(`
target: {namespace: shop, name: web}
maxReplicas: 100
algorithm: {name: hpa}
metrics: [{kind: cpu, utilization: 75}]
`))
	walk(t, h, warm, []tick{
		{at: 0, cur: 10, vals: []float64{375}, want: 20, reason: ScaleUpLimit},
		{at: 15 * time.Second, cur: prev, ready: 10, vals: []float64{375}, want: 40, reason: ScaleUpLimit},
	})
}

// ANCHOR 7: surge pods during a rollout do not inflate the count: the load spread over more ready pods gives the
// same size.
func TestTrackingRollout(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: cpu, utilization: 50}, {kind: qps, perReplica: 10}]
`)
	// 10 replicas at 50 % and 100 req/s; mid-rollout 13 pods are ready and share the same load.
	for _, ready := range []int32{10, 13} {
		d, _ := p.Evaluate(Input{Now: t0, Current: 10, Ready: ready, Metrics: obs([]float64{500 / float64(ready), 100})}, warm)
		if d.Desired != 10 {
			t.Errorf("ready %d: Evaluate = %d (%+v); want 10", ready, d.Desired, d.Proposals)
		}
	}
}

// ANCHOR 6: to zero on an empty queue and back on the first messages.
func TestTrackingZero(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: worker}
minReplicas: 0
maxReplicas: 20
metrics: [{kind: queue, queue: jobs, perReplica: 50}]
`)
	walk(t, p, warm, []tick{
		{at: 0, cur: 2, vals: []float64{0}, want: 1, reason: ScaleDownLimit},
		{at: 3 * time.Minute, cur: prev, vals: []float64{0}, want: 0},
		{at: 4 * time.Minute, cur: 0, ready: -1, vals: []float64{1}, want: 1},
	})
}

func TestTrackingHeadroom(t *testing.T) {
	p := mustParse(t, tracking+"algorithm: {name: target-tracking, args: {headroom: 0.25}}\n")
	walk(t, p, warm, []tick{{at: 0, cur: 4, vals: []float64{80}, want: 10}}) // 8 replicas of load, +25 %
}

// A Value metric with no ready pods: HPA multiplies by zero ready pods and so proposes zero; target-tracking sizes
// from the spec replicas instead.
func TestTrackingValueWithoutReadyPods(t *testing.T) {
	src := `
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: promql, name: inflight, query: 'sum(x)', total: 100}]
`
	d, _ := mustParse(t, src).Evaluate(Input{Now: t0, Current: 4, Ready: 0, Metrics: obs([]float64{200})}, warm)
	if d.Desired != 8 {
		t.Errorf("target-tracking: Evaluate = %d; want 8", d.Desired)
	}
	d, _ = mustParse(t, src+"algorithm: {name: hpa}\nbehavior: {}\n").Evaluate(Input{Now: t0, Current: 4, Ready: 0, Metrics: obs([]float64{200})}, warm)
	if d.Raw != 0 {
		t.Errorf("hpa: raw = %d; want 0 (ceil(2 × 0 ready pods))", d.Raw)
	}
}
