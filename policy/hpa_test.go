package policy

import (
	"testing"
	"time"
)

// The hpa algorithm is the baseline users compare podpilot with, so each case below pins one rule of the
// Kubernetes HPA controller (pkg/controller/podautoscaler: replica_calculator.go and horizontal.go, and the
// autoscaling/v2 API defaults), named in the case.

const hpaCPU = `
target: {namespace: shop, name: web}
minReplicas: 1
maxReplicas: 100
algorithm: {name: hpa}
metrics: [{kind: cpu, utilization: 50}]
behavior: {}
`

const hpaThree = `
target: {namespace: shop, name: web}
minReplicas: 1
maxReplicas: 100
algorithm: {name: hpa}
metrics:
  - {kind: cpu, utilization: 50}
  - {kind: qps, perReplica: 10}
  - {kind: queue, queue: jobs, perReplica: 100}
behavior: {}
`

func TestHPAReplicaMath(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		cur    int32
		ready  int32
		vals   []float64
		want   int32
		reason Reason
	}{
		// desiredReplicas = ceil(currentMetricValue / desiredMetricValue × ready pods)
		{"ratio and ceil", hpaCPU, 4, 4, []float64{90}, 8, DesiredWithinRange},
		// |ratio - 1| ≤ 0.1 keeps the current count
		{"within tolerance above", hpaCPU, 4, 4, []float64{55}, 4, WithinTolerance},
		{"within tolerance below", hpaCPU, 4, 4, []float64{45}, 4, WithinTolerance},
		{"just outside tolerance", hpaCPU, 4, 4, []float64{56}, 5, DesiredWithinRange},
		// utilization is computed with integer division: 55.9 % is 55 %, within tolerance
		{"whole percent", hpaCPU, 4, 4, []float64{55.9}, 4, WithinTolerance},
		{"scale down", hpaCPU, 10, 10, []float64{20}, 4, DesiredWithinRange},
		// scale-up with unready pods: they count as using 0 %, then ceil(newRatio × all pods)
		{"unready pods on scale-up", hpaCPU, 10, 5, []float64{150}, 15, DesiredWithinRange},
		// ...and when counting them at 0 % flips the direction, the count stays
		{"unready pods flip direction", hpaCPU, 10, 4, []float64{60}, 10, WithinTolerance},
		// scale-down ignores unready pods: ceil(0.4 × 5 ready)
		{"unready pods on scale-down", hpaCPU, 10, 5, []float64{20}, 2, DesiredWithinRange},
		// largest proposal across metrics; qps is a Pods metric: per-pod average over ready pods
		{"largest proposal: qps", hpaThree, 4, 4, []float64{60, 60, 100}, 6, DesiredWithinRange},
		// queue is an External AverageValue metric: ceil(total / target), tolerance on total/(target × current)
		{"largest proposal: queue", hpaThree, 4, 4, []float64{50, 20, 700}, 7, DesiredWithinRange},
		{"queue within tolerance", hpaThree, 4, 4, []float64{50, 40, 420}, 4, WithinTolerance},
		// rate limit: default scale-up is max(+4 pods, +100 %) per 15 s
		{"default up limit", hpaCPU, 4, 4, []float64{200}, 8, ScaleUpLimit},
		{"default up limit, small", hpaCPU, 1, 1, []float64{500}, 5, ScaleUpLimit},
		// invalid metrics: scale-up on the valid ones is allowed...
		{"invalid metric, scale up", hpaThree, 4, 4, []float64{bad, 80, 100}, 8, DesiredWithinRange},
		// ...but no scale-down while any metric is invalid
		{"invalid metric, no scale down", hpaThree, 10, 10, []float64{bad, 10, 100}, 10, MetricUnavailable},
		{"all metrics invalid", hpaThree, 10, 10, []float64{bad, bad, bad}, 10, MetricUnavailable},
		// ...and a hold beside a broken metric says so, not that every metric is within tolerance
		{"invalid metric beside one within tolerance", hpaThree, 4, 4, []float64{bad, 40, 100}, 4, MetricUnavailable},
		// bounds: reconcileAutoscaler brings an out-of-range target inside before anything else
		{"current above max", hpaCPU, 150, 150, []float64{bad}, 100, TooManyReplicas},
		{"current below min", hpaCPU + "minReplicas: 3\n", 1, 1, []float64{bad}, 3, TooFewReplicas},
		{"scaled to zero by someone", hpaCPU, 0, 0, []float64{90}, 0, ScalingDisabled},
		{"clamp to max", hpaCPU + "maxReplicas: 6\n", 4, 4, []float64{90}, 6, TooManyReplicas},
		{"clamp to min", hpaCPU + "minReplicas: 3\n", 10, 10, []float64{5}, 3, TooFewReplicas},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			p := mustParse(t, dedupe(src))
			d, _ := p.Evaluate(Input{Now: t0, Current: tt.cur, Ready: tt.ready, Metrics: obs(tt.vals)}, warm)
			if d.Desired != tt.want || d.Reason != tt.reason {
				t.Errorf("Evaluate = %d (%s, raw %d, proposals %+v); want %d (%s)", d.Desired, d.Reason, d.Raw, d.Proposals, tt.want, tt.reason)
			}
		})
	}
}

// dedupe lets a case append "minReplicas: 3" to a base policy: the later key wins.
func dedupe(src string) string {
	lines := splitLines(src)
	last := map[string]int{}
	for i, l := range lines {
		if k := topKey(l); k != "" {
			last[k] = i
		}
	}
	var out []byte
	for i, l := range lines {
		if k := topKey(l); k != "" && last[k] != i {
			continue
		}
		out = append(out, l...)
		out = append(out, '\n')
	}
	return string(out)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func topKey(l string) string {
	if l == "" || l[0] == ' ' || l[0] == '-' || l[0] == '#' {
		return ""
	}
	for i := 0; i < len(l); i++ {
		if l[i] == ':' {
			return l[:i]
		}
	}
	return ""
}

func TestHPAScaleToAndFromZero(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: worker}
minReplicas: 0
maxReplicas: 10
algorithm: {name: hpa}
metrics: [{kind: queue, queue: jobs, perReplica: 100}]
behavior: {}
`)
	walk(t, p, warm, []tick{
		{at: 0, cur: 0, ready: -1, vals: []float64{250}, want: 3},    // from zero: ceil(250 / 100)
		{at: 15 * time.Second, cur: 3, vals: []float64{0}, want: 3},  // empty, but the down-window holds
		{at: 330 * time.Second, cur: 3, vals: []float64{0}, want: 0}, // after it: to zero
		{at: 345 * time.Second, cur: 0, ready: -1, vals: []float64{0}, want: 0},
	})
}

// stabilizeRecommendationWithBehaviors: scale-down takes the highest raw recommendation of the window, cut off
// strictly after now-window.
func TestHPADownWindow(t *testing.T) {
	p := mustParse(t, hpaCPU)
	var ticks []tick
	ticks = append(ticks, tick{at: 0, cur: 10, vals: []float64{50}, want: 10})
	for s := 15; s < 300; s += 15 {
		ticks = append(ticks, tick{at: time.Duration(s) * time.Second, cur: prev, vals: []float64{20}, want: 10, reason: ScaleDownStabilized})
	}
	ticks = append(ticks, tick{at: 300 * time.Second, cur: prev, vals: []float64{20}, want: 4, reason: DesiredWithinRange})
	walk(t, p, warm, ticks)
}

// The up-window takes the lowest recommendation of the window.
func TestHPAUpWindow(t *testing.T) {
	p := mustParse(t, dedupe(hpaCPU+"behavior: {scaleUp: {stabilizationWindow: 1m}}\n"))
	walk(t, p, warm, []tick{
		{at: 0, cur: 4, vals: []float64{50}, want: 4},
		{at: 15 * time.Second, cur: prev, vals: []float64{100}, want: 4, reason: ScaleUpStabilized},
		{at: 45 * time.Second, cur: prev, vals: []float64{100}, want: 4, reason: ScaleUpStabilized},
		{at: 60 * time.Second, cur: prev, vals: []float64{100}, want: 8},
	})
}

// A fresh history holds the current count as its first recommendation (recordInitialRecommendation), so a
// restarted controller scales down only after a full window.
func TestHPAFreshHistory(t *testing.T) {
	p := mustParse(t, hpaCPU)
	walk(t, p, History{}, []tick{
		{at: 0, cur: 10, vals: []float64{20}, want: 10, reason: ScaleDownStabilized},
		{at: 299 * time.Second, cur: prev, vals: []float64{20}, want: 10, reason: ScaleDownStabilized},
		{at: 300 * time.Second, cur: prev, vals: []float64{20}, want: 4},
	})
}

// Rate limits count the real scale events of each period: periodStart = current - added + removed.
func TestHPARateLimitPeriods(t *testing.T) {
	p := mustParse(t, dedupe(hpaCPU+`behavior:
  scaleUp: {policies: [{type: Pods, value: 2, period: 1m}]}
`))
	walk(t, p, warm, []tick{
		{at: 0, cur: 2, vals: []float64{250}, want: 4, reason: ScaleUpLimit},
		{at: 15 * time.Second, cur: prev, vals: []float64{250}, want: 4}, // 2 pods added in this minute already
		{at: 59 * time.Second, cur: prev, vals: []float64{250}, want: 4},
		{at: 60 * time.Second, cur: prev, vals: []float64{250}, want: 6, reason: ScaleUpLimit},
	})
}

func TestHPARatePolicies(t *testing.T) {
	tests := []struct {
		name     string
		behavior string
		cur      int32
		util     float64
		want     int32
		reason   Reason
	}{
		// Percent scale-up rounds up: ceil(3 × 1.5) = 5
		{"percent up rounds up", "{scaleUp: {policies: [{type: Percent, value: 50, period: 15s}]}}", 3, 500, 5, ScaleUpLimit},
		// Percent scale-down truncates: int(5 × 0.5) = 2
		{"percent down truncates", "{scaleDown: {stabilizationWindow: 0s, policies: [{type: Percent, value: 50, period: 15s}]}}", 5, 1, 2, ScaleDownLimit},
		{"pods down", "{scaleDown: {stabilizationWindow: 0s, policies: [{type: Pods, value: 1, period: 15s}]}}", 5, 1, 4, ScaleDownLimit},
		// select Max takes the most permissive policy, Min the least
		{"select max", "{scaleUp: {select: Max}}", 10, 500, 20, ScaleUpLimit},
		{"select min", "{scaleUp: {select: Min}}", 10, 500, 14, ScaleUpLimit},
		{"select disabled", "{scaleUp: {select: Disabled}}", 10, 500, 10, ScaleUpLimit},
		{"down disabled", "{scaleDown: {stabilizationWindow: 0s, select: Disabled}}", 10, 1, 10, ScaleDownLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, dedupe(hpaCPU+"behavior: "+tt.behavior+"\n"))
			d, _ := p.Evaluate(Input{Now: t0, Current: tt.cur, Ready: tt.cur, Metrics: obs([]float64{tt.util})}, warm)
			if d.Desired != tt.want || d.Reason != tt.reason {
				t.Errorf("Evaluate = %d (%s); want %d (%s)", d.Desired, d.Reason, tt.want, tt.reason)
			}
		})
	}
}

// An HPA without spec.behavior takes the controller's legacy path: the scale-up limit is max(2 × current, 4)
// per evaluation, and the down-window returns the highest recommendation of the window even above the current
// count. This is how an HPA keeps scaling up while the load falls (kubernetes#96671).
func TestHPALegacy(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: web}
maxReplicas: 100
algorithm: {name: hpa}
metrics: [{kind: qps, perReplica: 10}]
`)
	if !p.Behavior.Legacy {
		t.Fatal("no behavior block: want the legacy path")
	}
	walk(t, p, warm, []tick{
		{at: 0, cur: 1, vals: []float64{200}, want: 4, reason: ScaleUpLimit},                    // wants 20, max(2, 4)
		{at: 15 * time.Second, cur: prev, vals: []float64{150}, want: 8, reason: ScaleUpLimit},  // wants 15: max(20, 15) limited to 8
		{at: 30 * time.Second, cur: prev, vals: []float64{100}, want: 16, reason: ScaleUpLimit}, // load fell to 10 replicas' worth
		{at: 45 * time.Second, cur: prev, vals: []float64{80}, want: 20},                        // ...and it still goes to 20
	})
}

// Recommendations are not recorded when the metrics fail (the controller returns before stabilizing).
func TestHPAInvalidNotRecorded(t *testing.T) {
	p := mustParse(t, hpaCPU)
	_, h := p.Evaluate(Input{Now: t0, Current: 5, Ready: 5, Metrics: obs([]float64{bad})}, warm)
	if len(h.Recs) != 0 || h.Failures != 1 {
		t.Errorf("history after an invalid metric: %d recommendations, %d failures; want 0 and 1", len(h.Recs), h.Failures)
	}
}
