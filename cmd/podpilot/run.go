package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	promconfig "github.com/prometheus/common/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/utils/clock"

	"github.com/podpilot/podpilot/controller"
	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// daemonFlags are the usual overrides of the configuration file.
type daemonFlags struct {
	config, prometheus, bearerFile, basicUser, basicPassFile, caFile string
	interval                                                         time.Duration
	policies                                                         list
	leNamespace, leName, listen, logLevel, kubeconfig                string
	dryRun, leaderElect                                              optBool
}

// optBool is a boolean flag that knows whether it was given, so that --dry-run=false can turn off a file's
// dryRun: true, and a flag left out keeps the file's value.
type optBool struct{ set, v bool }

func (b *optBool) String() string   { return strconv.FormatBool(b.v) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	b.set, b.v = err == nil, v
	return err
}

// registerPrometheus adds the configuration file and Prometheus flags, which run and record share.
func (f *daemonFlags) registerPrometheus(fs *flag.FlagSet, config string) {
	fs.StringVar(&f.config, "config", "", config)
	fs.StringVar(&f.prometheus, "prometheus-url", "", "Prometheus address")
	fs.StringVar(&f.bearerFile, "prometheus-bearer-token-file", "", "file holding a bearer token for Prometheus")
	fs.StringVar(&f.basicUser, "prometheus-basic-auth-user", "", "basic auth user for Prometheus")
	fs.StringVar(&f.basicPassFile, "prometheus-basic-auth-password-file", "", "file holding the basic auth password")
	fs.StringVar(&f.caFile, "prometheus-ca-file", "", "CA certificate to verify Prometheus's TLS certificate")
}

func (f *daemonFlags) register(fs *flag.FlagSet) {
	f.registerPrometheus(fs, "configuration file (see config.example.yaml); flags override it")
	fs.DurationVar(&f.interval, "interval", 0, "pass interval (default 15s)")
	fs.Var(&f.policies, "policies", "policy file or directory (repeatable)")
	fs.Var(&f.leaderElect, "leader-elect", "use a Lease so that one replica acts (default true; --leader-elect=false for one replica)")
	fs.StringVar(&f.leNamespace, "leader-election-namespace", "", "the Lease's namespace")
	fs.StringVar(&f.leName, "leader-election-name", "", "the Lease's name")
	fs.StringVar(&f.listen, "listen", "", "address for /healthz, /readyz and /metrics (default :8080)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, or $KUBECONFIG)")
	fs.Var(&f.dryRun, "dry-run", "decide, log and emit metrics, but never write (--dry-run=false overrides the file)")
}

// load reads the configuration file (if any), applies the flags over it, and only then validates, so that a flag
// can mend the file's value. An error in a value a flag set names that flag.
func (f *daemonFlags) load() (controller.Config, error) {
	cfg, at, file := controller.DefaultConfig(), policy.Where(nil), "flags"
	if f.config != "" {
		var err error
		if cfg, at, err = controller.ReadConfig(f.config); err != nil {
			return cfg, err
		}
		file = f.config
	}
	by := map[string][]string{} // config field → the flags that set it
	mark := func(field, flag string) { by[field] = append(by[field], "--"+flag) }
	set := func(dst *string, v, field, flag string) {
		if v != "" {
			*dst = v
			mark(field, flag)
		}
	}
	set(&cfg.Prometheus.Address, f.prometheus, "prometheus.address", "prometheus-url")
	if f.bearerFile != "" {
		cfg.HTTP.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: f.bearerFile}
		mark("prometheus.http", "prometheus-bearer-token-file")
	}
	if f.basicUser != "" || f.basicPassFile != "" {
		// Each flag overrides its own field of the file's basic_auth, and keeps the other.
		ba := promconfig.BasicAuth{}
		if cfg.HTTP.BasicAuth != nil {
			ba = *cfg.HTTP.BasicAuth
		}
		set(&ba.Username, f.basicUser, "prometheus.http", "prometheus-basic-auth-user")
		if f.basicPassFile != "" {
			ba.PasswordFile, ba.Password = f.basicPassFile, ""
			mark("prometheus.http", "prometheus-basic-auth-password-file")
		}
		cfg.HTTP.BasicAuth = &ba
	}
	set(&cfg.HTTP.TLSConfig.CAFile, f.caFile, "prometheus.http", "prometheus-ca-file")
	if f.interval != 0 {
		cfg.Interval = f.interval
		mark("interval", "interval")
	}
	if len(f.policies) > 0 {
		cfg.Policies = f.policies
		mark("policies", "policies")
	}
	if f.leaderElect.set {
		cfg.LeaderElection.Enabled = f.leaderElect.v
		mark("leaderElection", "leader-elect")
	}
	set(&cfg.LeaderElection.Namespace, f.leNamespace, "leaderElection", "leader-election-namespace")
	set(&cfg.LeaderElection.Name, f.leName, "leaderElection", "leader-election-name")
	set(&cfg.Listen, f.listen, "listen", "listen")
	set(&cfg.Log.Level, f.logLevel, "log.level", "log-level")
	set(&cfg.Kube.Kubeconfig, f.kubeconfig, "kube.kubeconfig", "kubeconfig")
	if f.dryRun.set {
		cfg.DryRun = f.dryRun.v
	}
	err := cfg.Validate(file, at)
	if es, ok := err.(policy.Errors); ok {
		for _, e := range es {
			if flags, ok := by[e.Path]; ok {
				flag := strings.Join(flags, " and ")
				if f.config != "" && (e.Path == "prometheus.http" || e.Path == "leaderElection") {
					e.Path = fmt.Sprintf("%s (with %s)", e.Path, flag) // the flags and the file's other fields together
				} else {
					e.File, e.Line, e.Col = flag, 0, 0
				}
			}
		}
	}
	return cfg, err
}

func newLogger(c controller.LogConfig, stderr io.Writer) (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.Set(c.Level); err != nil {
		return nil, err
	}
	format := c.Format
	if format == "auto" {
		format = "console"
		if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
			format = "json"
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(encCfg)
	if format == "console" {
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(os.Stdout), level)), nil
}

func kubeClient(c controller.KubeConfig) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch {
	case c.Kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	case os.Getenv("KUBECONFIG") != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	default:
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	cfg.QPS, cfg.Burst, cfg.UserAgent = float32(c.QPS), c.Burst, "podpilot/"+version
	return cfg, nil
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f daemonFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: podpilot run [--config FILE] [flags]\n\nRuns the autoscaler: every interval, one pass over every policy's target. Flags override the file.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		// A boolean flag takes its value after "=": "--dry-run false" would run with dry-run on.
		fmt.Fprintf(stderr, "podpilot run: unexpected argument %q (a boolean flag's value goes after \"=\", as in --dry-run=false)\n", fs.Arg(0))
		return 2
	}
	cfg, err := f.load()
	if err != nil {
		printErr(stderr, "podpilot run", err)
		return 2
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		printErr(stderr, "podpilot run", err)
		return 2
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("podpilot stopped", zap.Error(err))
		return 1
	}
	return 0
}

func printErr(w io.Writer, prefix string, err error) {
	var es policy.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", prefix, err)
}

// run wires the daemon together and runs it until ctx ends.
func run(ctx context.Context, cfg controller.Config, log *zap.Logger) error {
	restCfg, err := kubeClient(cfg.Kube)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	scales, err := controller.NewScales(restCfg, client)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := controller.NewMetrics(reg)
	source, err := metrics.New(metrics.Config{Address: cfg.Prometheus.Address, HTTP: cfg.HTTP, Timeout: cfg.Prometheus.Timeout,
		MaxAge: cfg.Prometheus.MaxAge, Registerer: reg})
	if err != nil {
		return err
	}
	store := controller.NewStore(cfg.Policies, policy.Builtin(), log, m)
	if err := store.Reload(); err != nil {
		log.Error("some policy files were rejected", zap.Error(err))
	}
	kube := controller.NewKube(client, scales, 10*time.Minute, log)
	defer kube.Shutdown()

	clk := clock.RealClock{}
	ctl := controller.New(controller.Options{Interval: cfg.Interval, DryRun: cfg.DryRun}, log, clk, source, kube, store, m)
	watchdog := leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
	h := controller.Handler(reg, func() error { return watchdog.Check(nil) }, controller.Ready(store, kube.Synced), ctl.Decisions)
	addr, served, err := controller.Serve(ctx, cfg.Listen, h)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	log.Info("podpilot started", zap.String("version", version), zap.String("listen", addr.String()), zap.Strings("policies", cfg.Policies),
		zap.Int("targets", len(store.Policies())), zap.Duration("interval", cfg.Interval), zap.Bool("dryRun", cfg.DryRun),
		zap.Bool("leaderElection", cfg.LeaderElection.Enabled), zap.String("prometheus", cfg.Prometheus.Address))
	if err := kube.Start(ctx); err != nil {
		return err
	}
	go store.Watch(ctx, clk, cfg.Reload)
	work := func(wctx context.Context, lead func() error) {
		ctl.Reset()       // a new leader starts fresh histories: no scale-down before a full window
		defer ctl.Reset() // a replica that stops leading reports no targets: the leader's values are the ones
		ctl.Run(wctx, lead)
	}
	if cfg.LeaderElection.Enabled {
		if err := controller.Elect(ctx, cfg.LeaderElection, client, controller.Identity(), watchdog, log, m, work); err != nil {
			return err
		}
	} else {
		m.Leading(true)
		work(ctx, func() error { return ctx.Err() })
	}
	log.Info("podpilot stopping")
	return <-served
}
