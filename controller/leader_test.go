package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
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
func worker(id string, w *writes, running *atomic.Bool) func(context.Context, func() error) {
	return func(ctx context.Context, lead func() error) {
		running.Store(true)
		defer running.Store(false)
		for ctx.Err() == nil {
			if lead() == nil {
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
	waitFor(t, 5*time.Second, "b to lead and write", func() bool { return runningB.Load() && slices.Contains(w.all(), "b") })
	// a keeps its lease until it expires, and writes until its renew deadline at most: never beside b.
	if log := strings.Join(w.all(), ""); !strings.HasPrefix(log, "a") || strings.Contains(log[strings.Index(log, "b"):], "a") {
		t.Fatalf("writes = %v; want a's, then only b's", w.all())
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
	// Without an elector the watchdog has nothing to watch: /healthz stays healthy (a standby, or no leader
	// election). client-go's adaptor fails it once a leader has stopped renewing past its timeout.
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
	if err := holds(context.Background(), client, fastLease, "a"); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a on a lease held by b: %v; want ErrNotLeader", err)
	}
	if err := holds(context.Background(), client, fastLease, "b"); err != nil {
		t.Errorf("b on its own fresh lease: %v", err)
	}
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	l, _ := client.CoordinationV1().Leases("podpilot").Get(context.Background(), "podpilot", metav1.GetOptions{})
	l.Spec.RenewTime = &old
	client.CoordinationV1().Leases("podpilot").Update(context.Background(), l, metav1.UpdateOptions{})
	if err := holds(context.Background(), client, fastLease, "b"); !errors.Is(err, ErrNotLeader) {
		t.Errorf("b on a lease that expired a minute ago: %v; want ErrNotLeader", err)
	}
	// A Lease that cannot be read is not "not the leader": the write fails, and says why.
	client.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("too many requests")
	})
	if err := holds(context.Background(), client, fastLease, "b"); err == nil || errors.Is(err, ErrNotLeader) ||
		err.Error() != "checking the lease podpilot/podpilot: too many requests" {
		t.Errorf("holds on a failed read: %v; want the read's error", err)
	}
}

// Elect's lead reads the Lease afresh at every call, beside the elector's own view: one get per call.
func TestElectLeadReadsTheLease(t *testing.T) {
	client := fake.NewClientset()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	gets := func() (n int) {
		for _, a := range client.Actions() {
			if a.GetVerb() == "get" && a.GetResource().Resource == "leases" {
				n++
			}
		}
		return n
	}
	got := make(chan int, 1)
	go Elect(ctx, fastLease, client, "a", nil, zap.NewNop(), NewMetrics(nil), func(ctx context.Context, lead func() error) {
		before := gets()
		n := -1
		if lead() == nil {
			n = gets() - before
		}
		got <- n
		<-ctx.Done()
	})
	select {
	case n := <-got:
		if n < 1 { // the elector's own renewal may add one
			t.Errorf("lead() while leading made %d Lease gets (-1: it failed); want one of its own", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a never led")
	}
}
