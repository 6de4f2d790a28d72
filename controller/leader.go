package controller

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Identity names this replica in the Lease: the pod name (hostname) and a random suffix.
func Identity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "podpilot"
	}
	return host + "_" + rand.String(6)
}

// holds reads the Lease afresh and says whether this replica still holds it, unexpired by the local clock: nil,
// ErrNotLeader, or why the Lease could not be read. Writes are rare, so each pays this read (and each pass one): a
// replica that was frozen past its lease (and whose elector still believes its cached record) writes nothing once
// another has taken over.
func holds(ctx context.Context, client kubernetes.Interface, cfg LeaderConfig, identity string) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	l, err := client.CoordinationV1().Leases(cfg.Namespace).Get(ctx, cfg.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		return fmt.Errorf("checking the lease %s/%s: %w", cfg.Namespace, cfg.Name, err)
	case l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != identity || l.Spec.RenewTime == nil:
		return ErrNotLeader
	case time.Since(l.Spec.RenewTime.Time) >= cfg.LeaseDuration:
		return ErrNotLeader
	}
	return nil
}

// Elect runs work only while this replica holds the Lease, and campaigns again after losing it, until ctx ends.
//
// work gets a context that ends when the lease is lost or ctx ends, and a lead function that must return nil for
// a write to happen: it checks the elector's view and then reads the Lease itself (ErrNotLeader, or the error that
// kept it from reading the Lease). When ctx ends, work is stopped and waited for before the lease is released (ReleaseOnCancel),
// so that no write can follow the release; a replica that lost the lease gets ErrNotLeader from lead() at once.
func Elect(ctx context.Context, cfg LeaderConfig, client kubernetes.Interface, identity string,
	watchdog *leaderelection.HealthzAdaptor, log *zap.Logger, m *Metrics, work func(ctx context.Context, lead func() error)) error {
	for ctx.Err() == nil {
		if err := electOnce(ctx, cfg, client, identity, watchdog, log, m, work); err != nil {
			return err
		}
	}
	return nil
}

func electOnce(ctx context.Context, cfg LeaderConfig, client kubernetes.Interface, identity string,
	watchdog *leaderelection.HealthzAdaptor, log *zap.Logger, m *Metrics, work func(ctx context.Context, lead func() error)) error {
	// The elector's context is not ctx: it ends only after the work has stopped.
	electCtx, stopElect := context.WithCancel(context.Background())
	defer stopElect()
	var (
		mu       sync.Mutex
		leading  bool
		workDone = make(chan struct{})
		le       *leaderelection.LeaderElector
	)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            cfg.Name,
		WatchDog:        watchdog,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				defer close(workDone)
				mu.Lock()
				leading = true
				mu.Unlock()
				wctx, cancel := context.WithCancel(lctx)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
				log.Info("leading: starting work", zap.String("identity", identity))
				m.Leading(true)
				work(wctx, func() error {
					if wctx.Err() != nil || !le.IsLeader() {
						return ErrNotLeader
					}
					return holds(wctx, client, cfg, identity)
				})
				m.Leading(false)
				log.Info("work stopped", zap.String("identity", identity))
			},
			OnStoppedLeading: func() {
				m.Leading(false)
				log.Info("not leading", zap.String("identity", identity))
			},
			OnNewLeader: func(id string) {
				if id != identity {
					log.Info("another replica leads", zap.String("leader", id))
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-electCtx.Done():
			return
		}
		mu.Lock()
		l := leading
		mu.Unlock()
		if l {
			<-workDone // stop the work first...
		}
		stopElect() // ...then let the elector release the lease
	}()
	le.Run(electCtx)
	mu.Lock()
	l := leading
	mu.Unlock()
	if l {
		<-workDone
	}
	if ctx.Err() == nil {
		// Lost the lease: wait a little before campaigning again as a standby.
		select {
		case <-ctx.Done():
		case <-time.After(cfg.RetryPeriod):
		}
	}
	return nil
}
