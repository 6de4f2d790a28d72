package main

import (
	"bytes"
	"strings"
	"testing"
)

// The benchmark prints every section from the simulate package's own tables, checks the goals, and prints the
// same bytes twice. (One trace and two targets here; make bench-policies runs them all.)
func TestBenchmark(t *testing.T) {
	t.Chdir("../..")
	render := func() string {
		var b bytes.Buffer
		if err := run(&b, []string{"testdata/traces/azure_functions_slopower_60s.csv"}, []string{"60", "100"}); err != nil {
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
		"--sweep 'metrics[0].perReplica=60,100'",
		"at equal or lower cost than hpa's frontier points",
		"Goal 1 at each of hpa's frontier points",
		"n/a (no daily pattern)",
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
