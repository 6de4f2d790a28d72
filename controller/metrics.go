package controller

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podpilot/podpilot/policy"
)

// Metrics are podpilot's own Prometheus metrics.
type Metrics struct {
	desired, current *prometheus.GaugeVec
	decisions        *prometheus.CounterVec
	scales           *prometheus.CounterVec
	invalids         *prometheus.CounterVec
	targetErrors     *prometheus.CounterVec
	conflicts        *prometheus.CounterVec
	passDuration     prometheus.Histogram
	queries          prometheus.Gauge
	leader           prometheus.Gauge
	policyCount      prometheus.Gauge
	reloadErrors     *prometheus.CounterVec
	forecastError    *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	tl := []string{"namespace", "target"}
	m := &Metrics{
		desired:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "podpilot_desired_replicas", Help: "Replicas the latest decision asked for."}, tl),
		current:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "podpilot_current_replicas", Help: "Spec replicas the latest decision saw."}, tl),
		decisions:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "podpilot_decisions_total", Help: "Decisions by reason."}, append(tl, "reason")),
		scales:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "podpilot_scale_events_total", Help: "Scale changes made, by direction."}, append(tl, "direction")),
		invalids:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "podpilot_metric_invalid_total", Help: "Evaluations that found a metric invalid."}, append(tl, "metric")),
		targetErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "podpilot_target_errors_total", Help: "Targets skipped or failed, by reason."}, append(tl, "reason")),
		conflicts:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "podpilot_scale_conflicts_total", Help: "Scale writes that met a concurrent change and were retried."}, tl),
		passDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "podpilot_pass_duration_seconds", Help: "Wall time of one pass over all targets.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		queries:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "podpilot_pass_queries", Help: "Prometheus queries the latest pass issued."}),
		leader:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "podpilot_leader", Help: "1 while this replica holds the lease."}),
		policyCount:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "podpilot_policies", Help: "Policies in force."}),
		reloadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "podpilot_policy_reload_errors_total", Help: "Policy files rejected on load or reload."}, []string{"file"}),
		forecastError: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "podpilot_forecast_error",
			Help: "Recent relative error of the predictive algorithm's forecasts, per metric (0 until known)."}, append(tl, "metric")),
	}
	if reg != nil {
		reg.MustRegister(m.desired, m.current, m.decisions, m.scales, m.invalids, m.targetErrors, m.conflicts, m.passDuration,
			m.queries, m.leader, m.policyCount, m.reloadErrors, m.forecastError)
	}
	return m
}

func split(key string) (string, string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

func (m *Metrics) decision(key string, d policy.Decision) {
	ns, n := split(key)
	m.desired.WithLabelValues(ns, n).Set(float64(d.Desired))
	m.current.WithLabelValues(ns, n).Set(float64(d.Current))
	m.decisions.WithLabelValues(ns, n, string(d.Reason)).Inc()
}

// forecast sets the forecast error of every metric the predictive algorithm forecast in d, and drops the
// gauge of a metric it could not forecast this time, or of every metric when d has no predictive proposal (a
// reload took predictive out of the policy).
func (m *Metrics) forecast(key string, d policy.Decision) {
	ns, n := split(key)
	if !slices.ContainsFunc(d.Proposals, func(pr policy.Proposal) bool { return pr.Algorithm == "predictive" }) {
		m.dropForecast(key)
		return
	}
	for _, pr := range d.Proposals {
		switch {
		case pr.Algorithm != "predictive" || pr.Metric == "":
		case pr.Forecast > 0 || pr.ForecastError > 0:
			m.forecastError.WithLabelValues(ns, n, pr.Metric).Set(pr.ForecastError)
		default:
			m.forecastError.DeleteLabelValues(ns, n, pr.Metric)
		}
	}
}

// dropForecast drops the forecast error gauges of every metric of a target.
func (m *Metrics) dropForecast(key string) {
	ns, n := split(key)
	m.forecastError.DeletePartialMatch(prometheus.Labels{"namespace": ns, "target": n})
}

func (m *Metrics) scaled(key string, d policy.Decision) {
	ns, n := split(key)
	dir := "up"
	if d.Desired < d.Current {
		dir = "down"
	}
	m.scales.WithLabelValues(ns, n, dir).Inc()
}

func (m *Metrics) invalid(key, metric string) {
	ns, n := split(key)
	m.invalids.WithLabelValues(ns, n, metric).Inc()
}

func (m *Metrics) targetError(key, reason string) {
	ns, n := split(key)
	m.targetErrors.WithLabelValues(ns, n, reason).Inc()
}

func (m *Metrics) conflict(key string) {
	ns, n := split(key)
	m.conflicts.WithLabelValues(ns, n).Inc()
}

func (m *Metrics) pass(r PassResult) {
	m.passDuration.Observe(r.Duration.Seconds())
	m.queries.Set(float64(r.Queries))
}

// forget drops the per-target gauges of a target this replica no longer reports: it stopped leading, or the
// target has no policy any more. gone (the latter) drops its counters too: targets come and go, and their series
// must go with them, while a replica's counters of a target it still has a policy for stay totals over its life.
func (m *Metrics) forget(key string, gone bool) {
	ns, n := split(key)
	l := prometheus.Labels{"namespace": ns, "target": n}
	m.desired.DeletePartialMatch(l)
	m.current.DeletePartialMatch(l)
	m.forecastError.DeletePartialMatch(l)
	if gone {
		m.decisions.DeletePartialMatch(l)
		m.scales.DeletePartialMatch(l)
		m.invalids.DeletePartialMatch(l)
		m.targetErrors.DeletePartialMatch(l)
		m.conflicts.DeletePartialMatch(l)
	}
}

// undecided drops the decision gauges of a target that was skipped (paused, not found, unreadable, owned by an HPA): the
// last decision's count is no longer what podpilot wants, nor its forecast error how well it forecasts now. A
// paused target's current count is still known.
func (m *Metrics) undecided(key string, current int32) {
	ns, n := split(key)
	m.desired.DeleteLabelValues(ns, n)
	m.forecastError.DeletePartialMatch(prometheus.Labels{"namespace": ns, "target": n})
	if current < 0 {
		m.current.DeleteLabelValues(ns, n)
		return
	}
	m.current.WithLabelValues(ns, n).Set(float64(current))
}

// Leading sets the leader gauge.
func (m *Metrics) Leading(on bool) {
	v := 0.0
	if on {
		v = 1
	}
	m.leader.Set(v)
}

func (m *Metrics) policies(n int) { m.policyCount.Set(float64(n)) }

func (m *Metrics) reloadError(file string) { m.reloadErrors.WithLabelValues(file).Inc() }
