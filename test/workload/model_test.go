package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestQueueAfter(t *testing.T) {
	tests := []struct {
		name                   string
		q, arrivals, drain, dt float64
		want                   float64
	}{
		{"grows by the surplus", 0, 20, 16, 10, 40},
		{"drains by the deficit", 100, 20, 30, 5, 50},
		{"never below zero", 10, 20, 30, 5, 0},
		{"balanced stays", 7, 20, 20, 100, 7},
		{"no pods: grows with every arrival", 3, 20, 0, 2, 43},
		{"no time passes", 5, 20, 0, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QueueAfter(tt.q, tt.arrivals, tt.drain, tt.dt); got != tt.want {
				t.Errorf("QueueAfter(%v, %v, %v, %v) = %v; want %v", tt.q, tt.arrivals, tt.drain, tt.dt, got, tt.want)
			}
		})
	}
}

func pods(ready int, notReady ...string) []Pod {
	var out []Pod
	for i := range ready {
		out = append(out, Pod{Name: string(rune('a' + i)), Ready: true, CPURequest: 0.5})
	}
	for _, n := range notReady {
		out = append(out, Pod{Name: n, CPURequest: 0.5})
	}
	return out
}

// counters returns requests and CPU seconds per pod name, and the queue depth.
func counters(tg *Target) (map[string][2]float64, float64) {
	m := map[string][2]float64{}
	for _, s := range tg.Samples() {
		m[s.Name] = [2]float64{s.Requests, s.CPU}
	}
	return m, tg.Depth()
}

func TestTargetAdvance(t *testing.T) {
	p := Params{CPUPerRequest: 0.01, ServiceRate: 8}
	approx := cmpopts.EquateApprox(0, 1e-9)
	type state struct {
		Pods  map[string][2]float64
		Depth float64
	}
	tests := []struct {
		name  string
		curve Curve
		steps func(tg *Target)
		want  state
	}{
		{
			name:  "two ready pods share the demand; the queue keeps the surplus",
			curve: Const(20),
			steps: func(tg *Target) { tg.SetPods(at(0), pods(2), p); tg.Advance(at(10), p) },
			// each pod: 10 rps for 10 s = 100 requests, 1 CPU second; queue: (20 - 2×8) × 10 = 40
			want: state{map[string][2]float64{"a": {100, 1}, "b": {100, 1}}, 40},
		},
		{
			name:  "unready pods get nothing; with none ready the queue takes every arrival",
			curve: Const(20),
			steps: func(tg *Target) { tg.SetPods(at(0), pods(0, "x"), p); tg.Advance(at(3), p) },
			want:  state{map[string][2]float64{"x": {0, 0}}, 60},
		},
		{
			name:  "a step inside one interval is integrated exactly, and so is the queue reaching zero",
			curve: &Steps{Offsets: []time.Duration{0, 5 * time.Second}, Values: []float64{4, 30}},
			steps: func(tg *Target) {
				tg.depth = 10
				tg.SetPods(at(0), pods(1), p)
				tg.Advance(at(10), p)
			},
			// requests 4×5 + 30×5 = 170; queue: 10 + (4-8)×5 = 0 at 2.5 s, stays 0, then + (30-8)×5 = 110
			want: state{map[string][2]float64{"a": {170, 1.7}}, 110},
		},
		{
			name:  "scaling from 2 to 4 halves each pod's share from then on",
			curve: Const(20),
			steps: func(tg *Target) {
				tg.SetPods(at(0), pods(2), p)
				tg.SetPods(at(10), pods(4), p)
				tg.Advance(at(20), p)
			},
			// queue: +4/s for 10 s, then 4×8 = 32 > 20 drains it at 12/s
			want: state{map[string][2]float64{"a": {150, 1.5}, "b": {150, 1.5}, "c": {50, 0.5}, "d": {50, 0.5}}, 0},
		},
		{
			name:  "a pod back from unready keeps its counters; a pod gone loses them",
			curve: Const(10),
			steps: func(tg *Target) {
				tg.SetPods(at(0), pods(2), p)
				tg.SetPods(at(10), []Pod{{Name: "a"}, {Name: "b", Ready: true}}, p)
				tg.SetPods(at(20), []Pod{{Name: "a", Ready: true}}, p)
				tg.Advance(at(30), p)
			},
			// queue: drained by 2 pods, then +2/s for 20 s with one
			want: state{map[string][2]float64{"a": {150, 1.5}}, 40},
		},
		{
			name:  "a new curve applies from the moment it is set",
			curve: Const(10),
			steps: func(tg *Target) {
				tg.SetPods(at(0), pods(1), p)
				tg.SetCurve(at(10), Const(0), p)
				tg.Advance(at(30), p)
			},
			want: state{map[string][2]float64{"a": {100, 1}}, 0},
		},
		{
			name:  "time going backwards changes nothing",
			curve: Const(10),
			steps: func(tg *Target) {
				tg.SetPods(at(0), pods(1), p)
				tg.Advance(at(10), p)
				tg.Advance(at(5), p)
			},
			want: state{map[string][2]float64{"a": {100, 1}}, 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := NewTarget("demo", "web", "q", tt.curve, t0)
			tt.steps(tg)
			var got state
			got.Pods, got.Depth = counters(tg)
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAdvanceSplitInvariant: integrating in one call or in many small ones gives the same counters.
func TestAdvanceSplitInvariant(t *testing.T) {
	p := Params{CPUPerRequest: 0.02, ServiceRate: 5}
	curve := &Steps{Offsets: []time.Duration{0, 3 * time.Second, 7 * time.Second}, Values: []float64{2, 25, 1}}
	one := NewTarget("demo", "web", "q", curve, t0)
	many := NewTarget("demo", "web", "q", curve, t0)
	one.SetPods(t0, pods(3), p)
	many.SetPods(t0, pods(3), p)
	one.Advance(at(12), p)
	for s := 0.1; s <= 12.0001; s += 0.1 {
		many.Advance(at(s), p)
	}
	many.Advance(at(12), p)
	c1, d1 := counters(one)
	c2, d2 := counters(many)
	if diff := cmp.Diff(c1, c2, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("counters, one Advance vs many (-one +many):\n%s", diff)
	}
	if diff := cmp.Diff(d1, d2, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("depth, one Advance vs many (-one +many):\n%s", diff)
	}
}
