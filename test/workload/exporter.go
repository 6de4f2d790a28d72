package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The series a real cluster has for a web service and a queue consumer, with their real names and labels.
var (
	cpuDesc = prometheus.NewDesc("container_cpu_usage_seconds_total",
		"Cumulative CPU time consumed by the container, in core-seconds (as cAdvisor).",
		[]string{"namespace", "pod", "container"}, nil)
	requestsDesc = prometheus.NewDesc("kube_pod_container_resource_requests",
		"The number of requested resource by a container (as kube-state-metrics).",
		[]string{"namespace", "pod", "container", "resource", "unit"}, nil)
	httpDesc = prometheus.NewDesc("http_requests_total",
		"Requests served by the pod.",
		[]string{"namespace", "pod"}, nil)
	queueDesc = prometheus.NewDesc("rabbitmq_queue_messages_ready",
		"Messages ready to be delivered to consumers (as the RabbitMQ exporter).",
		[]string{"queue"}, nil)
	demandDesc = prometheus.NewDesc("podpilot_workload_demand",
		"The synthetic demand on the target, in requests per second.",
		[]string{"namespace", "target"}, nil)
	readyDesc = prometheus.NewDesc("podpilot_workload_ready_pods",
		"The target's ready pods as the workload exporter last saw them.",
		[]string{"namespace", "target"}, nil)
	// kube-state-metrics reads it from the Deployment's status, which counts the same ready pods.
	deploymentReadyDesc = prometheus.NewDesc("kube_deployment_status_replicas_ready",
		"The number of ready replicas per deployment (as kube-state-metrics).",
		[]string{"namespace", "deployment"}, nil)
)

// container is the container name every per-pod series carries: the model treats a pod as one app container.
const container = "app"

// Exporter holds the targets and serves them as Prometheus metrics. It is safe for concurrent use.
type Exporter struct {
	mu      sync.Mutex
	params  Params
	targets []*Target
	now     func() time.Time
}

var _ prometheus.Collector = (*Exporter)(nil)

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cpuDesc, requestsDesc, httpDesc, queueDesc, demandDesc, readyDesc, deploymentReadyDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it brings every target up to now and reports it.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, t := range e.targets {
		t.Advance(now, e.params)
		hide := t.Hidden
		for _, s := range t.Samples() {
			if s.CPURequest > 0 {
				ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.GaugeValue, s.CPURequest,
					t.Namespace, s.Name, container, "cpu", "core")
			}
			if !s.Ready {
				continue
			}
			if hide > 0 {
				hide--
				continue
			}
			ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.CounterValue, s.CPU, t.Namespace, s.Name, container)
			ch <- prometheus.MustNewConstMetric(httpDesc, prometheus.CounterValue, s.Requests, t.Namespace, s.Name)
		}
		if t.Queue != "" {
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, t.Depth(), t.Queue)
		}
		ch <- prometheus.MustNewConstMetric(demandDesc, prometheus.GaugeValue, t.Demand(now), t.Namespace, t.Name)
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, float64(t.Ready()), t.Namespace, t.Name)
		ch <- prometheus.MustNewConstMetric(deploymentReadyDesc, prometheus.GaugeValue, float64(t.Ready()), t.Namespace, t.Name)
	}
}

// target returns the target namespace/name, or nil.
func (e *Exporter) target(key string) *Target {
	for _, t := range e.targets {
		if t.Namespace+"/"+t.Name == key {
			return t
		}
	}
	return nil
}

// SetPods replaces the pods of target t.
func (e *Exporter) SetPods(t *Target, pods []Pod) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t.SetPods(e.now(), pods, e.params)
}

// ServeDemand handles POST /demand?target=ns/name&value=N: the target's demand is N requests per second from now on.
func (e *Exporter) ServeDemand(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, "value=RPS", parseRate, func(t *Target, v float64) string {
		t.SetCurve(e.now(), Const(v), e.params)
		return fmt.Sprintf("demand %s rps", strconv.FormatFloat(v, 'g', -1, 64))
	})
}

// ServeHide handles POST /hide?target=ns/name&value=N: from now on the usage series of N of the target's ready pods
// are left out, as when scrapes of those pods fail.
func (e *Exporter) ServeHide(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, "value=PODS", parseCount, func(t *Target, v float64) string {
		t.Hidden = int(v)
		return fmt.Sprintf("%d pods hidden", t.Hidden)
	})
}

// serve handles a POST that sets something of one target to ?value=.
func (e *Exporter) serve(w http.ResponseWriter, r *http.Request, usage string, parse func(string) (float64, error), set func(*Target, float64) string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST "+r.URL.Path+"?target=NAMESPACE/NAME&"+usage, http.StatusMethodNotAllowed)
		return
	}
	key := r.URL.Query().Get("target")
	v, err := parse(r.URL.Query().Get("value"))
	if err != nil {
		http.Error(w, "value: "+err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.target(key)
	if t == nil {
		http.Error(w, fmt.Sprintf("unknown target %q", key), http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, "%s %s\n", key, set(t, v))
}

// parseCount parses a whole number of pods, 0 or more.
func parseCount(s string) (float64, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a whole number of pods, 0 or more, got %q", s)
	}
	return float64(n), nil
}
