package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podpilot/podpilot/metrics"
)

// A sample is held until the next one, every 15 s, in replicas; scoring starts at the warm-up's end.
func TestIdealTrace(t *testing.T) {
	t0 := time.Unix(0, 0)
	rec := &metrics.Recording{Times: []time.Time{t0, t0.Add(time.Minute)},
		Series: []metrics.Series{{Name: "d", Values: []float64{50, 150}}}}
	it := newIdealTrace("x", rec, 2, 30*time.Second, 1, 100)
	if diff := cmp.Diff([]float64{1, 1, 1, 1, 3}, it.d); diff != "" || it.from != 2 {
		t.Errorf("demand (-want +got):\n%s\nfrom %d, want 2", diff, it.from)
	}
}

// Demand steps from 1 to 3 replicas at step 7; capacity sized on step j serves from step j + 5.
func TestIdealScores(t *testing.T) {
	d := []float64{1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3}
	it := idealTrace{name: "step", d: d, lo: 1, hi: 100}
	bound := 7*1 + 8*3.0
	for _, tc := range []struct {
		target float64
		want   idealScore
	}{
		// Steps 7–11 overloaded (the rise is seen five steps late); capacity 1 until step 12, then 3.
		{100, idealScore{cost: (12*1 + 3*3) / bound, over: 5.0 / 15}},
		// Twice the highest recent demand: 1 until step 5 (nothing known yet), 2 until step 12, then 6.
		{50, idealScore{cost: (5*1 + 7*2 + 3*6) / bound, over: 5.0 / 15}},
	} {
		if got := it.hpa(tc.target); math.Abs(got.cost-tc.want.cost) > 1e-12 || got.over != tc.want.over {
			t.Errorf("ideal hpa at %g %%: %+v, want %+v", tc.target, got, tc.want)
		}
	}
	// k = 0, m = 1 asks for the demand itself: ideal hpa at 100 % on this trace, whose demand never falls.
	if got, want := it.margins()[0], it.hpa(100); got != want {
		t.Errorf("ideal margin at k 0, m 1: %+v, want %+v", got, want)
	}
	// Every margin asks for at least the demand, so none is cheaper than that one: the read-off at hpa's 100 %
	// is that setting, 1× hpa's overload; and at 50 % some setting is as cheap.
	r := it.study()
	if r.best[len(r.best)-1] != 5.0/15 || math.IsNaN(r.best[1]) {
		t.Errorf("read-offs %v", r.best)
	}
	var b bytes.Buffer
	idealReport(&b, []idealRow{r})
	if out := b.String(); !strings.Contains(out, " | 1.00× of 33.33 % |\n") {
		t.Errorf("report:\n%s", out)
	}
}
