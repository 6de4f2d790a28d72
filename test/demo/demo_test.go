//go:build demo

// Package demo is `make demo`: podpilot live against a local control plane, Prometheus and a synthetic load.
// It starts the end-to-end harness, deploys the Deployments that config.example.yaml's policies target, runs
// `podpilot run --config config.example.yaml` in the foreground against a demand curve with a visible burst, and
// prints a compact timeline until interrupted (Ctrl-C) or until -duration has passed. It cleans up after itself.
package demo

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/podpilot/podpilot/test/harness"
)

var duration = flag.Duration("duration", 0, "stop after this long (0: until interrupted)")

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// The Deployments config.example.yaml's policies (examples/policies) scale, and their load: a web burst from 1m30s
// to 4m30s, a queue that fills for two minutes and then stays empty (to zero and back), and a checkout service
// whose second metric has no series at all (podpilot holds; it never scales in on a broken metric).
var targets = []struct {
	name     string
	replicas int
	demand   string
}{
	{"web", 2, "steps:60@0s,400@90s,60@270s"},
	{"orders-worker", 1, "steps:0@0s,30@60s,0@180s"},
	{"checkout", 3, "const:50"},
}

func TestDemo(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := os.Stdout
	fmt.Fprintln(out, "podpilot demo: starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)...")
	c := harness.StartCluster(t)
	root := harness.Root(t)
	for _, tg := range targets {
		c.Apply(t, deployment(tg.name, tg.replicas))
	}
	args := []string{"--kubeconfig", c.Kubeconfig, "--cpu-per-request", "0.01", "--service-rate", "5", "--queue", "shop/orders-worker=orders"}
	for _, tg := range targets {
		args = append(args, "--target", "shop/"+tg.name+"="+tg.demand)
	}
	w := harness.StartWorkload(t, args...)
	prom := harness.StartPrometheus(t, w.Addr)
	listen := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	pp := harness.StartProcess(t, "podpilot", exec.Command(harness.Build(t, "./cmd/podpilot"), "run",
		"--config", filepath.Join(root, "config.example.yaml"),
		"--kubeconfig", c.Kubeconfig, "--prometheus-url", prom.URL, "--leader-elect=false", "--listen", listen))

	fmt.Fprintf(out, `
podpilot is running with config.example.yaml and examples/policies/ (web, orders-worker, checkout in namespace shop).
  podpilot:   http://%[1]s/decisions  /metrics  /healthz   log: %[2]s
  prometheus: %[3]s
  kubectl:    KUBECONFIG=%[4]s %[5]s -n shop get deploy,events
Load: web bursts from 60 to 400 req/s at 1m30s and back at 4m30s; the orders queue fills from 1m to 3m; checkout's
second metric has no series. Policies evaluate every 15 s over 1 m rate windows, as in production. Ctrl-C stops.

  time   target               demand  metrics                          replicas        reason
`, listen, pp.LogPath, prom.URL, c.Kubeconfig, c.KubectlPath())

	start := time.Now()
	var deadline <-chan time.Time
	if *duration > 0 {
		deadline = time.After(*duration)
	}
	seen := map[string]time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\ninterrupted: stopping podpilot, Prometheus, the exporter and the control plane...")
			return
		case <-deadline:
			fmt.Fprintf(out, "\n%s passed: stopping podpilot, Prometheus, the exporter and the control plane...\n", *duration)
			return
		case <-pp.Done():
			t.Fatalf("podpilot exited: %v\n%s", pp.Err(), pp.Log())
		case <-tick.C:
		}
		demand := demands(w.Addr)
		for _, d := range decisions(listen) {
			if !d.Time.After(seen[d.Target]) {
				continue
			}
			seen[d.Target] = d.Time
			fmt.Fprintln(out, line(time.Since(start), d, demand[d.Target]))
		}
	}
}

type decision struct {
	Target  string              `json:"target"`
	Time    time.Time           `json:"time"`
	Skipped string              `json:"skipped"`
	Current int32               `json:"current"`
	Ready   int32               `json:"ready"`
	Desired int32               `json:"desired"`
	Reason  string              `json:"reason"`
	Metrics map[string]*float64 `json:"metrics"`
}

func decisions(addr string) []decision {
	resp, err := http.Get("http://" + addr + "/decisions")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var ds []decision
	json.NewDecoder(resp.Body).Decode(&ds)
	return ds
}

// demands reads the exporter's podpilot_workload_demand gauge per target.
func demands(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return out
	}
	if f, ok := fams["podpilot_workload_demand"]; ok {
		for _, m := range f.Metric {
			var ns, name string
			for _, l := range m.Label {
				switch l.GetName() {
				case "namespace":
					ns = l.GetValue()
				case "target":
					name = l.GetValue()
				}
			}
			out[ns+"/"+name] = m.Gauge.GetValue()
		}
	}
	return out
}

func line(since time.Duration, d decision, demand float64) string {
	var ms []string
	names := make([]string, 0, len(d.Metrics))
	for n := range d.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if v := d.Metrics[n]; v != nil {
			ms = append(ms, fmt.Sprintf("%s %.0f", n, *v))
		} else {
			ms = append(ms, n+" invalid")
		}
	}
	reps := fmt.Sprintf("%2d", d.Current)
	if d.Desired != d.Current {
		reps = fmt.Sprintf("%2d → %-2d", d.Current, d.Desired)
	}
	reason := d.Reason
	if d.Skipped != "" {
		reason = d.Skipped
	}
	return fmt.Sprintf("  %02d:%02d  %-19s  %5.0f/s  %-32s %-8s ready %-3d %s", int(since.Minutes()), int(since.Seconds())%60,
		d.Target, demand, strings.Join(ms, ", "), reps, d.Ready, reason)
}

func deployment(name string, replicas int) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: shop}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      nodeSelector: {type: kwok}
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
        - name: app
          image: registry.invalid/%[1]s:1
          resources: {requests: {cpu: 500m, memory: 64Mi}}
`, name, replicas)
}
