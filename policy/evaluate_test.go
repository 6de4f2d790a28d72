package policy

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Evaluate changes neither its input nor the history it is given, and gives the same answer twice.
func TestEvaluatePure(t *testing.T) {
	p := mustParse(t, hpaThree)
	in := Input{Now: t0, Current: 5, Ready: 4, Metrics: obs([]float64{70, 80, 300})}
	h := History{Start: t0.Add(-time.Hour), Last: t0.Add(-time.Minute),
		Recs:   []Rec{{t0.Add(-time.Minute), 7}, {t0.Add(-30 * time.Second), 6}},
		Events: []Event{{t0.Add(-10 * time.Second), 1}}}
	inCopy := Input{Now: in.Now, Current: in.Current, Ready: in.Ready, Metrics: append([]Observation(nil), in.Metrics...)}
	hCopy := History{Start: h.Start, Last: h.Last, Recs: append([]Rec(nil), h.Recs...), Events: append([]Event(nil), h.Events...)}

	d1, h1 := p.Evaluate(in, h)
	d2, h2 := p.Evaluate(in, h)
	if diff := cmp.Diff(d1, d2); diff != "" {
		t.Errorf("second evaluation differs (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(h1, h2); diff != "" {
		t.Errorf("second history differs (-first +second):\n%s", diff)
	}
	if !reflect.DeepEqual(in, inCopy) || !reflect.DeepEqual(h, hCopy) {
		t.Errorf("Evaluate changed its arguments")
	}
	// A history's events share storage with the one it came from: recording a scale event on one must not write
	// into the other's, even where the storage has room (the caller may keep both, as a retry does).
	// Both Scaled on a history with room in its storage and Evaluate's result (which advance cut) must copy.
	room := func() []Event { e := make([]Event, 1, 4); e[0] = Event{t0.Add(-10 * time.Second), 1}; return e }
	handStore, evalStore := room(), room()
	_, evaluated := p.Evaluate(in, History{Start: h.Start, Last: h.Last, Events: evalStore})
	for _, c := range []struct {
		name   string
		h      History
		stored []Event
	}{{"a history", History{Start: h.Start, Last: h.Last, Events: handStore}, handStore}, {"Evaluate's history", evaluated, evalStore}} {
		a, b := c.h.Scaled(t0, 5, 6), c.h.Scaled(t0, 5, 7)
		if a.Events[len(a.Events)-1].Change != 1 || b.Events[len(b.Events)-1].Change != 2 {
			t.Errorf("%s: two scale events recorded on it: %v and %v; want +1 and +2", c.name, a.Events, b.Events)
		}
		if spare := c.stored[:2][1]; spare != (Event{}) {
			t.Errorf("%s: Scaled wrote %v into its storage", c.name, spare)
		}
	}
}

// A decision explains itself: the raw proposals, every stage that moved the count, and the reason.
func TestDecisionExplains(t *testing.T) {
	p := mustParse(t, hpaThree)
	d, _ := p.Evaluate(Input{Now: t0, Current: 2, Ready: 2, Metrics: obs([]float64{bad, 100, 300})}, warm)
	want := Decision{
		Time: t0, Current: 2, Ready: 2, Raw: 10, Desired: 6, Winner: "hpa/qps", Stage: StageRate, Reason: ScaleUpLimit,
		Proposals: []Proposal{
			{Algorithm: "hpa", Metric: "cpu", Target: 50, Note: "empty result"},
			{Algorithm: "hpa", Metric: "qps", Value: 100, Target: 10, Ratio: 5, Replicas: 10, Valid: true},
			{Algorithm: "hpa", Metric: "queue", Value: 300, Target: 100, Ratio: 1.5, Replicas: 3, Valid: true},
		},
		Steps: []Step{{Stage: StageRate, From: 10, To: 6, Reason: ScaleUpLimit}},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("Evaluate (-want +got):\n%s", diff)
	}
}

// Old recommendations and events are dropped once no window or period can use them.
func TestHistoryBounded(t *testing.T) {
	p := mustParse(t, hpaCPU)
	h := warm
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		d, nh := p.Evaluate(Input{Now: now, Current: 5, Ready: 5, Metrics: obs([]float64{float64(20 + i%90)})}, h)
		h = nh.Scaled(now, 5, d.Desired)
	}
	if len(h.Recs) > 21 || len(h.Events) > 2 {
		t.Errorf("history holds %d recommendations and %d events; want at most 21 (5 min at 15 s) and 2", len(h.Recs), len(h.Events))
	}
}

// fuzzPolicy builds a policy from fuzz bytes: any registered algorithm, or two of them, with their default
// arguments or others their checks accept, legacy or not, any bounds, windows, cooldowns, tolerances and rate
// policies the loader accepts, and a queue metric with a drain time so that queue is valid.
func fuzzPolicy(b []byte) *Policy {
	r := byteReader(b)
	reg := Builtin()
	names := reg.Names()
	chosen := []string{names[r.n(len(names))]}
	if second := names[r.n(len(names))]; r.n(2) == 0 && second != chosen[0] {
		chosen = append(chosen, second)
	}
	p := &Policy{Target: Target{Namespace: "n", Name: "w", Kind: "Deployment"}, Interval: 15 * time.Second}
	p.MaxReplicas = 1 + int32(r.n(200))
	p.MinReplicas = int32(r.n(int(p.MaxReplicas) + 1))
	queue := Metric{Name: "queue", Kind: Queue, DrainTime: time.Duration(1+r.n(40)) * 15 * time.Second, RatePerReplica: 0.5 + float64(r.n(100))}
	if r.n(2) == 0 {
		queue.PerReplica = float64(1 + r.n(100))
	}
	p.Metrics = []Metric{
		{Name: "cpu", Kind: CPU, Utilization: float64(1 + r.n(150))},
		{Name: "qps", Kind: QPS, PerReplica: float64(1 + r.n(100)), Window: time.Minute, Query: defaultQueries[QPS]},
		queue,
		{Name: "total", Kind: PromQL, Total: float64(1 + r.n(1000)), Window: time.Minute, Query: "sum(rate(x[{{.Window}}]))"},
	}
	var regs []Registration
	var args []any
	for _, name := range chosen {
		g, _ := reg.Lookup(name)
		regs, args = append(regs, g), append(args, fuzzArgs(g.newArgs(), p, &r))
	}
	g := regs[0]
	p.Behavior = g.behavior(args[0])
	p.Behavior.Legacy = g.legacy && r.n(2) == 0
	for _, rules := range []*Rules{&p.Behavior.Up, &p.Behavior.Down} {
		if r.n(4) == 0 {
			continue // the algorithm's defaults
		}
		rules.Window = time.Duration(r.n(40)) * 15 * time.Second
		rules.Cooldown = time.Duration(r.n(30)) * 15 * time.Second
		rules.Tolerance = float64(r.n(50)) / 100
		rules.Select = []Select{SelectMax, SelectMin, SelectDisabled}[r.n(3)]
		rules.Policies = nil
		for range 1 + r.n(3) {
			rules.Policies = append(rules.Policies, RatePolicy{Type: []RateType{Pods, Percent}[r.n(2)],
				Value: int32(1 + r.n(300)), Period: time.Duration(1+r.n(120)) * 15 * time.Second})
		}
	}
	if r.n(2) == 0 {
		p.Missing = Missing{Action: Fallback, Replicas: 1 + int32(r.n(int(p.MaxReplicas))), After: 1 + r.n(5)}
	} else {
		p.Missing = Missing{Action: Hold, After: 3}
	}
	for i, g := range regs {
		var pr Problems
		g.check(args[i], p, &pr)
		if len(pr.list) > 0 {
			panic(fmt.Sprintf("fuzzPolicy: %s args %+v refused: %v", g.Name, args[i], pr.list))
		}
		p.Algorithms = append(p.Algorithms, Algo{Name: g.Name, Impl: g.build(args[i], p)})
	}
	return p
}

// fuzzArgs keeps an algorithm's default arguments or picks others its check accepts.
func fuzzArgs(args any, p *Policy, r *byteReader) any {
	if r.n(2) == 0 {
		if s, ok := args.(*scheduleArgs); ok { // no default windows
			s.Windows = []scheduleWindow{{Days: "Mon-Fri", Start: "12:00", End: "13:00", Replicas: &p.MaxReplicas}}
		}
		return args
	}
	pick := func(ds ...time.Duration) time.Duration { return ds[r.n(len(ds))] }
	switch a := args.(type) {
	case *trackingArgs:
		a.Headroom = float64(r.n(10)) / 10
		a.Spread, a.Hysteresis = float64(r.n(11))/2, float64(r.n(11))/2
		a.SpreadWindow = pick(15*time.Second, 5*time.Minute, 30*time.Minute, 24*time.Hour)
		a.LevelUp, a.LevelDown = pick(0, 15*time.Second, time.Minute, time.Hour), pick(0, time.Minute, 5*time.Minute, time.Hour)
		a.LastingFall = pick(0, time.Minute, 3*time.Minute, time.Hour)
		a.Trend, a.Estimate = r.n(2) == 0, r.n(4) != 0
		a.Spare = float64(r.n(5)) / 2
		a.FloorQuantile, a.FloorWindow = []float64{0, 0.5, 1}[r.n(3)], pick(time.Minute, time.Hour, 4*time.Hour)
		if !a.Estimate {
			a.FloorQuantile = 0 // the floor is on the estimate: refused without it
		}
	case *hpaArgs:
		a.Tolerance, a.DownscaleStabilization = float64(r.n(100))/100, pick(0, time.Minute, 5*time.Minute)
	case *queueArgs:
		a.Idle, a.Activation = pick(0, 15*time.Second, time.Minute, 5*time.Minute), []float64{0.5, 1, 10}[r.n(3)]
		a.RateWindow = pick(15*time.Second, time.Minute, 5*time.Minute)
	case *burstArgs:
		a.StableWindow = pick(15*time.Second, time.Minute, 5*time.Minute)
		a.PanicWindow = min(a.StableWindow, pick(time.Second, 15*time.Second, 30*time.Second, time.Minute))
		a.PanicThreshold = []float64{1.1, 2, 10}[r.n(3)]
	case *predictiveArgs:
		a.Startup, a.Window = pick(0, time.Minute, 5*time.Minute), pick(time.Minute, 15*time.Minute)
		a.Season, a.Weekly = pick(0, time.Hour, 24*time.Hour), r.n(4) == 0
		a.MaxError = []float64{0.05, 0.3, 5}[r.n(3)]
	case *scheduleArgs:
		a.Timezone = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}[r.n(4)]
		for range 1 + r.n(3) {
			clock := func() string { return fmt.Sprintf("%02d:%02d", r.n(24), 15*r.n(4)) }
			w := scheduleWindow{Days: []string{"*", "Mon-Fri", "Sat,Sun", "Fri-Mon", "Wed"}[r.n(5)], Start: clock(), End: clock()}
			if w.Start == w.End {
				w.End = "24:00"
			}
			n := p.MinReplicas + int32(r.n(int(p.MaxReplicas-p.MinReplicas)+1))
			w.Replicas = &n
			a.Windows = append(a.Windows, w)
		}
	}
	return args
}

type byteReader []byte

func (r *byteReader) n(k int) int {
	if len(*r) == 0 {
		return 0
	}
	v := int((*r)[0])
	*r = (*r)[1:]
	return v % k
}

// FuzzEvaluate checks the invariants of every evaluation over a random walk that keeps Input.Past as the
// controller does: never a panic, never NaN or ±Inf, always within [min, max] (or left alone at zero, as HPA
// does), never a scale-down while a metric is invalid, never against the raw recommendation (but HPA's legacy
// path and the fallback), and the same answer twice.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte{0, 10, 2, 50, 20, 30, 100, 1, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{5, 5, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{1, 100, 0, 30, 2, 9, 9, 9}, []byte{0, 0, 255, 255, 255, 255, 0, 1})
	// Each algorithm (in name order) alone and with the next one, with default and other arguments.
	walk := make([]byte, 120)
	for i := range walk {
		walk[i] = byte(i * 37)
	}
	// predictive with a 1h season, after a backfill of its whole lookback.
	f.Add([]byte{2, 0, 1, 80, 2, 9, 9, 9, 4, 1, 3, 1, 0, 1, 1, 1, 0, 2, 1, 0, 1, 2, 3}, append([]byte{10, 0, 100, 200, 20, 1}, walk...))
	for k := range byte(6) {
		f.Add([]byte{k, k + 1, 0, 40, 0, 7, 3, 20, 9, 60, 50, 200, 1, 5, 3, 2, 1, 0, 2, 1}, walk)
		f.Add([]byte{k, 0, 1, 80, 2, 9, 9, 9, 4, 1, 3, 0, 2, 1, 1, 2, 0, 1, 3, 2, 1}, walk)
	}
	f.Fuzz(func(t *testing.T, pol, walkBytes []byte) {
		p := fuzzPolicy(pol)
		r := byteReader(walkBytes)
		h := History{}
		cur := int32(r.n(250))
		now := t0
		lookback := p.Lookback()
		var past [][]Sample
		if lookback > 0 && r.n(3) == 0 {
			// A backfill, as the controller's: readings every interval over the lookback (its last 2h at most),
			// in a pattern, some of them invalid.
			past = make([][]Sample, len(p.Metrics))
			span := min(lookback, 2*time.Hour)
			base, amp, period, nan := float64(r.n(256)), float64(r.n(256)), 1+r.n(200), r.n(2) == 0
			for i := range past {
				for k := range int(span / p.Interval) {
					v := base + amp*float64((k*(i+1))%period)/float64(period)
					if nan && k%13 == 5 {
						v = math.NaN()
					}
					past[i] = append(past[i], Sample{Time: now.Add(-span + time.Duration(k)*p.Interval), Value: v})
				}
			}
		}
		for step := 0; len(r) > 0 && step < 200; step++ {
			now = now.Add(time.Duration(1+r.n(60)) * time.Second)
			ready := int32(r.n(int(cur) + 3)) // may exceed cur during a rollout
			vals := make([]Observation, 4)
			for i := range vals {
				switch k := r.n(12); k {
				case 0:
					vals[i] = Observation{Reason: "empty result"}
				case 1:
					vals[i] = Observation{Value: math.NaN(), Valid: true}
				case 2:
					vals[i] = Observation{Value: math.Inf(1), Valid: true}
				case 3:
					vals[i] = Observation{Value: 0, Valid: true}
				case 4, 5:
					vals[i] = Observation{Value: float64(r.n(256)) / 16, Valid: true} // low: room to scale down
				default:
					vals[i] = Observation{Value: float64(binary.LittleEndian.Uint16([]byte{byte(r.n(256)), byte(r.n(256))})) / 7, Valid: true}
					if r.n(4) == 0 {
						vals[i].Pods, vals[i].PodsKnown = int32(r.n(int(ready)+2)), true // the pods it covers: none, fewer, all or more
					}
					if r.n(8) == 0 {
						vals[i].Warning = "partial response" // the query came with a warning
					}
				}
			}
			anyBad := false
			for _, o := range vals {
				if ok, _ := o.usable(); !ok || o.Doubtful(ready) {
					anyBad = true
				}
			}
			in := Input{Now: now, Current: cur, Ready: ready, Metrics: vals, Past: past}
			d, nh := p.Evaluate(in, h)
			if d2, nh2 := p.Evaluate(in, h); !reflect.DeepEqual(d, d2) || !reflect.DeepEqual(nh, nh2) {
				t.Fatalf("step %d: a second evaluation differs:\n%s\n%s", step, cmp.Diff(d, d2), cmp.Diff(nh, nh2))
			}
			if d.Reason == ScalingDisabled {
				if d.Desired != cur || cur != 0 {
					t.Fatalf("disabled but moved %d -> %d", cur, d.Desired)
				}
			} else if d.Desired < p.MinReplicas || d.Desired > p.MaxReplicas {
				t.Fatalf("step %d: desired %d outside [%d, %d] (current %d, %+v)", step, d.Desired, p.MinReplicas, p.MaxReplicas, cur, d)
			}
			inBounds := cur >= p.MinReplicas && cur <= p.MaxReplicas
			if inBounds && d.Desired != cur {
				// The same evaluation with that direction paused on the target holds, and keeps the same history.
				paused := in
				paused.NoScaleIn, paused.NoScaleOut = d.Desired < cur, d.Desired > cur
				if dp, nhp := p.Evaluate(paused, h); dp.Desired != cur || !reflect.DeepEqual(nh, nhp) {
					t.Fatalf("step %d: moved %d -> %d with that direction paused (unpaused: %d)", step, cur, dp.Desired, d.Desired)
				}
			}
			if anyBad && inBounds && d.Desired < cur {
				t.Fatalf("step %d: scaled down %d -> %d with an invalid or partial metric: %+v", step, cur, d.Desired, d)
			}
			if !p.Behavior.Legacy && inBounds && d.Stage != StageFallback {
				if (d.Desired > cur && d.Raw <= cur) || (d.Desired < cur && d.Raw >= cur) {
					t.Fatalf("step %d: moved %d -> %d against the raw recommendation %d", step, cur, d.Desired, d.Raw)
				}
			}
			for _, pr := range d.Proposals {
				for _, x := range []float64{pr.Ratio, pr.Value, pr.Target, pr.Forecast, pr.ForecastError} {
					if math.IsNaN(x) || math.IsInf(x, 0) {
						t.Fatalf("step %d: proposal with a non-finite number: %+v", step, pr)
					}
				}
				if pr.Valid && pr.Replicas < 0 {
					t.Fatalf("step %d: proposal with negative replicas: %+v", step, pr)
				}
			}
			if d.Scale() {
				nh = nh.Scaled(now, cur, d.Desired)
			}
			h = nh
			past = AppendPast(past, in, lookback)
			if r.n(10) == 0 {
				cur = int32(r.n(250)) // someone else scaled it
			} else {
				cur = d.Desired
			}
		}
	})
}

// A direction the target pauses holds at the current count, with its own reason, while the other one moves; the
// windows still see the raw recommendation, and a count out of bounds is still brought inside.
func TestPausedDirection(t *testing.T) {
	p := mustParse(t, "target: {namespace: shop, name: web}\nminReplicas: 2\nmaxReplicas: 20\nalgorithm: {name: hpa}\nmetrics: [{kind: qps, perReplica: 10}]\n")
	for _, c := range []struct {
		name    string
		cur     int32
		qps     float64
		in, out bool
		want    int32
		why     Reason
	}{
		{name: "scale-in paused, load falls", cur: 10, qps: 40, in: true, want: 10, why: ScaleInPaused},
		{name: "scale-in paused, load rises", cur: 10, qps: 150, in: true, want: 15, why: DesiredWithinRange},
		{name: "scale-out paused, load rises", cur: 10, qps: 150, out: true, want: 10, why: ScaleOutPaused},
		{name: "scale-out paused, load falls", cur: 10, qps: 40, out: true, want: 4, why: DesiredWithinRange},
		{name: "both paused", cur: 10, qps: 150, in: true, out: true, want: 10, why: ScaleOutPaused},
		{name: "neither", cur: 10, qps: 40, want: 4, why: DesiredWithinRange},
		{name: "scale-in paused above maxReplicas", cur: 30, qps: 40, in: true, want: 20, why: TooManyReplicas},
		{name: "scale-out paused below minReplicas", cur: 1, qps: 150, out: true, want: 2, why: TooFewReplicas},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Now: t0, Current: c.cur, Ready: c.cur, Metrics: obs([]float64{c.qps}), NoScaleIn: c.in, NoScaleOut: c.out}
			d, h := p.Evaluate(in, History{Start: t0.Add(-time.Hour), Last: t0.Add(-time.Hour), Recs: []Rec{{Time: t0.Add(-time.Hour), Replicas: 4}}})
			if d.Desired != c.want || d.Reason != c.why {
				t.Errorf("%d (%s, %s); want %d (%s)", d.Desired, d.Stage, d.Reason, c.want, c.why)
			}
			if n := len(h.Recs); c.cur == 10 && (n == 0 || h.Recs[n-1].Replicas != d.Raw || d.Raw == 10) {
				t.Errorf("raw %d, recommendations kept %v; want the raw recommendation kept, away from the count", d.Raw, h.Recs)
			}
		})
	}
}

// BenchmarkEvaluate: one target with three metrics and a five-minute history, the daemon's and the
// simulator's unit of work.
func BenchmarkEvaluate(b *testing.B) {
	for _, tc := range []struct {
		name, algo string
		warmup     int // evaluations before the measured one
	}{
		{"hpa", "hpa", 20}, // five minutes of 15 s evaluations
		{"target-tracking", "target-tracking", 20},
		// four hours of them: every minute the floor keeps
		{"target-tracking-floor", "target-tracking, args: {floorQuantile: 0.75, floorWindow: 4h}", 4 * 60 * 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := mustParse(b, dedupe(hpaThree+"algorithm: {name: "+tc.algo+"}\n"))
			h := warm
			now := t0
			var past [][]Sample // as the controller keeps it: the floor reads it
			for i := range tc.warmup {
				now = now.Add(15 * time.Second)
				in := Input{Now: now, Current: 10, Ready: 10, Metrics: obs([]float64{float64(40 + i), 90, 700}), Past: past}
				_, h = p.Evaluate(in, h)
				past = AppendPast(past, in, p.Lookback())
			}
			in := Input{Now: now.Add(15 * time.Second), Current: 10, Ready: 10, Metrics: obs([]float64{55, 95, 900}), Past: past}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.Evaluate(in, h)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}

// A reading that covers fewer pods than are ready (its query counts them: the default qps template does) may
// scale up but not down, whatever the algorithm: the pods whose metrics are missing may be the busy ones. So may a
// reading whose query Prometheus warned about (a partial response from a store that is down).
func TestPartialReading(t *testing.T) {
	for _, algo := range []string{"target-tracking", "hpa", "burst"} {
		p := mustParse(t, "target: {namespace: shop, name: web}\nmaxReplicas: 100\nmetrics: [{kind: qps, perReplica: 10}]\nalgorithm: {name: "+algo+"}\n")
		for _, tc := range []struct {
			name  string
			value float64
			pods  int32 // -1: unknown
			warn  bool  // the query came with a warning
			down  bool  // the count falls below 10
			want  int32
			why   Reason
		}{
			{name: "6 of 10 pods report a low sum", value: 30, pods: 6, want: 10, why: MetricPartial},
			{name: "no pod's series is a window old", value: 30, pods: 0, want: 10, why: MetricPartial},
			{name: "all 10 report it", value: 30, pods: 10, down: true},
			{name: "coverage unknown", value: 30, pods: -1, down: true},
			{name: "12 report: terminating pods too", value: 30, pods: 12, down: true},
			{name: "all report, but Prometheus warned", value: 30, pods: 10, warn: true, want: 10, why: MetricPartial},
			{name: "coverage unknown, and Prometheus warned", value: 30, pods: -1, warn: true, want: 10, why: MetricPartial},
		} {
			o := Observation{Value: tc.value, Valid: true}
			if tc.warn {
				o.Warning = "partial response: store eu-1 is down"
			}
			if tc.pods >= 0 {
				o.Pods, o.PodsKnown = tc.pods, true
			}
			d, _ := p.Evaluate(Input{Now: t0, Current: 10, Ready: 10, Metrics: []Observation{o}}, warm)
			switch {
			case tc.down && (d.Desired >= 10 || d.Reason == MetricPartial):
				t.Errorf("%s, %s: %d (%s); want a scale-down", algo, tc.name, d.Desired, d.Reason)
			case !tc.down && (d.Desired != tc.want || d.Reason != tc.why):
				t.Errorf("%s, %s: %d (%s, raw %d); want %d (%s)", algo, tc.name, d.Desired, d.Reason, d.Raw, tc.want, tc.why)
			}
		}
		// A partial sum that still warrants more pods scales up: the missing pods only add to it.
		d, _ := p.Evaluate(Input{Now: t0, Current: 10, Ready: 10, Metrics: []Observation{{Value: 300, Valid: true, Pods: 6, PodsKnown: true}}}, warm)
		if d.Desired <= 10 {
			t.Errorf("%s: a partial reading of 300 gives %d (%s); want a scale-up", algo, d.Desired, d.Reason)
		}
	}
}

// With no pod ready, a metric averaged over the ready pods has no value; the others' lower proposals must not scale
// the target in (as HPA: a metric it cannot compute blocks scale-down). Overloaded pods failing their readiness
// probes are how this happens.
func TestNoReadyPodsNoScaleDown(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		up         bool // a reading of 5000 on the metrics with a value scales up
	}{
		{"hpa, cpu and a per-replica value", "metrics: [{kind: cpu, utilization: 50}, {kind: promql, name: lag, perReplica: 100, query: 'lag'}]\nalgorithm: {name: hpa}\n", true},
		{"target-tracking, qps", "metrics: [{kind: qps, perReplica: 10}]\n", false},
		{"target-tracking with a schedule floor", "metrics: [{kind: qps, perReplica: 10}]\nalgorithms:\n  - {name: target-tracking}\n" +
			"  - {name: schedule, args: {timezone: UTC, windows: [{days: Mon-Sun, start: \"08:00\", end: \"18:00\", replicas: 4}]}}\n", false},
	} {
		p := mustParse(t, "target: {namespace: shop, name: web}\nmaxReplicas: 100\n"+tc.body)
		obs := make([]Observation, len(p.Metrics))
		for i := range obs {
			obs[i] = Observation{Value: 10, Valid: true}
		}
		d, _ := p.Evaluate(Input{Now: t0, Current: 8, Ready: 0, Metrics: obs}, warm)
		if d.Desired != 8 || d.Reason != MetricUnavailable {
			t.Errorf("%s, no pod ready: %d (%s, winner %s); want 8 (MetricUnavailable)", tc.name, d.Desired, d.Reason, d.Winner)
		}
		if !tc.up {
			continue
		}
		// Scale-up on the metrics that have a value stays allowed.
		for i := range obs {
			obs[i].Value = 5000
		}
		if d, _ := p.Evaluate(Input{Now: t0, Current: 8, Ready: 0, Metrics: obs}, warm); d.Desired <= 8 {
			t.Errorf("%s, no pod ready and a reading of 5000: %d (%s); want a scale-up", tc.name, d.Desired, d.Reason)
		}
	}
}

// Every agrees with Due: a policy evaluated on every pass at which it is due runs every Every(pass), whatever
// the interval and the pass.
func TestDueEvery(t *testing.T) {
	s := time.Second
	for _, c := range []struct{ interval, pass, every time.Duration }{
		{15 * s, 15 * s, 15 * s},
		{20 * s, 15 * s, 15 * s},
		{23 * s, 15 * s, 30 * s},
		{30 * s, 15 * s, 30 * s},
		{45 * s, 15 * s, 45 * s},
		{5 * s, 15 * s, 15 * s},
		{20 * s, 10 * s, 20 * s},
		{time.Minute, 7 * s, 63 * s},
	} {
		p := &Policy{Interval: c.interval}
		if got := p.Every(c.pass); got != c.every {
			t.Errorf("interval %s, pass %s: Every %s; want %s", c.interval, c.pass, got, c.every)
		}
		t0 := time.Unix(1_700_000_000, 0)
		var last, prev time.Time
		for k := range 40 {
			now := t0.Add(time.Duration(k) * c.pass)
			if !p.Due(last, now, c.pass) {
				continue
			}
			if !last.IsZero() && now.Sub(last) != c.every {
				t.Errorf("interval %s, pass %s: due %s after the last run; want %s", c.interval, c.pass, now.Sub(last), c.every)
			}
			prev, last = last, now
		}
		if prev.IsZero() {
			t.Errorf("interval %s, pass %s: due fewer than twice in 40 passes", c.interval, c.pass)
		}
	}
}

// clonePast is a deep copy of past, which AppendPast may reuse.
func clonePast(past [][]Sample) [][]Sample {
	out := make([][]Sample, len(past))
	for i, s := range past {
		out[i] = slices.Clone(s)
	}
	return out
}

// After a stretch of readings that may be low (a sum over fewer pods than are ready, or a query Prometheus warned
// about, reading low as such readings do), no algorithm, alone or combined, scales in further than it would had
// those readings been missing: each walk runs twice, once with the doubtful readings and once without them, and
// the two are compared at the first good reading after each stretch. predictive is left out: its forecast reads
// a doubtful reading, as the best there is of that time (Sample.Low).
func TestDoubtfulStretch(t *testing.T) {
	const head = "target: {namespace: shop, name: web}\nminReplicas: 1\nmaxReplicas: 200\nmetrics: [{kind: qps, perReplica: 10}]\n"
	for _, algo := range []string{
		"algorithm: {name: target-tracking}",
		"algorithm: {name: target-tracking, args: {levelDown: 1m, lastingFall: 1m}}",
		"algorithm: {name: target-tracking, args: {spread: 0, hysteresis: 0, spare: 0}}",
		"algorithm: {name: target-tracking, args: {estimate: false}}",
		"algorithm: {name: target-tracking, args: {floorQuantile: 0.5, floorWindow: 10m}}",
		"algorithm: {name: hpa}",
		"algorithm: {name: burst}",
		"algorithm: {name: queue}",
		"algorithms: [{name: target-tracking}, {name: burst}]",
		"algorithms: [{name: burst}, {name: schedule, args: {windows: [{days: '*', start: '12:30', end: '13:00', replicas: 5}]}}]",
	} {
		src := head + algo + "\n"
		if strings.Contains(algo, "queue") { // the load is the backlog
			src = strings.Replace(src, "{kind: qps, perReplica: 10}", "{kind: queue, queue: jobs, drainTime: 2m, ratePerReplica: 10}", 1)
		}
		p := mustParse(t, src)
		checks := 0
		for seed := range uint64(60) {
			rng := rand.New(rand.NewPCG(seed, 7))
			load := 50 + 1000*rng.Float64()
			cur := int32(math.Ceil(load / 10))
			h, th := warm, warm // the walk's history and its twin's, whose doubtful readings were missing
			var past, tpast [][]Sample
			stretch, twin := 0, false
			for step := range 400 {
				now := t0.Add(time.Duration(step) * 15 * time.Second)
				load *= math.Exp(0.04 * rng.NormFloat64())
				if rng.IntN(60) == 0 {
					load *= 0.3 + 1.4*rng.Float64() // a step change
				}
				load = min(max(load, 5), 1900)
				o := Observation{Value: load * (1 + 0.05*rng.NormFloat64()), Valid: true, Pods: cur, PodsKnown: true}
				if stretch == 0 && rng.IntN(25) == 0 {
					stretch = 1 + rng.IntN(40)
				}
				if stretch > 0 {
					stretch--
					if rng.IntN(2) == 0 {
						o.Pods = int32(float64(cur) * rng.Float64())
						o.Value *= float64(o.Pods) / float64(max(cur, 1))
					} else {
						o.Warning = "partial response"
						o.Value *= 0.2 + 0.8*rng.Float64()
					}
				}
				in := Input{Now: now, Current: cur, Ready: cur, Metrics: []Observation{o}, Past: past}
				d, nh := p.Evaluate(in, h)
				// The twin runs beside the walk from a doubtful reading on, while both hold; once either moves,
				// or at the first good reading, where the two are compared, they part.
				if doubtful := o.Doubtful(cur); twin || doubtful {
					if !twin {
						th, tpast = h, clonePast(past) // the twin starts from the walk's state
					}
					tin := in
					tin.Past = tpast
					if doubtful {
						tin.Metrics = []Observation{{Reason: "query failed"}}
					}
					td, tnh := p.Evaluate(tin, th)
					if !doubtful {
						checks++
						if d.Desired < td.Desired && d.Desired < cur {
							t.Fatalf("%s, seed %d, step %d: %d -> %d after a stretch of doubtful readings; %d had they been missing",
								algo, seed, step, cur, d.Desired, td.Desired)
						}
					}
					twin = doubtful && d.Desired == cur && td.Desired == cur
					tnh.Failures = nh.Failures // missing readings count towards no fallback in the twin
					th, tpast = tnh, AppendPast(tpast, tin, p.Lookback())
				}
				if d.Scale() {
					nh = nh.Scaled(now, cur, d.Desired)
				}
				h, past = nh, AppendPast(past, in, p.Lookback())
				cur = d.Desired
			}
		}
		if checks < 200 {
			t.Errorf("%s: %d comparisons after a stretch; want at least 200", algo, checks)
		}
	}
}
