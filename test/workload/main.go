// Command workload is podpilot's synthetic workload exporter for the end-to-end tests. For each target
// Deployment it follows a demand curve (requests per second), watches which of the Deployment's pods are ready,
// and serves on /metrics the series a real cluster would have for that load: cAdvisor's
// container_cpu_usage_seconds_total and kube-state-metrics' kube_pod_container_resource_requests per pod, an
// application's http_requests_total per pod, and a RabbitMQ exporter's rabbitmq_queue_messages_ready per queue.
//
//	workload --kubeconfig KUBECONFIG --listen 127.0.0.1:0 \
//	  --target shop/web=const:20 --target shop/orders=steps:5@0s,50@60s --queue shop/orders=orders
//
// The first line on stdout is "listening on HOST:PORT". POST /demand?target=ns/name&value=N sets a constant
// demand from then on; GET /healthz answers ok.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// pairs is a repeatable flag of ns/name=VALUE.
type pairs struct {
	keys, vals []string
}

func (p *pairs) String() string { return strings.Join(p.keys, ",") }

func (p *pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	ns, name, okKey := strings.Cut(k, "/")
	if !ok || !okKey || ns == "" || name == "" || v == "" {
		return fmt.Errorf("want NAMESPACE/NAME=VALUE, got %q", s)
	}
	for _, have := range p.keys {
		if have == k {
			return fmt.Errorf("%s given twice", k)
		}
	}
	p.keys, p.vals = append(p.keys, k), append(p.vals, v)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
}

func run() error {
	var targets, queues pairs
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster the target Deployments are in")
	listen := flag.String("listen", "127.0.0.1:0", "address to serve /metrics on (port 0: any free port)")
	flag.Var(&targets, "target", "NAMESPACE/NAME=SPEC, repeatable; SPEC is const:N, steps:N@0s,M@60s,... or trace:FILE[:scale][:speed]")
	flag.Var(&queues, "queue", "NAMESPACE/NAME=QUEUE: the target's queue, exported as rabbitmq_queue_messages_ready{queue=QUEUE}")
	cpuPerRequest := flag.Float64("cpu-per-request", 0.01, "core-seconds one request costs")
	serviceRate := flag.Float64("service-rate", 10, "messages per second one ready pod takes off its queue")
	refresh := flag.Duration("refresh", time.Second, "how often the pods of each target are listed")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if len(targets.keys) == 0 {
		return errors.New("no --target given")
	}
	if *cpuPerRequest < 0 || *serviceRate < 0 || *refresh <= 0 {
		return errors.New("--cpu-per-request and --service-rate must be >= 0, --refresh > 0")
	}

	now := time.Now()
	e := &Exporter{params: Params{CPUPerRequest: *cpuPerRequest, ServiceRate: *serviceRate}, now: time.Now}
	for i, key := range targets.keys {
		c, err := ParseSpec(targets.vals[i])
		if err != nil {
			return fmt.Errorf("--target %s: %w", key, err)
		}
		ns, name, _ := strings.Cut(key, "/")
		e.targets = append(e.targets, NewTarget(ns, name, "", c, now))
	}
	seen := map[string]string{}
	for i, key := range queues.keys {
		t := e.target(key)
		if t == nil {
			return fmt.Errorf("--queue %s: no --target %s", key, key)
		}
		q := queues.vals[i]
		if other, dup := seen[q]; dup {
			return fmt.Errorf("--queue %s: queue %q is already the queue of %s", key, q, other)
		}
		seen[q] = key
		t.Queue = q
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %q: %w", *kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// One listing before serving, so that the first scrape already sees the pods.
	refreshAll(ctx, cs, e, log, map[string]string{})
	go func() {
		lastErr := map[string]string{}
		tick := time.NewTicker(*refresh)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				refreshAll(ctx, cs, e, log, lastErr)
			}
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.HandleFunc("/demand", e.ServeDemand)
	mux.HandleFunc("/hide", e.ServeHide)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	fmt.Printf("listening on %s\n", ln.Addr())
	log.Info("serving", "addr", ln.Addr().String(), "targets", targets.String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// refreshAll lists every target's pods and hands them to the exporter. On an error the target keeps its last pods;
// an error is logged when it differs from the target's previous one, and recovery is logged too.
func refreshAll(ctx context.Context, cs kubernetes.Interface, e *Exporter, log *slog.Logger, lastErr map[string]string) {
	for _, t := range e.targets {
		key := t.Namespace + "/" + t.Name
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pods, err := listPods(lctx, cs, t.Namespace, t.Name)
		cancel()
		if err != nil {
			if ctx.Err() == nil && lastErr[key] != err.Error() {
				log.Error("listing pods failed; keeping the last ones", "target", key, "err", err)
			}
			lastErr[key] = err.Error()
			continue
		}
		if lastErr[key] != "" {
			log.Info("listing pods works again", "target", key)
			delete(lastErr, key)
		}
		e.SetPods(t, pods)
	}
}
