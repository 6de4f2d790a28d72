package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/podpilot/podpilot/policy"
)

// Record pulls exactly the series policy p uses, over [start, end] at step, into one recording whose columns are
// the metrics' names: what `podpilot simulate --mode replay` reads unchanged. Each query must return one series;
// times without a sample hold NaN. What Prometheus warned goes in the recording's Warnings, with the metric.
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
		r := &Recording{File: "prometheus", Series: []Series{{Name: m.Name}}}
		for _, s := range mat[0].Values {
			r.Times = append(r.Times, s.Timestamp.Time().UTC())
			r.Lines = append(r.Lines, 0)
			r.Series[0].Values = append(r.Series[0].Values, float64(s.Value))
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
