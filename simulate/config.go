package simulate

import (
	"fmt"
	"strings"
	"time"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// Mode is how the recording drives the policies.
type Mode string

// The modes.
const (
	// Replay: the policy sees the recorded metrics exactly as recorded.
	Replay Mode = "replay"
	// ClosedLoop: the recording is demand; a workload model turns it into the metrics each policy would have
	// seen under its own replica count.
	ClosedLoop Mode = "closed-loop"
)

// Model is the closed-loop workload model.
type Model struct {
	Capacity       float64       // demand one ready replica serves at 100 % of its CPU request (required)
	Startup        time.Duration // from a scale-up to the new pods being ready
	Scrape         time.Duration // scrape interval: how old the freshest sample is
	MaxUtilization float64       // CPU use per pod can reach this many times its request (limits above requests)
}

// Config is one simulation.
type Config struct {
	Mode     Mode
	Interval time.Duration // control-loop interval: 0, or each policy's own (podpilot simulate --interval sets it in the policies)
	// Pass is the daemon's pass period (its configuration's interval): a policy is evaluated on the passes at
	// which it is due (policy.Policy.Due), as the daemon evaluates it. 0 evaluates each policy every interval.
	Pass    time.Duration
	Model   Model
	Demand  string        // closed-loop: the recording's series that is demand (default: "value", or the only series)
	Scale   float64       // demand = recorded value × Scale (default 1)
	Initial int32         // replicas at the start; 0 takes the recording's replicas column (replay) or the lower bound
	MaxAge  time.Duration // replay: older samples are stale; 0 means twice each series' own step
	// Warmup: the steps before the recording's start plus Warmup are simulated (the policies decide, pods start,
	// algorithms that look back gather their history) but neither scored nor reported.
	Warmup time.Duration

	SLOUtilization float64       // request workloads: utilization above this (a fraction) violates the SLO
	SLOWait        time.Duration // queue workloads: waiting time above this violates the SLO

	Steps    bool             // keep the per-step rows (reports need them; sweeps do not)
	Registry *policy.Registry // algorithms; nil means policy.Builtin()
}

// Defaults of the model and the SLO, stated in the README.
const (
	DefaultStartup        = 30 * time.Second
	DefaultScrape         = 15 * time.Second
	DefaultMaxUtilization = 2.0
	DefaultSLOUtilization = 0.9
	DefaultSLOWait        = 60 * time.Second
)

// withDefaults fills what c leaves out. metric names the policies' metrics, whose columns are never counts.
func (c Config) withDefaults(rec *metrics.Recording, metric map[string]bool) (Config, error) {
	if c.Mode == "" {
		c.Mode = ClosedLoop
	}
	if c.Mode != Replay && c.Mode != ClosedLoop {
		return c, fmt.Errorf("mode %q: want replay or closed-loop", c.Mode)
	}
	if c.Interval != 0 && c.Interval < time.Second {
		return c, fmt.Errorf("interval %s: want at least 1s (or 0 for each policy's own)", c.Interval)
	}
	if c.Pass != 0 && c.Pass < time.Second {
		return c, fmt.Errorf("pass %s: want at least 1s (or 0 for each policy's own interval)", c.Pass)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"start-up", c.Model.Startup}, {"scrape interval", c.Model.Scrape}, {"max age", c.MaxAge}, {"SLO wait", c.SLOWait}} {
		if d.v < 0 {
			return c, fmt.Errorf("%s %s: must not be negative", d.name, d.v)
		}
	}
	if c.Initial < 0 {
		return c, fmt.Errorf("initial replicas %d: must not be negative", c.Initial)
	}
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.Model.Startup == 0 {
		c.Model.Startup = DefaultStartup
	}
	if c.Model.Scrape == 0 {
		c.Model.Scrape = DefaultScrape
	}
	if c.Model.MaxUtilization == 0 {
		c.Model.MaxUtilization = DefaultMaxUtilization
	}
	if c.SLOUtilization == 0 {
		c.SLOUtilization = DefaultSLOUtilization
	}
	if c.SLOWait == 0 {
		c.SLOWait = DefaultSLOWait
	}
	if c.Registry == nil {
		c.Registry = policy.Builtin()
	}
	if c.Mode == ClosedLoop {
		if c.Demand == "" {
			c.Demand = "value"
			if data := dataSeries(rec, metric); rec.Lookup("value") < 0 && len(data) == 1 {
				c.Demand = data[0]
			} else if rec.Lookup("value") < 0 && len(data) == 0 && len(rec.Series) == 1 {
				c.Demand = rec.Series[0].Name // a trace whose one column has a count's name is still demand
			}
		}
		if rec.Lookup(c.Demand) < 0 {
			return c, fmt.Errorf("%s: no demand series %q (the recording has %s); name it with --demand", rec.File, c.Demand, seriesNames(rec))
		}
		if err := rec.CheckFinite(c.Demand, true); err != nil {
			return c, fmt.Errorf("demand: %w", err)
		}
		if !(c.Model.Capacity > 0) {
			return c, fmt.Errorf("closed-loop mode needs --capacity: the demand one replica serves at 100 %% CPU")
		}
	}
	for _, s := range rec.Series {
		if counts(s.Name, metric) && !(c.Mode == ClosedLoop && s.Name == c.Demand) {
			if err := rec.CheckCount(s.Name); err != nil {
				return c, err
			}
		}
	}
	if span := rec.Times[len(rec.Times)-1].Sub(rec.Times[0]); c.Warmup < 0 || c.Warmup >= span {
		return c, fmt.Errorf("warm-up %s: want at least 0 and less than the recording's span (%s), so that some steps are scored",
			policy.FormatDuration(c.Warmup), policy.FormatDuration(span))
	}
	if c.Model.MaxUtilization < 1 || c.SLOUtilization <= 0 || c.Scale < 0 {
		return c, fmt.Errorf("max utilization must be at least 1, the SLO utilization and the scale positive")
	}
	return c, nil
}

// counts reports whether a recording's series is one of the counts `podpilot record` adds beside the metrics: the
// target's spec replicas, its ready pods, and the pods a metric's reading covered; a column a policy metric is
// named after is that metric's, whatever its name.
func counts(name string, metric map[string]bool) bool {
	if metric[name] {
		return false
	}
	return name == metrics.ReplicasColumn || name == metrics.ReadyColumn || strings.HasSuffix(name, metrics.PodsSuffix)
}

// dataSeries names the recording's series other than those counts.
func dataSeries(rec *metrics.Recording, metric map[string]bool) []string {
	var out []string
	for _, s := range rec.Series {
		if !counts(s.Name, metric) {
			out = append(out, s.Name)
		}
	}
	return out
}

func seriesNames(rec *metrics.Recording) string {
	s := ""
	for i, x := range rec.Series {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", x.Name)
	}
	return s
}
