package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Limits that keep a policy sane.
const (
	MaxReplicasLimit = 10000            // largest maxReplicas a policy may set
	DefaultInterval  = 15 * time.Second // how often a policy is evaluated when it does not say
	DefaultWindow    = time.Minute      // rate window of the default query templates
	DefaultAlgorithm = "target-tracking"
)

// Policy is one service's autoscaling policy: loaded from one file, defaulted and validated.
type Policy struct {
	File        string // where it was loaded from
	Target      Target
	MinReplicas int32
	MaxReplicas int32
	Interval    time.Duration // how often the policy is evaluated
	Algorithms  []Algo        // at least one; the largest proposal wins
	Metrics     []Metric
	Behavior    Behavior
	Missing     Missing

	targetAt mark // where the file names its target, for the duplicate-target error
}

// Target names the workload a policy scales.
type Target struct {
	Namespace string
	Name      string
	Kind      string // only "Deployment"
}

// String returns "namespace/name".
func (t Target) String() string { return t.Namespace + "/" + t.Name }

// Algo is one configured algorithm of a policy.
type Algo struct {
	Name string
	Impl Algorithm
}

// MetricKind says what a metric measures and how its target is read.
type MetricKind string

// The metric kinds.
const (
	CPU    MetricKind = "cpu"    // CPU utilization of requests, percent, averaged over the ready pods
	QPS    MetricKind = "qps"    // requests per second, summed over the Deployment; target per ready replica
	Queue  MetricKind = "queue"  // messages waiting; target backlog per replica or a drain time
	PromQL MetricKind = "promql" // any query; target per replica or as a total
)

// Mode is how a metric's value is compared with its target, named after the HPA metric type it behaves like.
type Mode int

// The modes.
const (
	// PodAverage: the value is an average over ready pods (HPA Resource or Pods metrics). Desired replicas are
	// ceil(value/target × ready), with HPA's rules for unready pods.
	PodAverage Mode = iota
	// AverageValue: the value is a total that each replica should carry target of (HPA External AverageValue).
	// Desired replicas are ceil(value/target).
	AverageValue
	// Value: the value is a total compared with a total target (HPA External/Object Value).
	// Desired replicas are ceil(value/target × ready).
	Value
)

// Metric is one input of a policy.
type Metric struct {
	Name  string // unique in the policy; the column name in recordings
	Kind  MetricKind
	Query string // PromQL template text (the kind's default unless overridden)
	// PodsQuery is the template of the number of pods a reading covers (Observation.Pods): the policy's
	// podsQuery, or else the kind's default with the default Query.
	PodsQuery string
	Window    time.Duration // rate window offered to the template as {{.Window}}
	Queue     string        // queue kind: the queue's name, offered as {{.Queue}}

	Utilization    float64       // cpu: target utilization of requests, percent
	PerReplica     float64       // qps, queue, promql: target value per replica
	Total          float64       // promql: target value for the whole Deployment
	DrainTime      time.Duration // queue: drain the backlog within this time...
	RatePerReplica float64       // queue: ...given that one replica processes this many messages per second

	tmpl, podsTmpl *template.Template
}

// Target returns the metric's target value and how the value is compared with it.
func (m *Metric) Target() (float64, Mode) {
	switch m.Kind {
	case CPU:
		return m.Utilization, PodAverage
	case QPS:
		return m.PerReplica, PodAverage
	case Queue:
		t := m.PerReplica
		if m.DrainTime > 0 {
			d := m.DrainTime.Seconds() * m.RatePerReplica
			if t == 0 || d < t {
				t = d
			}
		}
		return t, AverageValue
	default:
		if m.Total > 0 {
			return m.Total, Value
		}
		return m.PerReplica, AverageValue
	}
}

// Behavior shapes the raw recommendation, per direction.
type Behavior struct {
	Up   Rules
	Down Rules
	// Legacy reproduces a Kubernetes HPA without spec.behavior: scale-down stabilization is the plain maximum of
	// the window's recommendations, and scale-up is limited to max(2 × current, 4) per evaluation. Only the hpa
	// algorithm sets it, when the policy file has no behavior block.
	Legacy bool
}

// Rules are the behaviour stages of one direction.
type Rules struct {
	Window    time.Duration // stabilization window over raw recommendations
	Cooldown  time.Duration // minimum time after any scale event before a scale in this direction
	Tolerance float64       // relative change of a metric's ratio ignored in this direction
	Select    Select        // how the rate policies combine
	Policies  []RatePolicy
}

// Select combines rate policies as HPA's selectPolicy does.
type Select string

// The selections.
const (
	SelectMax      Select = "Max"
	SelectMin      Select = "Min"
	SelectDisabled Select = "Disabled"
)

// RateType is the unit of a rate policy.
type RateType string

// The rate policy units.
const (
	Pods    RateType = "Pods"
	Percent RateType = "Percent"
)

// RatePolicy limits the change within any window of Period.
type RatePolicy struct {
	Type   RateType
	Value  int32
	Period time.Duration
}

// Missing says what to do when metrics are invalid.
type Missing struct {
	Action   MissingAction
	Replicas int32 // fallback: the replica count to hold at least, after...
	After    int   // ...this many consecutive evaluations with an invalid metric
}

// MissingAction is the reaction to invalid metrics.
type MissingAction string

// The reactions.
const (
	Hold     MissingAction = "hold"
	Fallback MissingAction = "fallback"
)

var (
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	metricName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
)

func validNamespace(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

func validName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// Due reports whether the policy, last evaluated at last, is due at now on a loop that runs every pass: its
// interval has passed, within half a pass of slack, so that a 15 s interval on a 15 s loop is due every pass
// despite jitter. A policy never evaluated is due. The daemon and the simulator both ask this.
func (p *Policy) Due(last, now time.Time, pass time.Duration) bool {
	return last.IsZero() || now.Sub(last) >= p.Interval-pass/2
}

// Every is how often the policy runs on a loop that runs every pass (Due): its interval rounded to whole passes,
// at least one. A 20 s interval under a 15 s pass runs every 15 s, a 45 s one every 45 s.
func (p *Policy) Every(pass time.Duration) time.Duration {
	k := max(1, (p.Interval-pass/2+pass-1)/pass)
	return k * pass
}

// Lookback is how far back the policy's algorithms read past readings (0: they read none).
func (p *Policy) Lookback() time.Duration {
	var l time.Duration
	for _, a := range p.Algorithms {
		if lb, ok := a.Impl.(Lookbacker); ok {
			l = max(l, lb.Lookback())
		}
	}
	return l
}

// Lookup returns the index of the metric with the given name, or -1.
func (p *Policy) Lookup(name string) int {
	return slices.IndexFunc(p.Metrics, func(m Metric) bool { return m.Name == name })
}

func (p *Policy) String() string {
	return fmt.Sprintf("%s (%s)", p.Target, p.File)
}
