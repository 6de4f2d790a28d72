package controller

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	scalefake "k8s.io/client-go/scale/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/test/benchmem"
)

// BenchmarkPass2000 is one pass over 2,000 targets (5 namespaces × 400 Deployments, each with a cpu and a qps
// metric on the default templates): the metrics client over HTTP against a Prometheus stand-in that answers
// with 2,000 series per query, Deployments from client-go informers, every decision, and the writes.
// The passes run back to back, where the daemon runs one every interval, and each one emits 2,000 Events: past a
// few hundred passes client-go's event pipeline (its queues and correlator caches) holds a backlog that a 15 s
// interval would let it drain. RSS was 130 MB at the default benchtime, 240 MB at -benchtime 400x and 277 MB at
// 1000x; with the recorder replaced by a discarding one, 146 MB at 400x with a live heap of 16 MB; with a 1 s sleep
// after each pass, 136 MB after 200 passes.
func BenchmarkPass2000(b *testing.B) {
	const namespaces, perNS = 5, 400
	dir := b.TempDir()
	var objs []runtime.Object
	var cpu, qps []string
	for n := range namespaces {
		for i := range perNS {
			ns, name := fmt.Sprintf("team-%d", n), fmt.Sprintf("svc-%03d", i)
			t := policy.Target{Namespace: ns, Name: name}
			objs = append(objs, DeploymentFor(t, 10, 10, nil))
			os.WriteFile(filepath.Join(dir, ns+"-"+name+".yaml"), []byte(fmt.Sprintf(
				"target: {namespace: %s, name: %s}\nmaxReplicas: 50\nmetrics: [{kind: cpu, utilization: 60}, {kind: qps, perReplica: 20}]\n", ns, name)), 0o644)
			cpu = append(cpu, series(ns, name, fmt.Sprint(40+i%40), t0))
			qps = append(qps, withPods(ns, name, fmt.Sprint(150+i%100), "10", t0)...)
		}
	}
	p := &prom{}
	p.set(rule{contains: "container_cpu_usage_seconds_total", body: vector(cpu...)}, rule{contains: "http_requests_total", body: vector(qps...)})
	srv := httptest.NewServer(p)
	defer srv.Close()
	mc, err := metrics.New(metrics.Config{Address: srv.URL, MaxAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	client := fake.NewClientset(objs...)
	// The fake scale client leaves the Deployments at 10, so every pass scales all 2,000 targets and emits an Event
	// for each. An API server keeps those Events, not podpilot: the fake accepts them without storing them, so that
	// the RSS below does not count them.
	client.PrependReactor("create", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, a.(k8stesting.CreateAction).GetObject(), nil
	})
	client.PrependReactor("patch", "events", func(k8stesting.Action) (bool, runtime.Object, error) { return true, &corev1.Event{}, nil })
	scales := &scalefake.FakeScaleClient{}
	kube := NewKube(client, scales, 0, zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kube.Start(ctx); err != nil {
		b.Fatal(err)
	}
	store := NewStore([]string{dir}, policy.Builtin(), zap.NewNop(), nil)
	if err := store.Reload(); err != nil || len(store.Policies()) != namespaces*perNS {
		b.Fatalf("store: %v, %d policies", err, len(store.Policies()))
	}
	clk := clocktesting.NewFakeClock(t0)
	ctl := New(Options{Interval: 15 * time.Second}, zap.NewNop(), clk, mc, kube, store, nil)
	var res PassResult
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clk.Step(15 * time.Second)
		res = ctl.Pass(ctx, func() error { return nil })
		// The fakes log every request they get; an API server does not keep that log in podpilot's memory.
		client.ClearActions()
		scales.ClearActions()
	}
	b.StopTimer()
	decided := 0
	for _, o := range res.Outcomes {
		if o.Decision != nil {
			decided++
		}
	}
	if decided != namespaces*perNS || res.Queries != 2 {
		b.Fatalf("pass decided %d targets with %d queries; want 2000 with 2 (cpu, qps with the pods it covers)", decided, res.Queries)
	}
	b.ReportMetric(float64(res.Queries), "queries/pass")
	benchmem.Report(b)
}
