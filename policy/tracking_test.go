package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const tracking = `
target: {namespace: shop, name: web}
minReplicas: 2
maxReplicas: 100
metrics: [{kind: qps, perReplica: 10}]
`

// classic turns target-tracking's demand estimate off: HPA's arithmetic on the reading alone, for tests of the
// behaviour stages.
const classic = "algorithm: {name: target-tracking, args: {estimate: false}}\n"

// ANCHORS 2 and 5: a cooldown after any scale event, for every scale-down (not only to zero), and a down-window
// that keeps noise from flapping.
func TestTrackingCooldown(t *testing.T) {
	p := mustParse(t, tracking+classic)
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
	two := fallback + "metrics: [{kind: qps, perReplica: 10}, {kind: cpu, utilization: 50}]\n"
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
		// The valid qps reading asks for 3 (25/10 and half a spare replica), the broken cpu for nothing: the
		// fallback stands in for the broken metric, so the count is at least 6, and the valid one may raise it.
		{"fallback holds beside a valid metric", two, []tick{
			{at: 0, cur: 3, vals: []float64{25, bad}, want: 3, reason: MetricUnavailable},
			{at: 15 * time.Second, cur: prev, vals: []float64{25, bad}, want: 6, reason: FallbackReplicas},
			{at: 30 * time.Second, cur: prev, vals: []float64{25, bad}, want: 6, reason: MetricUnavailable},
			{at: 45 * time.Second, cur: prev, vals: []float64{95, bad}, want: 10},
		}},
		{"fallback never lowers", fallback, []tick{
			{at: 0, cur: 30, vals: []float64{bad}, want: 30},
			{at: 15 * time.Second, cur: prev, vals: []float64{bad}, want: 30},
			{at: 30 * time.Second, cur: prev, vals: []float64{bad}, want: 30},
		}},
		// No ready pod to average cpu over (failing readiness): a reading without a proposal is a failure.
		{"fallback on a reading no pod can average", dedupe(fallback + "metrics: [{kind: cpu, utilization: 50}]\n"), []tick{
			{at: 0, cur: 2, ready: -1, vals: []float64{90}, want: 2, reason: MetricUnavailable},
			{at: 15 * time.Second, cur: prev, ready: -1, vals: []float64{90}, want: 6, reason: FallbackReplicas},
		}},
		// At zero, cpu has no pods to read from, which is not a failure: no fallback wakes the target, and the
		// queue's first message still does.
		{"no fallback at zero", dedupe(fallback + "minReplicas: 0\nmetrics: [{kind: queue, queue: jobs, perReplica: 10}, {kind: cpu, utilization: 50}]\n"), []tick{
			{at: 0, cur: 0, vals: []float64{0, bad}, want: 0},
			{at: 15 * time.Second, cur: prev, vals: []float64{0, bad}, want: 0},
			{at: 30 * time.Second, cur: prev, vals: []float64{0, bad}, want: 0},
			{at: 45 * time.Second, cur: prev, vals: []float64{5, bad}, want: 1},
		}},
		{"recovery resets the count of failures", fallback, []tick{
			{at: 0, cur: 2, vals: []float64{bad}, want: 2},
			{at: 15 * time.Second, cur: prev, vals: []float64{15}, want: 2}, // 15/10 + half a spare replica
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
	// Scale-up is not held back by the start: 100/10 and half a spare replica.
	walk(t, p, History{}, []tick{{at: 0, cur: 2, vals: []float64{100}, want: 11}})
}

// ANCHOR 3: tolerance per policy and direction, so a large Deployment can ask for a 2 % band. (Half a spare
// replica, 5 requests/s, comes on top of each reading: 1015 is 1.5 % above 100 replicas' target, 1035 3.5 %.)
func TestTrackingTolerance(t *testing.T) {
	p := mustParse(t, dedupe(tracking+"maxReplicas: 200\nbehavior: {scaleUp: {tolerance: 0.02}}\n"))
	walk(t, p, warm, []tick{
		{at: 0, cur: 100, vals: []float64{1010}, want: 100, reason: WithinTolerance},
		{at: 15 * time.Second, cur: prev, vals: []float64{1030}, want: 104},
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
// same size (cpu's 10, and qps's 90/10 with half a spare replica: 10).
func TestTrackingRollout(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: cpu, utilization: 50}, {kind: qps, perReplica: 10}]
`)
	// 10 replicas at 50 % and 90 req/s; mid-rollout 13 pods are ready and share the same load.
	for _, ready := range []int32{10, 13} {
		d, _ := p.Evaluate(Input{Now: t0, Current: 10, Ready: ready, Metrics: obs([]float64{500 / float64(ready), 90})}, warm)
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
	walk(t, p, warm, []tick{{at: 0, cur: 4, vals: []float64{80}, want: 11}}) // 8 replicas of load, +25 %, and half a spare
}

// Spare replicas come on top of a demand metric's need, in replicas at its target whatever the metric's mode, so
// that a small Deployment keeps spare capacity that a proportional margin would round away; none on zero load, so
// that a target at zero stays there and wakes on the first request.
func TestTrackingSpare(t *testing.T) {
	const zero = `
target: {namespace: shop, name: worker}
minReplicas: 0
maxReplicas: 100
metrics: [{kind: promql, name: inflight, query: 'sum(x)', perReplica: 10}]
`
	const total = `
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: promql, name: inflight, query: 'sum(x)', total: 100}]
`
	for _, tc := range []struct {
		name       string
		src        string
		cur, ready int32
		val        float64
		want       int32
	}{
		{"at the target: half a replica rounds up to one", tracking, 2, 2, 20, 3},
		{"within a replica: no more", tracking, 2, 2, 24, 3},
		{"two spare replicas", tracking + "algorithm: {name: target-tracking, args: {spare: 2}}\n", 2, 2, 20, 4},
		{"none", tracking + "algorithm: {name: target-tracking, args: {spare: 0}}\n", 4, 4, 20, 2},
		{"perReplica", zero, 5, 5, 95, 10},
		{"zero load stays at zero", zero, 0, 0, 0, 0},
		{"the first request wakes one", zero, 0, 0, 1, 1},
		{"a total: half a replica on top of 4 × 200/100", total, 4, 4, 200, 9},
	} {
		d, _ := mustParse(t, tc.src).Evaluate(Input{Now: t0, Current: tc.cur, Ready: tc.ready, Metrics: obs([]float64{tc.val})}, warm)
		if d.Desired != tc.want {
			t.Errorf("%s: Evaluate = %d (%+v); want %d", tc.name, d.Desired, d.Proposals, tc.want)
		}
	}
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
	if d.Desired != 9 { // 4 × 200/100, and half a spare replica
		t.Errorf("target-tracking: Evaluate = %d; want 9", d.Desired)
	}
	d, _ = mustParse(t, src+"algorithm: {name: hpa}\nbehavior: {}\n").Evaluate(Input{Now: t0, Current: 4, Ready: 0, Metrics: obs([]float64{200})}, warm)
	if d.Raw != 0 {
		t.Errorf("hpa: raw = %d; want 0 (ceil(2 × 0 ready pods))", d.Raw)
	}
}

// A promql value compared with a total target is read in proportion to the replicas (a per-pod average, a
// latency): it is sized as read, with its spare replicas, not on an estimate whose level and floor would keep
// readings taken at another count. Here 800 units of work spread over the replicas, 100 per replica wanted: 8
// replicas, and half a spare replica, at every step from 4 on; a floor, which needs a demand metric, is refused.
func TestTrackingValueSizedAsRead(t *testing.T) {
	for _, args := range []string{"{}", "{floorQuantile: 1, floorWindow: 30m}"} {
		p, err := Parse("test.yaml", []byte(`
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: promql, name: latency, query: 'x', total: 100}]
algorithm: {name: target-tracking, args: `+args+`}
`), Builtin())
		if args != "{}" {
			// The floor needs a demand metric: a policy with only this one is refused.
			if want := `test.yaml:5:43: algorithm.args.floorQuantile: needs a demand metric (qps, or promql with perReplica) to floor`; err == nil || err.Error() != want {
				t.Errorf("%s: Parse = %v; want %s", args, err, want)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		h, cur, seen := History{}, int32(4), []int32{}
		for at := time.Duration(0); at <= time.Hour; at += 5 * time.Minute {
			d, nh := p.Evaluate(Input{Now: t0.Add(at), Current: cur, Ready: cur, Metrics: obs([]float64{800 / float64(cur)})}, h)
			if d.Scale() {
				nh = nh.Scaled(t0.Add(at), cur, d.Desired)
			}
			h, cur = nh, d.Desired
			seen = append(seen, cur)
		}
		for i, n := range seen {
			if n != 9 {
				t.Fatalf("%s: replicas %v (step %d: %d); want 9 throughout (800/100, and half a spare replica)", args, seen, i, n)
			}
		}
	}
}

// A noisy load gets a margin in proportion to its noise; a steady one of the same mean gets none. The readings
// alternate between 80 and 120: the level follows rises within a minute and falls over five, so it settles between
// 112.5 and 114, and the readings stray +7.6 and -34 from it, a standard deviation of about 25 once the spread has
// learnt it (a fall counts at most two standard deviations, so a spread that starts at 0 learns falls slowly: it
// takes a couple of hours here). 114 + 0.5 × 25 = 126.5 asks for 13 replicas (without the spare replica, so that
// the margin alone decides). The count never goes below what the reading asks, and never up on a falling reading.
func TestTrackingMargin(t *testing.T) {
	p := mustParse(t, tracking+"algorithm: {name: target-tracking, args: {spare: 0}}\n")
	for _, tc := range []struct {
		name string
		load func(i int) float64
		want int32
	}{
		{"steady", func(int) float64 { return 100 }, 10},
		{"noisy", func(i int) float64 { return []float64{120, 80}[i%2] }, 13},
	} {
		h, cur := warm, int32(10)
		for i := range 4 * 240 { // four hours
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			v := tc.load(i)
			d, nh := p.Evaluate(Input{Now: now, Current: cur, Ready: cur, Metrics: obs([]float64{v})}, h)
			if d.Desired < int32(v/10) || (i%2 == 1 && d.Desired > cur) {
				t.Fatalf("%s, %s: %d → %d on reading %g (proposal %+v)", tc.name, now.Sub(t0), cur, d.Desired, v, d.Proposals[0])
			}
			if d.Scale() {
				nh = nh.Scaled(now, cur, d.Desired)
			}
			h, cur = nh, d.Desired
		}
		if cur != tc.want {
			t.Errorf("%s load after four hours: %d replicas; want %d", tc.name, cur, tc.want)
		}
	}
}

// A rate over a one-minute window shows a step from 100 to 300 requests/s over four readings (150, 200, 250,
// 300). The first rise is taken as it is (15 replicas); from the second on, the rest of the rise the window still
// hides is added: 200 + 2 × 50 = 300, so the step is met 45 s before the reading shows it. Once new pods are
// ready, their first rates are unsettled for a window and nothing is read through it; nor while the reading covers
// fewer pods than are ready (series younger than the window, whose rates rise as they age: a restarted exporter, or
// the first minute of a Deployment's metrics). (A promql rate per replica and no spare replica, so that the
// arithmetic is ceil(value / 10), exactly.)
func TestTrackingTrend(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: promql, name: rps, query: 'sum(rate(requests_total{ {{.Selector}} }[{{.Window}}]))', perReplica: 10}]
algorithm: {name: target-tracking, args: {spare: 0}}
`)
	step := []float64{100, 100, 100, 150, 200, 250, 300, 300}
	for _, tc := range []struct {
		name  string
		ready func(cur int32) int32
		pods  int32 // the pods the readings cover, when known
		want  []int32
	}{
		{"through the window", func(int32) int32 { return 10 }, 0, []int32{10, 10, 10, 15, 30, 30, 30, 30}},
		{"new pods ready: no reading through", func(cur int32) int32 { return cur }, 0, []int32{10, 10, 10, 15, 20, 25, 30, 30}},
		{"partial readings: no reading through", func(int32) int32 { return 10 }, 4, []int32{10, 10, 10, 15, 20, 25, 30, 30}},
	} {
		h, cur := warm, int32(10)
		var got []int32
		for i, v := range step {
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			o := obs([]float64{v})
			o[0].Pods, o[0].PodsKnown = tc.pods, tc.pods > 0
			d, nh := p.Evaluate(Input{Now: now, Current: cur, Ready: tc.ready(cur), Metrics: o}, h)
			if d.Scale() {
				nh = nh.Scaled(now, cur, d.Desired)
			}
			h, cur = nh, d.Desired
			got = append(got, cur)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: replicas (-want +got):\n%s", tc.name, diff)
		}
	}
	// A single jump is taken as it is: a gauge, or a scrape slower than the loop, moves at once.
	walk(t, p, warm, []tick{
		{at: 0, cur: 10, ready: 10, vals: []float64{100}, want: 10},
		{at: 15 * time.Second, cur: prev, ready: 10, vals: []float64{300}, want: 30},
		{at: 30 * time.Second, cur: prev, ready: 10, vals: []float64{300}, want: 30},
	})
}

// A lasting fall teaches no margin: the level follows the readings down (50 + 150 × e^(-t/5m)) until every reading
// for a whole lastingFall (10m) has been below it, and then drops to the highest of them since the first rate
// window (1m) of that stretch, which the rate spends falling. The count steps down as the level, the 3m window and
// cooldown and -50 % a minute let it, and is at the new load (50/10 and half a spare replica: 6) 12m30s after a 4×
// drop (HPA: 5 minutes) when the reading falls at once (a gauge), 13m when it falls through its window (a rate over
// 1m: 162.5, 125, 87.5, then 50; counting those, the highest of the stretch would be 162.5, the drop would change
// nothing, and the count would still be 7 at the test's end, 20 minutes after the fall). A reading back at the
// level (160 at 2m, when the level is 151) restarts that watch, so the count follows the level's slower fall for
// longer. So does a gap in the readings: a metric that was broken for a while is not taken to have been low all
// along.
func TestTrackingLastingFall(t *testing.T) {
	p := mustParse(t, tracking)
	for _, tc := range []struct {
		name string
		rate bool // the reading falls through a 1m window
		blip int  // the evaluation after the fall (at 10m) whose reading is 160, at the level then; 0: none
		gap  int  // evaluations after the fall's first whose readings are invalid
		want []string
	}{
		{name: "a gauge", want: []string{"3m30s 20→18", "6m30s 18→13", "9m30s 13→10", "12m30s 10→6"}},
		{name: "a rate", rate: true, want: []string{"4m0s 20→18", "7m0s 18→13", "10m0s 13→10", "13m0s 10→6"}},
		{name: "back at the level after 2m", blip: 8,
			want: []string{"3m30s 20→18", "6m30s 18→13", "9m30s 13→10", "12m30s 10→8", "15m30s 8→6"}},
		{name: "readings missing for 4m", gap: 16,
			want: []string{"7m30s 20→18", "10m30s 18→13", "13m30s 13→10", "16m30s 10→8", "19m30s 8→6"}},
	} {
		h, cur := warm, int32(20)
		var steps []string
		for i := range 120 { // 30 minutes
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			v := 50.0
			switch {
			case i < 40:
				v = 200
			case tc.rate && i < 44:
				v = 200 - 37.5*float64(i-39)
			case i == 40+tc.blip && tc.blip > 0:
				v = 160
			case i > 40 && i <= 40+tc.gap:
				v = bad
			}
			d, nh := p.Evaluate(Input{Now: now, Current: cur, Ready: cur, Metrics: obs([]float64{v})}, h)
			if d.Scale() {
				nh = nh.Scaled(now, cur, d.Desired)
				steps = append(steps, fmt.Sprintf("%s %d→%d", now.Sub(t0.Add(10*time.Minute)), cur, d.Desired))
			}
			h, cur = nh, d.Desired
		}
		if diff := cmp.Diff(tc.want, steps); diff != "" {
			t.Errorf("%s: scale events after the fall (-want +got):\n%s", tc.name, diff)
		}
	}
}

// A reading so large that its variance overflows (a broken exporter, but a valid number) sizes for the most
// replicas, never for none: without a margin (spread and hysteresis 0), 0 × the infinite deviation must not turn
// the estimate into NaN, which would size for zero.
func TestTrackingHugeReading(t *testing.T) {
	p := mustParse(t, tracking+"algorithm: {name: target-tracking, args: {spread: 0, hysteresis: 0}}\n")
	walk(t, p, warm, []tick{
		{at: 0, cur: 10, vals: []float64{100}, want: 10, reason: WithinTolerance},
		{at: 15 * time.Second, cur: prev, vals: []float64{1e300}, want: 100, reason: TooManyReplicas},
		{at: 30 * time.Second, cur: prev, vals: []float64{1e300}, want: 100, reason: TooManyReplicas},
	})
}

func TestTrackingValidation(t *testing.T) {
	src := tracking + "algorithm: {name: target-tracking, args: {spread: -1, hysteresis: 6, spreadWindow: 10s, levelUp: 2h, levelDown: 90m, spare: -0.5, lastingFall: 2h}}\n"
	_, err := Parse("test.yaml", []byte(src), Builtin())
	want := []string{
		`test.yaml:6:43: algorithm.args.spread: must be between 0 and 5 (standard deviations), got -1`,
		`test.yaml:6:55: algorithm.args.hysteresis: must be between 0 and 5 (standard deviations), got 6`,
		`test.yaml:6:70: algorithm.args.spreadWindow: must be between the policy's interval (15s) and 24h, got 10s`,
		`test.yaml:6:89: algorithm.args.levelUp: must be between 0s and 1h, got 2h`,
		`test.yaml:6:102: algorithm.args.levelDown: must be between 0s and 1h, got 1h30m`,
		`test.yaml:6:118: algorithm.args.spare: must be between 0 and 10 (replicas), got -0.5`,
		`test.yaml:6:131: algorithm.args.lastingFall: must be between 0s and 1h, got 2h`,
	}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("Parse errors (-want +got):\n%s", diff)
	}
}

func TestTrackingFloorValidation(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"{floorQuantile: 1.5}", `test.yaml:6:43: algorithm.args.floorQuantile: must be between 0 (no floor) and 1 (the highest), got 1.5`},
		{"{floorQuantile: -0.1}", `test.yaml:6:43: algorithm.args.floorQuantile: must be between 0 (no floor) and 1 (the highest), got -0.1`},
		{"{floorQuantile: 0.9, floorWindow: 30s}", `test.yaml:6:63: algorithm.args.floorWindow: must be whole minutes from 1m to 4h, got 30s`},
		{"{floorQuantile: 0.9, floorWindow: 90s}", `test.yaml:6:63: algorithm.args.floorWindow: must be whole minutes from 1m to 4h, got 1m30s`},
		{"{floorWindow: 5h}", `test.yaml:6:43: algorithm.args.floorWindow: must be whole minutes from 1m to 4h, got 5h`},
		{"{floorQuantile: 0.9, estimate: false}", `test.yaml:6:43: algorithm.args.floorQuantile: needs estimate: true (the floor is on the demand estimate)`},
	} {
		_, err := Parse("test.yaml", []byte(tracking+"algorithm: {name: target-tracking, args: "+tc.args+"}\n"), Builtin())
		if diff := cmp.Diff([]string{tc.want}, errorLines(t, err)); diff != "" {
			t.Errorf("%s: Parse errors (-want +got):\n%s", tc.args, diff)
		}
	}
}

// The floor is a quantile of the readings per minute (each minute at its highest) over the window; a reading
// that may be low is not recorded.
func TestTrackingFloorQuantile(t *testing.T) {
	perMinute := []float64{30, 10, 40, 20} // one minute each, over 2 ready pods
	tests := []struct {
		name   string
		q      float64
		window time.Duration
		want   float64
	}{
		{"lowest", 0.01, 10 * time.Minute, 10},
		{"median", 0.5, 10 * time.Minute, 20},
		{"upper quartile", 0.75, 10 * time.Minute, 30},
		{"highest", 1, 10 * time.Minute, 40},
		{"only the window's minutes", 0.01, 2 * time.Minute, 20},
	}
	for _, start := range []time.Time{t0, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)} { // before 1970 too
		for _, tt := range tests {
			p := mustParse(t, tracking+fmt.Sprintf("algorithm: {name: target-tracking, args: {floorQuantile: %g, floorWindow: %s}}\n", tt.q, FormatDuration(tt.window)))
			a := p.Algorithms[0].Impl.(trackingAlgo)
			var past []Sample
			for i, v := range perMinute {
				at := start.Add(time.Duration(i) * time.Minute)
				// Two readings a minute: the minute counts at its highest.
				past = append(past, Sample{Time: at, Value: v}, Sample{Time: at.Add(30 * time.Second), Value: v / 2})
			}
			// A minute with only a partial reading (1 of 2 pods), which may read low: it is left out.
			got := a.floor(past, start.Add(4*time.Minute), Observation{Value: 1, Valid: true, Pods: 1, PodsKnown: true}, 2)
			if got != tt.want {
				t.Errorf("%s from %s: floor = %g; want %g", tt.name, start.Format(time.DateOnly), got, tt.want)
			}
		}
	}
}

// A fresh start (a restart, a new leader, a reload, a pause) fills the floor from Input.Past, which the daemon
// backfills from Prometheus over the floor's window (Lookback): the peak of 20 minutes ago still counts, a
// reading marked low does not, nor one older than the window.
func TestTrackingFloorSeeded(t *testing.T) {
	p := mustParse(t, tracking+"algorithm: {name: target-tracking, args: {floorQuantile: 1, floorWindow: 30m}}\n")
	if got := p.Lookback(); got != 30*time.Minute {
		t.Errorf("Lookback = %s; want the floor's window, 30m", got)
	}
	now := t0.Add(time.Hour)
	var past []Sample
	for at := now.Add(-45 * time.Minute); at.Before(now); at = at.Add(15 * time.Second) {
		v := 50.0
		switch {
		case at.Before(now.Add(-40 * time.Minute)):
			v = 900 // older than the window
		case at.Before(now.Add(-15 * time.Minute)):
			v = 200 // the peak
		}
		past = append(past, Sample{Time: at, Value: v})
	}
	past = append(past, Sample{Time: now.Add(-5 * time.Second), Value: 700, Low: true})
	for _, tc := range []struct {
		name string
		past [][]Sample
		want int32
	}{
		{"with the window's readings", [][]Sample{past}, 21}, // 200/10, and half a spare replica
		{"without", nil, 6},
	} {
		d, _ := p.Evaluate(Input{Now: now, Current: 6, Ready: 6, Metrics: obs([]float64{50}), Past: tc.past}, History{})
		if d.Desired != tc.want {
			t.Errorf("%s: Evaluate = %d (%s, %+v); want %d", tc.name, d.Desired, d.Reason, d.Proposals, tc.want)
		}
	}
}

// After a peak, a floor on the highest reading of the last 30 minutes keeps the replicas the peak needed for
// those 30 minutes (capacity for the next one, already running), where the defaults follow the load down; after
// that, the floor lets go too. A broken reading during the hold changes nothing.
func TestTrackingFloorHoldsAfterPeak(t *testing.T) {
	demand := func(at time.Duration) float64 {
		if at < 10*time.Minute {
			return 200 // 20 replicas at 10 per replica
		}
		return 50
	}
	run := func(args string) map[time.Duration]int32 {
		p := mustParse(t, tracking+"algorithm: {name: target-tracking, args: "+args+"}\n")
		h, cur, out := History{}, int32(20), map[time.Duration]int32{}
		var past [][]Sample // as the controller and the simulator keep it
		for at := time.Duration(0); at <= 70*time.Minute; at += 15 * time.Second {
			o := []Observation{{Value: demand(at), Valid: true}}
			if at == 25*time.Minute {
				o = []Observation{{Reason: "empty result"}}
			}
			in := Input{Now: t0.Add(at), Current: cur, Ready: cur, Metrics: o, Past: past}
			d, nh := p.Evaluate(in, h)
			past = AppendPast(past, in, p.Lookback())
			if d.Scale() {
				nh = nh.Scaled(t0.Add(at), cur, d.Desired)
			}
			h, cur = nh, d.Desired
			out[at] = cur
		}
		return out
	}
	plain, floored := run("{}"), run("{floorQuantile: 1, floorWindow: 30m}")
	if got := plain[35*time.Minute]; got >= 20 {
		t.Errorf("defaults: %d replicas 25 minutes after the drop; want fewer than the peak's 20", got)
	}
	for at := 10 * time.Minute; at < 40*time.Minute; at += 15 * time.Second {
		if got := floored[at]; got < 20 {
			t.Fatalf("floor: %d replicas at t+%s, within 30 minutes of the peak; want at least 20", got, at)
		}
	}
	if got := floored[70*time.Minute]; got >= 20 {
		t.Errorf("floor: %d replicas an hour after the drop; want fewer than 20, the peak out of the window", got)
	}
}

// A demand metric whose first usable reading comes late starts its level there, not at zero: no margin is learnt
// from the wait.
func TestTrackingFirstReadingLate(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: web}
minReplicas: 2
maxReplicas: 100
metrics: [{kind: cpu, utilization: 50}, {kind: qps, perReplica: 10}]
`)
	ticks := []tick{{at: 0, cur: 10, vals: []float64{50, bad}, want: 10, reason: MetricUnavailable}}
	for i := 1; i <= 40; i++ {
		ticks = append(ticks, tick{at: time.Duration(i) * 15 * time.Second, cur: prev, vals: []float64{50, 100}, want: 10, reason: WithinTolerance})
	}
	walk(t, p, warm, ticks)
}

// A reading that may be low (partial: it covers fewer pods than are ready; or warned about) holds the count, and
// it moves nothing the next whole reading is sized on: it is no rise for the trend to read through, and it
// lowers neither the level nor the margin. Without that, the first whole reading after such a stretch scales
// down on unchanged load, or up on a rise that was the readings' pods coming back.
func TestTrackingDoubtfulReadings(t *testing.T) {
	low := func(v float64, pods int32) Observation {
		return Observation{Value: v, Valid: true, Pods: pods, PodsKnown: true}
	}
	warned := func(v float64, _ int32) Observation {
		return Observation{Value: v, Valid: true, Warning: "partial response"}
	}
	for name, doubtful := range map[string]func(float64, int32) Observation{"partial": low, "warned": warned} {
		// Noisy load around 100 (perReplica 10) keeps a margin; then four minutes of readings around 30.
		p := mustParse(t, tracking)
		h, cur := warm, int32(10)
		step := func(i int, o Observation) int32 {
			now := t0.Add(time.Duration(i) * 15 * time.Second)
			d, nh := p.Evaluate(Input{Now: now, Current: cur, Ready: cur, Metrics: []Observation{o}}, h)
			if d.Scale() {
				nh = nh.Scaled(now, cur, d.Desired)
			}
			h, cur = nh, d.Desired
			return cur
		}
		i := 0
		for ; i < 160; i++ {
			step(i, Observation{Value: []float64{80, 120}[i%2], Valid: true})
		}
		before := cur
		for end := i + 16; i < end; i++ {
			if got := step(i, doubtful(30, cur*6/10)); got < before {
				t.Fatalf("%s: a doubtful reading scaled down from %d to %d", name, before, got)
			}
		}
		for end := i + 8; i < end; i++ {
			if got := step(i, Observation{Value: []float64{80, 120}[i%2], Valid: true}); got < before {
				t.Errorf("%s: whole readings of the same load after the doubtful ones: %d replicas; want at least the %d before them", name, got, before)
				break
			}
		}
	}
	// The trend: readings covering 3 and then 6 of the 10 ready pods, then a whole one back at 100, are no
	// rise through the window (which would size for 180 and more).
	p := mustParse(t, `
target: {namespace: shop, name: web}
maxReplicas: 100
metrics: [{kind: promql, name: rps, query: 'sum(rate(requests_total{ {{.Selector}} }[{{.Window}}]))', perReplica: 10}]
algorithm: {name: target-tracking, args: {spare: 0}}
`)
	h := warm
	for i, o := range []Observation{low(100, 10), low(100, 10), low(100, 10), low(30, 3), low(60, 6), low(100, 10), low(100, 10)} {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		d, nh := p.Evaluate(Input{Now: now, Current: 10, Ready: 10, Metrics: []Observation{o}}, h)
		if d.Desired != 10 {
			t.Errorf("trend, reading %d (%g, covering %d of 10 pods): %d replicas (%s); want 10", i, o.Value, o.Pods, d.Desired, d.Reason)
		}
		h = nh
	}
}
