//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/podpilot/podpilot/test/harness"
)

// The tier's clock: podpilot passes every interval; policies shorten their windows to match.
const (
	interval = 2 * time.Second
	lease    = 4 * time.Second // leaderElection.leaseDuration
	retry    = 500 * time.Millisecond
)

// deployment is a Deployment on the kwok node with a 500m CPU request per pod.
func deployment(ns, name string, replicas int, annotations map[string]string) string {
	var ann strings.Builder
	for k, v := range annotations {
		fmt.Fprintf(&ann, "\n    %s: %q", k, v)
	}
	annBlock := ""
	if ann.Len() > 0 {
		annBlock = "\n  annotations:" + ann.String()
	}
	return fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[2]s
  namespace: %[1]s%[4]s
spec:
  replicas: %[3]d
  selector:
    matchLabels: {app: %[2]s}
  template:
    metadata:
      labels: {app: %[2]s}
    spec:
      nodeSelector: {type: kwok}
      tolerations:
        - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
      containers:
        - name: app
          image: registry.invalid/%[2]s:1
          resources:
            requests: {cpu: 500m, memory: 64Mi}
`, ns, name, replicas, annBlock)
}

// scaleEvent is one change of a Deployment's spec.replicas, as the API server's watch delivered it.
type scaleEvent struct {
	at       time.Time
	from, to int32
}

// scales records every change of spec.replicas of every Deployment, with the time the watch saw it.
type scales struct {
	mu     sync.Mutex
	events map[string][]scaleEvent
	spec   map[string]int32
}

func watchScales(t *testing.T, cs kubernetes.Interface) *scales {
	s := &scales{events: map[string][]scaleEvent{}, spec: map[string]int32{}}
	f := informers.NewSharedInformerFactory(cs, 0)
	inf := f.Apps().V1().Deployments().Informer()
	record := func(obj any) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || d.Spec.Replicas == nil {
			return
		}
		key := d.Namespace + "/" + d.Name
		s.mu.Lock()
		defer s.mu.Unlock()
		if prev, seen := s.spec[key]; seen && prev != *d.Spec.Replicas {
			s.events[key] = append(s.events[key], scaleEvent{at: time.Now(), from: prev, to: *d.Spec.Replicas})
		}
		s.spec[key] = *d.Spec.Replicas
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: record, UpdateFunc: func(_, obj any) { record(obj) }})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return s
}

func (s *scales) of(target string) []scaleEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]scaleEvent(nil), s.events[target]...)
}

func (s *scales) replicas(target string) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spec[target]
}

// since returns the changes of target at or after t.
func (s *scales) since(target string, t time.Time) []scaleEvent {
	var out []scaleEvent
	for _, e := range s.of(target) {
		if !e.at.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// waitReplicas waits until target's spec is want and that many pods are ready.
func waitReplicas(t *testing.T, cs kubernetes.Interface, target string, want int32, timeout time.Duration) time.Duration {
	t.Helper()
	return waitReplicasIn(t, cs, target, want, want, timeout)
}

// waitReplicasIn waits until target's spec is between lo and hi and that many pods are ready.
func waitReplicasIn(t *testing.T, cs kubernetes.Interface, target string, lo, hi int32, timeout time.Duration) time.Duration {
	t.Helper()
	ns, name, _ := strings.Cut(target, "/")
	what := fmt.Sprintf("%s at %d ready replicas", target, lo)
	if hi != lo {
		what = fmt.Sprintf("%s at %d to %d ready replicas", target, lo, hi)
	}
	return harness.Eventually(t, timeout, what, func() (bool, string) {
		d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		n := *d.Spec.Replicas
		return n >= lo && n <= hi && d.Status.ReadyReplicas == n, fmt.Sprintf("spec %d, ready %d", n, d.Status.ReadyReplicas)
	})
}

// podpilot is a `podpilot run` process.
type podpilot struct {
	*harness.Process
	url string
}

// startPodpilot runs podpilot as its own process with the tier's short timings.
func startPodpilot(t *testing.T, c *harness.Cluster, prom, policies, name string, leader bool) *podpilot {
	t.Helper()
	bin := harness.Build(t, "./cmd/podpilot")
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	cfg := fmt.Sprintf(`prometheus: {address: %q, timeout: 1500ms, maxAge: 30s}
policies: [%q]
interval: %s
reload: 1s
listen: %q
log: {level: debug, format: json}
leaderElection: {enabled: %t, namespace: kube-system, name: podpilot-e2e, leaseDuration: %s, renewDeadline: 3s, retryPeriod: %s}
kube: {kubeconfig: %q}
`, prom, policies, interval, addr, leader, lease, retry, c.Kubeconfig)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &podpilot{Process: harness.StartProcess(t, name, exec.Command(bin, "run", "--config", path)), url: "http://" + addr}
	client := &http.Client{Timeout: time.Second}
	harness.Eventually(t, time.Minute, name+" ready", func() (bool, string) {
		select {
		case <-p.Done():
			t.Fatalf("%s exited: %v\n%s", name, p.Err(), p.Log())
		default:
		}
		resp, err := client.Get(p.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p
}

// metric sums the samples of a podpilot metric whose labels include the given ones (0 when there are none).
func (p *podpilot) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", p.Name, err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s /metrics: %v", p.Name, err)
	}
	sum := 0.0
	fam, ok := fams[name]
	if !ok {
		return 0
	}
	for _, m := range fam.Metric {
		match := true
		for k, v := range labels {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// lines returns the podpilot log lines (JSON) that contain every one of the given strings.
func (p *podpilot) lines(parts ...string) []string {
	var out []string
	for _, l := range strings.Split(p.Log(), "\n") {
		all := true
		for _, s := range parts {
			all = all && strings.Contains(l, s)
		}
		if all && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// events lists the reasons and messages of the Events on a Deployment.
func events(t *testing.T, cs kubernetes.Interface, target string) []string {
	t.Helper()
	ns, name, _ := strings.Cut(target, "/")
	list, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Type+" "+e.Reason+": "+e.Message)
	}
	return out
}

// firstSeen polls a query until cond holds for its single series value, returning when Prometheus first showed it.
func firstSeen(t *testing.T, prom *harness.Prometheus, query, what string, timeout time.Duration, cond func(float64) bool) time.Time {
	t.Helper()
	var at time.Time
	harness.Eventually(t, timeout, what, func() (bool, string) {
		vec, err := prom.Query(query, time.Time{})
		if err != nil || len(vec) != 1 {
			return false, fmt.Sprintf("%v %v", vec, err)
		}
		at = time.Now()
		return cond(float64(vec[0].Value)), fmt.Sprintf("%s = %g", what, float64(vec[0].Value))
	})
	return at
}
