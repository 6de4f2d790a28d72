//go:build e2e

// Package e2e holds podpilot's end-to-end tests: real control plane, real Prometheus, synthetic load.
// Run with: go test -tags e2e -count=1 -v ./test/e2e/...
package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/test/harness"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// The synthetic load, and what the Deployment requests. Every expected value below is derived from these.
const (
	namespace     = "demo"
	name          = "web"
	queue         = "orders"
	demand        = 20.0 // requests per second
	cpuPerRequest = 0.01 // core-seconds per request
	serviceRate   = 8.0  // messages per second one ready pod drains
	cpuRequest    = 0.5  // cores per pod (500m)
	replicas      = 2
	scaledTo      = 4

	// The exporter's counters are exact, so rates over a full window differ from the truth only by scrape timing
	// jitter. A window still filling up with a new series reads low (Prometheus extrapolates at most half an
	// interval towards a series' start), so the waits below end only once the window is full.
	tolerance = 0.025
)

// The policy uses the default query of each kind: no query: field.
const policyFile = `
target: {namespace: demo, name: web}
maxReplicas: 10
metrics:
  - {kind: cpu, utilization: 50, window: 10s}
  - {kind: qps, perReplica: 10, window: 10s}
  - {kind: queue, queue: orders, perReplica: 100}
`

// TestSmoke proves the tier end to end: a Deployment on the kwok node becomes ready, the workload exporter
// derives realistic series from its ready pods, Prometheus scrapes them, and podpilot's default query templates,
// rendered by the policy package, return exactly one series per target with the values the load implies; then
// a scale through the scale subresource changes them as it should.
func TestSmoke(t *testing.T) {
	sw := harness.NewStopwatch(t)
	c := harness.StartCluster(t)
	sw.Lap("control plane up (up.sh)")

	c.Apply(t, deployment(namespace, name, replicas, nil)) // 500m CPU requested per pod (cpuRequest)
	cs := c.Client(t)
	ctx := context.Background()
	waitReady := func(want int32) {
		harness.Eventually(t, 60*time.Second, fmt.Sprintf("deployment %s/%s %d/%d ready", namespace, name, want, want), func() (bool, string) {
			d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			s := d.Status
			return s.ObservedGeneration == d.Generation && s.Replicas == want && s.ReadyReplicas == want && s.UpdatedReplicas == want,
				fmt.Sprintf("generation %d observed %d, replicas %d, ready %d, updated %d", d.Generation, s.ObservedGeneration, s.Replicas, s.ReadyReplicas, s.UpdatedReplicas)
		})
	}
	waitReady(replicas)
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != c.Env["PODPILOT_NODE_NAME"] {
			t.Errorf("pod %s runs on node %q; want the kwok node %q", p.Name, p.Spec.NodeName, c.Env["PODPILOT_NODE_NAME"])
		}
	}
	sw.Lap(fmt.Sprintf("deployment %d/%d ready", replicas, replicas))

	w := harness.StartWorkload(t, "--kubeconfig", c.Kubeconfig,
		"--target", fmt.Sprintf("%s/%s=const:%g", namespace, name, demand),
		"--queue", fmt.Sprintf("%s/%s=%s", namespace, name, queue),
		"--cpu-per-request", fmt.Sprint(cpuPerRequest), "--service-rate", fmt.Sprint(serviceRate))
	sw.Lap("workload exporter built and started")
	prom := harness.StartPrometheus(t, w.Addr)
	sw.Lap("prometheus ready")

	p, err := policy.Parse("smoke.yaml", []byte(policyFile), policy.Builtin())
	if err != nil {
		t.Fatalf("policy.Parse: %v", err)
	}
	queries := map[policy.MetricKind]string{}
	for i, m := range p.Metrics {
		if m.Query != policy.DefaultQuery(m.Kind) {
			t.Fatalf("metric %s does not use the default %s template", m.Name, m.Kind)
		}
		q, err := p.Query(i)
		if err != nil {
			t.Fatalf("render %s: %v", m.Name, err)
		}
		queries[m.Kind] = q
	}
	targetLabels := model.LabelSet{"namespace": namespace, "target": name}
	queueLabels := model.LabelSet{"queue": queue}

	// The per-pod averages: each ready pod serves demand/ready requests per second, each costing cpuPerRequest.
	utilization := func(ready int) float64 { return demand * cpuPerRequest / (float64(ready) * cpuRequest) * 100 }

	// The queue receives demand and loses replicas × serviceRate per second: it grows at that difference. Its
	// first reading is taken now and its second once cpu and qps are right, at least 10 s later.
	growth := demand - replicas*serviceRate
	var t1 time.Time
	var q1 float64
	harness.Eventually(t, 30*time.Second, "a first queue sample", func() (bool, string) {
		t1 = time.Now()
		vec, err := prom.Query(queries[policy.Queue], t1)
		if err != nil {
			return false, err.Error()
		}
		if detail := single(vec, queueLabels); detail != "" {
			return false, detail
		}
		q1 = float64(vec[0].Value)
		return true, ""
	})

	expect(t, prom, "cpu", queries[policy.CPU], targetLabels, utilization(replicas), tolerance*utilization(replicas), time.Minute)
	expect(t, prom, "qps", queries[policy.QPS], targetLabels, demand, tolerance*demand, 30*time.Second)
	sw.Lap(fmt.Sprintf("cpu %.0f %%, qps %.0f via the default templates", utilization(replicas), demand))

	var t2 time.Time
	harness.Eventually(t, 30*time.Second, "10 s of queue samples", func() (bool, string) {
		t2 = time.Now()
		return t2.Sub(t1) >= 10*time.Second, fmt.Sprintf("%.1fs", t2.Sub(t1).Seconds())
	})
	q2 := one(t, prom, "queue", queries[policy.Queue], queueLabels, t2)
	rate := (q2 - q1) / t2.Sub(t1).Seconds()
	t.Logf("queue: %.1f then %.1f %.1fs later: %.2f msg/s; want %.2f", q1, q2, t2.Sub(t1).Seconds(), rate, growth)
	if q1 < 0 || math.Abs(rate-growth) > 0.25*growth {
		t.Fatalf("queue grew at %.2f msg/s (%.1f -> %.1f); want %.2f ± 25 %% = demand %g - %d ready × %g", rate, q1, q2, growth, demand, replicas, serviceRate)
	}
	sw.Lap("queue growth measured")

	// Scale through the scale subresource, as podpilot does.
	sc, err := cs.AppsV1().Deployments(namespace).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if sc.Spec.Replicas != replicas || sc.Status.Replicas != replicas {
		t.Fatalf("scale before: spec %d status %d; want %d", sc.Spec.Replicas, sc.Status.Replicas, replicas)
	}
	sc.Spec.Replicas = scaledTo
	if _, err := cs.AppsV1().Deployments(namespace).UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	waitReady(scaledTo)
	sw.Lap(fmt.Sprintf("scaled to %d, all ready", scaledTo))

	expect(t, prom, "cpu", queries[policy.CPU], targetLabels, utilization(scaledTo), tolerance*utilization(scaledTo), time.Minute)
	expect(t, prom, "qps", queries[policy.QPS], targetLabels, demand, tolerance*demand, 30*time.Second)
	sw.Lap(fmt.Sprintf("cpu fell to %.0f %%", utilization(scaledTo)))
	// Now scaledTo × serviceRate > demand: the backlog drains to exactly zero and stays there.
	expect(t, prom, "queue", queries[policy.Queue], queueLabels, 0, 0, time.Minute)
	sw.Lap("queue drained")
}

// expect waits until query returns exactly one series, labelled want, whose value is within tol of value.
func expect(t *testing.T, prom *harness.Prometheus, what, query string, want model.LabelSet, value, tol float64, timeout time.Duration) {
	t.Helper()
	var got float64
	took := harness.Eventually(t, timeout, fmt.Sprintf("%s = %g ± %g %v", what, value, tol, want), func() (bool, string) {
		vec, err := prom.Query(query, time.Time{})
		if err != nil {
			return false, err.Error()
		}
		if detail := single(vec, want); detail != "" {
			return false, detail
		}
		got = float64(vec[0].Value)
		return math.Abs(got-value) <= tol, fmt.Sprintf("%s = %g", what, got)
	})
	t.Logf("%s = %.3f (want %g ± %g) after %.1fs: %s", what, got, value, tol, took.Seconds(), query)
}

// one returns the value of query's single series labelled want, at time at.
func one(t *testing.T, prom *harness.Prometheus, what, query string, want model.LabelSet, at time.Time) float64 {
	t.Helper()
	vec, err := prom.Query(query, at)
	if err != nil {
		t.Fatal(err)
	}
	if detail := single(vec, want); detail != "" {
		t.Fatalf("%s: %s", what, detail)
	}
	return float64(vec[0].Value)
}

// single says what is wrong unless vec is exactly one series with exactly the labels want ("" if right).
func single(vec model.Vector, want model.LabelSet) string {
	if len(vec) != 1 {
		var s []string
		for _, v := range vec {
			s = append(s, v.String())
		}
		return fmt.Sprintf("%d series, want 1: [%s]", len(vec), strings.Join(s, "; "))
	}
	if got := model.LabelSet(vec[0].Metric); !got.Equal(want) {
		return fmt.Sprintf("series %v, want labels %v", got, want)
	}
	return ""
}
