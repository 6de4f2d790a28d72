package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/simulate"
)

// The benchmark prints every section from the simulate package's own tables, checks the goals, and prints the
// same bytes twice. (One trace and two targets here; make bench-policies runs them all.)
func TestBenchmark(t *testing.T) {
	t.Chdir("../..")
	render := func() string {
		var b bytes.Buffer
		if err := run(&b, []string{"testdata/traces/azure_functions_slopower_60s.csv"}, []string{"70", "130"}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	out := render()
	for _, want := range []string{
		"# Benchmarks: podpilot against HPA on real traces",
		"| azure_functions_slopower_60s | ",
		"$ podpilot simulate --recording testdata/traces/azure_functions_slopower_60s.csv --scale 0.5087116877 --capacity 100 --startup 45s --scrape 15s --interval 15s --policy hpa --policy target-tracking --policy testdata/bench/burst.yaml --policy testdata/bench/predictive.yaml --policy testdata/bench/floor.yaml\n",
		"podpilot simulate: closed-loop on testdata/traces/azure_functions_slopower_60s.csv",
		"                            hpa  target-tracking    burst  predictive   floor  lower bound",
		"--sweep 'metrics[0].perReplica=70,130'",
		"at equal or lower cost than hpa's frontier points",
		"Goal 1 at each of hpa's frontier points",
		"The same for `floor` (target-tracking with its opt-in floor",
		"The same for `floor`, the opt-in floor on recent peaks (not the recommended policy):\n\n| hpa target ",
		"n/a (no daily pattern)",
		// hpa at 70 % against target-tracking at 130 %, the cheaper of the two: each one's overload split.
		"| azure_functions_slopower_60s | 70 %, 2.59, 4470 | 4380 (98 %) | 90 (2 %) | 130 %, 2.53, 3150 | 2865 (91 %) | 285 (9 %) |",
		// The queue benchmark: keda and queue, each swept on its own field and read against each other on the
		// queue's SLO (keda at 1600 messages per replica misses it 2670 s, its overload is another number).
		"## Queue consumers\n",
		"--policy testdata/bench/keda.yaml --policy testdata/bench/queue.yaml\n",
		"--policy testdata/bench/keda.yaml --sweep 'metrics[0].perReplica=25,50,100,200,400,800,1600,3200,6400'\n",
		"--policy testdata/bench/queue.yaml --sweep 'metrics[0].ratePerReplica=70,130'\n",
		"sweep metrics[0].ratePerReplica: cost (× lower bound) / SLO violation (s) / reversals; * marks each policy's cost-SLO frontier",
		"| azure_functions_slopower_60s | 0 of 8 | 0.70×, 0.84 | 0.66×, 0.89 | 0.57×, 0.97 | none | none |",
		"| 1600        | 3.13 / 2670 / 157                         | 70, 2.75 / 1515 / 153                                                    | 0.57× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(out, "| keda target "); n != 1 {
		t.Errorf("%d queue read-off tables in the trace's section, want 1", n)
	}
	if n := strings.Count(out, "| hpa target "); n != 2 {
		t.Errorf("%d goal-1 tables in the trace's section, want 2 (target-tracking's and the floor's)", n)
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
		if got := sudden(tc.steps, interval, tc.from); got != tc.want {
			t.Errorf("%s: %g sudden seconds; want %g", tc.name, got, tc.want)
		}
	}
}

// The tuning study's defaults are the benchmark's target-tracking, and the union of every setting's frontier is
// never worse than the defaults' at any of hpa's points.
func TestTuning(t *testing.T) {
	t.Chdir("../..")
	file, vals := "testdata/traces/azure_functions_slopower_60s.csv", []string{"70", "100", "130"}
	r, err := bench(file, vals)
	if err != nil {
		t.Fatal(err)
	}
	base, err := simulate.Sources([]string{"hpa", recommended, policies[2]}, simulate.BaseSpec{})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := settings(base[1])
	if err != nil {
		t.Fatal(err)
	}
	all := []simulate.Source{base[0]}
	defaults := 0
	for _, s := range grid {
		all = append(all, s.src)
		if isDefault(s.label) {
			defaults++
		}
	}
	if len(grid) != len(spreads)*len(spares)*len(levelDowns)*len(downs) || defaults != 1 {
		t.Fatalf("%d settings, %d of them the defaults", len(grid), defaults)
	}
	tt, _, err := tune(file, all, vals, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	want, def, best := r.readoffs(), tt.defaults(), tt.best()
	if len(want) == 0 || len(def) != len(want) || len(best) != len(want) {
		t.Fatalf("read-offs: benchmark %d, defaults %d, best %d", len(want), len(def), len(best))
	}
	better := false
	for i := range want {
		if def[i].on != want[i].on || def[i].over != want[i].over || def[i].rev != want[i].rev {
			t.Errorf("hpa %s: defaults read %+v; the benchmark %+v", want[i].hpa.Value, def[i], want[i])
		}
		b := best[i].ro
		if def[i].met && !b.met || def[i].on && !b.met && (!b.on || b.over > def[i].over) {
			t.Errorf("hpa %s: the best setting (%s: %+v) is worse than the defaults (%+v)", want[i].hpa.Value, best[i].label, b, def[i])
		}
		better = better || b.on && (!def[i].on || b.over < def[i].over)
	}
	if !better {
		t.Errorf("no setting beats the defaults anywhere: the grid adds nothing")
	}
	var b bytes.Buffer
	tuningReport(&b, []tuned{tt}, vals, len(grid))
	if out := b.String(); !strings.Contains(out, " (the defaults) | 0 | 0 |") {
		t.Errorf("report has no ranked defaults:\n%s", out)
	}
	if out := b.String(); !strings.Contains(out, "| azure_functions_slopower_60s | 0 of 2 | ") || !strings.Contains(out, "| 70 | 2.59 / 4470 / 137 | 0.68×, ") {
		t.Errorf("report:\n%s", out)
	}
}

// The ranking adds each setting's goal-1 points over the traces and puts the most first, ties in the grid's order.
func TestRanks(t *testing.T) {
	pt := func(v string, cost, over float64, rev int) simulate.Point {
		return simulate.Point{Value: v, Frontier: true, Summary: simulate.Summary{ReplicaSeconds: cost, OverloadSeconds: over, Reversals: rev}}
	}
	hpa := []simulate.Point{pt("70", 100, 1000, 10), pt("90", 80, 2000, 10)}
	both := []simulate.Point{pt("70", 100, 100, 5), pt("90", 80, 500, 5)}  // half or less at both of hpa's points
	one := []simulate.Point{pt("70", 100, 100, 5), pt("90", 80, 1500, 5)}  // at hpa's 70 only
	none := []simulate.Point{pt("70", 100, 900, 5), pt("90", 80, 2000, 5)} // at neither
	flappy := []simulate.Point{pt("70", 100, 0, 10), pt("90", 80, 0, 11)}  // no overload, but no fewer reversals
	a := tuned{name: "a", hpa: hpa, labels: []string{"none", "one", "both", "flappy"}, settings: [][]simulate.Point{none, one, both, flappy}}
	b := tuned{name: "b", hpa: hpa, labels: a.labels, settings: [][]simulate.Point{one, one, none, none}}
	got := ranks([]tuned{a, b})
	want := []rank{{"one", []int{1, 1}, 2}, {"both", []int{2, 0}, 2}, {"none", []int{0, 1}, 1}, {"flappy", []int{0, 0}, 0}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ranks = %+v; want %+v", got, want)
	}
}

// The schedule policies the benchmark writes for its multi-day traces are what scheduleYAML derives from each
// trace's first day (so that the printed commands run what the tables measured), and they load: target-tracking
// and a schedule of 24 hourly windows, each with a floor of at least one replica.
func TestSchedulePolicies(t *testing.T) {
	t.Chdir("../..")
	files, _ := filepath.Glob("testdata/traces/*.csv")
	n := 0
	for _, f := range files {
		r := &result{file: f}
		rec, cfg, err := r.load()
		if err != nil {
			t.Fatal(err)
		}
		if r.warmup == 0 {
			continue
		}
		n++
		want, err := scheduleYAML(rec, r.name, cfg.Scale, rec.Times[0].Add(r.warmup))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(scheduleFile(r.name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: stale or missing (%v): run make bench-policies", scheduleFile(r.name), err)
		}
		named, err := simulate.Parse([]simulate.Source{{Name: schedulePolicy, File: scheduleFile(r.name), Data: want}}, policy.Builtin())
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		p := named[0].Policy
		if len(p.Algorithms) != 2 || p.Algorithms[0].Name != "target-tracking" || p.Algorithms[1].Name != "schedule" {
			t.Errorf("%s: algorithms %v; want target-tracking and schedule", r.name, p.Algorithms)
		}
		if c := strings.Count(string(want), "{days: \"*\", start: "); c != 24 || strings.Contains(string(want), "replicas: 0}") {
			t.Errorf("%s: %d hourly windows (or a zero floor):\n%s", r.name, c, want)
		}
	}
	if n != 3 {
		t.Errorf("%d multi-day traces; want 3", n)
	}
}

// A floor is the replicas an hour's median demand needs at 70 %: hour 00 has the demands 69, 71 and 700 (median
// 71: 2 replicas), hour 01 has 70 and 140 (median 105: 2), and the other hours none, which is an error.
func TestScheduleYAML(t *testing.T) {
	t0 := time.Unix(0, 0).UTC()
	rec := &metrics.Recording{Times: []time.Time{t0, t0.Add(20 * time.Minute), t0.Add(40 * time.Minute), t0.Add(time.Hour), t0.Add(90 * time.Minute)},
		Series: []metrics.Series{{Name: "value", Values: []float64{69, 700, 71, 70, 140}}}}
	if _, err := scheduleYAML(rec, "x", 1, t0.Add(24*time.Hour)); err == nil || !strings.Contains(err.Error(), "no demand in hour 02") {
		t.Errorf("a day with hours missing: err %v; want hour 02 named", err)
	}
	for h := 2; h < 24; h++ {
		rec.Times = append(rec.Times, t0.Add(time.Duration(h)*time.Hour))
		rec.Series[0].Values = append(rec.Series[0].Values, 1)
	}
	rec.Times = append(rec.Times, t0.Add(24*time.Hour)) // the day after: not read
	rec.Series[0].Values = append(rec.Series[0].Values, 7000)
	out, err := scheduleYAML(rec, "x", 1, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`- {days: "*", start: "00:00", end: "01:00", replicas: 2}`,
		`- {days: "*", start: "01:00", end: "02:00", replicas: 2}`,
		`- {days: "*", start: "02:00", end: "03:00", replicas: 1}`,
		`- {days: "*", start: "23:00", end: "24:00", replicas: 1}`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}
