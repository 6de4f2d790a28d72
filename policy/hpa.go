package policy

import (
	"time"
)

// hpaArgs are the Kubernetes controller-manager flags that shape every HPA of a cluster.
type hpaArgs struct {
	// Tolerance is --horizontal-pod-autoscaler-tolerance: the default of both directions' tolerance.
	Tolerance float64 `yaml:"tolerance"`
	// DownscaleStabilization is --horizontal-pod-autoscaler-downscale-stabilization: the scale-down window when
	// the policy does not set one.
	DownscaleStabilization time.Duration `yaml:"downscaleStabilization"`
}

// hpaRegistration is the Kubernetes HPA (autoscaling/v2), reproduced as its controller computes it.
//
// Without a behavior block the policy behaves as an HPA object without spec.behavior (the legacy path of the
// controller); with one, as an HPA whose spec.behavior fields left out take their API defaults.
func hpaRegistration() Registration {
	r := Define("hpa", "the Kubernetes HPA (autoscaling/v2), reproduced exactly: the baseline to compare with",
		func() *hpaArgs { return &hpaArgs{Tolerance: 0.1, DownscaleStabilization: 5 * time.Minute} },
		func(a *hpaArgs, _ *Policy, pr *Problems) {
			if a.Tolerance < 0 || a.Tolerance >= 1 {
				pr.Add("tolerance", "must be at least 0 and below 1, got %g", a.Tolerance)
			}
			if a.DownscaleStabilization > maxWindow {
				pr.Add("downscaleStabilization", "must be at most %s", FormatDuration(maxWindow))
			}
		},
		hpaBehavior,
		func(_ *hpaArgs, p *Policy) Algorithm {
			rules := newRatioRules(p)
			rules.wholePercent = true
			return hpaAlgo{rules: rules}
		})
	r.legacy = true
	return r
}

// hpaBehavior returns HPA's behaviour defaults (k8s.io/api autoscaling/v2 GenerateHPAScaleUpRules and
// GenerateHPAScaleDownRules).
func hpaBehavior(a *hpaArgs) Behavior {
	return Behavior{
		Up: Rules{Tolerance: a.Tolerance, Select: SelectMax, Policies: []RatePolicy{
			{Type: Pods, Value: 4, Period: 15 * time.Second},
			{Type: Percent, Value: 100, Period: 15 * time.Second},
		}},
		Down: Rules{Window: a.DownscaleStabilization, Tolerance: a.Tolerance, Select: SelectMax, Policies: []RatePolicy{
			{Type: Percent, Value: 100, Period: 15 * time.Second},
		}},
	}
}

type hpaAlgo struct{ rules ratioRules }

func (a hpaAlgo) Propose(dst []Proposal, c *Context) []Proposal {
	return proposeMetrics(dst, c, a.rules)
}
