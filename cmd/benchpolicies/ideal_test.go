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
	c := it.margins()[0]
	if got, want := it.score(func(j int) float64 { return c[j] }), it.hpa(100); got != want {
		t.Errorf("ideal margin at k 0, m 1: %+v, want %+v", got, want)
	}
	// The rise of 2 over five steps, seen from step 7 on, with h 1h and p 1.
	if diff := cmp.Diff([]float64{1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5}, it.riseQuantiles()[len(idealQuantiles)-1]); diff != "" {
		t.Errorf("rise quantile candidate (-want +got):\n%s", diff)
	}
	// Every margin and window max asks for at least the demand, so none is cheaper than the demand itself: the
	// read-off at hpa's 100 % is 1× hpa's overload. Every rise quantile asks for 5 from step 7 on: dearer. At 50 %
	// some setting of each form is as cheap.
	r := it.study()
	for f, best := range r.best {
		if math.IsNaN(best[1]) {
			t.Errorf("%s: no setting as cheap as ideal hpa at 50 %%", idealForms[f].name)
		}
	}
	if last := len(idealTargets) - 1; r.best[0][last] != 5.0/15 || r.best[1][last] != 5.0/15 || !math.IsNaN(r.best[2][last]) {
		t.Errorf("read-offs at 100 %%: %v, %v, %v", r.best[0][last], r.best[1][last], r.best[2][last])
	}
	var b bytes.Buffer
	idealReport(&b, []idealRow{r})
	if out := b.String(); !strings.Contains(out, " | 1.00× / 1.00× / none this cheap / 1.00× of 33.33 % |\n") {
		t.Errorf("report:\n%s", out)
	}
}

// A window's highest value, and its quantiles, at every step.
func TestIdealWindows(t *testing.T) {
	it := idealTrace{d: []float64{1, 1, 4, 1, 1, 1}}
	if diff := cmp.Diff([]float64{1, 1, 4, 4, 1, 1}, it.windowMax(2)); diff != "" {
		t.Errorf("windowMax(2) (-want +got):\n%s", diff)
	}
	got := rollingQuantiles([]float64{3, 1, 2, 5, 4}, 3, []float64{0.5, 1})
	if diff := cmp.Diff([][]float64{{3, 1, 2, 2, 4}, {3, 3, 3, 5, 5}}, got); diff != "" {
		t.Errorf("rollingQuantiles (-want +got):\n%s", diff)
	}
	// The recent quantile form over 30m: the median forgets a spike, the 0.9-quantile keeps it; neither asks for
	// less than the demand.
	it = idealTrace{d: []float64{4, 1, 1, 1}}
	rq := it.recentQuantiles()
	if diff := cmp.Diff([][]float64{{4, 1, 1, 1}, {4, 4, 4, 4}}, [][]float64{rq[0], rq[2]}); diff != "" {
		t.Errorf("recentQuantiles at 30m, p 0.5 and 0.9 (-want +got):\n%s", diff)
	}
}
