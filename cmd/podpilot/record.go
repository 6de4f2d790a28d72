package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

func recordCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f daemonFlags
	f.registerPrometheus(fs, "daemon configuration file, for its prometheus section")
	pol := fs.String("policy", "", "the policy file whose series to record (required)")
	startS := fs.String("start", "", "start: RFC 3339, unix seconds, or a duration before --end such as 7d (required)")
	endS := fs.String("end", "", "end: RFC 3339 or unix seconds (default now)")
	step := fs.Duration("step", 0, "resolution (default: the policy's interval)")
	out := fs.String("out", "", "write the recording (CSV) to this file instead of standard output")
	ready := fs.String("ready-query", metrics.DefaultDeployment.Ready, "the target's ready pods over time, for a replay to tell partial readings (with {{.Namespace}} and {{.Name}}; '' for none)")
	replicas := fs.String("replicas-query", metrics.DefaultDeployment.Replicas, "the target's spec replicas over time, where a replay starts ('' for none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: podpilot record --policy FILE --start 7d [--end TIME] [--out FILE] [prometheus flags]\n\nPulls exactly the series a policy uses from Prometheus (query_range at the policy's interval) into a\nCSV recording that `podpilot simulate --mode replay` reads unchanged.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pol == "" || *startS == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := f.load()
	if err != nil {
		printErr(stderr, "podpilot record", err)
		return 2
	}
	p, err := policy.LoadFile(*pol, policy.Builtin())
	if err != nil {
		printErr(stderr, "podpilot record", err)
		return 1
	}
	end := time.Now()
	if *endS != "" {
		if end, err = parseWhen(*endS, time.Time{}); err != nil {
			fmt.Fprintln(stderr, "podpilot record: --end:", err)
			return 2
		}
	}
	start, err := parseWhen(*startS, end)
	if err != nil {
		fmt.Fprintln(stderr, "podpilot record: --start:", err)
		return 2
	}
	if *step == 0 {
		*step = p.Interval
	}
	c, err := metrics.New(metrics.Config{Address: cfg.Prometheus.Address, HTTP: cfg.HTTP, Timeout: cfg.Prometheus.Timeout, MaxAge: cfg.Prometheus.MaxAge})
	if err != nil {
		fmt.Fprintln(stderr, "podpilot record:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rec, notes, err := c.RecordReplay(ctx, p, start, end, *step, metrics.Deployment{Ready: *ready, Replicas: *replicas})
	if err != nil {
		fmt.Fprintln(stderr, "podpilot record:", err)
		return 1
	}
	w := stdout
	var file *os.File
	if *out != "" {
		if file, err = os.Create(*out); err != nil {
			fmt.Fprintln(stderr, "podpilot record:", err)
			return 1
		}
		defer file.Close()
		w = file
	}
	err = metrics.WriteCSV(w, rec)
	if file != nil && err == nil {
		err = file.Close() // a write that fails on close (a full disk) is a failed recording, not a short one
	}
	if err != nil {
		fmt.Fprintln(stderr, "podpilot record:", err)
		return 1
	}
	for _, n := range notes {
		fmt.Fprintf(stderr, "podpilot record: note: %s\n", n)
	}
	for _, w := range rec.Warnings {
		fmt.Fprintf(stderr, "podpilot record: warning: %s %s; a replay reads these samples as valid, where the daemon would have scaled nothing down on them\n", p.Target, w)
	}
	fmt.Fprintf(stderr, "recorded %d metric(s) of %s and %d more column(s), %d samples from %s to %s every %s\n", len(p.Metrics), p.Target, len(rec.Series)-len(p.Metrics), len(rec.Times),
		start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), policy.FormatDuration(*step))
	return 0
}

// parseWhen reads RFC 3339, unix seconds, or (when rel is not zero) a duration before rel.
func parseWhen(s string, rel time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var sec int64
	if _, err := fmt.Sscanf(s, "%d", &sec); err == nil && fmt.Sprint(sec) == s {
		return time.Unix(sec, 0), nil
	}
	if !rel.IsZero() {
		if d, err := policy.ParseDuration(s); err == nil {
			return rel.Add(-d), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339, unix seconds or a duration such as 7d", s)
}
