package policy

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// warm is a history that has been running long enough to hold nothing of its start.
var warm = History{Start: t0.Add(-time.Hour), Last: t0.Add(-time.Hour)}

// prev as a tick's cur means "whatever the last decision asked for".
const prev = -1

// anyCount as a tick's want accepts any count.
const anyCount = -2

// bad is a reading that is invalid.
var bad = math.NaN()

type tick struct {
	at     time.Duration // offset from t0
	cur    int32         // spec replicas, or prev
	ready  int32         // ready pods; 0 means all of cur (use -1 for none ready)
	vals   []float64     // one per metric; NaN means invalid
	want   int32
	reason Reason // checked when not empty
}

func obs(vals []float64) []Observation {
	out := make([]Observation, len(vals))
	for i, v := range vals {
		if math.IsNaN(v) {
			out[i] = Observation{Reason: "empty result"}
		} else {
			out[i] = Observation{Value: v, Valid: true}
		}
	}
	return out
}

// walk evaluates ticks in order, recording scale events as the controller would after a successful write, and
// returns the history.
func walk(t *testing.T, p *Policy, h History, ticks []tick) History {
	t.Helper()
	_, h = steps(t, p, h, nil, ticks)
	return h
}

// walkPast is walk that also keeps Input.Past, from past on, and returns the decisions.
func walkPast(t *testing.T, p *Policy, h History, past [][]Sample, ticks []tick) []Decision {
	t.Helper()
	ds, _ := steps(t, p, h, past, ticks)
	return ds
}

func steps(t *testing.T, p *Policy, h History, past [][]Sample, ticks []tick) ([]Decision, History) {
	t.Helper()
	last := int32(-1)
	var out []Decision
	for i, tk := range ticks {
		cur := tk.cur
		if cur == prev {
			cur = last
		}
		ready := tk.ready
		switch ready {
		case 0:
			ready = cur
		case -1:
			ready = 0
		}
		now := t0.Add(tk.at)
		in := Input{Now: now, Current: cur, Ready: ready, Metrics: obs(tk.vals), Past: past}
		d, nh := p.Evaluate(in, h)
		if (tk.want != anyCount && d.Desired != tk.want) || (tk.reason != "" && d.Reason != tk.reason) {
			t.Fatalf("tick %d (t+%s, current %d, ready %d, values %v): Evaluate = %d (%s at %s, raw %d from %s, steps %+v, proposals %+v); want %d (%s)",
				i, tk.at, cur, ready, tk.vals, d.Desired, d.Reason, d.Stage, d.Raw, d.Winner, d.Steps, d.Proposals, tk.want, tk.reason)
		}
		if d.Scale() {
			nh = nh.Scaled(now, cur, d.Desired)
		}
		h, last = nh, d.Desired
		past = AppendPast(past, in, p.Lookback())
		out = append(out, d)
	}
	return out, h
}

// evaluator evaluates p on one observation at a time, at cur replicas all ready, keeping the history and
// Input.Past as the controller does.
func evaluator(p *Policy, cur int32) func(at time.Duration, o Observation) Decision {
	h, past := warm, [][]Sample(nil)
	return func(at time.Duration, o Observation) Decision {
		in := Input{Now: t0.Add(at), Current: cur, Ready: cur, Metrics: []Observation{o}, Past: past}
		d, nh := p.Evaluate(in, h)
		h, past = nh, AppendPast(past, in, p.Lookback())
		return d
	}
}
