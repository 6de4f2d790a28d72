package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/podpilot/podpilot/policy"
)

// Record pulls exactly the series policy p uses, over [start, end] at step, into one recording whose columns are
// the metrics' names: what `podpilot simulate --mode replay` reads unchanged. Each query must return one series;
// every step from start to end is a row, and a step without a sample holds NaN. What Prometheus warned goes in the
// recording's Warnings, with the metric.
func (c *Client) Record(ctx context.Context, p *policy.Policy, start, end time.Time, step time.Duration) (*Recording, error) {
	if !end.After(start) || step <= 0 {
		return nil, fmt.Errorf("record %s: want start before end and a positive step", p.Target)
	}
	var parts []*Recording
	var warns []string
	for i, m := range p.Metrics {
		q, err := p.Query(i)
		if err != nil {
			return nil, fmt.Errorf("record %s metric %s: %w", p.Target, m.Name, err)
		}
		r, ws, err := c.column(ctx, m.Name, q, start, end, step)
		if err != nil {
			return nil, fmt.Errorf("record %s metric %s: %w (query: %s)", p.Target, m.Name, err, shortQuery(q))
		}
		parts = append(parts, r)
		warns = append(warns, warned(metricWarned(m.Name), q, ws)...)
	}
	rec, err := Merge(parts...)
	if err == nil {
		rec.Warnings = warns
	}
	return rec, err
}

// errNoSeries is a range query that found no series at all.
var errNoSeries = errors.New("0 series over the range, want 1")

// column runs one range query into a one-column recording called name. Every step of the range is a row: one
// without a sample is NaN, an invalid reading, as the daemon's instant query there would have been empty. A
// query with no series at all gives that column of NaN and errNoSeries.
func (c *Client) column(ctx context.Context, name, q string, start, end time.Time, step time.Duration) (*Recording, []string, error) {
	mat, ws, err := c.Range(ctx, q, start, end, step)
	switch {
	case err != nil:
		return nil, nil, err
	case len(mat) > 1:
		return nil, ws, fmt.Errorf("%d series over the range, want 1", len(mat))
	}
	n := int(end.Sub(start)/step) + 1
	r := &Recording{File: "prometheus", Times: make([]time.Time, n), Lines: make([]int, n),
		Series: []Series{{Name: name, Values: make([]float64, n)}}}
	for k := range n {
		r.Times[k], r.Series[0].Values[k] = start.Add(time.Duration(k)*step).UTC(), math.NaN()
	}
	if len(mat) == 0 {
		return r, ws, errNoSeries
	}
	for _, s := range mat[0].Values {
		// Prometheus evaluates at start + k × step, in milliseconds: the nearest k places the sample.
		if k := int(math.Round(float64(s.Timestamp.Time().Sub(start)) / float64(step))); k >= 0 && k < n {
			r.Series[0].Values[k] = float64(s.Value)
		}
	}
	return r, ws, nil
}

// metricWarned is what a recording's Warnings about metric name start with.
func metricWarned(name string) string { return "metric " + name }

// Warned reports whether Prometheus warned about the range query of the policy metric called name while Record
// pulled it.
func (r *Recording) Warned(name string) bool {
	return slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.HasPrefix(w, metricWarned(name)+": ") })
}

func warned(what, q string, ws []string) []string {
	var out []string
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s: Prometheus warned: %s (query: %s)", what, w, shortQuery(q)))
	}
	return out
}

// Deployment is what RecordReplay pulls about the target besides its metrics: query templates (with
// {{.Namespace}} and {{.Name}}, as in a policy), "" for none.
type Deployment struct {
	Ready    string // the target's ready pods
	Replicas string // its spec replicas
	// Optional: a count query (these, and the metrics' podsQuery) that fails leaves its column out, with a
	// note that says why, as one that finds no series does, instead of failing the whole recording. The
	// daemon's backfill asks so: it needs the metrics, and the counts only mark the readings that may be low.
	Optional bool
}

// DefaultDeployment reads the target from kube-state-metrics, which most clusters scrape. max() joins the series
// of several kube-state-metrics replicas or restarts into one.
var DefaultDeployment = Deployment{
	Ready:    `max(kube_deployment_status_replicas_ready{namespace=~"{{.Namespace}}", deployment=~"{{.Name}}"})`,
	Replicas: `max(kube_deployment_spec_replicas{namespace=~"{{.Namespace}}", deployment=~"{{.Name}}"})`,
}

// Column names RecordReplay adds to a recording. A metric's name holds no ":", so NAME:pods is never a metric.
const (
	ReadyColumn    = "ready"
	ReplicasColumn = "replicas"
	PodsSuffix     = ":pods"
)

// RecordReplay is Record with what a replay needs to start and to read partial readings as the daemon does: the
// target's spec replicas (column replicas, where a replay starts), its ready pods (column ready) and, for each
// metric with a podsQuery, the pods its reading covers (column NAME:pods). The daemon holds scale-downs on a
// reading that covers fewer pods than are ready; with these columns a replay does too. A query of d that finds
// no series leaves its column out, and a note says what the replay lacks for it.
func (c *Client) RecordReplay(ctx context.Context, p *policy.Policy, start, end time.Time, step time.Duration, d Deployment) (*Recording, []string, error) {
	rec, err := c.Record(ctx, p, start, end, step)
	if err != nil {
		return nil, nil, err
	}
	parts := []*Recording{rec}
	var notes []string // what the replay lacks, and what Prometheus warned of the counts
	vars := policy.NewVars([]string{p.Target.Namespace}, []string{p.Target.Name}, nil, "")
	pull := func(name, flag, tmpl, lacks string) (bool, error) {
		if tmpl == "" {
			return false, nil
		}
		if rec.Lookup(name) >= 0 {
			return false, fmt.Errorf("record %s: the %s column would take the name of metric %q; rename the metric or pass %s ''", p.Target, name, name, flag)
		}
		q, err := policy.Render(tmpl, vars)
		if err != nil {
			return false, fmt.Errorf("record %s: %s: %w", p.Target, flag, err)
		}
		r, ws, err := c.column(ctx, name, q, start, end, step)
		notes = append(notes, warned(name, q, ws)...)
		if errors.Is(err, errNoSeries) {
			why := ""
			if tmpl == DefaultDeployment.Ready || tmpl == DefaultDeployment.Replicas {
				why = " (is kube-state-metrics scraped?)"
			}
			notes = append(notes, fmt.Sprintf("%s found no series%s, so the recording has no %s column: %s (query: %s)", flag, why, name, lacks, shortQuery(q)))
			return false, nil
		}
		if err != nil && d.Optional {
			notes = append(notes, fmt.Sprintf("%s failed, so the recording has no %s column: %s: %v (query: %s)", flag, name, lacks, err, shortQuery(q)))
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("record %s %s: %w (query: %s)", p.Target, flag, err, shortQuery(q))
		}
		parts = append(parts, r)
		return true, nil
	}
	if _, err := pull(ReplicasColumn, "--replicas-query", d.Replicas, "a replay starts at minReplicas"); err != nil {
		return nil, nil, err
	}
	ready, err := pull(ReadyColumn, "--ready-query", d.Ready, "a replay cannot tell the partial readings the daemon scaled nothing down on")
	if err != nil {
		return nil, nil, err
	}
	for i := range p.Metrics {
		m := &p.Metrics[i]
		if !ready || m.PodsQuery == "" {
			continue
		}
		q, err := m.RenderPods(p.VarsFor(m))
		if err != nil {
			return nil, nil, fmt.Errorf("record %s metric %s: %w", p.Target, m.Name, err)
		}
		r, ws, err := c.column(ctx, m.Name+PodsSuffix, q, start, end, step)
		notes = append(notes, warned("metric "+m.Name+" pods", q, ws)...)
		if err != nil && !errors.Is(err, errNoSeries) {
			if d.Optional {
				notes = append(notes, fmt.Sprintf("metric %s podsQuery failed, so the recording has no %s column: its partial readings are not marked: %v (query: %s)", m.Name, m.Name+PodsSuffix, err, shortQuery(q)))
				continue
			}
			return nil, nil, fmt.Errorf("record %s metric %s podsQuery: %w (query: %s)", p.Target, m.Name, err, shortQuery(q))
		}
		// A step at which the count found no series covered no pod, as the daemon reads it.
		for k, v := range r.Series[0].Values {
			if math.IsNaN(v) {
				r.Series[0].Values[k] = 0
			}
		}
		parts = append(parts, r)
	}
	out, err := Merge(parts...)
	if err != nil {
		return nil, nil, err
	}
	out.Warnings = rec.Warnings
	return out, notes, nil
}
