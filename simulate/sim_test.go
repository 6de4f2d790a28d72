package simulate

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

var base = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)

// recording builds a recording from rows of "seconds since base" and values.
func recording(t testing.TB, header string, rows ...string) *metrics.Recording {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp," + header + "\n")
	for _, r := range rows {
		sec, rest, _ := strings.Cut(r, ",")
		var s int64
		fmt.Sscan(sec, &s)
		fmt.Fprintf(&b, "%d,%s\n", base.Unix()+s, rest)
	}
	rec, err := metrics.ParseCSV("test.csv", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func parse(t testing.TB, reg *policy.Registry, name, src string) Named {
	t.Helper()
	if reg == nil {
		reg = policy.Builtin()
	}
	p, err := policy.Parse(name+".yaml", []byte(src), reg)
	if err != nil {
		t.Fatal(err)
	}
	return Named{Name: name, Policy: p}
}

func TestPods(t *testing.T) {
	p := pods{spec: 2, ready: 2}
	p.set(5, base, 30*time.Second)
	if p.spec != 5 || p.ready != 2 || len(p.starting) != 3 {
		t.Fatalf("after scale-up: %+v", p)
	}
	p.advance(base.Add(29 * time.Second))
	if p.ready != 2 {
		t.Errorf("ready before start-up = %d; want 2", p.ready)
	}
	p.set(3, base.Add(29*time.Second), 30*time.Second) // the two newest starting pods go first
	if p.spec != 3 || p.ready != 2 || len(p.starting) != 1 {
		t.Errorf("after scale-down: %+v; want 2 ready and 1 starting", p)
	}
	p.set(1, base.Add(29*time.Second), 30*time.Second) // then the starting one, then a ready one
	if p.spec != 1 || p.ready != 1 || len(p.starting) != 0 {
		t.Errorf("after scale-down to 1: %+v", p)
	}
	p.set(2, base.Add(40*time.Second), 30*time.Second)
	p.advance(base.Add(70 * time.Second))
	if p.ready != 2 {
		t.Errorf("ready after start-up = %d; want 2", p.ready)
	}
}

// A demand step from 10 to 40 with capacity 10, computed by hand: the pipeline shows step 4's demand at step 5,
// the policy asks for 4 replicas, they are ready 30 s later; three steps are overloaded by 30 each. (Target-
// tracking on the bare reading: its margin for the step's surprise would add a replica.)
func TestClosedLoopStep(t *testing.T) {
	rec := recording(t, "value", "0,10", "60,40", "300,40")
	pol := parse(t, nil, "tt", `
target: {namespace: a, name: b}
maxReplicas: 50
algorithm: {name: target-tracking, args: {estimate: false}}
metrics: [{kind: qps, perReplica: 10, window: 15s}]
`)
	res, err := Simulate(rec, []Named{pol}, Config{Model: Model{Capacity: 10}, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Runs[0]
	var got []string
	for _, s := range r.Steps[:10] {
		got = append(got, fmt.Sprintf("t=%d demand=%g seen=%g cur=%d ready=%d desired=%d over=%t", int(s.Time.Sub(base).Seconds()), s.Demand, s.Metrics[0], s.Current, s.Ready, s.Desired, s.Overload))
	}
	want := []string{
		"t=0 demand=10 seen=10 cur=1 ready=1 desired=1 over=false",
		"t=15 demand=10 seen=10 cur=1 ready=1 desired=1 over=false",
		"t=30 demand=10 seen=10 cur=1 ready=1 desired=1 over=false",
		"t=45 demand=10 seen=10 cur=1 ready=1 desired=1 over=false",
		"t=60 demand=40 seen=10 cur=1 ready=1 desired=1 over=true",
		"t=75 demand=40 seen=40 cur=1 ready=1 desired=4 over=true",
		"t=90 demand=40 seen=40 cur=4 ready=1 desired=4 over=true",
		"t=105 demand=40 seen=40 cur=4 ready=4 desired=4 over=false",
		"t=120 demand=40 seen=40 cur=4 ready=4 desired=4 over=false",
		"t=135 demand=40 seen=40 cur=4 ready=4 desired=4 over=false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	s := r.Summary
	if s.OverloadSeconds != 45 || s.Unserved != 3*30*15 || s.ScaleEvents != 1 || s.Reversals != 0 {
		t.Errorf("summary = %+v; want overload 45 s, unserved 1350, 1 event, 0 reversals", s)
	}
	// The bound follows demand at once: 1 replica for 60 s, then 4 until the end at 300 s.
	if b := r.Bound; b.ReplicaSeconds != 4*15*1+17*15*4 || b.OverloadSeconds != 0 || b.ScaleEvents != 1 {
		t.Errorf("bound = %+v; want %d replica-seconds, no overload, one event", b, 4*15+17*15*4)
	}
	if s.CostRatio != s.ReplicaSeconds/r.Bound.ReplicaSeconds {
		t.Errorf("cost ratio %v", s.CostRatio)
	}
}

// A warm-up changes what is scored, never what is decided: the steps after it are those of a run without one, and
// every score is the same score taken over those steps alone.
func TestWarmup(t *testing.T) {
	rec, err := metrics.ReadFile("../testdata/traces/azure_functions_slopower_60s.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	pols := []Named{parse(t, nil, "tt", "target: {namespace: a, name: b}\nmaxReplicas: 100\nmetrics: [{kind: qps, perReplica: 140}]\n"),
		parse(t, nil, "pred", "target: {namespace: a, name: b}\nmaxReplicas: 100\nalgorithm: {name: predictive, args: {season: 0s}}\nmetrics: [{kind: qps, perReplica: 140}]\n")}
	cfg := Config{Model: Model{Capacity: 200}, Steps: true}
	full, err := Simulate(rec, pols, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Warmup = 6 * time.Hour
	warm, err := Simulate(rec, pols, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range warm.Runs {
		skip := int(cfg.Warmup / r.Tick)
		tail := full.Runs[k].Steps[skip:]
		if diff := cmp.Diff(tail, r.Steps, cmp.Comparer(func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) })); diff != "" {
			t.Fatalf("%s: steps after the warm-up differ from the run without one (-without +with):\n%s", r.Name, diff)
		}
		var want, bound Summary
		secs := r.Tick.Seconds()
		lastDir := int32(0)
		for i, st := range tail {
			want.Steps++
			want.ReplicaSeconds += float64(st.Desired) * secs
			want.PeakReplicas = max(want.PeakReplicas, st.Desired)
			bound.ReplicaSeconds += float64(st.Bound) * secs
			if st.Overload {
				want.OverloadSeconds += secs
			}
			if st.Desired != st.Current {
				want.ScaleEvents++
				if dir := sign(st.Desired - st.Current); lastDir != 0 && dir != lastDir {
					want.Reversals++
				}
				lastDir = sign(st.Desired - st.Current)
			}
			if i == 0 && !st.Time.Equal(rec.Times[0].Add(cfg.Warmup)) {
				t.Errorf("%s: first scored step at %s; want the warm-up's end", r.Name, st.Time)
			}
		}
		got := r.Summary
		if got.Steps != want.Steps || got.ReplicaSeconds != want.ReplicaSeconds || got.PeakReplicas != want.PeakReplicas ||
			got.OverloadSeconds != want.OverloadSeconds || got.ScaleEvents != want.ScaleEvents || got.Reversals != want.Reversals ||
			r.Bound.ReplicaSeconds != bound.ReplicaSeconds || r.Bound.Steps != want.Steps {
			t.Errorf("%s: summary %+v (bound %+v); want the scores of the steps after the warm-up: %+v (bound %g replica-seconds)",
				r.Name, got, r.Bound, want, bound.ReplicaSeconds)
		}
		if got.ReplicaSeconds >= full.Runs[k].Summary.ReplicaSeconds {
			t.Errorf("%s: a warm-up scored as much as the whole run", r.Name)
		}
	}
	for _, w := range []time.Duration{-time.Second, 24 * time.Hour} {
		cfg.Warmup = w
		if _, err := Simulate(rec, pols, cfg); err == nil || !strings.Contains(err.Error(), "warm-up") {
			t.Errorf("warm-up %s: err = %v; want a warm-up error", w, err)
		}
	}
}

// A queue workload: arrivals above the drain rate build a backlog, which the queue metric shows and which drains
// once capacity is back; waiting above the SLO counts as violation.
func TestClosedLoopQueue(t *testing.T) {
	rec := recording(t, "value", "0,10", "60,100", "120,10", "900,10")
	pol := parse(t, nil, "q", `
target: {namespace: a, name: b}
minReplicas: 1
maxReplicas: 50
metrics: [{kind: queue, queue: jobs, perReplica: 100}]
`)
	res, err := Simulate(rec, []Named{pol}, Config{Model: Model{Capacity: 10}, Steps: true, SLOWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Runs[0]
	peak, last := 0.0, r.Steps[len(r.Steps)-1]
	for _, s := range r.Steps {
		peak = math.Max(peak, s.Backlog)
	}
	if peak < 1000 || last.Backlog != 0 {
		t.Errorf("backlog peaked at %g and ended at %g; want at least 1000 and 0", peak, last.Backlog)
	}
	if r.Summary.SLOSeconds == 0 || r.Summary.ScaleEvents == 0 {
		t.Errorf("summary %+v: want SLO violations and scale events", r.Summary)
	}
	if !r.Summary.Queue || !r.Bound.Queue || r.Summary.Miss() != r.Summary.SLOSeconds {
		t.Errorf("summary %+v, bound %+v: want both marked a queue workload, missing its SLO seconds", r.Summary, r.Bound)
	}
}

// A sweep prints what it weighs against cost: a queue workload's SLO violation, a request workload's overload.
func TestSweepQueue(t *testing.T) {
	rec := recording(t, "value", "0,10", "60,100", "120,10", "900,10")
	queue := Source{Name: "q", File: "q.yaml", Data: []byte(`
target: {namespace: a, name: b}
minReplicas: 1
maxReplicas: 50
metrics: [{kind: queue, queue: jobs, perReplica: 100}]
`)}
	web := Source{Name: "web", File: "web.yaml", Data: []byte(`
target: {namespace: a, name: c}
minReplicas: 1
maxReplicas: 50
metrics: [{kind: qps, perReplica: 7}]
`)}
	cfg := Config{Mode: ClosedLoop, Model: Model{Capacity: 10}, SLOWait: 10 * time.Second}
	for _, tc := range []struct {
		name string
		srcs []Source
		want string
	}{
		{"queue", []Source{queue}, "cost (× lower bound) / SLO violation (s) / reversals; * marks each policy's cost-SLO frontier"},
		{"requests", []Source{web}, "cost (× lower bound) / overload (s) / reversals; * marks each policy's cost-overload frontier"},
		{"both", []Source{queue, web}, "/ overload (s), SLO violation (s) for queue policies / reversals; * marks each policy's cost-overload (SLO) frontier"},
	} {
		sr, err := RunSweep(rec, tc.srcs, Sweep{Field: "maxReplicas", Values: []string{"5", "50"}}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		WriteSweep(&b, sr)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s: sweep lacks %q:\n%s", tc.name, tc.want, b.String())
		}
		s := sr.Runs[0].Points[0].Summary
		if cell := fmt.Sprintf("%.2f / %.0f / %d", s.CostRatio, s.Miss(), s.Reversals); !strings.Contains(b.String(), cell) {
			t.Errorf("%s: sweep lacks the first point's %q:\n%s", tc.name, cell, b.String())
		}
	}
}

// spy is an algorithm that proposes the current count and records the latest time any reading encodes.
type spy struct{ seen *[]string }

func spyRegistry(seen *[]string) *policy.Registry {
	type args struct{}
	return policy.NewRegistry(policy.Define("spy", "test spy",
		func() *args { return &args{} },
		func(*args, *policy.Policy, *policy.Problems) {},
		func(*args) policy.Behavior {
			return policy.Behavior{Up: policy.Rules{Select: policy.SelectMax}, Down: policy.Rules{Select: policy.SelectMax}}
		},
		func(*args, *policy.Policy) policy.Algorithm { return spy{seen} }))
}

func (s spy) Propose(dst []policy.Proposal, c *policy.Context) []policy.Proposal {
	now := float64(c.Input.Now.Unix())
	for _, o := range c.Input.Metrics {
		if o.Valid && o.Value > now {
			*s.seen = append(*s.seen, fmt.Sprintf("at %v saw a reading from %v", now, o.Value))
		}
	}
	return append(dst, policy.Proposal{Algorithm: c.Name, Replicas: c.Input.Current, Valid: true})
}

// The policy never sees a sample later than its own now: every value below is its own timestamp.
func TestNoLookAhead(t *testing.T) {
	var rows []string
	for s := int64(0); s <= 3600; s += 7 { // a step that does not divide the interval
		rows = append(rows, fmt.Sprintf("%d,%d,%d", s, base.Unix()+s, base.Unix()+s))
	}
	rec := recording(t, "value,qps", rows...)
	var seen []string
	reg := spyRegistry(&seen)
	src := `
target: {namespace: a, name: b}
maxReplicas: 10
algorithm: {name: spy}
metrics: [{kind: qps, perReplica: 1, window: 15s}, {kind: promql, name: p, query: x, total: 1, window: 2m}]
`
	// Closed loop: demand (and so qps and promql) is the timestamp; the pipeline must lag.
	if _, err := Simulate(rec, []Named{parse(t, reg, "spy", src)}, Config{Model: Model{Capacity: 1}, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	// Replay: the recorded qps series is the timestamp.
	replay := strings.Replace(src, ", {kind: promql, name: p, query: x, total: 1, window: 2m}", "", 1)
	if _, err := Simulate(rec, []Named{parse(t, reg, "spy", replay)}, Config{Mode: Replay, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if len(seen) > 0 {
		t.Errorf("the policy saw the future %d times, first: %s", len(seen), seen[0])
	}
	// The spy itself can fail: a reading from the future is caught.
	spy{&seen}.Propose(nil, &policy.Context{Input: &policy.Input{Now: base, Metrics: []policy.Observation{{Value: float64(base.Unix() + 1), Valid: true}}}})
	if len(seen) != 1 {
		t.Errorf("spy missed a reading from the future")
	}
}

// replayHPA is HPA's algorithm on 10 req/s per replica, scaling down at once.
const replayHPA = `
target: {namespace: a, name: b}
maxReplicas: 10
algorithm: {name: hpa}
metrics: [{kind: qps, perReplica: 10}]
behavior: {scaleDown: {stabilizationWindow: 0s}}
`

// Replay feeds the recorded readings; a gap longer than maxAge makes them stale, and the policy holds.
func TestReplay(t *testing.T) {
	rec := recording(t, "qps,replicas", "0,20,2", "15,20,2", "30,80,2", "45,80,3", "300,10,3", "315,10,3")
	pol := parse(t, nil, "hpa", replayHPA)
	res, err := Simulate(rec, []Named{pol}, Config{Mode: Replay, Steps: true, Model: Model{Startup: 15 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Runs[0]
	if r.Steps[0].Current != 2 {
		t.Errorf("initial replicas = %d; want the recording's 2", r.Steps[0].Current)
	}
	byT := map[int]Step{}
	for _, s := range r.Steps {
		byT[int(s.Time.Sub(base).Seconds())] = s
	}
	if s := byT[30]; s.Desired != 6 || s.Reason != policy.ScaleUpLimit {
		t.Errorf("t=30: desired %d (%s); want 6 (80 req/s wants 8; HPA adds at most 4 pods or 100 %% per 15 s)", s.Desired, s.Reason)
	}
	if s := byT[60]; s.Desired != 8 {
		t.Errorf("t=60: desired %d; want 8 once the rate period has passed", s.Desired)
	}
	if s := byT[120]; s.Reason != policy.MetricUnavailable || s.Desired != 8 || !math.IsNaN(s.Metrics[0]) {
		t.Errorf("t=120 (inside the gap, sample 75 s old): %+v; want a stale reading and a hold", s)
	}
	if s := byT[315]; s.Desired != 1 {
		t.Errorf("t=315: desired %d; want 1 after the gap", s.Desired)
	}
	if len(res.Recording.Gaps) != 1 || !math.IsNaN(r.Summary.OverloadSeconds) || !math.IsNaN(r.Summary.CostRatio) {
		t.Errorf("replay: gaps %v, overload %v, cost ratio %v; want 1 gap and unknown overload and cost ratio", res.Recording.Gaps, r.Summary.OverloadSeconds, r.Summary.CostRatio)
	}
}

func TestBadInput(t *testing.T) {
	tt := `target: {namespace: a, name: b}
maxReplicas: 10
metrics: [{kind: cpu, utilization: 50}]
`
	pol := parse(t, nil, "p", tt)
	tests := []struct {
		name string
		rec  *metrics.Recording
		cfg  Config
		want string
	}{
		{"replay lacks a metric", recording(t, "qps", "0,1", "15,2"), Config{Mode: Replay},
			`test.csv: no series "cpu", which policy p needs for metrics[0] (the recording has "qps")`},
		{"no demand series", recording(t, "a,b", "0,1,2", "15,2,3"), Config{Model: Model{Capacity: 1}},
			`test.csv: no demand series "value" (the recording has "a", "b"); name it with --demand`},
		{"NaN demand", recording(t, "value", "0,1", "15,NaN"), Config{Model: Model{Capacity: 1}},
			`demand: test.csv:3: value: want a number, got NaN (not allowed in this column)`},
		{"negative demand", recording(t, "value", "0,1", "15,-3"), Config{Model: Model{Capacity: 1}},
			`demand: test.csv:3: value: must not be negative, got -3`},
		{"fractional replicas", recording(t, "cpu,replicas", "0,1,2", "15,2,2.5"), Config{Mode: Replay},
			`test.csv:3: replicas: want a count of pods (a whole number, at least 0) or NaN, got 2.5`},
		{"negative ready", recording(t, "cpu,ready", "0,1,2", "15,2,-1"), Config{Mode: Replay},
			`test.csv:3: ready: want a count of pods (a whole number, at least 0) or NaN, got -1`},
		{"infinite pods", recording(t, "qps,qps:pods", "0,1,2", "15,2,+Inf"), Config{Mode: Replay},
			`test.csv:3: qps:pods: want a count of pods (a whole number, at least 0) or NaN, got +Inf`},
		{"no capacity", recording(t, "value", "0,1"), Config{}, "closed-loop mode needs --capacity: the demand one replica serves at 100 % CPU"},
		{"bad mode", recording(t, "value", "0,1"), Config{Mode: "live"}, `mode "live": want replay or closed-loop`},
		{"negative interval", recording(t, "value", "0,1", "15,1"), Config{Model: Model{Capacity: 1}, Interval: -15 * time.Second},
			"interval -15s: want at least 1s (or 0 for each policy's own)"},
		{"tiny interval", recording(t, "value", "0,1", "15,1"), Config{Model: Model{Capacity: 1}, Interval: time.Nanosecond},
			"interval 1ns: want at least 1s (or 0 for each policy's own)"},
		{"negative start-up", recording(t, "value", "0,1", "15,1"), Config{Model: Model{Capacity: 1, Startup: -time.Second}},
			"start-up -1s: must not be negative"},
		{"negative max age", recording(t, "cpu", "0,1", "15,1"), Config{Mode: Replay, MaxAge: -time.Second}, "max age -1s: must not be negative"},
		{"negative initial", recording(t, "value", "0,1", "15,1"), Config{Model: Model{Capacity: 1}, Initial: -3}, "initial replicas -3: must not be negative"},
		{"warm-up past the last step", recording(t, "value", "0,1", "30,1", "60,1", "70,1"), Config{Model: Model{Capacity: 1}, Warmup: 65 * time.Second},
			"warm-up 1m5s leaves no step of policy p (every 15s) to score before the recording ends at 2026-07-01T00:01:10Z"},
		{"a span of centuries", recording(t, "value", "0,1", "9000000000,1"), Config{Model: Model{Capacity: 1}},
			"test.csv: the recording spans 104166d16h, 600000001 steps of 15s for policy p: more than 10000000 (are its timestamps seconds?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Simulate(tc.rec, []Named{pol}, tc.cfg)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Simulate = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func traceFiles(t testing.TB) []string {
	files, _ := filepath.Glob("../testdata/traces/*.csv")
	if len(files) != 4 {
		t.Fatalf("found %d traces in ../testdata/traces; want 4", len(files))
	}
	return files
}

// traceCapacity picks a capacity per replica so that the trace's peak needs about 40 replicas.
func traceCapacity(rec *metrics.Recording) float64 {
	peak := 0.0
	for _, v := range rec.Series[0].Values {
		peak = math.Max(peak, v)
	}
	return peak / 40
}

func runTrace(t testing.TB, file string, steps bool) (*Result, []Source) {
	rec, err := metrics.ReadFile(file, "")
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := Sources([]string{"hpa", "target-tracking"}, BaseSpec{Min: 1, Max: 100, Utilization: 70})
	if err != nil {
		t.Fatal(err)
	}
	named, err := Parse(srcs, policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Simulate(rec, named, Config{Model: Model{Capacity: traceCapacity(rec)}, Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	return res, srcs
}

// Every real trace runs through both built-ins, with scores that hold together.
func TestTraces(t *testing.T) {
	for _, f := range traceFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res, _ := runTrace(t, f, false)
			for _, r := range res.Runs {
				s, b := r.Summary, r.Bound
				if !(s.CostRatio > 1) || b.OverloadSeconds != 0 || s.ScaleEvents == 0 || s.PeakReplicas > 100 {
					t.Errorf("%s: %+v (bound %+v): want cost above the bound's, a bound never overloaded, and some scaling", r.Name, s, b)
				}
				if s.OverloadSeconds > float64(s.Steps)*r.Tick.Seconds() || s.Reversals >= s.ScaleEvents {
					t.Errorf("%s: inconsistent summary %+v", r.Name, s)
				}
			}
		})
	}
}

// Output is byte-identical across runs, for every format, and sweeps do not depend on scheduling.
func TestDeterministic(t *testing.T) {
	file := "../testdata/traces/azure_functions_slopower_60s.csv"
	render := func() string {
		res, srcs := runTrace(t, file, true)
		files := map[string]string{}
		for _, s := range srcs {
			files[s.Name] = s.File
		}
		var b bytes.Buffer
		WriteTable(&b, res)
		WriteJSON(&b, res, files)
		WriteStepsCSV(&b, res)
		rec, _ := metrics.ReadFile(file, "")
		sr, err := RunSweep(rec, srcs, Sweep{Field: "metrics[0].utilization", Values: []string{"50", "60", "70", "80"}}, res.Config)
		if err != nil {
			t.Fatal(err)
		}
		WriteSweep(&b, sr)
		return b.String()
	}
	a, b := render(), render()
	if a != b {
		t.Fatalf("two runs differ")
	}
	if len(a) < 100000 {
		t.Errorf("output is only %d bytes", len(a))
	}
}

func TestGoldenTable(t *testing.T) {
	res, _ := runTrace(t, "../testdata/traces/azure_functions_slopower_60s.csv", false)
	var b bytes.Buffer
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/azure.table.golden"
	if *update {
		os.WriteFile(golden, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s\n(run go test ./simulate -run TestGoldenTable -update to accept)", diff)
	}
}

func TestSetField(t *testing.T) {
	src := []byte("target: {namespace: a, name: b}\nmaxReplicas: 10\nmetrics: [{kind: cpu, utilization: 50}]\n")
	tests := []struct {
		path, value string
		check       func(p *policy.Policy) bool
		err         string
	}{
		{"metrics[0].utilization", "65", func(p *policy.Policy) bool { return p.Metrics[0].Utilization == 65 }, ""},
		{"behavior.scaleDown.cooldown", "90s", func(p *policy.Policy) bool { return p.Behavior.Down.Cooldown == 90*time.Second }, ""},
		{"algorithm.args.headroom", "0.2", func(p *policy.Policy) bool { return p.Algorithms[0].Name == "target-tracking" }, ""},
		{"metrics[3].utilization", "1", nil, "sweep metrics[3].utilization: the policy has no item 3 there"},
		{"metrics", "1", nil, "sweep metrics: not a single value"},
		{"a..b", "1", nil, `sweep: bad field path "a..b" at ""`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			out, err := SetField(src, tt.path, tt.value)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("SetField = %v; want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Parse("swept.yaml", out, policy.Builtin())
			if err != nil {
				t.Fatalf("swept policy does not parse: %v\n%s", err, out)
			}
			if !tt.check(p) {
				t.Errorf("field not set:\n%s", out)
			}
		})
	}
	// A swept value that breaks validation names the field and the value.
	rec := recording(t, "value", "0,1", "15,2")
	_, err := RunSweep(rec, []Source{{Name: "p", File: "p.yaml", Data: src}}, Sweep{Field: "metrics[0].utilization", Values: []string{"50", "0"}}, Config{Model: Model{Capacity: 1}})
	if err == nil || !strings.Contains(err.Error(), "p.yaml with metrics[0].utilization=0:3:") || !strings.Contains(err.Error(), "must be greater than 0") {
		t.Errorf("RunSweep with a bad value = %v", err)
	}
	// Replay has no demand, so no cost ratio or overload to rank points by: a sweep there is refused.
	_, err = RunSweep(recording(t, "cpu", "0,1", "15,2"), []Source{{Name: "p", File: "p.yaml", Data: src}}, Sweep{Field: "metrics[0].utilization", Values: []string{"50", "60"}}, Config{Mode: Replay})
	if err == nil || !strings.Contains(err.Error(), "replay mode cannot score") {
		t.Errorf("RunSweep in replay = %v; want a refusal", err)
	}
}

// The frontier and the read-off compare replica-seconds: a point whose own lower bound is higher (a swept
// minReplicas) has a lower cost ratio without being any cheaper.
func TestFrontier(t *testing.T) {
	pt := func(v string, cost, over float64) Point {
		return Point{Value: v, Summary: Summary{ReplicaSeconds: 1000 * cost, CostRatio: cost, OverloadSeconds: over}}
	}
	f := pt("f", 3.0, 10)
	f.Summary.CostRatio = 1.0 // 3000 replica-seconds over a lower bound of 3000
	ps := []Point{pt("a", 1.2, 100), pt("b", 1.5, 50), pt("c", 1.6, 80), pt("d", 2.0, 0), pt("e", 1.2, 120), f}
	MarkFrontier(ps)
	var got []string
	for _, p := range Frontier(ps) {
		got = append(got, p.Value)
	}
	if diff := cmp.Diff([]string{"a", "b", "d"}, got); diff != "" {
		t.Errorf("frontier (-want +got):\n%s", diff)
	}
	if p, ok := AtCost(ps, 1550); !ok || p.Value != "b" {
		t.Errorf("AtCost(1550) = %v, %v; want b", p.Value, ok)
	}
	if _, ok := AtCost(ps, 1000); ok {
		t.Errorf("AtCost(1000) found a point cheaper than any")
	}

	// A queue workload's points weigh cost against SLO violation, not overload: q is overloaded more than p at
	// the same cost, but its backlog waits less.
	queue := func(v string, cost, over, slo float64) Point {
		p := pt(v, cost, over)
		p.Summary.Queue, p.Summary.SLOSeconds = true, slo
		return p
	}
	qs := []Point{queue("p", 1.2, 10, 50), queue("q", 1.2, 90, 20), queue("r", 1.5, 0, 30)}
	MarkFrontier(qs)
	got = nil
	for _, p := range Frontier(qs) {
		got = append(got, p.Value)
	}
	if diff := cmp.Diff([]string{"q"}, got); diff != "" {
		t.Errorf("queue frontier (-want +got):\n%s", diff)
	}
	if p, ok := AtCost(qs, 2000); !ok || p.Value != "q" {
		t.Errorf("queue AtCost(2000) = %v, %v; want q (the least SLO violation)", p.Value, ok)
	}
}

func TestPlot(t *testing.T) {
	res, _ := runTrace(t, "../testdata/traces/azure_functions_slopower_60s.csv", true)
	dir := t.TempDir()
	for _, name := range []string{"p.png", "p.svg"} {
		var b bytes.Buffer
		if err := Plot(&b, filepath.Join(dir, name), res); err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(name) {
		case ".png":
			img, err := png.Decode(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatalf("PNG does not decode: %v", err)
			}
			if img.Bounds().Dx() < 800 || img.Bounds().Dy() < 600 || b.Len() < 50000 {
				t.Errorf("PNG is %v and %d bytes: too small for two panels of a day", img.Bounds(), b.Len())
			}
		case ".svg":
			s := b.String()
			if !strings.HasPrefix(s, "<?xml") || strings.Count(s, "<path") < 20 || !strings.Contains(s, "target-tracking: cost") {
				t.Errorf("SVG lacks the panels: %d bytes, %d paths", len(s), strings.Count(s, "<path"))
			}
		}
	}
	if err := Plot(&bytes.Buffer{}, "p.pdf", res); err == nil {
		t.Errorf("Plot(.pdf) succeeded")
	}
}

// thirtyDays tiles the Google cluster trace (28 days at 5 min) to 30 days.
func thirtyDays(b *testing.B) *metrics.Recording {
	rec, err := metrics.ReadFile("../testdata/traces/google2019_cluster_cpu_300s.csv", "")
	if err != nil {
		b.Fatal(err)
	}
	out := &metrics.Recording{File: rec.File + " (tiled to 30 days)", Series: []metrics.Series{{Name: "value"}}}
	for i := 0; i <= 30*24*12; i++ {
		out.Times = append(out.Times, rec.Times[0].Add(time.Duration(i)*5*time.Minute))
		out.Lines = append(out.Lines, 0)
		out.Series[0].Values = append(out.Series[0].Values, rec.Series[0].Values[i%len(rec.Times)])
	}
	return out
}

// BenchmarkSimulate30Days: 30 days at 15 s steps (172,800 steps) for one policy.
func BenchmarkSimulate30Days(b *testing.B) {
	rec := thirtyDays(b)
	srcs, _ := Sources([]string{"target-tracking"}, BaseSpec{Min: 1, Max: 100, Utilization: 70})
	named, _ := Parse(srcs, policy.Builtin())
	cfg := Config{Model: Model{Capacity: traceCapacity(rec)}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := Simulate(rec, named, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if res.Runs[0].Summary.Steps != 172801 {
			b.Fatalf("steps = %d", res.Runs[0].Summary.Steps)
		}
	}
	b.ReportMetric(172801*float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkSweep20: a 20-point sweep over the same 30 days.
func BenchmarkSweep20(b *testing.B) {
	rec := thirtyDays(b)
	srcs, _ := Sources([]string{"target-tracking"}, BaseSpec{Min: 1, Max: 100, Utilization: 70})
	var vals []string
	for u := 40; u < 100; u += 3 {
		vals = append(vals, fmt.Sprint(u))
	}
	cfg := Config{Model: Model{Capacity: traceCapacity(rec)}, Registry: policy.Builtin()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RunSweep(rec, srcs, Sweep{Field: "metrics[0].utilization", Values: vals}, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two recordings on offset timelines: at each step a series reads its own latest sample, as an instant query
// would, not the NaN that merging put where it has no sample.
func TestReplayMerged(t *testing.T) {
	var cpu, qps []string
	for k := range 40 {
		cpu = append(cpu, fmt.Sprintf("%d,50", 15*k))
		qps = append(qps, fmt.Sprintf("%d,20", 15*k+7))
	}
	rec, err := metrics.Merge(recording(t, "cpu", cpu...), recording(t, "qps", qps...))
	if err != nil {
		t.Fatal(err)
	}
	pol := parse(t, nil, "hpa", replayHPA)
	res, err := Simulate(rec, []Named{pol}, Config{Mode: Replay, Initial: 10, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Runs[0].Steps[len(res.Runs[0].Steps)-1]
	for _, s := range res.Runs[0].Steps[2:] {
		if s.Reason == policy.MetricUnavailable {
			t.Fatalf("%s: %s; want qps read from its latest sample", s.Time.Format(time.TimeOnly), s.Reason)
		}
	}
	if last.Desired != 2 {
		t.Errorf("last step: desired %d (%s); want 2 (20 req/s at 10 per replica)", last.Desired, last.Reason)
	}
}

// A demand too large for int32 replicas saturates the lower bound at maxReplicas instead of wrapping.
func TestBoundHugeDemand(t *testing.T) {
	rec := recording(t, "value", "0,3e10", "15,3e10", "30,3e10")
	pol := parse(t, nil, "p", "target: {namespace: a, name: b}\nmaxReplicas: 100\nmetrics: [{kind: cpu, utilization: 50}]\n")
	res, err := Simulate(rec, []Named{pol}, Config{Model: Model{Capacity: 10}, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Runs[0].Steps {
		if s.Bound != 100 {
			t.Fatalf("%s: bound %d; want maxReplicas 100", s.Time.Format(time.TimeOnly), s.Bound)
		}
	}
}

// Policies with different intervals and bounds: each overload share is of the policy's own scored time (the
// model's steps, which the 30 s policy's interval does not coarsen), and the table says whose lower bound its last
// column is.
func TestTableMixedPolicies(t *testing.T) {
	var rows []string
	for k := range 121 {
		rows = append(rows, fmt.Sprintf("%d,%d", 15*k, 50+50*(k%20/10)))
	}
	rec := recording(t, "value", rows...)
	a := parse(t, nil, "a", "target: {namespace: a, name: b}\nmaxReplicas: 10\nmetrics: [{kind: qps, perReplica: 10}]\n")
	b := parse(t, nil, "b", "target: {namespace: a, name: b}\nminReplicas: 6\nmaxReplicas: 20\ninterval: 30s\nmetrics: [{kind: qps, perReplica: 10}]\n")
	res, err := Simulate(rec, []Named{a, b}, Config{Model: Model{Capacity: 10}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "The lower bound column is a's (its bounds); b's differs") {
		t.Errorf("table lacks the lower bound note:\n%s", out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 7 && strings.HasPrefix(line, "  overload (% of time)") {
			r := res.Runs[1] // 121 steps of 15 s
			if r.Summary.Steps != 121 || r.Tick != 15*time.Second {
				t.Errorf("b: %d steps of %s; want 121 of 15s", r.Summary.Steps, r.Tick)
			}
			if want := fmt.Sprintf("%.2f", 100*r.Summary.OverloadSeconds/1815); f[5] != want || r.Summary.OverloadSeconds == 0 {
				t.Errorf("b's overload share %s (%v s overloaded); want %s, of its own 1815 s", f[5], r.Summary.OverloadSeconds, want)
			}
			return
		}
	}
	t.Errorf("no overload share row in\n%s", out.String())
}

// A replicas column merged from a recording that starts later gives the initial count from its first sample.
func TestReplayMergedReplicas(t *testing.T) {
	rec, err := metrics.Merge(recording(t, "qps", "0,20", "15,20", "30,20"), recording(t, "replicas", "7,3", "22,3"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Simulate(rec, []Named{parse(t, nil, "hpa", replayHPA)}, Config{Mode: Replay, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Runs[0].Steps[0].Current; c != 3 {
		t.Errorf("initial replicas = %d; want the replicas column's first sample, 3", c)
	}
}

// A series merged with a finer one is stale only after twice its own step: a 60 s cpu column beside a 15 s qps
// column reads as the daemon would read it (its samples are a minute apart), not as invalid between samples.
func TestReplayCoarseSeries(t *testing.T) {
	var cpu, qps []string
	for k := range 40 {
		qps = append(qps, fmt.Sprintf("%d,20", 15*k))
		if k%4 == 0 {
			cpu = append(cpu, fmt.Sprintf("%d,50", 15*k))
		}
	}
	rec, err := metrics.Merge(recording(t, "qps", qps...), recording(t, "cpu", cpu...))
	if err != nil {
		t.Fatal(err)
	}
	pol := parse(t, nil, "hpa", "target: {namespace: a, name: b}\nmaxReplicas: 10\nalgorithm: {name: hpa}\n"+
		"metrics: [{kind: qps, perReplica: 10}, {kind: cpu, utilization: 50}]\n")
	res, err := Simulate(rec, []Named{pol}, Config{Mode: Replay, Initial: 4, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Runs[0].Steps {
		if math.IsNaN(s.Metrics[1]) {
			t.Fatalf("%s: cpu invalid (%s); want its latest sample, at most a minute old", s.Time.Format(time.TimeOnly), s.Reason)
		}
	}
}

// A request workload drops the demand it cannot serve: once the overload ends, its CPU reads the demand again,
// instead of staying at 100 % while a backlog that no HTTP server keeps drains.
func TestOverloadLeavesNoBacklog(t *testing.T) {
	var rows []string
	for k := range 60 {
		v := 30.0 // 3× one replica's capacity for 5 minutes, then half of it
		if k >= 20 {
			v = 5
		}
		rows = append(rows, fmt.Sprintf("%d,%g", 15*k, v))
	}
	pol := parse(t, nil, "p", "target: {namespace: a, name: b}\nminReplicas: 1\nmaxReplicas: 1\nmetrics: [{kind: cpu, utilization: 50}]\n")
	res, err := Simulate(recording(t, "value", rows...), []Named{pol}, Config{Model: Model{Capacity: 10}, Initial: 1, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	steps := res.Runs[0].Steps
	if cpu := steps[15].Metrics[0]; cpu != 200 {
		t.Errorf("overloaded 3×: cpu %g; want 200 (requests up to 2×)", cpu)
	}
	if cpu := steps[len(steps)-1].Metrics[0]; cpu != 50 {
		t.Errorf("10 minutes after the overload: cpu %g; want 50 (half the capacity)", cpu)
	}
}

// The model steps at the recording's step when that is finer than the policy's passes: a 15 s spike between two
// evaluations of a 60 s policy is overload, and the lower bound pays for it.
func TestDemandBetweenPasses(t *testing.T) {
	var rows []string
	for k := range 41 {
		d := 20
		if k == 21 { // 315 s: between the evaluations at 300 s and 360 s
			d = 200
		}
		rows = append(rows, fmt.Sprintf("%d,%d", 15*k, d))
	}
	rec := recording(t, "value", rows...)
	pol := parse(t, nil, "p", "target: {namespace: a, name: b}\nmaxReplicas: 50\ninterval: 60s\nmetrics: [{kind: qps, perReplica: 10}]\n")
	for _, pass := range []time.Duration{0, 15 * time.Second} {
		res, err := Simulate(rec, []Named{pol}, Config{Model: Model{Capacity: 10}, Pass: pass, Steps: true})
		if err != nil {
			t.Fatal(err)
		}
		r := res.Runs[0]
		if r.Tick != 15*time.Second || r.Policy.Every(r.Pass) != time.Minute || r.Summary.Steps != 41 {
			t.Errorf("pass %s: %d steps of %s, evaluated every %s; want 41 of 15s, every 1m", pass, r.Summary.Steps, r.Tick, r.Policy.Every(r.Pass))
		}
		if r.Summary.OverloadSeconds != 15 {
			t.Errorf("pass %s: overload %g s; want 15 (the spike at 315 s)", pass, r.Summary.OverloadSeconds)
		}
		if want := float64(40*2+20) * 15; r.Bound.ReplicaSeconds != want {
			t.Errorf("pass %s: lower bound %g replica-seconds; want %g", pass, r.Bound.ReplicaSeconds, want)
		}
		decided := 0
		for _, s := range r.Steps {
			if s.Decided {
				decided++
				if s.Time.Sub(rec.Times[0])%time.Minute != 0 {
					t.Errorf("pass %s: decided at %s; want whole minutes", pass, s.Time.Format(time.TimeOnly))
				}
			} else if s.Desired != s.Current || s.Metrics != nil {
				t.Errorf("pass %s: %s: undecided step with desired %d, metrics %v", pass, s.Time.Format(time.TimeOnly), s.Desired, s.Metrics)
			}
		}
		if decided != 11 {
			t.Errorf("pass %s: %d decisions; want 11 (every minute of 10)", pass, decided)
		}
	}
}

// A policy whose interval the daemon's pass does not divide is evaluated as the daemon evaluates it (Policy.Due):
// a 20 s interval on 15 s passes every 15 s, and the table says so. Without a pass it runs every 20 s on 5 s steps.
func TestPassGrid(t *testing.T) {
	var rows []string
	for k := range 41 {
		rows = append(rows, fmt.Sprintf("%d,%d", 15*k, 20+10*(k%4)))
	}
	rec := recording(t, "value", rows...)
	pol := parse(t, nil, "p", "target: {namespace: a, name: b}\nmaxReplicas: 50\ninterval: 20s\nmetrics: [{kind: qps, perReplica: 10}]\n")
	for _, c := range []struct {
		pass, every, tick time.Duration
		decided           int
		note              bool
	}{
		{0, 20 * time.Second, 5 * time.Second, 31, false},
		{15 * time.Second, 15 * time.Second, 15 * time.Second, 41, true},
		{10 * time.Second, 20 * time.Second, 5 * time.Second, 31, false},
	} {
		res, err := Simulate(rec, []Named{pol}, Config{Model: Model{Capacity: 10}, Pass: c.pass, Steps: true})
		if err != nil {
			t.Fatal(err)
		}
		r := res.Runs[0]
		decided := 0
		for _, s := range r.Steps {
			if s.Decided {
				decided++
			}
		}
		if r.Policy.Every(r.Pass) != c.every || r.Tick != c.tick || decided != c.decided {
			t.Errorf("pass %s: every %s on %s steps, %d decisions; want every %s on %s, %d", c.pass, r.Policy.Every(r.Pass), r.Tick, decided, c.every, c.tick, c.decided)
		}
		var out bytes.Buffer
		if err := WriteTable(&out, res); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "p: interval 20s, evaluated every 15s on the daemon's 15s passes"); got != c.note {
			t.Errorf("pass %s: note in the table %t; want %t:\n%s", c.pass, got, c.note, out.String())
		}
	}
}

// A qps reading with the default podsQuery covers only the pods that served through its whole window: after a
// scale-up it is partial until the new pods have, and holds a scale-down meanwhile, as the daemon's does.
func TestNewPodsPartial(t *testing.T) {
	var rows []string
	for k := range 30 {
		d := 20 // two replicas' worth, 100 (ten) from 60 s to 120 s
		if k >= 4 && k < 8 {
			d = 100
		}
		rows = append(rows, fmt.Sprintf("%d,%d", 15*k, d))
	}
	pol := parse(t, nil, "p", "target: {namespace: a, name: b}\nmaxReplicas: 20\nalgorithm: {name: hpa}\nmetrics: [{kind: qps, perReplica: 10}]\n"+
		"behavior: {scaleDown: {stabilizationWindow: 0s, policies: [{type: Percent, value: 100, period: 15s}]}}\n")
	res, err := Simulate(recording(t, "value", rows...), []Named{pol}, Config{Model: Model{Capacity: 10}, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	var partial, down []string
	for _, s := range res.Runs[0].Steps {
		at := s.Time.Format("04:05")
		if s.Reason == policy.MetricPartial {
			partial = append(partial, at)
		}
		if s.Desired < s.Current {
			down = append(down, fmt.Sprintf("%s %d→%d", at, s.Current, s.Desired))
		}
	}
	// The last pods are ready at 02:30 and counted from the decision at 03:30, whose reading is of the window
	// 02:30–03:15 (a scrape late). Before, every reading that asks for fewer is partial.
	if fmt.Sprint(partial) != "[02:30 02:45 03:00 03:15]" || fmt.Sprint(down) != "[03:30 10→2]" {
		t.Errorf("partial at %v, scale-downs %v; want partial from 02:30 to 03:15 and one scale-down, at 03:30", partial, down)
	}
}

// The model's step refines the pass only to a whole-second divisor it shares with the scrape and the demand's
// step, and not below a quarter of the finer: a jittery or odd step leaves it as it was.
func TestTickFor(t *testing.T) {
	s := time.Second
	for _, c := range []struct{ pass, scrape, step, want time.Duration }{
		{15 * s, 15 * s, 300 * s, 15 * s},
		{60 * s, 15 * s, 15 * s, 15 * s},
		{20 * s, 15 * s, 60 * s, 5 * s},
		{15 * s, 15 * s, 10 * s, 5 * s},
		{15 * s, 15 * s, 59 * s, 15 * s}, // jitter: gcd 1 s
		{15 * s, 15 * s, 7 * s, 15 * s},
		{15 * s, 15 * s, 1500 * time.Millisecond, 15 * s},
		{15 * s, 0, 0, 15 * s},
	} {
		if got := tickFor(c.pass, c.scrape, c.step); got != c.want {
			t.Errorf("pass %s, scrape %s, step %s: %s; want %s", c.pass, c.scrape, c.step, got, c.want)
		}
	}
	// A recording whose 60 s steps alternate 59 s and 61 s runs at 15 s steps, not 1 s ones.
	var rows []string
	at := 0
	for k := range 60 {
		rows = append(rows, fmt.Sprintf("%d,%d", at, 20+k%3))
		at += 59 + 2*(k%2)
	}
	pol := parse(t, nil, "p", "target: {namespace: a, name: b}\nmaxReplicas: 50\nmetrics: [{kind: qps, perReplica: 10}]\n")
	res, err := Simulate(recording(t, "value", rows...), []Named{pol}, Config{Model: Model{Capacity: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Runs[0]; r.Tick != 15*s {
		t.Errorf("jittery 60 s recording: %d steps of %s; want 15s steps", r.Summary.Steps, r.Tick)
	}
}

// The counts `podpilot record` adds: a reading that covered fewer pods than were ready (new pods whose series
// are younger than the rate window) holds the replay's scale-downs, as it held the daemon's; without the counts,
// with every pod covered, or with the ready count unknown, the replay scales down on the reading.
func TestReplayPartial(t *testing.T) {
	const n = 12 // 3 minutes at 15 s: 100 req/s, then 20 from 30 s on
	rows := func(header string, row func(k int) string) *metrics.Recording {
		var out []string
		for k := range n {
			out = append(out, fmt.Sprintf("%d,%s", 15*k, row(k)))
		}
		return recording(t, header, out...)
	}
	qps := func(k int) string {
		if k < 2 {
			return "100"
		}
		return "20"
	}
	for _, c := range []struct {
		name   string
		header string
		row    func(k int) string
		holdTo int // the first step at which the replay scales down
	}{
		{"no counts", "qps", qps, 2},
		{"every pod covered", "qps,qps:pods,ready", func(k int) string { return qps(k) + ",10,10" }, 2},
		// Three pods younger than the window until 1m30s: the reading is partial until then.
		{"partial until 1m30s", "qps,qps:pods,ready", func(k int) string {
			if k < 6 {
				return qps(k) + ",7,10"
			}
			return qps(k) + ",10,10"
		}, 6},
		{"ready unknown", "qps,qps:pods,ready", func(k int) string { return qps(k) + ",7,NaN" }, 2},
		{"pods unknown", "qps,qps:pods,ready", func(k int) string { return qps(k) + ",NaN,10" }, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Simulate(rows(c.header, c.row), []Named{parse(t, nil, "hpa", replayHPA)}, Config{Mode: Replay, Initial: 10, Steps: true})
			if err != nil {
				t.Fatal(err)
			}
			first := -1
			for k, s := range res.Runs[0].Steps {
				if s.Desired < s.Current && first < 0 {
					first = k
				}
				if k >= 2 && k < c.holdTo && s.Reason != policy.MetricPartial {
					t.Errorf("step %d: %s, desired %d; want held at 10 on a partial reading", k, s.Reason, s.Desired)
				}
			}
			if first != c.holdTo {
				t.Errorf("first scale-down at step %d; want %d", first, c.holdTo)
			}
		})
	}
	// A policy metric without a podsQuery reads no pods, whatever the recording holds.
	pol := parse(t, nil, "promql", "target: {namespace: a, name: b}\nmaxReplicas: 10\nalgorithm: {name: hpa}\n"+
		"metrics: [{kind: promql, name: qps, query: 'x', perReplica: 10}]\nbehavior: {scaleDown: {stabilizationWindow: 0s}}\n")
	res, err := Simulate(rows("qps,qps:pods,ready", func(k int) string { return qps(k) + ",7,10" }), []Named{pol}, Config{Mode: Replay, Initial: 10, Steps: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Runs[0].Steps[2]; s.Desired != 2 {
		t.Errorf("promql metric at step 2: desired %d (%s); want 2, with no pods count", s.Desired, s.Reason)
	}
}

// A column named like a count is a policy metric's reading when a policy metric has that name, and a one-column
// trace with such a name is still demand.
func TestCountNamesOfMetrics(t *testing.T) {
	pol := parse(t, nil, "ready", "target: {namespace: a, name: b}\nmaxReplicas: 10\nalgorithm: {name: hpa}\n"+
		"metrics: [{kind: promql, name: ready, query: x, perReplica: 0.5}]\n")
	res, err := Simulate(recording(t, "ready", "0,0.9", "15,0.9"), []Named{pol}, Config{Mode: Replay, Initial: 1, Steps: true})
	if err != nil {
		t.Fatalf("replay of a metric named ready: %v", err)
	}
	if d := res.Runs[0].Steps[0].Desired; d != 2 {
		t.Errorf("desired %d; want 2 (0.9 at 0.5 per replica)", d)
	}
	res, err = Simulate(recording(t, "ready", "0,10", "60,30"), []Named{parse(t, nil, "hpa", replayHPA)}, Config{Model: Model{Capacity: 10}})
	if err != nil || res.Config.Demand != "ready" {
		t.Errorf("closed loop on a one-column trace named ready: %v; want it read as demand", err)
	}
}
