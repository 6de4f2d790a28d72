//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podpilot/podpilot/test/harness"
)

// The predictive target's load: a square wave with a 40 s period (20 s at 10 req/s, 20 s at 60 req/s), for long
// enough to outlast the test.
const period = 40 * time.Second

func squareWave(periods int) string {
	var steps []string
	for i := range periods {
		at := time.Duration(i) * period
		steps = append(steps, fmt.Sprintf("10@%ds", int(at.Seconds())), fmt.Sprintf("60@%ds", int((at+period/2).Seconds())))
	}
	return "steps:" + strings.Join(steps, ",")
}

var algorithmPolicies = map[string]string{
	// queue: drain within 10 s at 8 messages/s per pod; to zero after 10 s idle and back on the first message.
	"qalgo.yaml": `target: {namespace: qalgo, name: worker}
minReplicas: 0
maxReplicas: 10
interval: 2s
algorithm: {name: queue, args: {idle: 10s, rateWindow: 4s}}
metrics: [{kind: queue, queue: jobs, drainTime: 10s, ratePerReplica: 8}]
behavior:
  scaleDown: {cooldown: 0s}
`,
	// predictive: the season is the load's period; a pod is assumed to take 10 s to start.
	"predict.yaml": `target: {namespace: predict, name: web}
minReplicas: 1
maxReplicas: 10
interval: 2s
algorithm: {name: predictive, args: {season: 40s, startup: 10s, window: 8s, maxError: 1}}
metrics: [{kind: qps, perReplica: 10, window: 4s}]
behavior:
  scaleDown: {stabilizationWindow: 0s, cooldown: 0s, policies: [{type: Percent, value: 100, period: 2s}]}
`,
}

// TestAlgorithms runs podpilot's own algorithms in the closed loop: queue to zero and back, and predictive
// scaling out ahead of a rise it learnt from the history Prometheus already held when podpilot started.
func TestAlgorithms(t *testing.T) {
	sw := harness.NewStopwatch(t)
	c := harness.StartCluster(t)
	cs := c.Client(t)
	c.Apply(t, deployment("qalgo", "worker", 1, nil))
	c.Apply(t, deployment("predict", "web", 1, nil))
	w := harness.StartWorkload(t, "--kubeconfig", c.Kubeconfig, "--service-rate", "8", "--queue", "qalgo/worker=jobs",
		"--target", "qalgo/worker=const:0", "--target", "predict/web="+squareWave(20))
	loadStart := time.Now()
	prom := harness.StartPrometheus(t, w.Addr)
	dir := t.TempDir()
	for f, body := range algorithmPolicies {
		os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644)
	}
	scales := watchScales(t, cs)
	// Let Prometheus hold more than one period of the wave before podpilot starts: predictive reads it back.
	time.Sleep(time.Until(loadStart.Add(period + period/4)))
	pp := startPodpilot(t, c, prom.URL, dir, "podpilot", false)
	sw.Lap("cluster, load, a period of history, podpilot")

	t.Run("predictive backfills its history from Prometheus and scales out ahead of a rise", func(t *testing.T) {
		harness.Eventually(t, 10*time.Second, "the history backfilled from Prometheus", func() (bool, string) {
			return len(pp.lines(`"msg":"history backfilled from Prometheus"`, `"namespace":"predict"`)) > 0, ""
		})
		q := query(t, algorithmPolicies["predict.yaml"], 0)
		// The next rises after podpilot started. In each low half the count falls back (scale-in is reactive);
		// then, about startup + interval before the rise, the forecast (the reading one season ago) raises it.
		ahead := 0
		for n := 0; n < 2; n++ {
			k := int(time.Since(loadStart)/period) + 1
			rise := loadStart.Add(time.Duration(k)*period + period/2)
			if time.Until(rise) < 15*time.Second {
				rise = rise.Add(period)
			}
			low := rise.Add(-period / 2)
			seen := firstSeen(t, prom, q, "predict/web qps above 30 (the rise)", time.Until(rise)+20*time.Second, func(v float64) bool {
				return v > 30 && time.Now().After(rise.Add(-5*time.Second))
			})
			events := scales.since("predict/web", low)
			lowest, up := int32(99), (*scaleEvent)(nil)
			for i, e := range events {
				if e.to < e.from {
					lowest = min(lowest, e.to)
				}
				if e.to > e.from && e.to >= 4 && lowest <= 3 && up == nil {
					up = &events[i]
				}
			}
			if up == nil {
				t.Errorf("rise %d: no fall to 3 or fewer and scale-up to 4 or more in the low half before Prometheus showed the rise at %s: %v",
					n+1, seen.Format("15:04:05.0"), events)
				continue
			}
			lead := seen.Sub(up.at)
			t.Logf("rise %d: down to %d in the low half, then %d -> %d %.1fs before Prometheus showed the rise", n+1, lowest, up.from, up.to, lead.Seconds())
			if lead > 0 {
				ahead++
			}
		}
		if ahead < 2 {
			t.Errorf("scaled out ahead of %d of 2 rises; want both", ahead)
		}
		if v := pp.metric(t, "podpilot_forecast_error", map[string]string{"namespace": "predict"}); v < 0 || v > 1 {
			t.Errorf("podpilot_forecast_error = %g; want a recent relative error within [0, 1]", v)
		}
	})
	sw.Lap("predictive")

	t.Run("queue goes to zero when idle and comes back on the first message", func(t *testing.T) {
		took := waitReplicas(t, cs, "qalgo/worker", 0, 60*time.Second)
		t.Logf("idle queue: to zero %.1fs after this case started", took.Seconds())
		w.SetDemand(t, "qalgo/worker", 20) // 20 messages/s arrive; one pod drains 8
		q := query(t, algorithmPolicies["qalgo.yaml"], 0)
		first := firstSeen(t, prom, q, "the first messages in the queue", 20*time.Second, func(v float64) bool { return v >= 1 })
		harness.Eventually(t, 20*time.Second, "qalgo/worker woken from zero", func() (bool, string) {
			return scales.replicas("qalgo/worker") > 0, ""
		})
		wake := scales.since("qalgo/worker", first.Add(-interval))[0]
		t.Logf("woken %d -> %d %.1fs after Prometheus showed the first messages", wake.from, wake.to, wake.at.Sub(first).Seconds())
		if wake.at.Sub(first) > 2*interval+500*time.Millisecond {
			t.Errorf("woke %.1fs after the first messages; want within two intervals", wake.at.Sub(first).Seconds())
		}
		peak := 0.0
		harness.Eventually(t, 60*time.Second, "the backlog drained while messages keep arriving", func() (bool, string) {
			vec, err := prom.Query(q, time.Time{})
			if err != nil || len(vec) != 1 {
				return false, fmt.Sprint(err)
			}
			v := float64(vec[0].Value)
			peak = max(peak, v)
			return peak > 20 && v < 8, fmt.Sprintf("backlog %.0f (peak %.0f), replicas %d", v, peak, scales.replicas("qalgo/worker"))
		})
		if r := scales.replicas("qalgo/worker"); r < 3 {
			t.Errorf("draining with %d replicas; 20 messages/s need at least 3 at 8 each", r)
		}
		w.SetDemand(t, "qalgo/worker", 0)
		took = waitReplicas(t, cs, "qalgo/worker", 0, 60*time.Second)
		t.Logf("back to zero %.1fs after the messages stopped (idle grace 10s)", took.Seconds())
	})
	sw.Lap("queue")
}
