package policy

import "time"

// trackingArgs are target-tracking's arguments.
type trackingArgs struct {
	// Headroom is spare capacity asked for on top of each metric's target, as a fraction: 0.1 sizes for 10 % more
	// load than the metrics show, so that growth during pod start-up does not overload the service.
	Headroom float64 `yaml:"headroom"`
}

// trackingRegistration is podpilot's default algorithm. It sizes the Deployment so that each metric meets its
// target, as HPA does, but answers HPA's known complaints through its defaults and rules:
//   - cooldowns instead of an up-window: it acts on the current reading at once and then waits, instead of
//     acting late on old readings (so it never scales up after the load has turned down);
//   - a scale-down needs both the down-window (the highest recent recommendation) and the cooldown to agree;
//   - tolerances per direction, smaller for scale-up;
//   - a metric over a total (promql total) with no ready pods is sized from the spec replicas, not from zero;
//   - like every podpilot algorithm, it holds on broken metrics and starts without scale-downs until it has
//     seen a full window.
func trackingRegistration() Registration {
	return Define("target-tracking", "podpilot's default: sizes each metric to its target, reacts at once, scales down after a cooldown",
		func() *trackingArgs { return &trackingArgs{} },
		func(a *trackingArgs, _ *Policy, pr *Problems) {
			if a.Headroom < 0 || a.Headroom > 0.9 {
				pr.Add("headroom", "must be between 0 and 0.9, got %g", a.Headroom)
			}
		},
		func(*trackingArgs) Behavior { return trackingBehavior() },
		func(a *trackingArgs, p *Policy) Algorithm {
			rules := newRatioRules(p)
			rules.headroom, rules.sizeFromSpec = a.Headroom, true
			return trackingAlgo{rules: rules}
		})
}

func trackingBehavior() Behavior {
	return Behavior{
		Up: Rules{Tolerance: 0.05, Select: SelectMax, Policies: []RatePolicy{
			{Type: Percent, Value: 900, Period: 15 * time.Second},
			{Type: Pods, Value: 10, Period: 15 * time.Second},
		}},
		Down: Rules{Window: 3 * time.Minute, Cooldown: 3 * time.Minute, Tolerance: 0.1, Select: SelectMax, Policies: []RatePolicy{
			{Type: Percent, Value: 50, Period: time.Minute},
		}},
	}
}

type trackingAlgo struct{ rules ratioRules }

func (a trackingAlgo) Propose(dst []Proposal, c *Context) []Proposal {
	return proposeMetrics(dst, c, a.rules)
}
