package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/simulate"
)

// The tuning study (make bench-tuning, docs/tuning.md) asks whether goal 1 is out of reach for target-tracking's
// defaults only, or for its arguments at all. On every trace it sweeps target-tracking's target at each setting of
// a grid of its arguments, with the benchmark's workload model, reads each setting's frontier at each of hpa's
// points as the benchmark reads the defaults', and reports the best setting there: as if each trace and each cost
// had its own tuning, which no default can have.
var (
	spreads    = []string{"0", "0.5", "1", "2"}
	spares     = []string{"0", "0.5", "1"}
	levelDowns = []string{"1m", "5m", "10m"}
	// The scale-down's stabilization window and cooldown: the defaults, and a fast one.
	downs = [][2]string{{"3m", "3m"}, {"0s", "1m"}}
)

// setting is one point of the grid: its label and its policy.
type setting struct {
	label string
	src   simulate.Source
}

// settings are the grid's policies, derived from the benchmark's target-tracking.
func settings(base simulate.Source) ([]setting, error) {
	var out []setting
	for _, sp := range spreads {
		for _, sa := range spares {
			for _, ld := range levelDowns {
				for _, dn := range downs {
					data := base.Data
					var err error
					for _, f := range [][2]string{{"algorithm.args.spread", sp}, {"algorithm.args.spare", sa},
						{"algorithm.args.levelDown", ld}, {"behavior.scaleDown.stabilizationWindow", dn[0]},
						{"behavior.scaleDown.cooldown", dn[1]}} {
						if data, err = simulate.SetField(data, f[0], f[1]); err != nil {
							return nil, err
						}
					}
					label := fmt.Sprintf("spread %s, spare %s, levelDown %s, down %s/%s", sp, sa, ld, dn[0], dn[1])
					out = append(out, setting{label: label, src: simulate.Source{Name: label, File: base.File, Data: data}})
				}
			}
		}
	}
	return out, nil
}

// isDefault reports whether a label is target-tracking's defaults.
func isDefault(label string) bool { return label == "spread 0.5, spare 0.5, levelDown 5m, down 3m/3m" }

func tuning(w io.Writer, files, vals []string) error {
	// The built-ins take their target, bounds and metric from the benchmark's first policy file.
	srcs, err := simulate.Sources([]string{"hpa", recommended, policies[2]}, simulate.BaseSpec{})
	if err != nil {
		return err
	}
	grid, err := settings(srcs[1])
	if err != nil {
		return err
	}
	all := []simulate.Source{srcs[0]}
	for _, s := range grid {
		all = append(all, s.src)
	}
	named, err := simulate.Parse(srcs[:1], policy.Builtin())
	if err != nil {
		return err
	}
	hp := named[0].Policy
	var ts []tuned
	var ideal []idealRow
	for _, f := range files {
		t, it, err := tune(f, all, vals, hp.MinReplicas, hp.MaxReplicas)
		if err != nil {
			return err
		}
		ts, ideal = append(ts, t), append(ideal, it.study())
	}
	bw := bufio.NewWriter(w)
	tuningReport(bw, ts, vals, len(grid))
	idealReport(bw, ideal)
	return bw.Flush()
}

// tuned is one trace's study: hpa's sweep and each setting's, in the grid's order.
type tuned struct {
	name     string
	hpa      []simulate.Point
	labels   []string
	settings [][]simulate.Point
}

// tune runs one trace's study, and returns its demand for the idealized one, with the bounds lo and hi.
func tune(file string, srcs []simulate.Source, vals []string, lo, hi int32) (tuned, idealTrace, error) {
	r := &result{file: file}
	rec, cfg, err := r.load()
	if err != nil {
		return tuned{}, idealTrace{}, err
	}
	sw, err := simulate.RunSweep(rec, srcs, simulate.Sweep{Field: field, Values: vals}, cfg)
	if err != nil {
		return tuned{}, idealTrace{}, err
	}
	t := tuned{name: r.name}
	for _, run := range sw.Runs {
		if run.Name == "hpa" {
			t.hpa = run.Points
			continue
		}
		t.labels = append(t.labels, run.Name)
		t.settings = append(t.settings, run.Points)
	}
	return t, newIdealTrace(r.name, rec, cfg.Scale, r.warmup, lo, hi), nil
}

// choice is a setting's read-off at one of hpa's points.
type choice struct {
	label string
	ro    readoff
}

// defaults is the defaults' read-off at each of hpa's points.
func (t tuned) defaults() []readoff {
	for i, l := range t.labels {
		if isDefault(l) {
			return readoffsOf(t.hpa, t.settings[i])
		}
	}
	return nil
}

// best is, at each of hpa's points, the setting that meets goal 1 with the least overload, or else the one with
// the least overload: each setting read on its own frontier, as benchmarks.md reads the defaults.
func (t tuned) best() []choice {
	var out []choice
	for i, pts := range t.settings {
		for k, ro := range readoffsOf(t.hpa, pts) {
			if i == 0 {
				out = append(out, choice{t.labels[i], ro})
				continue
			}
			b := &out[k]
			switch {
			case !ro.on:
			case !b.ro.on, ro.met && !b.ro.met, ro.met == b.ro.met && ro.over < b.ro.over:
				*b = choice{t.labels[i], ro}
			}
		}
	}
	return out
}

func tuningReport(w io.Writer, ts []tuned, vals []string, n int) {
	fmt.Fprintf(w, `# Tuning study: target-tracking's arguments against goal 1

Generated by `+"`make bench-tuning`"+` (`+"`go run ./cmd/benchpolicies -tuning > docs/tuning.md`"+`, about 30 minutes on two cores);
do not edit by hand. [benchmarks.md](benchmarks.md) compares hpa with target-tracking's defaults; this asks whether
another setting of target-tracking's arguments would meet goal 1 (at most %g× hpa's overload-seconds at equal or
lower cost, and fewer reversals) where the defaults do not. The workload model, the traces, hpa and the sweep of
targets (%s %%) are the benchmark's.

Every trace runs target-tracking at each of %d settings: `+"`spread`"+` %s; `+"`spare`"+` %s; `+"`levelDown`"+` %s; and the
scale-down's stabilization window and cooldown at the defaults (3m/3m) or at 0s/1m; every other argument, `+"`lastingFall`"+` among them, at its
default. Each setting's sweep is read at each of hpa's
frontier points as benchmarks.md reads the defaults' (on its frontier, linearly between the two targets around hpa's
cost), and the **best setting** column gives the setting that meets goal 1 there with the least overload, or else
the one with the least overload: the best of %d tunings, picked per trace and per cost with hindsight, which is more
than any default can do. Each cell is the overload and the reversals as shares of hpa's. Under the summary, the
settings are ranked by the points at which each one meets goal 1 over all the traces: what one default could
do. The last section asks the same of the margin's form with a perfect metric.

`, goalOverload, strings.Join(vals, ", "), n, strings.Join(spreads, ", "), strings.Join(spares, ", "), strings.Join(levelDowns, ", "), n)
	fmt.Fprintf(w, "| trace | goal 1 met, defaults | goal 1 met, best setting |\n|---|---|---|\n")
	for _, t := range ts {
		def, best := t.defaults(), t.best()
		ros := make([]readoff, len(best))
		for i, b := range best {
			ros[i] = b.ro
		}
		fmt.Fprintf(w, "| %s | %d of %d | %d of %d |\n", t.name, countMet(def), len(def), countMet(ros), len(ros))
	}
	rankReport(w, ts)
	for _, t := range ts {
		fmt.Fprintf(w, "\n## %s\n\n", t.name)
		fmt.Fprintf(w, "| hpa target | hpa cost / overload (s) / reversals | defaults | best setting | goal 1 | that setting, its targets around hpa's cost |\n|---|---|---|---|---|---|\n")
		def := t.defaults()
		for i, b := range t.best() {
			h := b.ro.hpa.Summary
			where := "none this cheap"
			if b.ro.on {
				where = b.label + ", target " + b.ro.lo
				if b.ro.hi != "" {
					where = b.label + ", targets " + b.ro.lo + " and " + b.ro.hi
				}
			}
			fmt.Fprintf(w, "| %s | %.2f / %.0f / %d | %s | %s | %s | %s |\n", b.ro.hpa.Value, h.CostRatio, h.OverloadSeconds, h.Reversals,
				cell(def[i]), cell(b.ro), map[bool]string{true: "met", false: "not met"}[b.ro.met], where)
		}
	}
}

// cell is a read-off's overload and reversals as shares of hpa's.
func cell(ro readoff) string {
	if !ro.on {
		return "none this cheap"
	}
	rev := math.NaN()
	if h := ro.hpa.Summary.Reversals; h > 0 {
		rev = ro.rev / float64(h)
	}
	return fmt.Sprintf("%s, %.2f", ratioText(ro.fratio), rev)
}

func countMet(ros []readoff) int {
	n := 0
	for _, ro := range ros {
		if ro.met {
			n++
		}
	}
	return n
}

// rank is one setting's goal-1 count on every trace, for one default across all of them.
type rank struct {
	label string
	met   []int // per trace
	total int
}

// ranks orders the grid's settings by the goal-1 points each meets over every trace, most first; ties keep the
// grid's order. The traces must have run the same grid.
func ranks(ts []tuned) []rank {
	if len(ts) == 0 {
		return nil
	}
	out := make([]rank, len(ts[0].labels))
	for i, l := range ts[0].labels {
		out[i].label = l
		for _, t := range ts {
			n := countMet(readoffsOf(t.hpa, t.settings[i]))
			out[i].met = append(out[i].met, n)
			out[i].total += n
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].total > out[b].total })
	return out
}

// rankReport prints the settings that meet goal 1 at the most of hpa's points over every trace (one setting for
// all of them, as a default is), and the defaults' place among them.
func rankReport(w io.Writer, ts []tuned) {
	rs := ranks(ts)
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOne setting for every trace, as a default must be: the settings that meet goal 1 at the most of hpa's points\n"+
		"over all the traces (the %d best, and the defaults):\n\n| place | setting | total |", min(rankShown, len(rs)))
	for _, t := range ts {
		fmt.Fprintf(w, " %s |", t.name)
	}
	fmt.Fprintf(w, "\n|---|---|---|%s\n", strings.Repeat("---|", len(ts)))
	place := 0
	for i, r := range rs {
		if i == 0 || r.total != rs[i-1].total {
			place = i + 1 // ties share the better place
		}
		def := isDefault(r.label)
		if i >= rankShown && !def {
			continue
		}
		label := r.label
		if def {
			label += " (the defaults)"
		}
		fmt.Fprintf(w, "| %d | %s | %d |", place, label, r.total)
		for _, n := range r.met {
			fmt.Fprintf(w, " %d |", n)
		}
		fmt.Fprintln(w)
	}
}

// rankShown is how many of the best single settings the tuning report lists.
const rankShown = 10
