package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/podpilot/podpilot/simulate"
)

// The benchmark prints every section from the simulate package's own tables, checks the goals, and prints the
// same bytes twice. (One trace and two targets here; make bench-policies runs them all.)
func TestBenchmark(t *testing.T) {
	t.Chdir("../..")
	render := func() string {
		var b bytes.Buffer
		if err := run(&b, []string{"testdata/traces/azure_functions_slopower_60s.csv"}, []string{"70", "125"}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	out := render()
	for _, want := range []string{
		"# Benchmarks: podpilot against HPA on real traces",
		"| azure_functions_slopower_60s | ",
		"$ podpilot simulate --recording testdata/traces/azure_functions_slopower_60s.csv --scale 0.5087116877 --capacity 100 --startup 45s --scrape 15s --interval 15s --policy hpa --policy target-tracking --policy testdata/bench/burst.yaml --policy testdata/bench/predictive.yaml\n",
		"podpilot simulate: closed-loop on testdata/traces/azure_functions_slopower_60s.csv",
		"                            hpa  target-tracking    burst  predictive  lower bound",
		"--sweep 'metrics[0].perReplica=70,125'",
		"at equal or lower cost than hpa's frontier points",
		"Goal 1 at each of hpa's frontier points",
		"n/a (no daily pattern)",
		// hpa at 70 % against target-tracking at 125 %, the cheaper of the two: each one's overload split.
		"| azure_functions_slopower_60s | 70 %, 2.62, 4410 | 4320 (98 %) | 90 (2 %) | 125 %, 2.59, 3840 | 3285 (86 %) | 555 (14 %) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "warm-up: the first") {
		t.Errorf("the one-day trace got a warm-up")
	}
	if again := render(); again != out {
		t.Errorf("two runs differ")
	}
}

// Overload is sudden when the demand one reaction time (five 15 s steps) earlier fitted in the capacity ready now,
// and only from the warm-up's end on.
func TestSudden(t *testing.T) {
	t0 := time.Unix(0, 0)
	steps := func(demand ...float64) []simulate.Step {
		var out []simulate.Step
		for i, d := range demand {
			out = append(out, simulate.Step{Time: t0.Add(time.Duration(i) * interval), Demand: d, Ready: 2, Overload: d > 200})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		steps []simulate.Step
		from  time.Time
		want  float64
	}{
		{"a spike: sudden", steps(100, 100, 100, 100, 100, 100, 300), t0, 15},
		{"a spike within the first reaction time: not counted", steps(100, 300), t0, 0},
		{"lasting: the load was there a reaction time ago", steps(300, 300, 300, 300, 300, 300), t0, 0},
		{"a lasting rise: its first reaction time is sudden", steps(100, 100, 100, 100, 100, 300, 300, 300, 300, 300, 300), t0, 75},
		{"in the warm-up: not counted", steps(100, 100, 100, 100, 100, 100, 300), t0.Add(7 * interval), 0},
	} {
		if got := sudden(tc.steps, tc.from); got != tc.want {
			t.Errorf("%s: %g sudden seconds; want %g", tc.name, got, tc.want)
		}
	}
}
