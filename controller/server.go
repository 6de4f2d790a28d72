package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /healthz (live: the leader-election watchdog), /readyz (configuration loaded, clients ready),
// /metrics, and /decisions (every target's latest decision, as JSON) when decisions is not nil.
func Handler(reg prometheus.Gatherer, healthz, readyz func() error, decisions func() []Seen) http.Handler {
	mux := http.NewServeMux()
	check := func(f func() error) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			if f != nil {
				if err := f(); err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
			}
			fmt.Fprintln(w, "ok")
		}
	}
	mux.Handle("/healthz", check(healthz))
	mux.Handle("/readyz", check(readyz))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if decisions != nil {
		mux.HandleFunc("/decisions", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			enc.Encode(decisions())
		})
	}
	return mux
}

// Serve listens on addr and serves h until ctx ends. It returns the bound address once listening.
func Serve(ctx context.Context, addr string, h http.Handler) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return ln.Addr(), done, nil
}

// Ready reports whether the store has loaded and the caches have synced.
func Ready(store *Store, synced func() bool) func() error {
	return func() error {
		switch {
		case !store.Loaded():
			return errors.New("policies not loaded yet")
		case store.Unlisted() != nil:
			return fmt.Errorf("policy paths cannot be listed: %w", store.Unlisted())
		case synced != nil && !synced():
			return errors.New("Kubernetes caches not synced yet")
		}
		return nil
	}
}
