package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/podpilot/podpilot/policy"
)

// The predictive algorithm's forecast error is exported per metric from the decisions report sees; metrics it
// does not forecast (cpu) get no series, and a target that was skipped or whose policy is gone loses its series.
func TestForecastErrorGauge(t *testing.T) {
	p, err := policy.Parse("web.yaml", []byte(`
target: {namespace: shop, name: web}
maxReplicas: 50
algorithm: {name: predictive}
metrics: [{kind: qps, perReplica: 10}, {kind: cpu, utilization: 60}]
`), policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c := &Controller{m: NewMetrics(reg)}
	var h policy.History
	var past [][]policy.Sample
	var last policy.Decision
	now := t0
	// A steady 100 requests/s, then 200: the linear trend's forecasts made before the step are off by half.
	for i := range 12 {
		qps := 100.0
		if i >= 8 {
			qps = 200
		}
		obs := []policy.Observation{{Value: qps, Valid: true}, {Value: 50, Valid: true}}
		in := policy.Input{Now: now, Current: 10, Ready: 10, Metrics: obs, Past: past}
		last, h = p.Evaluate(in, h)
		c.report(zap.NewNop(), &target{}, now, p, last, obs, errDryRun) // no cluster: nothing is written, no Events
		past = policy.AppendPast(past, in, p.Lookback())
		now = now.Add(15 * time.Second)
	}
	// The last decision's proposals: qps was forecast (and its forecasts were off), cpu is not forecast.
	qps := last.Proposals[0]
	if got := testutil.ToFloat64(c.m.forecastError.WithLabelValues("shop", "web", "qps")); qps.ForecastError <= 0 || got != qps.ForecastError {
		t.Errorf("podpilot_forecast_error{metric=\"qps\"} = %g; want %g (> 0), as the decision says", got, qps.ForecastError)
	}
	if n := testutil.CollectAndCount(c.m.forecastError); n != 1 {
		t.Errorf("%d series; want 1 (qps only)", n)
	}
	c.m.undecided("shop/web", 10) // paused: it forecasts nothing now
	if n := testutil.CollectAndCount(c.m.forecastError); n != 0 {
		t.Errorf("after a skip: %d series; want 0", n)
	}
	c.m.forecast("shop/web", last) // evaluated again
	c.m.forget("shop/web", true)
	if n := testutil.CollectAndCount(c.m.forecastError); n != 0 {
		t.Errorf("after forget: %d series; want 0", n)
	}
}

// A reload drops the target's forecast error gauges: a metric the edit took out is in none of the new policy's
// proposals, so no pass after it would ever drop its series.
func TestReloadDropsForecastGauge(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	src := strings.Replace(webPolicy, "{kind: cpu, utilization: 50}", "{kind: qps, perReplica: 10}", 1) + "algorithm: {name: predictive}\n"
	f.write("web.yaml", src)
	if err := f.store.Reload(); err != nil {
		t.Fatal(err)
	}
	pass := func() {
		f.ctl.Pass(context.Background(), always)
		f.clock.Step(15 * time.Second)
	}
	pass()
	f.ctl.m.forecastError.WithLabelValues("shop", "web", "old").Set(0.2) // as if an earlier policy forecast a metric "old"
	pass()
	if n := testutil.CollectAndCount(f.ctl.m.forecastError); n != 1 {
		t.Fatalf("a pass without a reload left %d forecast error series; want the old one (else this cannot tell a reload's drop)", n)
	}
	f.write("web.yaml", src+"# edited\n")
	if err := f.store.Reload(); err != nil {
		t.Fatal(err)
	}
	pass()
	if n := testutil.CollectAndCount(f.ctl.m.forecastError); n != 0 {
		t.Errorf("after a reload: %d forecast error series; want 0 (the policy has no metric old)", n)
	}
}
