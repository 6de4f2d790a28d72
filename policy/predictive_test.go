package policy

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const predictivePolicy = `
target: {namespace: shop, name: web}
maxReplicas: 100
algorithm: {name: predictive}
metrics: [{kind: qps, perReplica: 10}]
`

// t0 is 12:00 UTC: the working day's load rises at 09:00 and falls at 17:00.
var (
	rise = t0.Add(-3 * time.Hour)
	fall = t0.Add(5 * time.Hour)
)

// workday is 500 requests/s from 09:00 to 17:00 UTC, 100 otherwise.
func workday(at time.Time) float64 {
	if h := at.UTC().Hour(); h >= 9 && h < 17 {
		return 500
	}
	return 100
}

// history is the readings of load from a day and a half before t to t.
func history(t time.Time, load func(time.Time) float64) [][]Sample {
	return [][]Sample{series(t.Add(-36*time.Hour), t, 15*time.Second, load)}
}

// ticksOf is one tick every 15 s within [from, to), reading load, at the previous count.
func ticksOf(from, to time.Time, load func(time.Time) float64) []tick {
	var ts []tick
	for at := from; at.Before(to); at = at.Add(15 * time.Second) {
		ts = append(ts, tick{at: at.Sub(t0), cur: prev, vals: []float64{load(at)}, want: anyCount})
	}
	return ts
}

func clock(d Decision) string { return d.Time.UTC().Format("15:04:05") }

// ANCHOR 8 (keda#197): having seen yesterday's 09:00 rise, predictive asks for the capacity a start-up plus an
// interval ahead (08:58:45), so that it is ready when the load comes; target-tracking asks at 09:00.
func TestPredictiveScalesOutAhead(t *testing.T) {
	from := rise.Add(-10 * time.Minute)
	ticks := ticksOf(from, rise.Add(2*time.Minute), workday)
	ticks[0].cur = 10
	for _, tc := range []struct {
		src   string
		first string // when the count first rises to 50
	}{
		{predictivePolicy, "08:58:45"},
		// target-tracking on the bare reading (without the margin, which would add a replica or three to the 50
		// after the jump): when the count first rises is what is compared.
		{dedupe(predictivePolicy + classic), "09:00:00"},
	} {
		p := mustParse(t, tc.src)
		ds := walkPast(t, p, warm, history(from, workday), ticks)
		first := ""
		for _, d := range ds {
			if d.Desired != 10 && d.Desired != 50 {
				t.Fatalf("%s at %s: Evaluate = %d; want 10 or 50", p.Algorithms[0].Name, clock(d), d.Desired)
			}
			if d.Desired == 50 && first == "" {
				first = clock(d)
			}
		}
		if first != tc.first {
			t.Errorf("%s: first scaled to 50 at %s; want %s", p.Algorithms[0].Name, first, tc.first)
		}
	}
	// The forecast and its error are reported with the proposal.
	p := mustParse(t, predictivePolicy)
	ds := walkPast(t, p, warm, history(from, workday), ticks)
	at := ds[35] // 08:58:45, at 10 replicas
	want := Proposal{Algorithm: "predictive", Metric: "qps", Value: 100, Target: 10, Ratio: 1, Replicas: 50, Valid: true,
		Note: noteForecast, Forecast: 500, ForecastError: 0}
	if diff := cmp.Diff(want, at.Proposals[0]); clock(at) != "08:58:45" || diff != "" {
		t.Errorf("proposal at %s (-want +got):\n%s", clock(at), diff)
	}
}

// Scale-in follows the reactive proposal: a forecast fall never lowers the count before the load falls.
func TestPredictiveScalesInReactively(t *testing.T) {
	from := fall.Add(-5 * time.Minute)
	ticks := ticksOf(from, fall.Add(5*time.Minute), workday)
	ticks[0].cur = 50
	ds := walkPast(t, mustParse(t, predictivePolicy), warm, history(from, workday), ticks)
	for _, d := range ds {
		pr := d.Proposals[0]
		switch {
		case d.Time.Before(fall) && (d.Desired != 50 || pr.Replicas != 50):
			t.Errorf("%s, before the fall: Evaluate = %d, proposal %+v; want 50", clock(d), d.Desired, pr)
		case !d.Time.Before(fall) && pr.Replicas != 10:
			t.Errorf("%s, after the fall: proposal %+v; want 10, as target-tracking", clock(d), pr)
		}
	}
	if f := ds[len(ds)/2-5].Proposals[0].Forecast; f != 100 {
		t.Errorf("forecast at %s = %g; want 100 (the fall is foreseen)", clock(ds[len(ds)/2-5]), f)
	}
	if last := ds[len(ds)-1]; last.Desired >= 50 {
		t.Errorf("%s: still at %d", clock(last), last.Desired)
	}
}

// A day that breaks the pattern (a holiday: yesterday rose at 09:00, today does not) costs one wrong scale-out;
// within two evaluations of the forecast error showing, the proposal is reactive again.
func TestPredictiveFallsBackOnError(t *testing.T) {
	from := rise.Add(-10 * time.Minute)
	holiday := func(at time.Time) float64 {
		if at.Before(from) {
			return workday(at)
		}
		return 100
	}
	ticks := ticksOf(from, rise.Add(6*time.Minute), holiday)
	ticks[0].cur = 10
	ds := walkPast(t, mustParse(t, predictivePolicy), warm, history(from, holiday), ticks)
	for _, d := range ds {
		pr := d.Proposals[0]
		switch {
		case clock(d) == "08:58:45" && d.Desired != 50:
			t.Errorf("%s: Evaluate = %d; want 50 (yesterday's rise)", clock(d), d.Desired)
		case d.Time.After(rise) && (pr.Replicas != 10 || pr.Note != noteForecastX || pr.ForecastError <= 0.3):
			t.Errorf("%s: proposal %+v; want 10 (reactive), with an error above 0.3", clock(d), pr)
		}
	}
	if last := ds[len(ds)-1]; last.Desired >= 50 {
		t.Errorf("%s: still at %d", clock(last), last.Desired)
	}
}

// A fresh start (a restart, a new leader) scores the forecasts it would have made over the history backfilled
// from Prometheus before it trusts them: yesterday's spike at 08:45–08:55 did not come back today, so the first
// evaluation at 08:50 knows the forecast's error and stays reactive instead of asking for yesterday's spike. With
// history that the forecast explains, the error is known at once and small.
func TestPredictiveBacktestOnStart(t *testing.T) {
	from := rise.Add(-10 * time.Minute)
	spike := func(at time.Time) float64 {
		if at.Before(from.Add(-24*time.Hour+5*time.Minute)) && !at.Before(from.Add(-24*time.Hour-5*time.Minute)) {
			return 1000
		}
		return 100
	}
	for _, tc := range []struct {
		name     string
		load     func(time.Time) float64
		forecast float64 // the forecast at 08:50, for 08:51:15
		err      func(float64) bool
	}{
		// Trusted, this forecast would ask for 25 replicas.
		{"yesterday's spike is not today's", spike, 241, func(e float64) bool { return e > 0.3 }},
		{"the pattern holds", workday, 100, func(e float64) bool { return e == 0 }},
	} {
		ticks := ticksOf(from, from.Add(15*time.Second), tc.load)
		ticks[0].cur = 10
		ds := walkPast(t, mustParse(t, predictivePolicy), warm, history(from.Add(-15*time.Second), tc.load), ticks)
		pr := ds[0].Proposals[0]
		if ds[0].Desired != 10 || math.Round(pr.Forecast) != tc.forecast || !tc.err(pr.ForecastError) {
			t.Errorf("%s: Evaluate = %d, proposal %+v; want 10 with a forecast of %g", tc.name, ds[0].Desired, pr, tc.forecast)
		}
	}
	// Without the history, nothing is scored: the forecast is trusted until its own forecasts come due.
	p := mustParse(t, predictivePolicy)
	alg := p.Algorithms[0].Impl.(predictiveAlgo)
	if _, ok := alg.backtest(nil, from, 10); ok {
		t.Errorf("backtest on no history: known")
	}
	if e, ok := alg.backtest(history(from.Add(-15*time.Second), spike)[0], from, 10); !ok || e <= 0.3 {
		t.Errorf("backtest over yesterday's spike: %g, %v; want above maxError (0.3), known", e, ok)
	}
}

func TestPredictiveForecast(t *testing.T) {
	now := t0
	flat := func(time.Time) float64 { return 100 }
	// Flat at 100, except the readings one day and one week before now + horizon (75 s).
	marked := func(daily, weekly float64) func(time.Time) float64 {
		return func(at time.Time) float64 {
			switch at {
			case now.Add(75*time.Second - 24*time.Hour):
				return daily
			case now.Add(75*time.Second - week):
				return weekly
			}
			return 100
		}
	}
	ramp := func(at time.Time) float64 { return 100 + math.Max(0, at.Sub(now.Add(-15*time.Minute)).Seconds()) }
	tests := []struct {
		name  string
		args  string
		past  []Sample
		cur   float64
		want  float64 // forecast
		count int32
	}{
		{"daily season", "", series(now.Add(-8*24*time.Hour), now, 15*time.Second, marked(300, 500)), 100, 300, 30},
		{"both seasons", "{weekly: true}", series(now.Add(-8*24*time.Hour), now, 15*time.Second, marked(300, 500)), 100, 400, 40},
		{"weekly, less than a week of history", "{weekly: true}", series(now.Add(-2*24*time.Hour), now, 15*time.Second, marked(300, 500)), 100, 300, 30},
		// The level: today runs at twice yesterday's.
		{"level", "", series(now.Add(-2*24*time.Hour), now, 15*time.Second, func(at time.Time) float64 {
			if at.After(now.Add(-time.Hour)) {
				return 200
			}
			return marked(300, 500)(at)
		}), 200, 600, 60},
		// No season of history yet: the linear trend, 1 more request/s each second, 75 s ahead.
		{"trend without history", "", series(now.Add(-15*time.Minute), now, 15*time.Second, ramp), 1000, 1075, 108},
		{"trend without season", "{season: 0s}", series(now.Add(-2*24*time.Hour), now, 15*time.Second, ramp), 1000, 1075, 108},
		{"flat", "", series(now.Add(-time.Minute), now, 15*time.Second, flat), 100, 100, 10},
		{"too little history", "", series(now.Add(-15*time.Second), now, 15*time.Second, flat), 100, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := predictivePolicy + "maxReplicas: 200\n"
			if tt.args != "" {
				src += "algorithm: {name: predictive, args: " + tt.args + "}\n"
			}
			p := mustParse(t, dedupe(src))
			d, _ := p.Evaluate(Input{Now: now, Current: 10, Ready: 10, Metrics: obs([]float64{tt.cur}), Past: [][]Sample{tt.past}}, warm)
			pr := d.Proposals[0]
			if math.Abs(pr.Forecast-tt.want) > 1e-6 || pr.Replicas != max(tt.count, ceil32(tt.cur/10)) {
				t.Errorf("forecast %g, proposal %d (%+v); want %g and %d", pr.Forecast, pr.Replicas, pr, tt.want, tt.count)
			}
		})
	}
}

// cpu utilization and a queue's backlog depend on the replicas podpilot chose: they are tracked, not forecast.
func TestPredictiveOnlyDemand(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: web}
maxReplicas: 100
algorithm: {name: predictive}
metrics: [{kind: cpu, utilization: 50}, {kind: qps, perReplica: 10}]
`)
	from := rise.Add(-75 * time.Second)
	past := history(from, workday)
	past = append([][]Sample{series(from.Add(-36*time.Hour), from, 15*time.Second, func(time.Time) float64 { return 90 })}, past...)
	d, _ := p.Evaluate(Input{Now: from, Current: 10, Ready: 10, Metrics: obs([]float64{45, 100}), Past: past}, warm)
	if cpu, qps := d.Proposals[0], d.Proposals[1]; cpu.Forecast != 0 || cpu.Replicas != 10 || qps.Forecast != 500 || qps.Replicas != 50 {
		t.Errorf("proposals %+v; want cpu tracked (10, no forecast) and qps forecast (500: 50)", d.Proposals)
	}
}

func TestPredictiveValidation(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"no demand metric", `
target: {namespace: shop, name: web}
maxReplicas: 5
algorithm: {name: predictive}
metrics: [{kind: cpu, utilization: 50}]
`, []string{`test.yaml:4:1: algorithm.args: predictive forecasts qps metrics and promql metrics with perReplica, and the policy has none (cpu, a queue's backlog and a promql total depend on the replicas podpilot chose)`}},
		{"bad args", predictivePolicy + "algorithm: {name: predictive, args: {startup: 2h, season: 30m, window: 30s, maxError: 0}}\n", []string{
			`test.yaml:5:38: algorithm.args.startup: must be at most 1h, got 2h`,
			`test.yaml:5:51: algorithm.args.season: must be 0 (no season) or between window + startup + interval (2h45s) and 168h, got 30m`,
			`test.yaml:5:64: algorithm.args.window: must be between 4 intervals (1m) and 6h, got 30s`,
			`test.yaml:5:77: algorithm.args.maxError: must be greater than 0 (a fraction: 0.3 is 30%), got 0`,
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

// BenchmarkEvaluatePredictive: one target with a qps and a cpu metric and a week of 15 s readings in Input.Past,
// the daily and the weekly season.
func BenchmarkEvaluatePredictive(b *testing.B) {
	for _, args := range []string{"{}", "{weekly: true}"} {
		b.Run(fmt.Sprintf("args=%s", args), func(b *testing.B) {
			p := mustParse(b, `
target: {namespace: shop, name: web}
maxReplicas: 100
algorithm: {name: predictive, args: `+args+`}
metrics: [{kind: qps, perReplica: 10}, {kind: cpu, utilization: 60}]
`)
			now := t0
			keep := max(p.Lookback(), week) // a week of readings, even when the policy looks back less
			from := now.Add(-keep)
			past := [][]Sample{
				series(from, now, 15*time.Second, workday),
				series(from, now, 15*time.Second, func(time.Time) float64 { return 55 }),
			}
			if n := len(past[0]); n < int(week/(15*time.Second)) {
				b.Fatalf("past holds %d readings; want a week", n)
			}
			h := warm
			for range 20 { // five minutes of evaluations, for the forecast error
				in := Input{Now: now, Current: 10, Ready: 10, Metrics: obs([]float64{workday(now), 55}), Past: past}
				_, h = p.Evaluate(in, h)
				past = AppendPast(past, in, keep)
				now = now.Add(15 * time.Second)
			}
			in := Input{Now: now, Current: 10, Ready: 10, Metrics: obs([]float64{workday(now), 55}), Past: past}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.Evaluate(in, h)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}
