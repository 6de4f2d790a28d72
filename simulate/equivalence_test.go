package simulate

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"go.uber.org/zap"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podpilot/podpilot/controller"
	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// replayed plays back what a simulation's policy saw, to the controller, step by step.
type replayed struct {
	steps []Step
	i     int
}

// Fetch returns the readings the simulated policy saw at this step (NaN: invalid).
func (r *replayed) Fetch(_ context.Context, ps []*policy.Policy, at time.Time) metrics.Result {
	s := r.steps[r.i]
	if !s.Time.Equal(at) {
		panic(fmt.Sprintf("controller asked at %v, step is at %v", at, s.Time))
	}
	return metrics.Result{Obs: [][]policy.Observation{s.Obs}, Queries: 1} // with the pods each covered
}

// Workload shows the spec and ready replicas the simulated policy saw; Scale accepts every write.
func (r *replayed) Workload(policy.Target) (controller.Workload, error) {
	s := r.steps[r.i]
	return controller.Workload{Spec: s.Current, Ready: s.Seen, ResourceVersion: "1"}, nil
}
func (r *replayed) Fresh(context.Context, policy.Target) (controller.Workload, error) {
	return r.Workload(policy.Target{})
}
func (r *replayed) Scale(context.Context, policy.Target, controller.Workload, int32) error {
	return nil
}
func (r *replayed) Event(policy.Target, bool, string, string) {}

// The controller's decision path and the simulator's are one: fed the inputs a simulation's policy saw, the
// controller's passes make exactly the decisions the simulation made, step by step, for hpa, target-tracking and
// burst (which reads the past), through invalid readings, partial ones and gaps, and at the same times when the policy's interval is not the daemon's pass.
func TestControllerMatchesSimulate(t *testing.T) {
	trace, err := metrics.ReadFile("../testdata/traces/azure_functions_slopower_60s.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		algo           string
		interval, pass time.Duration
	}{
		{"hpa", 15 * time.Second, 15 * time.Second},
		{"target-tracking", 15 * time.Second, 15 * time.Second},
		{"target-tracking", 20 * time.Second, 15 * time.Second}, // due every pass
		{"hpa", 45 * time.Second, 15 * time.Second},             // due every third pass
		{"burst", 15 * time.Second, 15 * time.Second},           // reads Input.Past, partial readings marked low
	} {
		t.Run(fmt.Sprintf("%s/%s-on-%s", c.algo, c.interval, c.pass), func(t *testing.T) {
			dir := t.TempDir()
			src := fmt.Sprintf("target: {namespace: sim, name: w}\nmaxReplicas: 80\ninterval: %s\nalgorithm: {name: %s}\nmetrics: [{kind: cpu, utilization: 60}, {kind: qps, perReplica: 150}]\n",
				policy.FormatDuration(c.interval), c.algo)
			writeFile(t, dir+"/p.yaml", src)
			store := controller.NewStore([]string{dir}, policy.Builtin(), zap.NewNop(), nil)
			if err := store.Reload(); err != nil {
				t.Fatal(err)
			}
			p := store.Policies()[0]
			// A realistic recording of cpu and qps: what this policy saw in a closed-loop run of the trace, with
			// invalid readings (NaN) now and then and a gap.
			closed, err := Simulate(trace, []Named{{Name: c.algo, Policy: p}}, Config{Model: Model{Capacity: 200}, Steps: true})
			if err != nil {
				t.Fatal(err)
			}
			// The readings, and the counts podpilot record writes beside them: the pods each qps reading covered
			// (fewer than were ready after a scale-up) and the ready pods.
			rec := &metrics.Recording{File: "recorded", Series: []metrics.Series{{Name: "cpu"}, {Name: "qps"}, {Name: "qps:pods"}, {Name: "ready"}}}
			var seen []Step
			for _, st := range closed.Runs[0].Steps {
				if st.Decided {
					seen = append(seen, st)
				}
			}
			for i, st := range seen {
				if i >= len(seen)/2 && i < len(seen)/2+40 {
					continue // a gap of 40 readings
				}
				cpu, qps := st.Metrics[0], st.Metrics[1]
				if i%97 == 5 {
					cpu = math.NaN()
				}
				if i%89 == 7 {
					qps = math.NaN()
				}
				rec.Times = append(rec.Times, st.Time)
				rec.Lines = append(rec.Lines, i+2)
				rec.Series[0].Values = append(rec.Series[0].Values, cpu)
				rec.Series[1].Values = append(rec.Series[1].Values, qps)
				pods := math.NaN()
				if o := st.Obs[1]; o.PodsKnown {
					pods = float64(o.Pods)
				}
				rec.Series[2].Values = append(rec.Series[2].Values, pods)
				rec.Series[3].Values = append(rec.Series[3].Values, float64(st.Seen))
			}
			res, err := Simulate(rec, []Named{{Name: c.algo, Policy: p}}, Config{Mode: Replay, Pass: c.pass, Steps: true})
			if err != nil {
				t.Fatal(err)
			}
			steps := res.Runs[0].Steps

			r := &replayed{steps: steps}
			clk := clocktesting.NewFakeClock(steps[0].Time)
			ctl := controller.New(controller.Options{Interval: c.pass}, zap.NewNop(), clk, r, r, store, nil)
			changes, holds, partial, skipped := 0, 0, 0, 0
			for i, want := range steps {
				r.i = i
				clk.SetTime(want.Time)
				out := ctl.Pass(context.Background(), func() error { return nil })
				o := out.Outcomes[0]
				if !want.Decided {
					if o.Skipped != "NotDue" {
						t.Fatalf("step %d (%v): controller %+v; simulate did not evaluate the policy", i, want.Time, o)
					}
					skipped++
					continue
				}
				d := o.Decision
				if d == nil || d.Desired != want.Desired || d.Reason != want.Reason || d.Stage != want.Stage {
					t.Fatalf("step %d (%v): controller decided %+v; simulate decided %d (%s at %s)", i, want.Time, d, want.Desired, want.Reason, want.Stage)
				}
				if d.Scale() {
					changes++
				}
				switch d.Reason {
				case policy.MetricUnavailable:
					holds++
				case policy.MetricPartial:
					partial++
				}
			}
			if changes < 20 || holds < 15 || partial < 5 {
				t.Errorf("only %d changes, %d holds on invalid metrics and %d on partial ones: the comparison proves little", changes, holds, partial)
			}
			want := 0 // a 15 s or 20 s interval is due every 15 s pass
			if c.interval == 45*time.Second {
				want = len(steps) - (len(steps)+2)/3 // two of every three
			}
			if skipped != want {
				t.Errorf("%d of %d passes skipped; want %d", skipped, len(steps), want)
			}
		})
	}
}
