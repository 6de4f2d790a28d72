package metrics

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/podpilot/podpilot/policy"
)

// Record pulls exactly the series policy p uses, over [start, end] at step, into one recording whose columns are
// the metrics' names: what `podpilot simulate --mode replay` reads unchanged. Each query must return one series;
// every step from start to end is a row, and a step without a sample holds NaN. What Prometheus warned goes in the recording's Warnings, with the metric.
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
		mat, ws, err := c.Range(ctx, q, start, end, step)
		if err != nil {
			return nil, fmt.Errorf("record %s metric %s: %w (query: %s)", p.Target, m.Name, err, shortQuery(q))
		}
		if len(mat) != 1 {
			return nil, fmt.Errorf("record %s metric %s: %d series over the range, want 1 (query: %s)", p.Target, m.Name, len(mat), shortQuery(q))
		}
		// Every step of the range is a row: one without a sample is NaN, an invalid reading, as the daemon's
		// instant query there would have been empty.
		n := int(end.Sub(start)/step) + 1
		r := &Recording{File: "prometheus", Times: make([]time.Time, n), Lines: make([]int, n),
			Series: []Series{{Name: m.Name, Values: make([]float64, n)}}}
		for k := range n {
			r.Times[k], r.Series[0].Values[k] = start.Add(time.Duration(k)*step).UTC(), math.NaN()
		}
		for _, s := range mat[0].Values {
			// Prometheus evaluates at start + k × step, in milliseconds: the nearest k places the sample.
			if k := int(math.Round(float64(s.Timestamp.Time().Sub(start)) / float64(step))); k >= 0 && k < n {
				r.Series[0].Values[k] = float64(s.Value)
			}
		}
		parts = append(parts, r)
		for _, w := range ws {
			warns = append(warns, fmt.Sprintf("metric %s: Prometheus warned: %s (query: %s)", m.Name, w, shortQuery(q)))
		}
	}
	rec, err := Merge(parts...)
	if err == nil {
		rec.Warnings = warns
	}
	return rec, err
}
