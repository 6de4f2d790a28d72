package simulate

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// Point is one value of a sweep for one policy.
type Point struct {
	Value    string
	Summary  Summary
	Frontier bool // no other value of this policy is both cheaper (or as cheap) and less overloaded (or as little)
}

// SweepRun is one policy's sweep.
type SweepRun struct {
	Name   string
	Points []Point
}

// SweepResult is a whole sweep.
type SweepResult struct {
	Field string
	Runs  []SweepRun
}

// RunSweep simulates every source at every value of the sweep. Points run in parallel; the result does not
// depend on the order they finish in.
func RunSweep(rec *metrics.Recording, srcs []Source, sw Sweep, cfg Config) (*SweepResult, error) {
	cfg.Steps = false
	if cfg.Mode == Replay {
		return nil, fmt.Errorf("a sweep compares cost with overload, which replay mode cannot score (it has no demand): sweep in closed-loop mode")
	}
	if cfg.Registry == nil {
		cfg.Registry = policy.Builtin()
	}
	type job struct{ src, val int }
	res := &SweepResult{Field: sw.Field, Runs: make([]SweepRun, len(srcs))}
	jobs := make([]job, 0, len(srcs)*len(sw.Values))
	for i, s := range srcs {
		res.Runs[i] = SweepRun{Name: s.Name, Points: make([]Point, len(sw.Values))}
		for j := range sw.Values {
			jobs = append(jobs, job{i, j})
		}
	}
	// Parse every point first, so that a bad value is reported before any work and in a stable order.
	parsed := make([][]Named, len(srcs))
	for i, s := range srcs {
		parsed[i] = make([]Named, len(sw.Values))
		for j, v := range sw.Values {
			data, err := SetField(s.Data, sw.Field, v)
			if err != nil {
				return nil, err
			}
			ps, err := Parse([]Source{{Name: s.Name, File: s.File + " with " + sw.Field + "=" + v, Data: data}}, cfg.Registry)
			if err != nil {
				return nil, err
			}
			parsed[i][j] = ps[0]
		}
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := range next {
				jb := jobs[k]
				r, err := Simulate(rec, []Named{parsed[jb.src][jb.val]}, cfg)
				if err != nil {
					errs[k] = err
					continue
				}
				res.Runs[jb.src].Points[jb.val] = Point{Value: sw.Values[jb.val], Summary: r.Runs[0].Summary}
			}
		})
	}
	for k := range jobs {
		next <- k
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for i := range res.Runs {
		MarkFrontier(res.Runs[i].Points)
	}
	return res, nil
}

// MarkFrontier sets each point's Frontier: no other point of ps is as cheap and misses as little (Summary.Miss:
// overload, or a queue's SLO violation), and better in one of the two. Points of several runs marked together give the frontier of their union. Cost is
// replica-seconds, not the ratio to each point's own lower bound: a swept minReplicas or interval moves the bound.
func MarkFrontier(ps []Point) {
	for i := range ps {
		a := ps[i].Summary
		ps[i].Frontier = true
		for j := range ps {
			b := ps[j].Summary
			if i != j && b.ReplicaSeconds <= a.ReplicaSeconds && b.Miss() <= a.Miss() &&
				(b.ReplicaSeconds < a.ReplicaSeconds || b.Miss() < a.Miss()) {
				ps[i].Frontier = false
				break
			}
		}
	}
}

// AtCost returns the point of ps that misses least (Summary.Miss) among those costing at most cost replica-seconds
// (and, among equals, the cheapest): what a policy achieves for a given budget, read off its sweep.
func AtCost(ps []Point, cost float64) (Point, bool) {
	var best Point
	found := false
	for _, p := range ps {
		s := p.Summary
		if s.ReplicaSeconds > cost*(1+1e-12) {
			continue
		}
		if !found || s.Miss() < best.Summary.Miss() ||
			(s.Miss() == best.Summary.Miss() && s.ReplicaSeconds < best.Summary.ReplicaSeconds) {
			best, found = p, true
		}
	}
	return best, found
}

// Frontier returns the frontier points of ps ordered by cost.
func Frontier(ps []Point) []Point {
	var out []Point
	for _, p := range ps {
		if p.Frontier {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Summary.ReplicaSeconds < out[j].Summary.ReplicaSeconds })
	return out
}
