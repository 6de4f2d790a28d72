package controller

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	scalefake "k8s.io/client-go/scale/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// BenchmarkPass2000 is one pass over 2,000 targets (5 namespaces × 400 Deployments, each with a cpu and a qps
// metric on the default templates): the metrics client over HTTP against a Prometheus stand-in that answers
// with 2,000 series per query, Deployments from client-go informers, every decision, and the writes.
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
			qps = append(qps, series(ns, name, fmt.Sprint(150+i%100), t0))
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
	kube := NewKube(client, &scalefake.FakeScaleClient{}, 0, zap.NewNop())
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
		res = ctl.Pass(ctx, func() bool { return true })
	}
	b.StopTimer()
	decided := 0
	for _, o := range res.Outcomes {
		if o.Decision != nil {
			decided++
		}
	}
	if decided != namespaces*perNS || res.Queries != 2 {
		b.Fatalf("pass decided %d targets with %d queries; want 2000 with 2", decided, res.Queries)
	}
	b.ReportMetric(float64(res.Queries), "queries/pass")
	if rss, hwm := procStatus("VmRSS"), procStatus("VmHWM"); rss > 0 {
		b.ReportMetric(rss/1024, "MB-RSS")
		b.ReportMetric(hwm/1024, "MB-peak-RSS")
	}
}

// procStatus reads a kB figure from /proc/self/status (0 where there is none).
func procStatus(key string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb
		}
	}
	return 0
}
