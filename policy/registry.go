package policy

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"
)

// Algorithm proposes replica counts. It holds only configuration: everything that changes between evaluations
// comes in through the Context, so that the same evaluation always gives the same answer.
type Algorithm interface {
	// Propose appends this algorithm's proposals for one evaluation to dst and returns it.
	Propose(dst []Proposal, c *Context) []Proposal
}

// MetricUser is an Algorithm that sizes on some of a policy's metrics only. An algorithm that is not one uses them
// all. A policy whose metric no algorithm uses is refused: its query would run, and scale nothing. An algorithm
// that uses no metric (UsesOnly ""; schedule) neither uses one nor makes one unused: a policy must list a metric,
// so one of only such algorithms keeps its metrics, whose invalid readings still hold scale-downs.
type MetricUser interface {
	Uses(m *Metric) bool
	UsesOnly() string // which metrics it uses, for the error: "queue metrics with drainTime and ratePerReplica"
}

// Context is what an algorithm sees in one evaluation.
type Context struct {
	Policy  *Policy
	Input   *Input
	History *History  // read only
	Name    string    // the algorithm's registered name, for its proposals
	State   []float64 // what this algorithm kept at the last evaluation (nil at first); read only
	next    []float64
	keep    bool
}

// Keep sets what this algorithm keeps for its next evaluation. An algorithm that does not call it keeps nothing.
func (c *Context) Keep(state []float64) { c.next, c.keep = state, true }

// Lookbacker is an algorithm that reads past readings (Input.Past) as far back as Lookback.
type Lookbacker interface {
	Lookback() time.Duration
}

// Problems collects validation problems of an algorithm's arguments, with paths relative to the arguments.
type Problems struct {
	list []problem
}

type problem struct{ path, msg string }

// Add records a problem at path (for example "window" or "windows[1].start").
func (p *Problems) Add(path, format string, args ...any) {
	p.list = append(p.list, problem{path, fmt.Sprintf(format, args...)})
}

// Registration describes one algorithm: its arguments with their defaults, how to check them, the behaviour it
// brings when the policy leaves fields out, and how to build it.
type Registration struct {
	Name    string
	Summary string

	newArgs  func() any
	check    func(args any, p *Policy, pr *Problems)
	behavior func(args any) Behavior
	build    func(args any, p *Policy) Algorithm
	legacy   bool // without a behavior block, the policy uses HPA's legacy stages (only hpa)
}

// Define makes a Registration for an algorithm whose arguments are of type A. defaults returns A with every
// default set; the policy file's args are decoded strictly over it.
func Define[A any](name, summary string, defaults func() *A, check func(*A, *Policy, *Problems),
	behavior func(*A) Behavior, build func(*A, *Policy) Algorithm) Registration {
	return Registration{
		Name:     name,
		Summary:  summary,
		newArgs:  func() any { return defaults() },
		check:    func(a any, p *Policy, pr *Problems) { check(a.(*A), p, pr) },
		behavior: func(a any) Behavior { return behavior(a.(*A)) },
		build:    func(a any, p *Policy) Algorithm { return build(a.(*A), p) },
	}
}

// ArgFields lists the YAML names of the algorithm's arguments, for documentation.
func (r Registration) ArgFields() []string {
	t := reflect.TypeOf(r.newArgs()).Elem()
	var names []string
	for name := range structFields(t) {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Registry maps algorithm names to their registrations.
type Registry struct {
	regs map[string]Registration
}

// NewRegistry returns a registry holding regs. It panics on a duplicate name: that is a programming error.
func NewRegistry(regs ...Registration) *Registry {
	r := &Registry{regs: map[string]Registration{}}
	for _, g := range regs {
		if _, dup := r.regs[g.Name]; dup {
			panic("policy: algorithm registered twice: " + g.Name)
		}
		r.regs[g.Name] = g
	}
	return r
}

// Builtin returns a new registry of podpilot's own algorithms.
func Builtin() *Registry {
	return NewRegistry(builtins()...)
}

// Lookup returns the registration of name.
func (r *Registry) Lookup(name string) (Registration, bool) {
	g, ok := r.regs[name]
	return g, ok
}

// Names returns the registered names in order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.regs))
	for n := range r.regs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
