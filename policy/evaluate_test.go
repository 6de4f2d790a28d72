package policy

import (
	"encoding/binary"
	"math"
	"reflect"
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
	// Appending to the result must not write into the caller's history either.
	h3 := h1.Scaled(t0, 5, 6)
	_ = append(h3.Recs, Rec{})
	if !reflect.DeepEqual(h, hCopy) {
		t.Errorf("Scaled changed the original history")
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

// fuzzPolicy builds a policy from fuzz bytes: either algorithm, legacy or not, any bounds, windows, cooldowns,
// tolerances and rate policies the loader accepts.
func fuzzPolicy(b []byte) *Policy {
	r := byteReader(b)
	reg := Builtin()
	name := []string{"hpa", "target-tracking"}[r.n(2)]
	g, _ := reg.Lookup(name)
	args := g.newArgs()
	p := &Policy{Target: Target{Namespace: "n", Name: "w", Kind: "Deployment"}, Interval: 15 * time.Second}
	p.MaxReplicas = 1 + int32(r.n(200))
	p.MinReplicas = int32(r.n(int(p.MaxReplicas) + 1))
	p.Metrics = []Metric{
		{Name: "cpu", Kind: CPU, Utilization: float64(1 + r.n(150))},
		{Name: "qps", Kind: QPS, PerReplica: float64(1 + r.n(100))},
		{Name: "queue", Kind: Queue, PerReplica: float64(1 + r.n(100))},
		{Name: "total", Kind: PromQL, Total: float64(1 + r.n(1000))},
	}
	p.Behavior = g.behavior(args)
	p.Behavior.Legacy = g.legacy && r.n(2) == 0
	for _, rules := range []*Rules{&p.Behavior.Up, &p.Behavior.Down} {
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
	p.Algorithms = []Algo{{Name: name, Impl: g.build(args, p)}}
	return p
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

// FuzzEvaluate checks the invariants of every evaluation over a random walk: never a panic, never NaN, always
// within [min, max] (or left alone at zero, as HPA does), and never a scale-down while a metric is invalid.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte{0, 10, 2, 50, 20, 30, 100, 1, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{5, 5, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{1, 100, 0, 30, 2, 9, 9, 9}, []byte{0, 0, 255, 255, 255, 255, 0, 1})
	f.Fuzz(func(t *testing.T, pol, walkBytes []byte) {
		p := fuzzPolicy(pol)
		r := byteReader(walkBytes)
		h := History{}
		cur := int32(r.n(250))
		now := t0
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
				default:
					vals[i] = Observation{Value: float64(binary.LittleEndian.Uint16([]byte{byte(r.n(256)), byte(r.n(256))})) / 7, Valid: true}
				}
			}
			anyBad := false
			for _, o := range vals {
				if ok, _ := o.usable(); !ok {
					anyBad = true
				}
			}
			in := Input{Now: now, Current: cur, Ready: ready, Metrics: vals}
			d, nh := p.Evaluate(in, h)
			if d.Reason == ScalingDisabled {
				if d.Desired != cur || cur != 0 {
					t.Fatalf("disabled but moved %d -> %d", cur, d.Desired)
				}
			} else if d.Desired < p.MinReplicas || d.Desired > p.MaxReplicas {
				t.Fatalf("step %d: desired %d outside [%d, %d] (current %d, %+v)", step, d.Desired, p.MinReplicas, p.MaxReplicas, cur, d)
			}
			inBounds := cur >= p.MinReplicas && cur <= p.MaxReplicas
			if anyBad && inBounds && d.Desired < cur {
				t.Fatalf("step %d: scaled down %d -> %d with an invalid metric: %+v", step, cur, d.Desired, d)
			}
			if !p.Behavior.Legacy && inBounds && d.Stage != StageFallback {
				if (d.Desired > cur && d.Raw <= cur) || (d.Desired < cur && d.Raw >= cur) {
					t.Fatalf("step %d: moved %d -> %d against the raw recommendation %d", step, cur, d.Desired, d.Raw)
				}
			}
			for _, pr := range d.Proposals {
				if math.IsNaN(pr.Ratio) || math.IsInf(pr.Ratio, 0) || math.IsNaN(pr.Value) || math.IsInf(pr.Value, 0) {
					t.Fatalf("step %d: proposal with a non-finite number: %+v", step, pr)
				}
			}
			if d.Scale() {
				nh = nh.Scaled(now, cur, d.Desired)
			}
			h = nh
			if r.n(10) == 0 {
				cur = int32(r.n(250)) // someone else scaled it
			} else {
				cur = d.Desired
			}
		}
	})
}

// BenchmarkEvaluate: one target with three metrics and a five-minute history, the daemon's and the
// simulator's unit of work.
func BenchmarkEvaluate(b *testing.B) {
	for _, name := range []string{"hpa", "target-tracking"} {
		b.Run(name, func(b *testing.B) {
			p := mustParse(b, dedupe(hpaThree+"algorithm: {name: "+name+"}\n"))
			h := warm
			now := t0
			for i := range 20 { // five minutes of 15 s evaluations
				now = now.Add(15 * time.Second)
				_, h = p.Evaluate(Input{Now: now, Current: 10, Ready: 10, Metrics: obs([]float64{float64(40 + i), 90, 700})}, h)
			}
			in := Input{Now: now.Add(15 * time.Second), Current: 10, Ready: 10, Metrics: obs([]float64{55, 95, 900})}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.Evaluate(in, h)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}
