package controller

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/leaderelection"

	"github.com/podpilot/podpilot/policy"
)

var fastLease = LeaderConfig{Enabled: true, Namespace: "podpilot", Name: "podpilot",
	LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * time.Millisecond} // a Lease holds whole seconds

// writes is a log of simulated scale writes, each allowed only while lead() holds.
type writes struct {
	mu  sync.Mutex
	log []string
}

func (w *writes) add(s string) {
	w.mu.Lock()
	w.log = append(w.log, s)
	w.mu.Unlock()
}

func (w *writes) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

// worker writes every 10 ms while leading, and notes when it stops.
func worker(id string, w *writes, running *atomic.Bool) func(context.Context, func() bool) {
	return func(ctx context.Context, lead func() bool) {
		running.Store(true)
		defer running.Store(false)
		for ctx.Err() == nil {
			if lead() {
				w.add(id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func holder(t *testing.T, c *fake.Clientset) string {
	l, err := c.CoordinationV1().Leases("podpilot").Get(context.Background(), "podpilot", metav1Get)
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
	return 0
}

// On shutdown, work stops before the lease is released, the other replica takes over at once, and the old one
// writes nothing after the release.
func TestElectHandover(t *testing.T) {
	client := fake.NewClientset()
	var releasedWhileRunning atomic.Bool
	var runningA, runningB atomic.Bool
	var released atomic.Int64
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "" {
			released.Store(time.Now().UnixNano())
			if runningA.Load() {
				releasedWhileRunning.Store(true)
			}
		}
		return false, nil, nil
	})
	w := &writes{}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA, doneB := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(doneA)
		Elect(ctxA, fastLease, client, "a", nil, zap.NewNop(), NewMetrics(nil), worker("a", w, &runningA))
	}()
	waitFor(t, 5*time.Second, "a to lead", func() bool { return holder(t, client) == "a" && runningA.Load() })
	go func() {
		defer close(doneB)
		Elect(ctxB, fastLease, client, "b", nil, zap.NewNop(), NewMetrics(nil), worker("b", w, &runningB))
	}()
	time.Sleep(time.Second)
	if runningB.Load() {
		t.Fatal("b works while a holds the lease")
	}
	stopA()
	<-doneA
	took := waitFor(t, 5*time.Second, "b to take over", func() bool { return holder(t, client) == "b" && runningB.Load() })
	if releasedWhileRunning.Load() || released.Load() == 0 {
		t.Errorf("the lease was released while a was still working (or never released)")
	}
	if took > fastLease.LeaseDuration {
		t.Errorf("b took over in %s; want within the lease duration %s", took, fastLease.LeaseDuration)
	}
	// No write of a's after b's first.
	waitFor(t, 5*time.Second, "b's first write", func() bool { return strings.Contains(strings.Join(w.all(), ""), "b") })
	log := w.all()
	firstB := strings.Index(strings.Join(log, ""), "b")
	if firstB < 0 || strings.Contains(strings.Join(log, "")[firstB:], "a") {
		t.Errorf("writes = %v; want a's, then only b's", log)
	}
	stopB()
	<-doneB
}

// A leader that cannot renew loses the lease: it stops writing at once, and the standby takes over.
func TestElectLostLease(t *testing.T) {
	client := fake.NewClientset()
	var failA atomic.Bool
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if failA.Load() && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "a" {
			return true, nil, fmt.Errorf("apiserver unreachable from a")
		}
		return false, nil, nil
	})
	w := &writes{}
	var runningA, runningB atomic.Bool
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		Elect(ctx, fastLease, client, "a", nil, zap.NewNop(), NewMetrics(nil), worker("a", w, &runningA))
	})
	waitFor(t, 5*time.Second, "a to lead", func() bool { return runningA.Load() })
	wg.Go(func() {
		Elect(ctx, fastLease, client, "b", nil, zap.NewNop(), NewMetrics(nil), worker("b", w, &runningB))
	})
	failA.Store(true)
	waitFor(t, 5*time.Second, "a to stop", func() bool { return !runningA.Load() })
	stoppedAt := len(w.all())
	waitFor(t, 5*time.Second, "b to lead", func() bool { return runningB.Load() })
	for _, s := range w.all()[stoppedAt:] {
		if s == "a" {
			t.Fatalf("a wrote after losing the lease: %v", w.all())
		}
	}
	stop()
	wg.Wait()
}

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.Leading(true)
	store := NewStore([]string{t.TempDir()}, nil, zap.NewNop(), m)
	synced := false
	h := Handler(reg, func() error { return nil }, Ready(store, func() bool { return synced }),
		func() []Seen { return []Seen{{Target: "shop/web", Desired: 3, Reason: policy.ScaleUpLimit}} })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "policies not loaded") {
		t.Errorf("/readyz before loading = %d %q", code, body)
	}
	store.Reload()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "caches not synced") {
		t.Errorf("/readyz before sync = %d %q", code, body)
	}
	synced = true
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "podpilot_leader 1") {
		t.Errorf("/metrics = %d, lacks podpilot_leader 1", code)
	}
	if code, body := get("/decisions"); code != 200 || !strings.Contains(body, `"target": "shop/web"`) || !strings.Contains(body, `"reason": "ScaleUpLimit"`) {
		t.Errorf("/decisions = %d %s", code, body)
	}
	// The watchdog fails /healthz when the leader stopped renewing.
	h = Handler(reg, func() error { return leaderelection.NewLeaderHealthzAdaptor(time.Second).Check(nil) }, nil, nil)
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz without an elector = %d; want 200", code)
	}
}

var metav1Get = metav1.GetOptions{}

// A leader frozen past its lease, whose elector still believes its cached record, must not write once another
// replica holds the Lease: lead() reads the Lease itself.
func TestHoldsReadsTheLease(t *testing.T) {
	client := fake.NewClientset()
	now := metav1.NewMicroTime(time.Now())
	b := "b"
	client.CoordinationV1().Leases("podpilot").Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "podpilot", Name: "podpilot"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &b, RenewTime: &now}}, metav1.CreateOptions{})
	if holds(context.Background(), client, fastLease, "a") {
		t.Errorf("a holds a lease held by b")
	}
	if !holds(context.Background(), client, fastLease, "b") {
		t.Errorf("b does not hold its own fresh lease")
	}
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	l, _ := client.CoordinationV1().Leases("podpilot").Get(context.Background(), "podpilot", metav1.GetOptions{})
	l.Spec.RenewTime = &old
	client.CoordinationV1().Leases("podpilot").Update(context.Background(), l, metav1.UpdateOptions{})
	if holds(context.Background(), client, fastLease, "b") {
		t.Errorf("b holds a lease that expired a minute ago")
	}
}
