package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Defaults of Config.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxAge   = 2 * time.Minute
	DefaultParallel = 4
)

// maxRangePoints is how many steps one range query may span: Prometheus refuses more than 11,000 points per
// series, so longer ranges are split.
const maxRangePoints = 11000

// Config says how to reach Prometheus.
type Config struct {
	Address string // Prometheus base URL, such as http://127.0.0.1:9090
	// HTTP is the client configuration of prometheus/common: bearer token or token file, basic auth,
	// authorization, TLS (CA, client certificate), proxy, and extra headers (HTTPHeaders). Its zero value follows
	// no redirects and speaks HTTP/1.1 only; decode it from YAML, or start from config.DefaultHTTPClientConfig,
	// to get Prometheus' defaults.
	HTTP     config.HTTPClientConfig
	Timeout  time.Duration // per query, sent to Prometheus as its evaluation timeout too; default 5s
	MaxAge   time.Duration // a sample stamped before at-MaxAge is stale; default 2m
	Parallel int           // queries in flight at once; default 4
	// Registerer, when set, gets podpilot_query_duration_seconds (histogram, label result="ok"|"error") and
	// podpilot_query_errors_total. Two clients on one registerer share the collectors.
	Registerer prometheus.Registerer
}

// Client queries Prometheus. It is safe for concurrent use.
type Client struct {
	api      v1.API
	timeout  time.Duration
	maxAge   time.Duration
	parallel int
	duration *prometheus.HistogramVec
	failures prometheus.Counter

	mu          sync.Mutex
	unbatchable map[string]bool // templates whose results cannot be told apart by label: queried per target
}

// New returns a client for the Prometheus at cfg.Address. It does not contact Prometheus.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus address %q: want an http or https URL such as http://prometheus:9090", cfg.Address)
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("prometheus timeout: must not be negative, got %s", cfg.Timeout)
	case cfg.MaxAge < 0:
		return nil, fmt.Errorf("prometheus max age: must not be negative, got %s", cfg.MaxAge)
	case cfg.Parallel < 0:
		return nil, fmt.Errorf("prometheus parallel queries: must not be negative, got %d", cfg.Parallel)
	}
	if err := cfg.HTTP.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus http config: %w", err)
	}
	hc, err := config.NewClientFromConfig(cfg.HTTP, "podpilot")
	if err != nil {
		return nil, fmt.Errorf("prometheus http client: %w", err)
	}
	ac, err := api.NewClient(api.Config{Address: cfg.Address, Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	c := &Client{
		api:         v1.NewAPI(ac),
		timeout:     orDefault(cfg.Timeout, DefaultTimeout),
		maxAge:      orDefault(cfg.MaxAge, DefaultMaxAge),
		parallel:    orDefault(cfg.Parallel, DefaultParallel),
		unbatchable: map[string]bool{},
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podpilot_query_duration_seconds",
			Help:    "Duration of podpilot's Prometheus queries, by result (ok or error).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "podpilot_query_errors_total",
			Help: "Prometheus queries that failed: HTTP or API errors, timeouts and results that are not of the wanted type.",
		}),
	}
	if r := cfg.Registerer; r != nil {
		if c.duration, err = registerOnce(r, c.duration); err != nil {
			return nil, err
		}
		if c.failures, err = registerOnce(r, c.failures); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// registerOnce registers col, or returns the collector already registered under the same description.
func registerOnce[T prometheus.Collector](r prometheus.Registerer, col T) (T, error) {
	err := r.Register(col)
	if err == nil {
		return col, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if old, ok := are.ExistingCollector.(T); ok {
			return old, nil
		}
	}
	return col, fmt.Errorf("register query metrics: %w", err)
}

// instant runs one instant query at time at. The error is phrased to go into an Observation's Reason.
func (c *Client) instant(ctx context.Context, query string, at time.Time) (model.Vector, v1.Warnings, error) {
	qctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	// The lookback delta is MaxAge: a bare gauge whose last sample is older reads as no series (Prometheus 2.43
	// and later; older ones ignore the parameter and look back their own five minutes).
	val, warns, _, err := c.api.Query(qctx, query, at, v1.WithTimeout(serverTimeout(c.timeout)), v1.WithLookbackDelta(c.maxAge))
	var vec model.Vector
	if err == nil {
		var ok bool
		if vec, ok = val.(model.Vector); !ok {
			err = fmt.Errorf("result is a %s, want a vector", valueType(val))
		}
	} else {
		err = c.failure(ctx, qctx, err)
	}
	c.observe(start, err)
	return vec, warns, err
}

// serverTimeout is the evaluation timeout sent to Prometheus. client_golang formats it with Go's
// Duration.String, and Prometheus refuses a fraction in that form ("1.5s"): round up to whole seconds (or
// milliseconds below a second), which print in a form Prometheus parses. The client's own deadline stays exact.
func serverTimeout(d time.Duration) time.Duration {
	if d >= time.Second {
		return (d + time.Second - 1).Truncate(time.Second)
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// failure says why a query failed: a timeout, the caller giving up, or the error itself.
func (c *Client) failure(parent, qctx context.Context, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("query canceled: %w", parent.Err())
	case errors.Is(qctx.Err(), context.DeadlineExceeded):
		return timeoutError(c.timeout)
	}
	if e, ok := errors.AsType[*v1.Error](err); ok && e.Detail != "" {
		return fmt.Errorf("query failed: %w: %s", err, oneLine(e.Detail, 200))
	}
	return fmt.Errorf("query failed: %w", err)
}

// timeoutError is a query that ran out of its time. It is a context.DeadlineExceeded.
type timeoutError time.Duration

func (e timeoutError) Error() string {
	return fmt.Sprintf("query timed out after %s", time.Duration(e))
}

func (e timeoutError) Unwrap() error { return context.DeadlineExceeded }

func (c *Client) observe(start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
		c.failures.Inc()
	}
	c.duration.WithLabelValues(result).Observe(time.Since(start).Seconds())
}

// Range runs a range query from start to end (inclusive) every step. A range longer than Prometheus allows in
// one query (11,000 steps) is split into several queries, whose series are joined; each query has the client's
// timeout. It returns Prometheus's warnings too, each once.
func (c *Client) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) (model.Matrix, []string, error) {
	switch {
	case step <= 0:
		return nil, nil, fmt.Errorf("range query %q: step must be positive, got %s", shortQuery(query), step)
	case end.Before(start):
		return nil, nil, fmt.Errorf("range query %q: end %s is before start %s", shortQuery(query), end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	var (
		out   = model.Matrix{}
		index = map[model.Fingerprint]*model.SampleStream{}
		warns []string
	)
	for from := start; !from.After(end); {
		to := end
		if end.Sub(from)/step >= maxRangePoints {
			to = from.Add((maxRangePoints - 1) * step)
		}
		m, ws, err := c.rangeOnce(ctx, query, v1.Range{Start: from, End: to, Step: step})
		if err != nil {
			return nil, nil, fmt.Errorf("range query %q from %s to %s: %w", shortQuery(query), from.Format(time.RFC3339), to.Format(time.RFC3339), err)
		}
		for _, w := range ws {
			if !slices.Contains(warns, w) {
				warns = append(warns, w)
			}
		}
		for _, s := range m {
			fp := s.Metric.Fingerprint()
			if have := index[fp]; have != nil && have.Metric.Equal(s.Metric) {
				have.Values = append(have.Values, s.Values...)
				have.Histograms = append(have.Histograms, s.Histograms...)
				continue
			}
			index[fp] = s
			out = append(out, s)
		}
		from = to.Add(step)
	}
	sort.Sort(out)
	return out, warns, nil
}

func (c *Client) rangeOnce(ctx context.Context, query string, r v1.Range) (model.Matrix, v1.Warnings, error) {
	qctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	// The daemon's lookback (maxAge): a range query reads each step as the daemon's instant query would.
	val, warns, _, err := c.api.QueryRange(qctx, query, r, v1.WithTimeout(serverTimeout(c.timeout)), v1.WithLookbackDelta(c.maxAge))
	var m model.Matrix
	if err == nil {
		var ok bool
		if m, ok = val.(model.Matrix); !ok {
			err = fmt.Errorf("result is a %s, want a matrix", valueType(val))
		}
	} else {
		err = c.failure(ctx, qctx, err)
	}
	c.observe(start, err)
	return m, warns, err
}

// valueType names a query result's type as Prometheus does (scalar, string, vector, matrix).
func valueType(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}

// maxQueryText is how much of a query a message quotes.
const maxQueryText = 300

// shortQuery cuts a query to about maxQueryText characters for messages.
func shortQuery(q string) string { return oneLine(q, maxQueryText) }

// oneLine collapses runs of white space into one space and cuts s to about n bytes (on a character boundary),
// marking the cut with "…". It reads no more of s than it needs, so quoting a huge batched query is cheap.
func oneLine(s string, n int) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len() >= n && isRuneStart(ch) {
			b.WriteString("…")
			return b.String()
		}
		b.WriteByte(ch)
	}
	return b.String()
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
