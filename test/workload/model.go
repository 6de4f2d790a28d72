package main

import (
	"math"
	"time"
)

// Params are the per-process constants of the workload model.
type Params struct {
	CPUPerRequest float64 // core-seconds one request costs
	ServiceRate   float64 // messages per second one ready pod takes off the queue
}

// Pod is what the model needs of one of the target's pods.
type Pod struct {
	Name       string
	Ready      bool
	CPURequest float64 // cores, summed over the pod's containers; 0 when the pod requests none
}

// Target is one Deployment under synthetic load. Its demand follows Curve from Origin on. Every ready pod takes
// an equal share of the demand: its request and CPU counters grow at demand/ready and demand/ready ×
// CPUPerRequest per second. The queue, when there is one, gets the demand as arrivals and loses ready ×
// ServiceRate per second, never going below zero. Time only moves through Advance, which takes it as an argument.
type Target struct {
	Namespace, Name string
	Queue           string // "" for none

	curve  Curve
	origin time.Time // elapsed 0 of curve
	last   time.Time // how far the counters have been integrated

	pods     []Pod
	requests map[string]float64 // per pod: requests served so far
	cpu      map[string]float64 // per pod: CPU seconds used so far
	depth    float64            // messages waiting

	// Hidden is how many of the ready pods' usage series the exporter leaves out, as scrapes that fail on those
	// pods would: their requests still count, only nobody sees them.
	Hidden int
}

// NewTarget returns a target whose curve starts at now, with no pods yet.
func NewTarget(namespace, name, queue string, c Curve, now time.Time) *Target {
	return &Target{
		Namespace: namespace, Name: name, Queue: queue,
		curve: c, origin: now, last: now,
		requests: map[string]float64{}, cpu: map[string]float64{},
	}
}

// QueueAfter returns the depth of a queue after dt seconds at depth q with arrivals and drain (both per second)
// constant over dt. The depth never goes below zero: a drain larger than the backlog and the arrivals empties it.
func QueueAfter(q, arrivals, drain, dt float64) float64 {
	return math.Max(0, q+(arrivals-drain)*dt)
}

// ready counts the ready pods.
func (t *Target) ready() int {
	n := 0
	for _, p := range t.pods {
		if p.Ready {
			n++
		}
	}
	return n
}

// Advance integrates the counters and the queue from the last call up to now, exactly: it splits the interval
// wherever the curve changes. A now before the last call changes nothing.
func (t *Target) Advance(now time.Time, p Params) {
	if !now.After(t.last) {
		return
	}
	ready := t.ready()
	e, end := t.last.Sub(t.origin), now.Sub(t.origin)
	for e < end {
		rps, until := t.curve.At(e)
		stop := min(until, end)
		dt := (stop - e).Seconds()
		if ready > 0 {
			share := rps / float64(ready) * dt
			for _, pod := range t.pods {
				if pod.Ready {
					t.requests[pod.Name] += share
					t.cpu[pod.Name] += share * p.CPUPerRequest
				}
			}
		}
		t.depth = QueueAfter(t.depth, rps, float64(ready)*p.ServiceRate, dt)
		e = stop
	}
	t.last = now
}

// SetPods integrates up to now with the old pods, then replaces them. Counters of pods that are gone are
// dropped; a pod that is back from unready keeps its counters, as a container's cAdvisor counters do.
func (t *Target) SetPods(now time.Time, pods []Pod, p Params) {
	t.Advance(now, p)
	t.pods = pods
	keep := make(map[string]bool, len(pods))
	for _, pod := range pods {
		keep[pod.Name] = true
	}
	for name := range t.requests {
		if !keep[name] {
			delete(t.requests, name)
			delete(t.cpu, name)
		}
	}
}

// SetCurve integrates up to now with the old curve, then follows c from now on.
func (t *Target) SetCurve(now time.Time, c Curve, p Params) {
	t.Advance(now, p)
	t.curve, t.origin = c, now
}

// Demand returns the demand at now, in requests per second.
func (t *Target) Demand(now time.Time) float64 {
	v, _ := t.curve.At(now.Sub(t.origin))
	return v
}

// PodSample is one pod's exported values.
type PodSample struct {
	Pod
	Requests float64 // requests served so far
	CPU      float64 // CPU seconds used so far
}

// Samples returns every pod with its counters, in the order the pods were set.
func (t *Target) Samples() []PodSample {
	out := make([]PodSample, len(t.pods))
	for i, pod := range t.pods {
		out[i] = PodSample{Pod: pod, Requests: t.requests[pod.Name], CPU: t.cpu[pod.Name]}
	}
	return out
}

// Depth returns the queue's depth as of the last Advance.
func (t *Target) Depth() float64 { return t.depth }

// Ready returns the number of ready pods.
func (t *Target) Ready() int { return t.ready() }
