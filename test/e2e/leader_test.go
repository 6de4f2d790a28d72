//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podpilot/podpilot/test/harness"
)

const failoverPolicy = `target: {namespace: failover, name: web}
minReplicas: 2
maxReplicas: 8
interval: 2s
metrics: [{kind: qps, perReplica: 10, window: 4s}]
behavior:
  scaleDown: {stabilizationWindow: 20s, cooldown: 0s, policies: [{type: Percent, value: 100, period: 2s}]}
`

// TestLeaderFailover runs two podpilot replicas: exactly one writes; when the leader freezes (SIGSTOP, as a hung
// or partitioned process) the other takes over within the lease duration without a scale-down the stabilization
// window forbids; the old leader, resumed, writes nothing; and when the new leader is killed, the old one takes
// over again.
func TestLeaderFailover(t *testing.T) {
	sw := harness.NewStopwatch(t)
	c := harness.StartCluster(t)
	cs := c.Client(t)
	c.Apply(t, deployment("failover", "web", 2, nil))
	c.Apply(t, deployment("failover", "pinned", 2, map[string]string{"podpilot.io/paused-replicas": "3"}))
	w := harness.StartWorkload(t, "--kubeconfig", c.Kubeconfig, "--target", "failover/web=const:60")
	prom := harness.StartPrometheus(t, w.Addr)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "failover.yaml"), []byte(failoverPolicy), 0o644)
	os.WriteFile(filepath.Join(dir, "pinned.yaml"), []byte(strings.Replace(failoverPolicy, "name: web", "name: pinned", 1)), 0o644)
	scales := watchScales(t, cs)
	a := startPodpilot(t, c, prom.URL, dir, "podpilot-a", true)
	b := startPodpilot(t, c, prom.URL, dir, "podpilot-b", true)
	sw.Lap("cluster, load, prometheus and two podpilots")

	holder := func() string {
		l, err := cs.CoordinationV1().Leases("kube-system").Get(context.Background(), "podpilot-e2e", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	// Which process leads: the one whose log says so with the Lease's identity.
	leaderOf := func() (*podpilot, *podpilot) {
		var lead, other *podpilot
		harness.Eventually(t, 30*time.Second, "one podpilot leading", func() (bool, string) {
			h := holder()
			for _, p := range []*podpilot{a, b} {
				if h != "" && len(p.lines(`"msg":"leading: starting work"`, h)) > 0 {
					lead = p
				}
			}
			if lead == nil {
				return false, "holder " + h
			}
			other = a
			if lead == a {
				other = b
			}
			return true, ""
		})
		return lead, other
	}
	lead, standby := leaderOf()

	t.Run("exactly one replica writes", func(t *testing.T) {
		// 60 req/s at 10 per replica needs 6, and target-tracking's half a spare replica makes it 7; a rate read
		// above 60 (Prometheus extrapolates it to the window's edges, and new pods' first rates read high) or the
		// margin for the readings' noise can ask for one more.
		waitReplicasIn(t, cs, "failover/web", 6, 8, 30*time.Second)
		if lead.metric(t, "podpilot_leader", nil) != 1 || standby.metric(t, "podpilot_leader", nil) != 0 {
			t.Errorf("podpilot_leader: %s %g, %s %g; want 1 and 0", lead.Name, lead.metric(t, "podpilot_leader", nil), standby.Name, standby.metric(t, "podpilot_leader", nil))
		}
		if n := standby.metric(t, "podpilot_scale_events_total", nil); n != 0 || len(standby.lines(`"msg":"scaled"`)) > 0 {
			t.Errorf("the standby %s scaled %g times", standby.Name, n)
		}
		if n := lead.metric(t, "podpilot_scale_events_total", nil); n == 0 {
			t.Errorf("the leader %s made no scale event", lead.Name)
		}
	})
	sw.Lap("one writer")

	// The leader applies a pin once; an on-call engineer then scales the paused target by hand, and no later
	// leader applies the pin again over that (the managedFields say that someone else set the count since).
	t.Run("a pin is applied once, and a manual scale after it outlasts the leader", func(t *testing.T) {
		waitReplicas(t, cs, "failover/pinned", 3, 30*time.Second)
		ctx := context.Background()
		sc, err := cs.AppsV1().Deployments("failover").GetScale(ctx, "pinned", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sc.Spec.Replicas = 4
		if _, err := cs.AppsV1().Deployments("failover").UpdateScale(ctx, "pinned", sc, metav1.UpdateOptions{FieldManager: "e2e-oncall"}); err != nil {
			t.Fatal(err)
		}
		waitReplicas(t, cs, "failover/pinned", 4, 30*time.Second)
	})
	pinnedAt := time.Now()

	t.Run("the leader freezes: the standby takes over within the lease, keeps the window, and the old leader writes nothing", func(t *testing.T) {
		w.SetDemand(t, "failover/web", 20) // wants 3 (2 and half a spare): a scale-down the 20 s window must delay
		dropped := firstSeen(t, prom, query(t, failoverPolicy, 0), "failover/web qps below 25", 30*time.Second, func(v float64) bool { return v < 25 })
		time.Sleep(5 * time.Second) // the old leader is 5 s into its window
		if err := lead.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		frozen := time.Now()
		oldID := holder()
		took := harness.Eventually(t, lease+10*time.Second, "the standby holds the lease", func() (bool, string) {
			h := holder()
			return h != "" && h != oldID && len(standby.lines(`"msg":"leading: starting work"`, h)) > 0, h
		})
		t.Logf("failover: %s froze at %s; %s led %.2fs later (lease %s, retry %s)", lead.Name, frozen.Format("15:04:05.000"), standby.Name, took.Seconds(), lease, retry)
		if took > lease+2*retry+time.Second {
			t.Errorf("takeover took %.2fs; want within the lease duration %s (plus retries)", took.Seconds(), lease)
		}
		tookOver := time.Now()
		// Resume the old leader inside the new leader's window: it must find it lost the lease and write nothing.
		time.Sleep(2 * interval)
		resumed := time.Now()
		lead.Signal(syscall.SIGCONT)
		oldScales := lead.metric(t, "podpilot_scale_events_total", nil)

		harness.Eventually(t, 60*time.Second, "failover/web scaled down by the new leader", func() (bool, string) {
			for _, e := range scales.since("failover/web", frozen) {
				if e.to < e.from {
					return true, ""
				}
			}
			return false, fmt.Sprint(scales.replicas("failover/web"))
		})
		down := scales.since("failover/web", frozen)[0]
		t.Logf("scale-down %d -> %d %.1fs after the drop was visible, %.1fs after the takeover", down.from, down.to, down.at.Sub(dropped).Seconds(), down.at.Sub(tookOver).Seconds())
		if down.at.Before(dropped.Add(20 * time.Second)) {
			t.Errorf("scaled down %.1fs after the drop: the 20 s stabilization window forbids it", down.at.Sub(dropped).Seconds())
		}
		if n := lead.metric(t, "podpilot_scale_events_total", nil); n != oldScales {
			t.Errorf("the old leader made %g scale events after it was resumed", n-oldScales)
		}
		for _, l := range lead.lines(`"msg":"scaled"`) {
			if strings.Contains(l, "failover") && lineAfter(l, resumed) {
				t.Errorf("the old leader wrote after losing the lease: %s", l)
			}
		}
		if standby.metric(t, "podpilot_scale_events_total", nil) == 0 {
			t.Errorf("the new leader %s made no scale event", standby.Name)
		}
		if e := scales.since("failover/pinned", pinnedAt); len(e) != 0 {
			t.Errorf("failover/pinned was scaled %v after its manual scale to 4: the new leader applied the pin again", e)
		}
		if len(standby.lines(`"msg":"paused target: someone else set its count after its pin was set`, `"target":"pinned"`)) == 0 {
			t.Errorf("the new leader %s did not log that it leaves failover/pinned's pin alone", standby.Name)
		}
	})
	sw.Lap("freeze and takeover")

	t.Run("the new leader is killed: the old one leads again", func(t *testing.T) {
		killed := time.Now()
		standby.Signal(syscall.SIGKILL)
		took := harness.Eventually(t, lease+10*time.Second, lead.Name+" leading again", func() (bool, string) {
			return lead.metric(t, "podpilot_leader", nil) == 1, holder()
		})
		t.Logf("failover after SIGKILL: %.2fs", took.Seconds())
		if took > lease+2*retry+2*time.Second {
			t.Errorf("takeover after a kill took %.2fs; want within the lease duration %s", took.Seconds(), lease)
		}
		w.SetDemand(t, "failover/web", 50)
		harness.Eventually(t, 30*time.Second, "the revived leader scales", func() (bool, string) {
			return len(scales.since("failover/web", killed)) > 0, fmt.Sprint(scales.replicas("failover/web"))
		})
		if e := scales.since("failover/pinned", pinnedAt); len(e) != 0 {
			t.Errorf("failover/pinned was scaled %v after its manual scale to 4", e)
		}
	})
	sw.Lap("kill and takeover")
}

// lineAfter reports whether a JSON log line's "ts" is after t.
func lineAfter(line string, t time.Time) bool {
	i := strings.Index(line, `"ts":"`)
	if i < 0 {
		return true
	}
	ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", line[i+6:i+6+len("2006-01-02T15:04:05.000Z")])
	return err != nil || ts.After(t)
}
