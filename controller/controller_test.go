package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	scalefake "k8s.io/client-go/scale/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// prom is a Prometheus stand-in that answers instant queries with real API JSON. Each query gets the series of
// the first rule whose substring it contains.
type prom struct {
	mu      sync.Mutex
	rules   []rule
	queries []string
	ranges  int // range queries asked that a rule answers (those for a metric)
	delay   time.Duration
	// hold, when set, keeps range queries unanswered until it is closed (or the query is cancelled); held counts
	// those waiting now, and cancelled those whose client gave up.
	hold      chan struct{}
	held      atomic.Int32
	cancelled atomic.Int32
}

type rule struct {
	contains  string
	status    int
	body      string
	rangeBody string // the answer to a range query, when set (else body)
}

// rangeCount is how many range queries for a metric were asked.
func (p *prom) rangeCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ranges
}

func (p *prom) set(rules ...rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = rules
}

func (p *prom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	q := r.Form.Get("query")
	ranged := strings.HasSuffix(r.URL.Path, "/query_range")
	p.mu.Lock()
	p.queries = append(p.queries, q)
	rules, delay, hold := p.rules, p.delay, p.hold
	if ranged && slices.ContainsFunc(rules, func(ru rule) bool { return strings.Contains(q, ru.contains) }) {
		p.ranges++
	}
	p.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if ranged && hold != nil {
		p.held.Add(1)
		select {
		case <-hold:
		case <-r.Context().Done():
			p.cancelled.Add(1)
		}
		p.held.Add(-1)
	}
	for _, ru := range rules {
		if strings.Contains(q, ru.contains) {
			w.Header().Set("Content-Type", "application/json")
			if ru.status != 0 {
				w.WriteHeader(ru.status)
			}
			if ranged && ru.rangeBody != "" {
				fmt.Fprint(w, ru.rangeBody)
				return
			}
			fmt.Fprint(w, ru.body)
			return
		}
	}
	if ranged {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		return
	}
	fmt.Fprint(w, vector())
}

// series is one result series as Prometheus encodes it.
func series(ns, target string, value string, at time.Time) string {
	return fmt.Sprintf(`{"metric":{"namespace":%q,"target":%q},"value":[%d,%q]}`, ns, target, at.Unix(), value)
}

// withPods is a qps reading and the count of the pods it covers, as the default template's one query returns them.
func withPods(ns, target, value, pods string, at time.Time) []string {
	f := `{"metric":{"namespace":%q,"target":%q,"podpilot_part":%q},"value":[%d,%q]}`
	return []string{fmt.Sprintf(f, ns, target, "value", at.Unix(), value), fmt.Sprintf(f, ns, target, "pods", at.Unix(), pods)}
}

func vector(series ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(series, ",") + `]}}`
}

// fixture is a controller over real parts where cheap: the metrics client over HTTP, client-go informers over
// the fake clientset, and policy files on disk.
type fixture struct {
	t       *testing.T
	prom    *prom
	client  *fake.Clientset
	scales  *scalefake.FakeScaleClient
	kube    *Kube
	events  *record.FakeRecorder
	clock   *clocktesting.FakeClock
	store   *Store
	ctl     *Controller
	dir     string
	promURL string
}

const webPolicy = `
target: {namespace: shop, name: web}
minReplicas: 1
maxReplicas: 20
metrics: [{kind: cpu, utilization: 50}]
behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s}}
`

// fillWait is how long the fixture's passes wait for their backfills: long, so that a loaded machine does not
// make a pass go on without a backfill the fake Prometheus answers at once. A backfill ends within its range
// queries' 200 ms timeout anyway; the test of a pass that does not wait sets its own.
const fillWait = 30 * time.Second

func newFixture(t *testing.T, objects ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, prom: &prom{}, clock: clocktesting.NewFakeClock(t0), dir: t.TempDir()}
	srv := httptest.NewServer(f.prom)
	t.Cleanup(srv.Close)
	f.promURL = srv.URL
	mc, err := metrics.New(metrics.Config{Address: srv.URL, Timeout: 200 * time.Millisecond, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.client = fake.NewClientset(objects...)
	f.scales = &scalefake.FakeScaleClient{}
	f.scales.AddReactor("patch", "deployments", f.patchScale)
	f.scales.AddReactor("get", "deployments", f.getScale)
	f.kube = NewKube(f.client, f.scales, 0, zap.NewNop())
	f.events = record.NewFakeRecorder(100)
	f.kube.recorder = f.events
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := f.kube.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.write("web.yaml", webPolicy)
	f.store = NewStore([]string{f.dir}, policy.Builtin(), zap.NewNop(), nil)
	if err := f.store.Reload(); err != nil {
		t.Fatal(err)
	}
	f.ctl = New(Options{Interval: 15 * time.Second, FillWait: fillWait}, zap.NewNop(), f.clock, mc, f.kube, f.store, nil)
	return f
}

func (f *fixture) write(name, body string) {
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(body), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// These reactors give the fake scale client the API server's meaning over the fake clientset's objects,
// including the resourceVersion precondition of the patch.
func (f *fixture) patchScale(a k8stesting.Action) (bool, runtime.Object, error) {
	pa := a.(k8stesting.PatchAction)
	var body struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Spec struct {
			Replicas int32 `json:"replicas"`
		} `json:"spec"`
	}
	json.Unmarshal(pa.GetPatch(), &body)
	obj, err := f.client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), pa.GetNamespace(), pa.GetName())
	if err != nil {
		return true, nil, err
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	if body.Metadata.ResourceVersion != d.ResourceVersion {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, d.Name, errors.New("the object has been modified"))
	}
	d.Spec.Replicas = &body.Spec.Replicas
	d.ResourceVersion = bump(d.ResourceVersion)
	if err := f.client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, d.Namespace); err != nil {
		return true, nil, err
	}
	return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, ResourceVersion: d.ResourceVersion},
		Spec: autoscalingv1.ScaleSpec{Replicas: body.Spec.Replicas}}, nil
}

func (f *fixture) getScale(a k8stesting.Action) (bool, runtime.Object, error) {
	ga := a.(k8stesting.GetAction)
	obj, err := f.client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), ga.GetNamespace(), ga.GetName())
	if err != nil {
		return true, nil, err
	}
	d := obj.(*appsv1.Deployment)
	return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, ResourceVersion: d.ResourceVersion},
		Spec: autoscalingv1.ScaleSpec{Replicas: *d.Spec.Replicas}}, nil
}

func bump(rv string) string {
	var n int
	fmt.Sscan(rv, &n)
	return fmt.Sprint(n + 1)
}

// patches lists the scale patches sent, as "ns/name=replicas".
func (f *fixture) patches() []string {
	var out []string
	for _, a := range f.scales.Actions() {
		if pa, ok := a.(k8stesting.PatchAction); ok && pa.GetSubresource() == "scale" {
			var body struct {
				Spec struct {
					Replicas int32 `json:"replicas"`
				} `json:"spec"`
			}
			json.Unmarshal(pa.GetPatch(), &body)
			out = append(out, fmt.Sprintf("%s/%s=%d", pa.GetNamespace(), pa.GetName(), body.Spec.Replicas))
		}
	}
	return out
}

func (f *fixture) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-f.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// waitCache waits until the informer shows the Deployment at the given spec replicas.
func (f *fixture) waitCache(ns, name string, replicas int32) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if w, err := f.kube.Workload(policy.Target{Namespace: ns, Name: name}); err == nil && w.Spec == replicas {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.t.Fatalf("informer never showed %s/%s at %d replicas", ns, name, replicas)
}

// edit changes a Deployment in the API server, as kubectl would, and waits until the informer's cache shows the
// change: until reads it from the Workload.
func (f *fixture) edit(t policy.Target, change func(*appsv1.Deployment), until func(Workload) bool) {
	f.t.Helper()
	gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
	obj, err := f.client.Tracker().Get(gvr, t.Namespace, t.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	change(d)
	d.ResourceVersion = bump(d.ResourceVersion)
	if err := f.client.Tracker().Update(gvr, d, t.Namespace); err != nil {
		f.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if w, err := f.kube.Workload(t); err == nil && until(w) {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the informer never showed the edit of %s", t)
		}
	}
}

var web = policy.Target{Namespace: "shop", Name: "web", Kind: "Deployment"}

// warm gives every target a history old enough to hold nothing back, as after a long time in the lead.
func (f *fixture) warm() {
	for _, p := range f.store.Policies() {
		f.ctl.targets[p.Target.String()] = &target{pinned: -1, hist: policy.History{Start: t0.Add(-time.Hour), Last: t0.Add(-time.Hour)}}
	}
}

// always leads.
func always() error { return nil }

func TestPassScales(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warm()
	f.prom.set(rule{contains: "container_cpu_usage_seconds_total", body: vector(series("shop", "web", "100", t0))})
	res := f.ctl.Pass(context.Background(), always)
	if diff := strings.Join(f.patches(), ","); diff != "shop/web=8" {
		t.Fatalf("patches = %q; want shop/web=8 (100%% at a 50%% target)", diff)
	}
	if len(res.Outcomes) != 1 || !res.Outcomes[0].Scaled || res.Queries != 1 {
		t.Errorf("pass = %+v", res)
	}
	if ev := f.drainEvents(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal Scaled scaled from 4 to 8: DesiredWithinRange") {
		t.Errorf("events = %q", ev)
	}
}

// A pass whose context is cancelled (the lease lost, a SIGTERM) decides and reports nothing: the failed queries
// are not a metric outage, and there is no Warning Event or write.
func TestPassStopped(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warm()
	f.prom.set(rule{contains: "container_cpu_usage_seconds_total", body: vector(series("shop", "web", "100", t0))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := f.ctl.Pass(ctx, func() error { return ErrNotLeader })
	if ev := f.drainEvents(); len(ev) != 0 {
		t.Errorf("events = %q; want none", ev)
	}
	if len(res.Outcomes) != 1 || res.Outcomes[0].Skipped != "Stopped" || len(f.patches()) != 0 {
		t.Errorf("outcomes = %+v, patches %q; want one skipped as Stopped and no write", res.Outcomes, f.patches())
	}
	// The next pass, with a live context, is not held back by the stopped one.
	if res := f.ctl.Pass(context.Background(), always); len(res.Outcomes) != 1 || !res.Outcomes[0].Scaled {
		t.Errorf("next pass = %+v; want the scale", res.Outcomes)
	}
}

// Every kind of invalid reading holds the target: no scale-down, no write, a Warning Event naming the metric.
func TestPassInvalidMetrics(t *testing.T) {
	stale := t0.Add(-10 * time.Minute)
	tests := []struct {
		name string
		rule rule
		slow bool
		want string // part of the Event
	}{
		{"empty result", rule{contains: "cpu", body: vector()}, false, "empty result"},
		{"NaN", rule{contains: "cpu", body: vector(series("shop", "web", "NaN", t0))}, false, "NaN"},
		{"+Inf", rule{contains: "cpu", body: vector(series("shop", "web", "+Inf", t0))}, false, "Inf"},
		{"stale sample", rule{contains: "cpu", body: vector(series("shop", "web", "10", stale))}, false, "stale"},
		{"too many series", rule{contains: "cpu", body: vector(series("shop", "web", "10", t0), series("shop", "web", "12", t0))}, false, "2 series"},
		{"prometheus error", rule{contains: "cpu", status: 422, body: `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`}, false, "many-to-many"},
		{"server error", rule{contains: "cpu", status: 500, body: "boom"}, false, "500"},
		{"timeout", rule{contains: "cpu", body: vector(series("shop", "web", "10", t0))}, true, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, DeploymentFor(web, 10, 10, nil))
			f.warm()
			f.prom.set(tt.rule)
			if tt.slow {
				f.prom.delay = 400 * time.Millisecond
			}
			res := f.ctl.Pass(context.Background(), always)
			if p := f.patches(); len(p) != 0 {
				t.Errorf("patches = %v; want none", p)
			}
			d := res.Outcomes[0].Decision
			if d == nil || d.Desired != 10 || d.Reason != policy.MetricUnavailable {
				t.Errorf("decision = %+v; want a hold at 10 (MetricUnavailable)", d)
			}
			ev := strings.Join(f.drainEvents(), "\n")
			if !strings.Contains(ev, "Warning MetricUnavailable cpu: shop/web cpu:") || !strings.Contains(ev, tt.want) {
				t.Errorf("events = %q; want a MetricUnavailable warning with %q", ev, tt.want)
			}
		})
	}
}

// Pods whose metrics went missing may be the busy ones: a QPS sum over 3 of 10 ready pods holds the count, with a
// Warning Event that says how many pods report. So does a sum over all 10 that came with a Prometheus warning (a
// partial response). Once all 10 report, with no warning, the same sum scales down.
func TestPassPartialMetric(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	f.warmWith("target: {namespace: shop, name: web}\nmaxReplicas: 20\nmetrics: [{kind: qps, perReplica: 10}]\n" +
		"behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s}}\n")
	f.prom.set(rule{contains: "http_requests_total", body: vector(withPods("shop", "web", "30", "3", t0)...)})
	res := f.ctl.Pass(context.Background(), always)
	if d := res.Outcomes[0].Decision; d == nil || d.Desired != 10 || d.Reason != policy.MetricPartial || len(f.patches()) != 0 {
		t.Errorf("decision = %+v, patches %v; want a hold at 10 (MetricPartial) and no write", d, f.patches())
	}
	if ev := f.drainEvents(); len(ev) != 1 || ev[0] != "Warning MetricPartial qps: 3 of 10 ready pods report; holding at 10 (no scale-down while pods' metrics are missing)" {
		t.Errorf("events = %q", ev)
	}
	warned := strings.Replace(vector(withPods("shop", "web", "30", "10", t0.Add(15*time.Second))...), `{"status":"success",`,
		`{"status":"success","warnings":["partial response: store eu-1 unavailable"],`, 1)
	f.prom.set(rule{contains: "http_requests_total", body: warned})
	f.clock.Step(15 * time.Second)
	res = f.ctl.Pass(context.Background(), always)
	if d := res.Outcomes[0].Decision; d == nil || d.Desired != 10 || d.Reason != policy.MetricPartial || len(f.patches()) != 0 {
		t.Errorf("with a warning: decision = %+v, patches %v; want a hold at 10 (MetricPartial) and no write", d, f.patches())
	}
	if ev := f.drainEvents(); len(ev) != 1 || ev[0] != "Warning MetricPartial qps: query warning: partial response: store eu-1 unavailable; holding at 10 (no scale-down on a reading that may be low)" {
		t.Errorf("events with a warning = %q", ev)
	}
	f.prom.set(rule{contains: "http_requests_total", body: vector(withPods("shop", "web", "30", "10", t0.Add(30*time.Second))...)})
	f.clock.Step(15 * time.Second)
	res = f.ctl.Pass(context.Background(), always)
	if d := res.Outcomes[0].Decision; d == nil || d.Desired >= 10 || len(f.patches()) != 1 {
		t.Errorf("decision = %+v, patches %v; want a scale-down once every pod reports", d, f.patches())
	}
}

// warmWith loads web.yaml with src and warms every target's history.
func (f *fixture) warmWith(src string) {
	f.t.Helper()
	f.write("web.yaml", src)
	if err := f.store.Reload(); err != nil {
		f.t.Fatal(err)
	}
	f.warm()
}

// logged loads web.yaml with src and gives the controller a logger whose warnings the test reads.
func (f *fixture) logged(t *testing.T, src string) *observer.ObservedLogs {
	t.Helper()
	f.write("web.yaml", src)
	if err := f.store.Reload(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	f.ctl = New(Options{Interval: 15 * time.Second, FillWait: fillWait}, zap.New(core), f.clock, f.ctl.source, f.kube, f.store, nil)
	return logs
}

// What Prometheus warns of, and a count of pods that is no count, is logged with its query.
func TestPassLogsWarnings(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	logs := f.logged(t, "target: {namespace: shop, name: web}\nmaxReplicas: 20\nmetrics: [{kind: qps, perReplica: 10}]\n")
	f.prom.set(rule{contains: "http_requests_total", body: vector(withPods("shop", "web", "100", "2.5", t0)...)})
	f.ctl.Pass(context.Background(), always)
	var got []string
	for _, e := range logs.FilterMessage("query warning").All() {
		got = append(got, e.ContextMap()["warning"].(string))
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "shop/web qps: pods covered unknown: 2.5 is not a count (query: label_replace(sum by") {
		t.Errorf("query warnings logged = %q", got)
	}
}

// A policy whose interval the pass does not divide is logged once per version, with how often it runs.
func TestPassLogsUnevenInterval(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	logs := f.logged(t, "target: {namespace: shop, name: web}\nmaxReplicas: 20\ninterval: 20s\nmetrics: [{kind: cpu, utilization: 50}]\n")
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "50", t0))})
	for range 3 {
		if res := f.ctl.Pass(context.Background(), always); res.Outcomes[0].Skipped != "" {
			t.Errorf("pass at %s skipped the 20 s policy (%s); want it due every 15 s pass", f.clock.Now().Format(time.TimeOnly), res.Outcomes[0].Skipped)
		}
		f.clock.Step(15 * time.Second)
	}
	got := logs.FilterMessage("policy interval is not a multiple of the pass interval: the policy runs on the passes at which it is due").All()
	if len(got) != 1 || got[0].ContextMap()["every"] != 15*time.Second {
		t.Errorf("logged %d times (%v); want once, every 15s", len(got), got)
	}
}

// A concurrent change between the read and the write is a conflict: the target is read again and decided again.
func TestPassConflictRetried(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0))})
	// Someone else scales web to 5 after the informer saw 4: the cache is one version behind.
	five := int32(5)
	f.changeBehindCache(func(d *appsv1.Deployment) { d.Spec.Replicas = &five })

	res := f.ctl.Pass(context.Background(), always)
	// Decided again from the fresh 5 replicas of which 4 are ready: HPA's rule for unready pods gives 8 again,
	// now written at the version that was read.
	if got := strings.Join(f.patches(), ","); got != "shop/web=8,shop/web=8" {
		t.Fatalf("patches = %q; want a conflicted patch, then one decided from the fresh read", got)
	}
	if !res.Outcomes[0].Scaled || res.Outcomes[0].Decision.Current != 5 {
		t.Errorf("outcome = %+v", res.Outcomes[0])
	}
	obj, _ := f.client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), "shop", "web")
	if r := *obj.(*appsv1.Deployment).Spec.Replicas; r != 8 {
		t.Errorf("replicas = %d; want 8", r)
	}
}

// changeBehindCache changes shop/web in the API server (to the next resourceVersion) while the informer's cache
// stays at the version before: the next write conflicts.
func (f *fixture) changeBehindCache(change func(*appsv1.Deployment)) {
	f.waitCache("shop", "web", 4)
	obj, _ := f.client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), "shop", "web")
	d := obj.(*appsv1.Deployment).DeepCopy()
	change(d)
	d.ResourceVersion = "7"
	old := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	old.Add(obj.(*appsv1.Deployment))
	f.kube.deployments = appslisters.NewDeploymentLister(old)
	f.client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, "shop")
}

// A conflict caused by someone pausing the target (kubectl annotate changes the resourceVersion too) is not
// retried into a write: the fresh read shows the pause.
func TestPassConflictPaused(t *testing.T) {
	for _, ann := range []map[string]string{{AnnotationPaused: "true"}, {AnnotationPausedReplicas: "3"}} {
		f := newFixture(t, DeploymentFor(web, 4, 4, nil))
		reg := prometheus.NewRegistry()
		f.ctl.m = NewMetrics(reg)
		f.warm()
		f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0))})
		f.changeBehindCache(func(d *appsv1.Deployment) { d.Annotations = ann })
		f.ctl.m.desired.WithLabelValues("shop", "web").Set(4) // an earlier pass's decision

		res := f.ctl.Pass(context.Background(), always)
		if got := strings.Join(f.patches(), ","); got != "shop/web=8" {
			t.Errorf("%v: patches = %q; want only the conflicted one", ann, got)
		}
		if o := res.Outcomes[0]; o.Scaled || o.Skipped != "Paused" {
			t.Errorf("%v: outcome = %+v; want skipped as paused", ann, o)
		}
		if n := testutil.CollectAndCount(reg, "podpilot_desired_replicas"); n != 0 {
			t.Errorf("%v: %d desired-replicas series; want none for a paused target", ann, n)
		}
		obj, _ := f.client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), "shop", "web")
		if r := *obj.(*appsv1.Deployment).Spec.Replicas; r != 4 {
			t.Errorf("%v: replicas = %d; want 4, untouched", ann, r)
		}
	}
}

func TestPassPaused(t *testing.T) {
	f := newFixture(t,
		DeploymentFor(web, 4, 4, map[string]string{AnnotationPaused: "true"}),
		DeploymentFor(policy.Target{Namespace: "shop", Name: "api"}, 4, 4, map[string]string{AnnotationPausedReplicas: "6"}))
	f.write("api.yaml", strings.ReplaceAll(webPolicy, "name: web", "name: api"))
	f.store.Reload()
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0), series("shop", "api", "100", t0))})
	res := f.ctl.Pass(context.Background(), always)
	if got := strings.Join(f.patches(), ","); got != "shop/api=6" {
		t.Errorf("patches = %q; want only the pin of api to 6", got)
	}
	for _, o := range res.Outcomes {
		if o.Skipped != "Paused" || o.Decision != nil {
			t.Errorf("outcome %+v; want paused and not decided", o)
		}
	}
	f.waitCache("shop", "api", 6)
	f.clock.Step(15 * time.Second)
	f.ctl.Pass(context.Background(), always)
	if n := len(f.patches()); n != 1 {
		t.Errorf("the pin was written %d times; want once", n)
	}
	// /decisions says when each target was last looked at, skipped or not.
	if n := len(f.ctl.Decisions()); n != 2 {
		t.Errorf("/decisions lists %d targets; want 2", n)
	}
	for _, s := range f.ctl.Decisions() {
		if s.Skipped != "Paused" || !s.Time.Equal(t0.Add(15*time.Second)) {
			t.Errorf("/decisions: %s skipped %q at %s; want Paused at the second pass (%s)", s.Target, s.Skipped, s.Time, t0.Add(15*time.Second))
		}
	}
	// A new pin value is applied again.
	f.edit(policy.Target{Namespace: "shop", Name: "api"}, func(d *appsv1.Deployment) { d.Annotations[AnnotationPausedReplicas] = "2" },
		func(w Workload) bool { return w.Pin != nil && *w.Pin == 2 })
	f.clock.Step(15 * time.Second)
	f.ctl.Pass(context.Background(), always)
	if got := strings.Join(f.patches(), ","); got != "shop/api=6,shop/api=2" {
		t.Errorf("patches = %q; want the new pin applied", got)
	}
}

// podpilot.io/paused-scale-in and paused-scale-out hold one direction, as KEDA's annotations: the target is
// decided, and says why it did not move; the other direction moves. box, with neither, shows the scale-down.
func TestPassPausedDirection(t *testing.T) {
	in, out := map[string]string{AnnotationPausedScaleIn: "true"}, map[string]string{AnnotationPausedScaleOut: "true"}
	targets := []struct {
		name string
		ann  map[string]string
		cpu  string
		want string // the reason
	}{
		{"web", out, "100", "ScaleOutPaused"},
		{"api", in, "100", "DesiredWithinRange"},
		{"cart", in, "5", "ScaleInPaused"},
		{"box", nil, "5", "ScaleDownLimit"},
	}
	var objs []runtime.Object
	var ss []string
	for _, tg := range targets {
		objs = append(objs, DeploymentFor(policy.Target{Namespace: "shop", Name: tg.name}, 4, 4, tg.ann))
		ss = append(ss, series("shop", tg.name, tg.cpu, t0))
	}
	f := newFixture(t, objs...)
	for _, tg := range targets[1:] {
		f.write(tg.name+".yaml", strings.ReplaceAll(webPolicy, "name: web", "name: "+tg.name))
	}
	f.store.Reload()
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(ss...)})
	res := f.ctl.Pass(context.Background(), always)
	got := f.patches()
	slices.Sort(got)
	if got := strings.Join(got, ","); got != "shop/api=8,shop/box=2" {
		t.Errorf("patches = %q; want api scaled out and box in, web and cart held", got)
	}
	for _, o := range res.Outcomes {
		want := ""
		for _, tg := range targets {
			if "shop/"+tg.name == o.Target {
				want = tg.want
			}
		}
		if o.Decision == nil || string(o.Decision.Reason) != want {
			t.Errorf("%s: decision %+v; want %s", o.Target, o.Decision, want)
		}
	}
}

// webHPA is an HPA named web-hpa that targets shop/web.
func webHPA(maxReplicas int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}, MaxReplicas: maxReplicas}}
}

func TestPassHPAConflict(t *testing.T) {
	hpa := webHPA(5)
	f := newFixture(t, DeploymentFor(web, 4, 4, nil), hpa)
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0))})
	res := f.ctl.Pass(context.Background(), always)
	if p := f.patches(); len(p) != 0 || res.Outcomes[0].Skipped != "HPAConflict" {
		t.Errorf("patches %v, outcome %+v; want none and HPAConflict", p, res.Outcomes[0])
	}
	if ev := f.drainEvents(); len(ev) != 1 || !strings.Contains(ev[0], "Warning HPAConflict HorizontalPodAutoscaler web-hpa also targets this Deployment") {
		t.Errorf("events = %q", ev)
	}
}

// A target that does not exist is reported and skipped; the others go on.
func TestPassIsolation(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.write("gone.yaml", strings.ReplaceAll(webPolicy, "name: web", "name: gone"))
	f.store.Reload()
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0), series("shop", "gone", "100", t0))})
	res := f.ctl.Pass(context.Background(), always)
	if got := strings.Join(f.patches(), ","); got != "shop/web=8" {
		t.Errorf("patches = %q; want web scaled despite the missing target", got)
	}
	if o := res.Outcomes[0]; o.Target != "shop/gone" || o.Skipped != "NotFound" {
		t.Errorf("outcome = %+v; want shop/gone NotFound", o)
	}
}

// Leadership lost in the middle of a pass: no write after it.
func TestPassLeadershipLost(t *testing.T) {
	var objs []runtime.Object
	for i := range 4 {
		objs = append(objs, DeploymentFor(policy.Target{Namespace: "shop", Name: fmt.Sprintf("w%d", i)}, 2, 2, nil))
	}
	f := newFixture(t, objs...)
	os.Remove(filepath.Join(f.dir, "web.yaml"))
	var ss []string
	for i := range 4 {
		f.write(fmt.Sprintf("w%d.yaml", i), strings.ReplaceAll(webPolicy, "name: web", fmt.Sprintf("name: w%d", i)))
		ss = append(ss, series("shop", fmt.Sprintf("w%d", i), "100", t0))
	}
	f.store.Reload()
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(ss...)})
	checks := 0
	lead := func() error { // the lease is lost after the pass's own check and two writes
		if checks++; checks <= 3 {
			return nil
		}
		return ErrNotLeader
	}
	res := f.ctl.Pass(context.Background(), lead)
	if got := strings.Join(f.patches(), ","); got != "shop/w0=4,shop/w1=4" {
		t.Errorf("patches = %q; want only the two made while leading", got)
	}
	for _, o := range res.Outcomes[2:] {
		if !errors.Is(o.Err, ErrNotLeader) || o.Scaled || o.Skipped != "Stopped" {
			t.Errorf("outcome after losing the lease = %+v; want Stopped with ErrNotLeader", o)
		}
	}
	// A replica that no longer leads reports nothing: no ScaleFailed for the writes it did not make.
	for _, e := range f.drainEvents() {
		if !strings.HasPrefix(e, "Normal Scaled") {
			t.Errorf("event after losing the lease: %q", e)
		}
	}
}

// A lasting condition is reported when it starts or changes and every 10 minutes while it lasts, not at every
// pass: client-go's recorder lets 25 Events through per object and then one per 5 minutes, which a Warning every
// 15 s would use up, hiding the ScaleFailed that follows.
func TestWarningsNotRepeated(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector()})
	count := func() (n int) {
		for _, e := range f.drainEvents() {
			if strings.HasPrefix(e, "Warning MetricUnavailable") {
				n++
			}
		}
		return n
	}
	for range 30 { // 7.5 minutes
		f.ctl.Pass(context.Background(), always)
		f.clock.Step(15 * time.Second)
	}
	if n := count(); n != 1 {
		t.Errorf("30 passes with a broken metric: %d MetricUnavailable Warnings; want 1", n)
	}
	for range 12 { // past 10 minutes
		f.ctl.Pass(context.Background(), always)
		f.clock.Step(15 * time.Second)
	}
	if n := count(); n != 1 {
		t.Errorf("10 minutes on: %d more Warnings; want 1 (the reminder)", n)
	}
	// The metric comes back, then breaks again: a new condition, reported at once.
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "50", f.clock.Now()))})
	f.ctl.Pass(context.Background(), always)
	f.clock.Step(15 * time.Second)
	f.prom.set(rule{contains: "cpu", body: vector()})
	f.ctl.Pass(context.Background(), always)
	if n := count(); n != 1 {
		t.Errorf("broken again after a good reading: %d Warnings; want 1", n)
	}
}

// A negative reading, which a policy refuses, is reported as an invalid metric with its reason, not held in
// silence.
func TestPassNegativeReading(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "-5", t0))})
	res := f.ctl.Pass(context.Background(), always)
	if d := res.Outcomes[0].Decision; d == nil || d.Desired != 10 || d.Reason != policy.MetricUnavailable {
		t.Errorf("decision = %+v; want a hold at 10", d)
	}
	if ev := strings.Join(f.drainEvents(), "\n"); !strings.Contains(ev, "Warning MetricUnavailable cpu: value is negative") {
		t.Errorf("events = %q; want a MetricUnavailable Warning saying the value is negative", ev)
	}
}

// A new leader starts fresh histories, which hold scale-downs for a full window: it does not undo the former
// leader's stabilization.
func TestNewLeaderHoldsScaleDown(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	f.write("web.yaml", strings.Replace(webPolicy, "stabilizationWindow: 0s", "stabilizationWindow: 2m", 1))
	f.store.Reload()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "10", t0))})
	f.warm() // the old leader's view, which would hold nothing back: a new leader must not inherit it
	f.ctl.Reset()
	for i := 0; i < 8; i++ { // two minutes of passes
		f.ctl.Pass(context.Background(), always)
		f.clock.Step(15 * time.Second)
	}
	if p := f.patches(); len(p) != 0 {
		t.Fatalf("patches within the window after taking over = %v; want none", p)
	}
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "10", f.clock.Now()))})
	f.ctl.Pass(context.Background(), always)
	if got := strings.Join(f.patches(), ","); got != "shop/web=5" {
		t.Errorf("patches after the window = %q; want shop/web=5 (10 %% wants 2, at most -50 %% a minute)", got)
	}
}

// scaledWithMetrics is a fixture whose metrics are registered, after one pass that scaled shop/web from 4 to 8.
func scaledWithMetrics(t *testing.T) (*fixture, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.ctl.m = NewMetrics(reg)
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0))})
	f.ctl.Pass(context.Background(), always)
	return f, reg
}

// A replica that stops leading reports no targets: Reset drops their gauges and decisions, so that two replicas
// never publish conflicting values for one target.
func TestResetForgetsTargets(t *testing.T) {
	f, reg := scaledWithMetrics(t)
	if n := testutil.CollectAndCount(reg, "podpilot_desired_replicas"); n != 1 || len(f.ctl.Decisions()) != 1 {
		t.Fatalf("after a pass: %d desired-replicas series, %d decisions; want 1 and 1", n, len(f.ctl.Decisions()))
	}
	f.ctl.Reset()
	if n := testutil.CollectAndCount(reg, "podpilot_desired_replicas", "podpilot_current_replicas"); n != 0 || len(f.ctl.Decisions()) != 0 {
		t.Errorf("after Reset: %d per-target series, %d decisions; want none", n, len(f.ctl.Decisions()))
	}
}

// A target whose policy is removed takes every per-target series with it, counters too; a paused target keeps its
// current count but no desired one (podpilot wants nothing for it).
func TestTargetSeriesFollowTargets(t *testing.T) {
	f, reg := scaledWithMetrics(t)
	if n := testutil.CollectAndCount(reg, "podpilot_desired_replicas", "podpilot_decisions_total", "podpilot_scale_events_total"); n != 3 {
		t.Fatalf("after a scale: %d series; want 3", n)
	}
	d := DeploymentFor(web, 8, 8, map[string]string{AnnotationPaused: "true"})
	d.ResourceVersion = "100"
	f.client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, "shop")
	waitFor(t, 5*time.Second, "the cache to see the pause", func() bool { w, _ := f.kube.Workload(web); return w.Paused })
	f.clock.Step(15 * time.Second)
	f.ctl.Pass(context.Background(), always)
	if n := testutil.CollectAndCount(reg, "podpilot_desired_replicas"); n != 0 {
		t.Errorf("paused: %d desired-replicas series; want none", n)
	}
	if v := testutil.ToFloat64(f.ctl.m.current.WithLabelValues("shop", "web")); v != 8 {
		t.Errorf("paused: current replicas %g; want 8", v)
	}
	os.Remove(filepath.Join(f.dir, "web.yaml"))
	f.store.Reload()
	f.ctl.Pass(context.Background(), always)
	if n := testutil.CollectAndCount(reg, "podpilot_current_replicas", "podpilot_decisions_total", "podpilot_scale_events_total", "podpilot_target_errors_total"); n != 0 {
		t.Errorf("after the policy is removed: %d per-target series; want none", n)
	}
}

// unreadable is a cluster whose targets cannot be read.
type unreadable struct{ Cluster }

func (unreadable) Workload(policy.Target) (Workload, error) {
	return Workload{}, errors.New("cache broken")
}

// A target that cannot be read has no count podpilot wants or sees: its gauges go, and the failure is counted.
func TestReadFailedDropsGauges(t *testing.T) {
	f, reg := scaledWithMetrics(t)
	if n := testutil.CollectAndCount(reg, "podpilot_desired_replicas", "podpilot_current_replicas"); n != 2 {
		t.Fatalf("after a scale: %d gauge series; want 2", n)
	}
	f.ctl.cluster = unreadable{f.kube}
	f.clock.Step(15 * time.Second)
	if o := f.ctl.Pass(context.Background(), always); len(o.Outcomes) != 1 || o.Outcomes[0].Skipped != "Error" {
		t.Fatalf("pass = %+v; want the target skipped with an error", o)
	}
	if n := testutil.CollectAndCount(reg, "podpilot_desired_replicas", "podpilot_current_replicas"); n != 0 {
		t.Errorf("after a failed read: %d gauge series; want none", n)
	}
	if v := testutil.ToFloat64(f.ctl.m.targetErrors.WithLabelValues("shop", "web", "ReadFailed")); v != 1 {
		t.Errorf("ReadFailed errors = %g; want 1", v)
	}
}

func TestDryRun(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.ctl.opts.DryRun = true
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0))})
	res := f.ctl.Pass(context.Background(), always)
	if p := f.patches(); len(p) != 0 {
		t.Errorf("dry run patched %v", p)
	}
	if d := res.Outcomes[0].Decision; d == nil || d.Desired != 8 || res.Outcomes[0].Scaled {
		t.Errorf("dry run outcome = %+v; want a decision for 8, not applied", res.Outcomes[0])
	}
}

// A reloaded policy keeps its target's recommendations (the windows still hold) but drops algorithm state.
func TestReloadKeepsWindowsDropsState(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	var got [][]float64 // the state the algorithm was given at each pass
	type args struct{}
	var regs []policy.Registration
	for _, n := range policy.Builtin().Names() {
		g, _ := policy.Builtin().Lookup(n)
		regs = append(regs, g)
	}
	reg := policy.NewRegistry(append(regs, policy.Define("counter", "counts its evaluations in its state",
		func() *args { return &args{} }, func(*args, *policy.Policy, *policy.Problems) {},
		func(*args) policy.Behavior { return policy.Behavior{} },
		func(*args, *policy.Policy) policy.Algorithm { return counter{&got} }))...)
	src := strings.Replace(webPolicy, "stabilizationWindow: 0s", "stabilizationWindow: 1m", 1) +
		"algorithms: [{name: target-tracking}, {name: counter}]\n"
	f.write("web.yaml", src)
	f.store = NewStore([]string{f.dir}, reg, zap.NewNop(), nil)
	if err := f.store.Reload(); err != nil {
		t.Fatal(err)
	}
	f.ctl = New(Options{Interval: 15 * time.Second, FillWait: fillWait}, zap.NewNop(), f.clock, f.ctl.source, f.kube, f.store, nil)
	pass := func() {
		f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "10", f.clock.Now()))})
		f.ctl.Pass(context.Background(), always)
		f.clock.Step(15 * time.Second)
	}
	pass()
	pass()
	f.write("web.yaml", src+"# edited\n")
	f.store.Reload()
	pass()
	if want := [][]float64{nil, {1}, nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("state given to the algorithm at each pass = %v; want %v (none after the reload)", got, want)
	}
	if tg := f.ctl.targets["shop/web"]; len(tg.hist.Recs) < 3 {
		t.Errorf("after a reload: %d recommendations; want the window's kept", len(tg.hist.Recs))
	}
	if p := f.patches(); len(p) != 0 {
		t.Errorf("patches %v: the fresh-start window must still hold after a reload", p)
	}
}

// counter proposes nothing and keeps how many times it was evaluated since its state was last dropped.
type counter struct{ got *[][]float64 }

func (c counter) Propose(dst []policy.Proposal, ctx *policy.Context) []policy.Proposal {
	*c.got = append(*c.got, ctx.State)
	n := 0.0
	if len(ctx.State) == 1 {
		n = ctx.State[0]
	}
	ctx.Keep([]float64{n + 1})
	return dst
}

// DeploymentFor is a Deployment object as the caches hold it.
func DeploymentFor(t policy.Target, replicas, ready int32, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name, Annotations: annotations, ResourceVersion: "1"},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status:     appsv1.DeploymentStatus{Replicas: replicas, ReadyReplicas: ready},
	}
}

// A pass stopped right after a write that succeeded still reports that scale: it happened.
func TestPassStoppedAfterWrite(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warm()
	f.prom.set(rule{contains: "container_cpu_usage_seconds_total", body: vector(series("shop", "web", "100", t0))})
	ctx, cancel := context.WithCancel(context.Background())
	f.scales.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := f.patchScale(a)
		cancel() // the lease is lost the moment the write is done
		return handled, obj, err
	})
	res := f.ctl.Pass(ctx, always)
	if o := res.Outcomes[0]; !o.Scaled || o.Skipped != "" {
		t.Errorf("outcome = %+v; want the scale reported", o)
	}
	if ev := strings.Join(f.drainEvents(), "\n"); !strings.Contains(ev, "Normal Scaled scaled from 4 to 8") {
		t.Errorf("events = %q; want the Scaled Event", ev)
	}
}

// A reading that came but gave no proposal (no pod ready to average a request rate over) holds the count, and the
// Warning names the metric and why.
func TestPassNoReadyPods(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 0, nil))
	f.warmWith("target: {namespace: shop, name: web}\nmaxReplicas: 20\nmetrics: [{kind: cpu, utilization: 50}, {kind: qps, perReplica: 10}]\n" +
		"behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s}}\n")
	f.prom.set(rule{contains: "container_cpu_usage_seconds_total", body: vector(series("shop", "web", "10", t0))},
		rule{contains: "http_requests_total", body: vector(series("shop", "web", "5", t0))})
	res := f.ctl.Pass(context.Background(), always)
	if d := res.Outcomes[0].Decision; d == nil || d.Desired != 4 || d.Reason != policy.MetricUnavailable {
		t.Errorf("decision = %+v; want a hold at 4 (MetricUnavailable)", d)
	}
	if ev := strings.Join(f.drainEvents(), "\n"); !strings.Contains(ev, "Warning MetricUnavailable") || !strings.Contains(ev, "no ready pods to average over") {
		t.Errorf("events = %q; want a MetricUnavailable Warning saying no pod is ready", ev)
	}
}

// A target taken back from a pause (or from an HPA) starts a fresh history, as after a change of leader: the
// count someone set while it was paused is not cut before a whole down-window.
func TestUnpausedHoldsScaleDown(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, map[string]string{AnnotationPaused: "true"}))
	f.write("web.yaml", strings.Replace(webPolicy, "stabilizationWindow: 0s", "stabilizationWindow: 2m", 1))
	f.store.Reload()
	f.warm() // a long history from before the pause, which would allow a scale-down at once
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "10", t0))})
	if res := f.ctl.Pass(context.Background(), always); res.Outcomes[0].Skipped != "Paused" {
		t.Fatalf("outcome = %+v; want paused", res.Outcomes[0])
	}
	obj, _ := f.client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), "shop", "web")
	d := obj.(*appsv1.Deployment).DeepCopy()
	d.Annotations = nil
	d.ResourceVersion = bump(d.ResourceVersion)
	f.client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, "shop")
	waitFor(t, 5*time.Second, "the cache to see the unpause", func() bool { w, _ := f.kube.Workload(web); return !w.Paused })
	for range 8 { // two minutes of passes at 10 % CPU
		f.clock.Step(15 * time.Second)
		f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "10", f.clock.Now()))})
		f.ctl.Pass(context.Background(), always)
	}
	if p := f.patches(); len(p) != 0 {
		t.Fatalf("patches within the down-window after the unpause = %v; want none", p)
	}
	f.clock.Step(15 * time.Second)
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "10", f.clock.Now()))})
	f.ctl.Pass(context.Background(), always)
	if got := strings.Join(f.patches(), ","); got != "shop/web=5" {
		t.Errorf("patches after the window = %q; want shop/web=5", got)
	}
}

// A partial reading that lasts is one Warning, however the decisions on it alternate between a hold on it
// (MetricPartial) and a count it does not change.
func TestPartialWarnedOnce(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 10, 10, nil))
	f.warmWith("target: {namespace: shop, name: web}\nmaxReplicas: 20\nmetrics: [{kind: qps, perReplica: 10}]\n" +
		"behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s}}\n")
	var reasons []string
	for i := range 6 {
		v := "30" // 3 of 10 pods report: holds at 10 (MetricPartial)
		if i%2 == 1 {
			v = "97" // asks for 10 (within tolerance): no hold, no change
		}
		f.prom.set(rule{contains: "http_requests_total", body: vector(withPods("shop", "web", v, "3", f.clock.Now())...)})
		res := f.ctl.Pass(context.Background(), always)
		reasons = append(reasons, string(res.Outcomes[0].Decision.Reason))
		f.clock.Step(15 * time.Second)
	}
	if reasons[0] != string(policy.MetricPartial) || reasons[1] == string(policy.MetricPartial) {
		t.Fatalf("reasons = %v; want holds on the partial reading alternating with others", reasons)
	}
	n := 0
	for _, e := range f.drainEvents() {
		if strings.HasPrefix(e, "Warning MetricPartial") {
			n++
		}
	}
	if n != 1 || len(f.patches()) != 0 {
		t.Errorf("%d MetricPartial Warnings, patches %v; want one and none", n, f.patches())
	}
}

// After a conflict the target is decided again on the fresh read's ready pods, not the cache's: a reading that
// covers 5 pods is whole for the 4 the cache saw ready, partial for the 8 that are.
func TestPassConflictFreshReady(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warmWith("target: {namespace: shop, name: web}\nmaxReplicas: 20\nmetrics: [{kind: qps, perReplica: 10}]\n" +
		"behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s, policies: [{type: Percent, value: 100, period: 15s}]}}\n")
	f.prom.set(rule{contains: "http_requests_total", body: vector(withPods("shop", "web", "20", "5", t0)...)})
	f.changeBehindCache(func(d *appsv1.Deployment) {
		eight := int32(8)
		d.Spec.Replicas, d.Status.ReadyReplicas = &eight, 8
	})
	res := f.ctl.Pass(context.Background(), always)
	if got := strings.Join(f.patches(), ","); got != "shop/web=3" {
		t.Errorf("patches = %q; want only the conflicted scale-down decided on the cache", got)
	}
	if d := res.Outcomes[0].Decision; d == nil || d.Current != 8 || d.Ready != 8 || d.Reason != policy.MetricPartial {
		t.Errorf("decision after the conflict = %+v; want a hold at 8 with 8 ready (MetricPartial)", d)
	}
}

// A write whose Lease check cannot read the Lease fails as a write does: logged, counted and a Warning, not
// dropped as if another replica led.
func TestPassLeaseUnreadable(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warm()
	f.prom.set(rule{contains: "container_cpu_usage_seconds_total", body: vector(series("shop", "web", "100", t0))})
	calls := 0
	lead := func() error {
		if calls++; calls == 1 {
			return nil // the pass's own check
		}
		return fmt.Errorf("checking the lease podpilot/podpilot: too many requests")
	}
	res := f.ctl.Pass(context.Background(), lead)
	if o := res.Outcomes[0]; o.Scaled || o.Skipped != "" || o.Err == nil {
		t.Errorf("outcome = %+v; want a failed write", o)
	}
	if ev := f.drainEvents(); len(ev) != 1 || ev[0] != "Warning ScaleFailed scaling from 4 to 8 failed: checking the lease podpilot/podpilot: too many requests" {
		t.Errorf("events = %q", ev)
	}
	if len(f.patches()) != 0 {
		t.Errorf("patches = %v; want none", f.patches())
	}
}

// A replica whose elector still believes it leads, but whose Lease another holds, reports nothing for a pass:
// no Warning for a broken metric, no decision.
func TestPassNotLeading(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector()})
	res := f.ctl.Pass(context.Background(), func() error { return ErrNotLeader })
	if o := res.Outcomes[0]; o.Skipped != "Stopped" || o.Decision != nil {
		t.Errorf("outcome = %+v; want Stopped, undecided", o)
	}
	if ev := f.drainEvents(); len(ev) != 0 {
		t.Errorf("events = %q; want none", ev)
	}
	if res := f.ctl.Pass(context.Background(), always); res.Outcomes[0].Decision == nil {
		t.Errorf("a pass while leading = %+v; want a decision", res.Outcomes[0])
	}
}

// /decisions answers at once during a pass that waits on Prometheus, with the last finished pass's outcomes.
func TestDecisionsDuringPass(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "50", t0))})
	f.ctl.Pass(context.Background(), always)
	f.prom.mu.Lock()
	f.prom.delay = 150 * time.Millisecond // below the client's 200 ms timeout: the pass waits, then decides
	asked := len(f.prom.queries)
	f.prom.mu.Unlock()
	f.clock.Step(15 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.ctl.Pass(context.Background(), always)
	}()
	waitFor(t, 5*time.Second, "the pass's query", func() bool {
		f.prom.mu.Lock()
		defer f.prom.mu.Unlock()
		return len(f.prom.queries) > asked
	})
	seen := f.ctl.Decisions()
	select {
	case <-done:
		t.Errorf("Decisions returned only once the pass was done")
	default:
	}
	if len(seen) != 1 || seen[0].Target != "shop/web" || seen[0].Reason == "" {
		t.Errorf("Decisions during the pass = %+v; want the last pass's decision", seen)
	}
	<-done
}

// A paused target already at its pin is pinned: a manual scale after that lasts, as after a pin podpilot wrote.
func TestPassPinAlreadyThere(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 5, 5, map[string]string{AnnotationPausedReplicas: "5"}))
	f.warm()
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0))})
	f.ctl.Pass(context.Background(), always)
	eight := int32(8)
	f.edit(web, func(d *appsv1.Deployment) { d.Spec.Replicas = &eight }, // kubectl scale --replicas=8
		func(w Workload) bool { return w.Spec == 8 })
	f.clock.Step(15 * time.Second)
	f.ctl.Pass(context.Background(), always)
	if p := f.patches(); len(p) != 0 {
		t.Errorf("patches = %v; want none: the pin held when it came, and the manual scale lasts", p)
	}
}

// entry is a managedFields entry: manager set fields (JSON of the managed-fields set) at seconds past t0, or
// at no recorded time (as the scale subresource records its updates) when at is untimed.
func entry(manager, subresource string, at int, fields string) metav1.ManagedFieldsEntry {
	e := metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: subresource, APIVersion: "apps/v1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	if at != untimed {
		tm := metav1.NewTime(t0.Add(time.Duration(at) * time.Second))
		e.Time = &tm
	}
	return e
}

const (
	untimed    = math.MinInt
	pinField   = `{"f:metadata":{"f:annotations":{".":{},"f:podpilot.io/paused-replicas":{}}}}`
	countField = `{"f:spec":{"f:replicas":{}}}`
)

// noHPAs is a Kube whose cache holds no HPA, to read Workloads from Deployments.
func noHPAs() *Kube {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	return &Kube{hpas: autoscalinglisters.NewHorizontalPodAutoscalerLister(idx)}
}

func TestPinOverridden(t *testing.T) {
	for _, c := range []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		want    bool
	}{
		{name: "no managed fields (an API server that tracks none)"},
		{name: "podpilot set the count last", entries: []metav1.ManagedFieldsEntry{
			entry("kubectl-annotate", "", 10, pinField), entry(FieldManager, "scale", untimed, countField)}},
		{name: "kubectl scale, at no recorded time", want: true, entries: []metav1.ManagedFieldsEntry{
			entry("kubectl-annotate", "", 10, pinField), entry("kubectl", "scale", untimed, countField)}},
		{name: "an edit of the count before the pin", entries: []metav1.ManagedFieldsEntry{
			entry("kubectl-edit", "", 5, countField), entry("kubectl-annotate", "", 10, pinField)}},
		{name: "an edit of the count after the pin", want: true, entries: []metav1.ManagedFieldsEntry{
			entry("kubectl-annotate", "", 10, pinField), entry("kubectl-edit", "", 30, countField)}},
		{name: "the latest pin counts", entries: []metav1.ManagedFieldsEntry{
			entry("kubectl-edit", "", 30, countField), entry("kubectl-annotate", "", 10, pinField), entry("helm", "", 40, pinField)}},
		{name: "one edit set both (a tie)",
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-edit", "", 10, `{"f:metadata":{"f:annotations":{"f:podpilot.io/paused-replicas":{}}},"f:spec":{"f:replicas":{}}}`)}},
		{name: "another annotation is no pin", entries: []metav1.ManagedFieldsEntry{
			entry("kubectl-annotate", "", 10, `{"f:metadata":{"f:annotations":{"f:podpilot.io/paused":{}}}}`), entry("kubectl", "scale", untimed, countField)}},
		{name: "an entry that does not parse is skipped",
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-annotate", "", 10, pinField), entry("x", "", 20, `{"f:spec":`)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := DeploymentFor(web, 5, 5, map[string]string{AnnotationPausedReplicas: "3"})
			d.ManagedFields = c.entries
			if got := pinOverridden(d); got != c.want {
				t.Errorf("pinOverridden = %v; want %v", got, c.want)
			}
			// The cache keeps the answer when it drops the managed fields, and the Workload reads it either way.
			w, _ := noHPAs().workload(web, d)
			slimmed, _ := slim(d.DeepCopy())
			cw, _ := noHPAs().workload(web, slimmed.(*appsv1.Deployment))
			if w.PinOverridden != c.want || cw.PinOverridden != c.want {
				t.Errorf("PinOverridden from the API server %v, from the cache %v; want %v", w.PinOverridden, cw.PinOverridden, c.want)
			}
		})
	}
	// The cache's mark is podpilot's own: one on the object itself is dropped.
	d := DeploymentFor(web, 5, 5, map[string]string{AnnotationPausedReplicas: "3", cachedPinOverridden: "true"})
	slimmed, _ := slim(d)
	if w, _ := noHPAs().workload(web, slimmed.(*appsv1.Deployment)); w.PinOverridden {
		t.Error("a Deployment annotated with the cache's mark reads overridden")
	}
}

// A new leader (or a restarted podpilot) does not apply a pin again over a count someone else set after it (here
// with kubectl scale, which the managedFields record with no time); it applies one set after an edit of the count,
// and one set while podpilot owned the count.
func TestPassPinNewLeader(t *testing.T) {
	manual := DeploymentFor(web, 8, 8, map[string]string{AnnotationPausedReplicas: "5"})
	manual.ManagedFields = []metav1.ManagedFieldsEntry{entry("kubectl-annotate", "", -600, pinField), entry("kubectl", "scale", untimed, countField)}
	edited := DeploymentFor(policy.Target{Namespace: "shop", Name: "api"}, 8, 8, map[string]string{AnnotationPausedReplicas: "5"})
	edited.ManagedFields = []metav1.ManagedFieldsEntry{entry("kubectl-edit", "", -600, countField), entry("kubectl-annotate", "", -10, pinField)}
	ours := DeploymentFor(policy.Target{Namespace: "shop", Name: "cart"}, 8, 8, map[string]string{AnnotationPausedReplicas: "5"})
	ours.ManagedFields = []metav1.ManagedFieldsEntry{entry(FieldManager, "scale", untimed, countField), entry("kubectl-annotate", "", -10, pinField)}
	f := newFixture(t, manual, edited, ours)
	for _, name := range []string{"api", "cart"} {
		f.write(name+".yaml", strings.ReplaceAll(webPolicy, "name: web", "name: "+name))
	}
	f.store.Reload()
	f.warm()
	f.ctl.Pass(context.Background(), always)
	got := f.patches()
	slices.Sort(got)
	if got := strings.Join(got, ","); got != "shop/api=5,shop/cart=5" {
		t.Errorf("patches = %q; want api and cart pinned to 5, and web left at the 8 it was scaled to by hand", got)
	}
}

// A pin that appears while the leader watches the target is applied, even over a count someone else set at a
// time the managedFields do not give (or that an HPA set, for a pin set after the HPA that owned the target is
// deleted): it is new, not one an earlier leader may have applied.
func TestPassPinWhileWatched(t *testing.T) {
	for _, c := range []struct {
		name, manager string // who set the count, through the scale subresource
		hpa           bool   // an HPA owns the target at first, and is deleted before the pin is set
	}{
		{name: "watched without a pin", manager: "kubectl"},
		{name: "watched under an HPA", manager: "kube-controller-manager", hpa: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := DeploymentFor(web, 8, 8, nil)
			d.ManagedFields = []metav1.ManagedFieldsEntry{entry(c.manager, "scale", untimed, countField)}
			objs := []runtime.Object{d}
			if c.hpa {
				objs = append(objs, webHPA(10))
			}
			f := newFixture(t, objs...)
			f.warm()
			f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "50", t0))}) // at the target: no scale
			res := f.ctl.Pass(context.Background(), always)
			if c.hpa {
				if res.Outcomes[0].Skipped != "HPAConflict" {
					t.Fatalf("outcome %+v; want HPAConflict", res.Outcomes[0])
				}
				if err := f.client.Tracker().Delete(autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"), "shop", "web-hpa"); err != nil {
					t.Fatal(err)
				}
			}
			f.edit(web, func(d *appsv1.Deployment) { d.Annotations = map[string]string{AnnotationPausedReplicas: "5"} }, // recorded in the managedFields
				func(w Workload) bool { return w.Pin != nil && w.HPA == "" })
			if w, _ := f.kube.Workload(web); !w.PinOverridden {
				t.Fatal("the cache does not read the pin as overridden: the test shows nothing")
			}
			f.clock.Step(15 * time.Second)
			f.ctl.Pass(context.Background(), always)
			if got := strings.Join(f.patches(), ","); got != "shop/web=5" {
				t.Errorf("patches = %q; want shop/web=5, the pin that appeared while the leader watched", got)
			}
		})
	}
}

// A pin taken off, and then set again to the same count, is a new pin: it is applied over the count set in
// between, by hand while the target stays paused, or by an HPA that owned it meanwhile.
func TestPassPinSetAgain(t *testing.T) {
	for _, hpa := range []bool{false, true} {
		t.Run(fmt.Sprintf("hpa=%v", hpa), func(t *testing.T) {
			f := newFixture(t, DeploymentFor(web, 8, 8, map[string]string{AnnotationPausedReplicas: "5"}))
			f.warm()
			f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", t0))})
			f.ctl.Pass(context.Background(), always)
			f.waitCache("shop", "web", 5)
			if hpa {
				if err := f.client.Tracker().Add(webHPA(10)); err != nil {
					t.Fatal(err)
				}
			}
			f.edit(web, func(d *appsv1.Deployment) {
				seven := int32(7)
				d.Spec.Replicas, d.Annotations = &seven, map[string]string{AnnotationPaused: "true"}
			}, func(w Workload) bool { return w.Spec == 7 && w.Paused && w.Pin == nil && (w.HPA != "") == hpa })
			f.clock.Step(15 * time.Second)
			if res := f.ctl.Pass(context.Background(), always); hpa && res.Outcomes[0].Skipped != "HPAConflict" {
				t.Fatalf("outcome %+v; want HPAConflict", res.Outcomes[0])
			}
			if hpa {
				if err := f.client.Tracker().Delete(autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"), "shop", "web-hpa"); err != nil {
					t.Fatal(err)
				}
			}
			f.edit(web, func(d *appsv1.Deployment) { d.Annotations = map[string]string{AnnotationPausedReplicas: "5"} },
				func(w Workload) bool { return w.Pin != nil && w.HPA == "" })
			f.clock.Step(15 * time.Second)
			f.ctl.Pass(context.Background(), always)
			if got := strings.Join(f.patches(), ","); got != "shop/web=5,shop/web=5" {
				t.Errorf("patches = %q; want the pin to 5 applied, and applied again when it was set again", got)
			}
		})
	}
}

// After a pause, podpilot takes the target back with its past readings backfilled from Prometheus again (those
// of the paused stretch were never read), and readings of a range Prometheus warned about are marked as
// possibly low, which algorithms that look back leave out.
func TestBackfillAfterPause(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.write("web.yaml", strings.Replace(webPolicy, "metrics:", "algorithm: {name: burst}\nmetrics:", 1))
	f.store.Reload()
	f.warm()
	matrix := `{"status":"success","warnings":["store gateway down: partial response"],"data":{"resultType":"matrix","result":[{"metric":{},"values":[[%d,"50"]]}]}}`
	f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "50", t0)), rangeBody: fmt.Sprintf(matrix, t0.Add(-30*time.Second).Unix())})
	f.ctl.Pass(context.Background(), always)
	tg := f.ctl.targets["shop/web"]
	if f.prom.rangeCount() != 1 || len(tg.past) != 1 || len(tg.past[0]) < 2 {
		t.Fatalf("after the first pass: %d range queries, past %v; want one range query that filled the past", f.prom.rangeCount(), tg.past)
	}
	for _, s := range tg.past[0][:len(tg.past[0])-1] { // the backfilled ones, before this pass's own reading
		if !s.Low {
			t.Errorf("backfilled %v from a range Prometheus warned about: not marked low", s)
		}
	}
	pause := func(on bool) {
		f.edit(web, func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{}
			if on {
				d.Annotations[AnnotationPaused] = "true"
			}
		}, func(w Workload) bool { return w.Paused == on })
	}
	pause(true)
	f.clock.Step(15 * time.Second)
	f.ctl.Pass(context.Background(), always)
	pause(false)
	f.clock.Step(15 * time.Second)
	f.ctl.Pass(context.Background(), always)
	if f.prom.rangeCount() != 2 {
		t.Errorf("after a pause: %d range queries in all; want 2, the past backfilled again", f.prom.rangeCount())
	}
}

// A backfill that Prometheus is slow to answer delays no decision: the pass waits for it only FillWait, decides
// without the past (here a scale-up on a reading of twice the target), starts no second one while it is in
// flight, and merges it at the first pass after it ends. A reload stops the one in flight, whose past is about the
// policy before the edit.
func TestBackfillBesidePass(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	mc, err := metrics.New(metrics.Config{Address: f.promURL, Timeout: 5 * time.Second, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	f.ctl = New(Options{Interval: 15 * time.Second, FillWait: 10 * time.Millisecond}, zap.NewNop(), f.clock, mc, f.kube, f.store, nil)
	burst := strings.Replace(webPolicy, "metrics:", "algorithm: {name: burst, args: {stableWindow: 30m}}\nmetrics:", 1)
	f.warmWith(burst)
	f.prom.hold = make(chan struct{})
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[%d,"50"],[%d,"50"]]}]}}`
	pass := func(at time.Duration) {
		f.clock.SetTime(t0.Add(at))
		f.prom.set(rule{contains: "cpu", body: vector(series("shop", "web", "100", f.clock.Now())),
			rangeBody: fmt.Sprintf(matrix, t0.Add(-time.Minute).Unix(), t0.Add(-30*time.Second).Unix())})
		f.ctl.Pass(context.Background(), always)
	}
	waitHeld := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); f.prom.held.Load() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d range queries held; want %d", f.prom.held.Load(), want)
			}
		}
	}

	pass(0)
	tg := f.ctl.targets["shop/web"]
	if p := strings.Join(f.patches(), ","); p != "shop/web=8" {
		t.Errorf("first pass, with the backfill unanswered: patches %q; want shop/web=8, decided without the past", p)
	}
	waitHeld(1)
	if tg.filled || len(tg.past) != 1 || len(tg.past[0]) != 1 {
		t.Errorf("first pass: filled %v, past %v; want only the pass's own reading", tg.filled, tg.past)
	}
	pass(15 * time.Second)
	if f.prom.rangeCount() != 1 || f.prom.held.Load() != 1 {
		t.Errorf("second pass: %d range queries asked, %d held; want the first still in flight and no other", f.prom.rangeCount(), f.prom.held.Load())
	}

	close(f.prom.hold)
	waitHeld(0)
	f.ctl.fills.Wait()
	pass(30 * time.Second)
	if !tg.filled || f.prom.cancelled.Load() != 0 {
		t.Fatalf("after the backfill ended: filled %v, %d range queries cancelled; want it merged", tg.filled, f.prom.cancelled.Load())
	}
	var got []string // the readings, without the backfill's steps that had none
	for _, s := range tg.past[0] {
		if !math.IsNaN(s.Value) {
			got = append(got, fmt.Sprintf("%s=%g", s.Time.Sub(t0), s.Value))
		}
	}
	if got, want := strings.Join(got, " "), "-1m0s=50 -30s=50 0s=100 15s=100 30s=100"; got != want {
		t.Errorf("past %s; want %s: the backfill's, then the daemon's own from the pass it started at", got, want)
	}

	// Another backfill in flight, and the policy edited: it is stopped, and one for the new policy starts.
	f.prom.hold = make(chan struct{})
	defer close(f.prom.hold)
	f.ctl.targets["shop/web"].forgetPast()
	pass(45 * time.Second)
	waitHeld(1)
	f.write("web.yaml", strings.Replace(burst, "maxReplicas: 20", "maxReplicas: 30", 1))
	if err := f.store.Reload(); err != nil {
		t.Fatal(err)
	}
	stale := tg.fill
	pass(time.Minute)
	<-stale.done
	if !errors.Is(stale.err, context.Canceled) {
		t.Errorf("the backfill in flight at the reload ended with %v; want it cancelled", stale.err)
	}
	waitHeld(1) // the new policy's
	if f.prom.rangeCount() != 3 {
		t.Errorf("%d range queries in all; want 3: the first, the one the reload stopped, the new policy's", f.prom.rangeCount())
	}
}

// A backfilled reading that covered fewer pods than were ready then (by the metric's podsQuery and
// kube-state-metrics' ready pods) is marked as possibly low, as the daemon's own would be; one where either count
// is missing is not. A count whose query fails only leaves the marks out: the readings are still backfilled.
func TestBackfillMarksPartial(t *testing.T) {
	matrix := func(values ...string) string {
		var vs []string
		for i, v := range values {
			if v != "" {
				vs = append(vs, fmt.Sprintf(`[%d,%q]`, t0.Add(time.Duration(i-4)*15*time.Second).Unix(), v))
			}
		}
		return `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[` + strings.Join(vs, ",") + `]}]}}`
	}
	fails := func(r rule) rule {
		r.status, r.rangeBody = 422, `{"status":"error","errorType":"execution","error":"query timed out"}`
		return r
	}
	// At -60s, -45s, -30s and -15s: the pods the qps sum covered, the ready pods, and the sum.
	counted := rule{contains: "count by (namespace, target)", rangeBody: matrix("4", "3", "4", "2")}
	readyPods := rule{contains: "kube_deployment_status_replicas_ready", rangeBody: matrix("4", "4", "4", "")}
	unmarked := "-1m0s=100 low=false -45s=75 low=false -30s=100 low=false -15s=50 low=false"
	for _, c := range []struct {
		name        string
		pods, ready rule
		want        string
	}{
		{name: "both counts", pods: counted, ready: readyPods, want: "-1m0s=100 low=false -45s=75 low=true -30s=100 low=false -15s=50 low=false"},
		{name: "the ready query fails", pods: counted, ready: fails(readyPods), want: unmarked},
		{name: "the pods query fails", pods: fails(counted), ready: readyPods, want: unmarked},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, DeploymentFor(web, 4, 4, nil))
			logs := f.logged(t, strings.Replace(webPolicy, "metrics: [{kind: cpu, utilization: 50}]",
				"algorithm: {name: burst, args: {stableWindow: 30m}}\nmetrics: [{kind: qps, perReplica: 25}]", 1))
			f.warm()
			f.prom.set(c.pods, c.ready,
				rule{contains: "http_requests_total", body: vector(withPods("shop", "web", "100", "4", t0)...), rangeBody: matrix("100", "75", "100", "50")})
			f.ctl.Pass(context.Background(), always)
			tg := f.ctl.targets["shop/web"]
			if !tg.filled {
				t.Fatal("not backfilled")
			}
			var got []string
			for _, s := range tg.past[0] {
				if !math.IsNaN(s.Value) && s.Time.Before(t0) {
					got = append(got, fmt.Sprintf("%s=%g low=%v", s.Time.Sub(t0), s.Value, s.Low))
				}
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("backfilled %s; want %s", strings.Join(got, " "), c.want)
			}
			// A failed count query is a warning, with the query's note; a whole backfill is not.
			warned := logs.FilterMessageSnippet("history backfilled").All()
			if failed := c.want == unmarked; len(warned) != map[bool]int{false: 0, true: 1}[failed] ||
				failed && !strings.Contains(fmt.Sprint(warned[0].ContextMap()["notes"]), "failed") {
				t.Errorf("warnings logged about the backfill: %v; want one with the failed query's note only when a query failed", warned)
			}
		})
	}
}

// A backfill that fails (Prometheus down on start) is tried again backfillRetry later, then after twice as long,
// not at every pass; once one succeeds it fills in the time before the first good reading the daemon saw itself
// (those before it were broken, as Prometheus was out of reach), and keeps the daemon's own from then on.
func TestBackfillRetried(t *testing.T) {
	f := newFixture(t, DeploymentFor(web, 4, 4, nil))
	f.write("web.yaml", strings.Replace(webPolicy, "metrics:", "algorithm: {name: burst, args: {stableWindow: 30m}}\nmetrics:", 1))
	f.store.Reload()
	f.warm()
	unavailable := `{"status":"error","errorType":"unavailable","error":"down"}`
	pass := func(at time.Duration, instant bool, rangeBody string) {
		f.clock.SetTime(t0.Add(at))
		r := rule{contains: "cpu", status: 503, body: unavailable, rangeBody: rangeBody}
		if instant {
			r = rule{contains: "cpu", body: vector(series("shop", "web", "50", f.clock.Now())), rangeBody: rangeBody}
		}
		f.prom.set(r)
		f.ctl.Pass(context.Background(), always)
	}
	pass(0, false, unavailable) // Prometheus out of reach: the reading and the backfill fail
	pass(15*time.Second, false, unavailable)
	for at := 30 * time.Second; at <= time.Minute; at += 15 * time.Second {
		pass(at, true, unavailable) // readings again, range queries still failing
	}
	if f.prom.rangeCount() != 1 {
		t.Fatalf("%d range queries in the first minute; want 1: a failed backfill waits %s", f.prom.rangeCount(), backfillRetry)
	}
	pass(backfillRetry, true, unavailable) // tried again, and fails again: the next wait is twice as long
	pass(backfillRetry+5*time.Minute, true, unavailable)
	if f.prom.rangeCount() != 2 {
		t.Fatalf("%d range queries; want 2: one at %s, none 5m later", f.prom.rangeCount(), backfillRetry)
	}
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[%d,"40"],[%d,"41"],[%d,"42"],[%d,"43"]]}]}}`
	first := t0.Add(-time.Minute)
	pass(backfillRetry+2*backfillRetry, true, fmt.Sprintf(matrix, first.Unix(), t0.Unix(), t0.Add(15*time.Second).Unix(), t0.Add(30*time.Second).Unix()))
	if f.prom.rangeCount() != 3 {
		t.Fatalf("%d range queries; want 3: the third %s after the second", f.prom.rangeCount(), 2*backfillRetry)
	}
	got := f.ctl.targets["shop/web"].past[0]
	at := func(when time.Time) (policy.Sample, bool) {
		for _, s := range got {
			if s.Time.Equal(when) {
				return s, true
			}
		}
		return policy.Sample{}, false
	}
	for _, w := range []struct {
		at    time.Time
		value float64
	}{{first, 40}, {t0, 41}, {t0.Add(15 * time.Second), 42}, {t0.Add(30 * time.Second), 50}, {t0.Add(time.Minute), 50}} {
		if s, ok := at(w.at); !ok || s.Value != w.value {
			t.Errorf("past at %s = %v (found: %v); want %g", w.at.Format(time.TimeOnly), s, ok, w.value)
		}
	}
	if !slices.IsSortedFunc(got, func(a, b policy.Sample) int { return a.Time.Compare(b.Time) }) {
		t.Errorf("past is not in time order: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.Equal(got[i-1].Time) {
			t.Errorf("two readings at %s: %v and %v", got[i].Time.Format(time.TimeOnly), got[i-1], got[i])
		}
	}
}
