package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/podpilot/podpilot/controller"
	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/simulate"
)

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

const simulateUsage = `usage: podpilot simulate --recording FILE [--recording NAME=FILE.json ...] --policy FILE|hpa|target-tracking ... [flags]

Replays a recording through policies with the same decision code as the daemon and compares them with a
clairvoyant lower bound.

  closed-loop (default): the recording's --demand series is demand; a workload model with --capacity per replica
                         turns it into the metrics each policy would have seen under its own replicas.
  replay:                each policy metric reads the recording's series of the same name, as recorded.

Recordings are CSV (timestamp,<series>...) or Prometheus query_range JSON (one series, named by NAME= or the file
name). The built-in policies hpa (a Kubernetes HPA with default behaviour) and target-tracking take the target,
bounds and metrics of the first policy file, or --min/--max/--utilization when none is given.

flags:
`

func simulateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var recs, pols list
	fs.Var(&recs, "recording", "recording file, or NAME=FILE for Prometheus JSON (repeatable)")
	fs.Var(&pols, "policy", "policy file or built-in name: hpa, target-tracking (repeatable)")
	mode := fs.String("mode", string(simulate.ClosedLoop), "closed-loop or replay")
	demand := fs.String("demand", "", `closed-loop: the series that is demand (default "value" or the only series)`)
	scale := fs.Float64("scale", 1, "closed-loop: multiply demand by this")
	capacity := fs.Float64("capacity", 0, "closed-loop: demand one replica serves at 100% of its CPU request (required)")
	startup := fs.Duration("startup", simulate.DefaultStartup, "pod start-up delay")
	scrape := fs.Duration("scrape", simulate.DefaultScrape, "closed-loop: scrape interval (metric pipeline lag)")
	maxUtil := fs.Float64("max-utilization", simulate.DefaultMaxUtilization, "closed-loop: CPU use per pod can reach this many times its request")
	interval := fs.Duration("interval", 0, "control-loop interval (default: each policy's interval)")
	pass := fs.Duration("pass", controller.DefaultConfig().Interval, "the daemon's pass period (podpilot run's interval): a policy is evaluated on the passes at which its interval is due, as the daemon does; 0: every policy interval exactly")
	initial := fs.Int("initial", 0, "replicas at the start (default: the lower bound, or the recording's replicas column)")
	maxAge := fs.Duration("max-age", 0, "replay: a sample older than this is stale (default: twice the recording's step)")
	warmup := fs.Duration("warmup", 0, "simulate this much of the recording's start without scoring it (history for algorithms that look back)")
	sloUtil := fs.Float64("slo-utilization", simulate.DefaultSLOUtilization, "SLO: utilization above this fraction is a violation")
	sloWait := fs.Duration("slo-wait", simulate.DefaultSLOWait, "SLO for queue workloads: waiting above this is a violation")
	minR := fs.Int("min", 1, "built-ins without a policy file: minReplicas")
	maxR := fs.Int("max", 100, "built-ins without a policy file: maxReplicas")
	util := fs.Float64("utilization", 70, "built-ins without a policy file: target CPU utilization")
	output := fs.String("output", "table", "table, json or csv (csv: the steps)")
	out := fs.String("out", "", "write the output to this file instead of standard output")
	sweep := fs.String("sweep", "", "field=v1,v2,...: run each policy at each value and print the cost/overload frontier")
	plotFile := fs.String("plot", "", "draw demand, ready capacity and replicas per policy to FILE.svg or FILE.png")
	fs.Usage = func() { fmt.Fprint(stderr, simulateUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(recs) == 0 || len(pols) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		var es policy.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintln(stderr, e)
			}
			return 1
		}
		fmt.Fprintln(stderr, "podpilot simulate:", err)
		return 1
	}

	// The model's zero values mean "the default" in the simulate package, so an explicit 0 here would be replaced
	// without a word: refuse it instead.
	for _, f := range []struct {
		name string
		bad  bool
	}{{"startup", *startup <= 0}, {"scrape", *scrape <= 0}, {"scale", *scale <= 0}, {"max-utilization", *maxUtil <= 0},
		{"slo-utilization", *sloUtil <= 0}, {"slo-wait", *sloWait <= 0}} {
		if f.bad {
			return fail(fmt.Errorf("--%s %s: must be more than 0", f.name, fs.Lookup(f.name).Value))
		}
	}
	switch *output {
	case "table", "json", "csv":
	default:
		return fail(fmt.Errorf("--output %q: want table, json or csv", *output))
	}
	if *plotFile != "" && simulate.Mode(*mode) != simulate.ClosedLoop {
		return fail(fmt.Errorf("--plot needs --mode closed-loop: replay has no demand to draw")) // before any output is written
	}

	var parts []*metrics.Recording
	for _, r := range recs {
		name, path, named := strings.Cut(r, "=")
		if _, err := os.Stat(r); !named || err == nil { // a file whose path holds "=" is a path
			path, name, named = r, strings.TrimSuffix(filepath.Base(r), filepath.Ext(r)), false
		}
		rec, err := metrics.ReadFile(path, name)
		if err != nil {
			return fail(err)
		}
		if named && (len(rec.Series) != 1 || rec.Series[0].Name != name) { // a CSV names its series in its header
			if len(rec.Series) != 1 {
				return fail(fmt.Errorf("--recording %s: NAME= names one series, and %s has %d", r, path, len(rec.Series)))
			}
			rec.Series[0].Name = name
		}
		parts = append(parts, rec)
	}
	rec, err := metrics.Merge(parts...)
	if err != nil {
		return fail(err)
	}
	cfg := simulate.Config{
		Mode: simulate.Mode(*mode), Demand: *demand, Scale: *scale, Initial: int32(*initial), MaxAge: *maxAge, Warmup: *warmup,
		Model:          simulate.Model{Capacity: *capacity, Startup: *startup, Scrape: *scrape, MaxUtilization: *maxUtil},
		SLOUtilization: *sloUtil, SLOWait: *sloWait, Steps: *sweep == "", Pass: *pass,
	}
	srcs, err := simulate.Sources(pols, simulate.BaseSpec{Min: int32(*minR), Max: int32(*maxR), Utilization: *util})
	if err != nil {
		return fail(err)
	}
	if *interval != 0 {
		// Set in each policy, not only as the loop's: target-tracking and predictive size their smoothing on the
		// policy's interval when they are built.
		for i := range srcs {
			if srcs[i].Data, err = simulate.SetField(srcs[i].Data, "interval", policy.FormatDuration(*interval)); err != nil {
				return fail(fmt.Errorf("--interval: %s: %w", srcs[i].Name, err))
			}
		}
	}
	w := stdout
	done := func() int { return 0 }
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fail(err)
		}
		defer f.Close() // on a failure; done closes it and checks the close, which can lose the output
		w = f
		done = func() int {
			if err := f.Close(); err != nil {
				return fail(err)
			}
			return 0
		}
	}
	if *sweep != "" {
		sw, err := simulate.ParseSweep(*sweep)
		if err != nil {
			return fail(err)
		}
		sr, err := simulate.RunSweep(rec, srcs, sw, cfg)
		if err != nil {
			return fail(err)
		}
		if err := simulate.WriteSweep(w, sr); err != nil {
			return fail(err)
		}
		return done()
	}
	named, err := simulate.Parse(srcs, policy.Builtin())
	if err != nil {
		return fail(err)
	}
	res, err := simulate.Simulate(rec, named, cfg)
	if err != nil {
		return fail(err)
	}
	files := map[string]string{}
	for _, s := range srcs {
		files[s.Name] = s.File
	}
	switch *output {
	case "table":
		err = simulate.WriteTable(w, res)
	case "json":
		err = simulate.WriteJSON(w, res, files)
	case "csv":
		err = simulate.WriteStepsCSV(w, res)
	}
	if err != nil {
		return fail(err)
	}
	if *plotFile != "" {
		f, err := os.Create(*plotFile)
		if err != nil {
			return fail(err)
		}
		if err := simulate.Plot(f, *plotFile, res); err != nil {
			f.Close()
			return fail(err)
		}
		if err := f.Close(); err != nil {
			return fail(err)
		}
	}
	return done()
}
