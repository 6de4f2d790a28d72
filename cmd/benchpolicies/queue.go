package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/simulate"
)

// The queue benchmark runs each trace's demand as messages arriving on a queue, consumed by pods that each
// process capacity messages/s, with the same scale, start-up, scrape and loop. A queue workload keeps what it
// cannot serve yet, so the score is the SLO's: seconds in which the backlog waits longer than the simulator's
// default of a minute (simulate.Summary.Miss). KEDA's baseline, an HPA with default behaviour on the backlog per
// replica (keda.yaml), is swept on that target; podpilot's queue algorithm (queue.yaml) on the rate it plans per
// consumer, as a share of the true 100 messages/s.
var queueBench = []struct {
	policy, field string
	values        []string // nil: the benchmark's swept targets
}{
	{"testdata/bench/keda.yaml", "metrics[0].perReplica", []string{"25", "50", "100", "200", "400", "800", "1600", "3200", "6400"}},
	{"testdata/bench/queue.yaml", "metrics[0].ratePerReplica", nil},
}

// queueCols are keda's targets the summary table gives.
var queueCols = []string{"400", "800", "1600", "3200", "6400"}

// queueFiles are queueBench's policy files.
func queueFiles() []string {
	var files []string
	for _, q := range queueBench {
		files = append(files, q.policy)
	}
	return files
}

// queueResult is one trace's queue benchmark.
type queueResult struct {
	res    *simulate.Result
	sweeps []*simulate.SweepResult // in queueBench's order, each over its own field
	values [][]string
}

// benchQueue runs the queue benchmark on rec with the trace's model cfg, sweeping queue.yaml over vals.
func benchQueue(rec *metrics.Recording, cfg simulate.Config, vals []string) (*queueResult, error) {
	srcs, err := simulate.Sources(queueFiles(), simulate.BaseSpec{})
	if err != nil {
		return nil, err
	}
	named, err := simulate.Parse(srcs, policy.Builtin())
	if err != nil {
		return nil, err
	}
	qr := &queueResult{}
	if qr.res, err = simulate.Simulate(rec, named, cfg); err != nil {
		return nil, err
	}
	for i, q := range queueBench {
		v := q.values
		if v == nil {
			v = vals
		}
		sw, err := simulate.RunSweep(rec, srcs[i:i+1], simulate.Sweep{Field: q.field, Values: v}, cfg)
		if err != nil {
			return nil, err
		}
		qr.sweeps, qr.values = append(qr.sweeps, sw), append(qr.values, v)
	}
	return qr, nil
}

// readoffs reads the queue algorithm against each of keda's frontier points, on SLO-violation seconds.
func (qr *queueResult) readoffs() []readoff {
	return readoffsUpTo(qr.sweeps[0].Runs[0].Points, qr.sweeps[1].Runs[0].Points, math.Inf(1))
}

func queueHeader(w io.Writer) {
	fmt.Fprintf(w, "## Queue consumers\n\n")
	fmt.Fprintf(w, "Each trace again, as messages arriving on a queue (the same scale, so its peak is %g messages/s), consumed by\n", peakReplicas*capacity)
	fmt.Fprintf(w, "pods that each process %g messages/s, with the same start-up, scrape and loop. A queue keeps what its consumers\n", capacity)
	fmt.Fprintf(w, "cannot take yet, so the score is the SLO's: **SLO violation** is the time in which the backlog waits longer than\n")
	fmt.Fprintf(w, "%s (the backlog over the ready consumers' rate), and a sweep's frontier weighs it against cost. Policies:\n\n", duration(simulate.DefaultSLOWait))
	fmt.Fprintf(w, "- `keda` (`testdata/bench/keda.yaml`): what KEDA makes of a queue scaler, an HPA with default behaviour on the\n")
	fmt.Fprintf(w, "  backlog per replica as an External `AverageValue` metric (KEDA's `queueLength`), swept on that target in messages;\n")
	fmt.Fprintf(w, "- `queue` (`testdata/bench/queue.yaml`): podpilot's queue algorithm with its defaults and `drainTime: 1m`, swept\n")
	fmt.Fprintf(w, "  on `ratePerReplica`, the rate it plans per consumer (70 plans on 70 %% of the true 100 messages/s).\n\n")
	fmt.Fprintf(w, "Both run with `minReplicas: 1`: the simulated queue counts waiting messages only, so consumers that keep up\n")
	fmt.Fprintf(w, "read as an empty queue, and both would go to zero in every lull (`queue.yaml` says more). At each of keda's\n")
	fmt.Fprintf(w, "frontier points: queue's SLO-violation seconds on its frontier at keda's cost as a share of keda's, and its\n")
	fmt.Fprintf(w, "reversals as a share of keda's (\"met\": at most %g× and fewer reversals, goal 1's test on this score); \"none\"\n", goalOverload)
	fmt.Fprintf(w, "where no swept target of queue is as cheap, \"-\" where that target is not on keda's frontier. Each trace's\n")
	fmt.Fprintf(w, "section gives the tables.\n\n")
}

// queueSection prints one trace's queue tables and read-off.
func queueSection(w io.Writer, r *result) {
	q := r.queue
	fmt.Fprintf(w, "### Queue consumers\n\n")
	fmt.Fprintf(w, "```console\n$ %s\n```\n\n```text\n", r.commandWith(queueFiles(), ""))
	simulate.WriteTable(w, q.res)
	for i, b := range queueBench {
		sweep := fmt.Sprintf(" --sweep '%s=%s'", b.field, strings.Join(q.values[i], ","))
		fmt.Fprintf(w, "```\n\n```console\n$ %s\n```\n\n```text\n", r.commandWith([]string{b.policy}, sweep))
		simulate.WriteSweep(w, q.sweeps[i])
	}
	fmt.Fprintf(w, "```\n\nAt each of keda's frontier points: queue's best swept target within keda's cost, and its frontier at keda's\n")
	fmt.Fprintf(w, "cost, on SLO-violation seconds (in the overload columns).\n\n")
	goalTable(w, q.readoffs(), "keda")
	fmt.Fprintln(w)
}
