package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestExporterCollect checks the exported series, names and labels included, after 10 s of 20 rps on two ready
// pods and one unready one.
func TestExporterCollect(t *testing.T) {
	clock := t0
	e := &Exporter{params: Params{CPUPerRequest: 0.01, ServiceRate: 8}, now: func() time.Time { return clock }}
	web := NewTarget("demo", "web", "orders", Const(20), t0)
	idle := NewTarget("demo", "idle", "", Const(0), t0)
	e.targets = []*Target{web, idle}
	e.SetPods(web, []Pod{
		{Name: "web-1-a", Ready: true, CPURequest: 0.5},
		{Name: "web-1-b", Ready: true, CPURequest: 0.5},
		{Name: "web-1-c", CPURequest: 0.5},
	})
	clock = at(10)

	want := `
# HELP container_cpu_usage_seconds_total Cumulative CPU time consumed by the container, in core-seconds (as cAdvisor).
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="demo",pod="web-1-a"} 1
container_cpu_usage_seconds_total{container="app",namespace="demo",pod="web-1-b"} 1
# HELP http_requests_total Requests served by the pod.
# TYPE http_requests_total counter
http_requests_total{namespace="demo",pod="web-1-a"} 100
http_requests_total{namespace="demo",pod="web-1-b"} 100
# HELP kube_deployment_status_replicas_ready The number of ready replicas per deployment (as kube-state-metrics).
# TYPE kube_deployment_status_replicas_ready gauge
kube_deployment_status_replicas_ready{deployment="idle",namespace="demo"} 0
kube_deployment_status_replicas_ready{deployment="web",namespace="demo"} 2
# HELP kube_pod_container_resource_requests The number of requested resource by a container (as kube-state-metrics).
# TYPE kube_pod_container_resource_requests gauge
kube_pod_container_resource_requests{container="app",namespace="demo",pod="web-1-a",resource="cpu",unit="core"} 0.5
kube_pod_container_resource_requests{container="app",namespace="demo",pod="web-1-b",resource="cpu",unit="core"} 0.5
kube_pod_container_resource_requests{container="app",namespace="demo",pod="web-1-c",resource="cpu",unit="core"} 0.5
# HELP podpilot_workload_demand The synthetic demand on the target, in requests per second.
# TYPE podpilot_workload_demand gauge
podpilot_workload_demand{namespace="demo",target="idle"} 0
podpilot_workload_demand{namespace="demo",target="web"} 20
# HELP podpilot_workload_ready_pods The target's ready pods as the workload exporter last saw them.
# TYPE podpilot_workload_ready_pods gauge
podpilot_workload_ready_pods{namespace="demo",target="idle"} 0
podpilot_workload_ready_pods{namespace="demo",target="web"} 2
# HELP rabbitmq_queue_messages_ready Messages ready to be delivered to consumers (as the RabbitMQ exporter).
# TYPE rabbitmq_queue_messages_ready gauge
rabbitmq_queue_messages_ready{queue="orders"} 40
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestServeDemand(t *testing.T) {
	clock := t0
	e := &Exporter{params: Params{CPUPerRequest: 0.01, ServiceRate: 10}, now: func() time.Time { return clock }}
	web := NewTarget("demo", "web", "", &Steps{Offsets: []time.Duration{0}, Values: []float64{5}}, t0)
	e.targets = []*Target{web}
	e.SetPods(web, []Pod{{Name: "web-1-a", Ready: true}})
	clock = at(10)

	tests := []struct {
		method, url string
		code        int
	}{
		{http.MethodGet, "/demand?target=demo/web&value=7", http.StatusMethodNotAllowed},
		{http.MethodPost, "/demand?target=demo/nope&value=7", http.StatusNotFound},
		{http.MethodPost, "/demand?target=demo/web&value=-1", http.StatusBadRequest},
		{http.MethodPost, "/demand?target=demo/web", http.StatusBadRequest},
		{http.MethodPost, "/demand?target=demo/web&value=40", http.StatusOK},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		e.ServeDemand(rec, httptest.NewRequest(tt.method, tt.url, nil))
		if rec.Code != tt.code {
			t.Errorf("%s %s = %d %q; want %d", tt.method, tt.url, rec.Code, rec.Body.String(), tt.code)
		}
	}
	if got := web.Demand(clock); got != 40 {
		t.Errorf("demand after POST value=40 = %v; want 40", got)
	}
	clock = at(20)
	web.Advance(clock, e.params)
	// 5 rps for the first 10 s, 40 rps for the next 10 s.
	if got := web.Samples()[0].Requests; got != 450 {
		t.Errorf("requests = %v; want 5×10 + 40×10 = 450", got)
	}
}

// POST /hide leaves out the usage series of that many ready pods; their requests are still served and counted.
func TestServeHide(t *testing.T) {
	clock := t0
	e := &Exporter{params: Params{CPUPerRequest: 0.01, ServiceRate: 10}, now: func() time.Time { return clock }}
	web := NewTarget("demo", "web", "", Const(20), t0)
	e.targets = []*Target{web}
	e.SetPods(web, []Pod{{Name: "web-1-a", Ready: true}, {Name: "web-1-b", Ready: true}, {Name: "web-1-c", Ready: true}})
	clock = at(10)
	for _, tt := range []struct {
		url  string
		code int
	}{
		{"/hide?target=demo/web&value=1.5", http.StatusBadRequest},
		{"/hide?target=demo/web&value=-1", http.StatusBadRequest},
		{"/hide?target=demo/nope&value=1", http.StatusNotFound},
		{"/hide?target=demo/web&value=2", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		e.ServeHide(rec, httptest.NewRequest(http.MethodPost, tt.url, nil))
		if rec.Code != tt.code {
			t.Errorf("POST %s = %d %q; want %d", tt.url, rec.Code, rec.Body.String(), tt.code)
		}
	}
	want := `
# HELP http_requests_total Requests served by the pod.
# TYPE http_requests_total counter
http_requests_total{namespace="demo",pod="web-1-c"} 66.66666666666667
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "http_requests_total"); err != nil {
		t.Error(err)
	}
}
