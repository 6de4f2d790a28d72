//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/test/harness"
)

// TestMaxAge: prometheus.maxAge is each instant query's lookback delta, so a bare gauge whose last sample is older
// than maxAge reads as no series on a real Prometheus, where Prometheus's own five minutes would still return it.
// The exporter stamps the gauge 90 s in the past (a sample with its own timestamp gets no staleness marker, like
// one from a federated or pushed source that stopped), beside a live gauge that proves the scrape works.
func TestMaxAge(t *testing.T) {
	frozenAt := time.Now().Add(-90 * time.Second)
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "podpilot_e2e_frozen 7 %d\npodpilot_e2e_live 3\n", frozenAt.UnixMilli())
	}))
	defer exp.Close()
	prom := harness.StartPrometheus(t, strings.TrimPrefix(exp.URL, "http://"))
	harness.Eventually(t, time.Minute, "both gauges scraped", func() (bool, string) {
		v, err := prom.Query(`count({__name__=~"podpilot_e2e_.*"})`, time.Time{})
		if err != nil || len(v) != 1 {
			return false, fmt.Sprint(v, err)
		}
		return v[0].Value == 2, v.String()
	})

	read := func(query string, maxAge time.Duration) policy.Observation {
		t.Helper()
		p, err := policy.Parse("frozen.yaml", []byte(fmt.Sprintf(
			"target: {namespace: demo, name: frozen}\nmaxReplicas: 10\nmetrics: [{kind: promql, name: g, query: '%s', perReplica: 1}]\n", query)), policy.Builtin())
		if err != nil {
			t.Fatal(err)
		}
		c, err := metrics.New(metrics.Config{Address: prom.URL, MaxAge: maxAge})
		if err != nil {
			t.Fatal(err)
		}
		return c.Fetch(context.Background(), []*policy.Policy{p}, time.Now()).Obs[0][0]
	}
	tests := []struct {
		query  string
		maxAge time.Duration
		valid  bool
		value  float64
	}{
		{"podpilot_e2e_live", 30 * time.Second, true, 3},
		{"podpilot_e2e_frozen", 10 * time.Minute, true, 7},
		{"podpilot_e2e_frozen", 30 * time.Second, false, 0},
	}
	for _, tt := range tests {
		o := read(tt.query, tt.maxAge)
		if o.Valid != tt.valid || (tt.valid && o.Value != tt.value) {
			t.Errorf("%s with maxAge %s: %+v; want valid %v, value %g", tt.query, tt.maxAge, o, tt.valid, tt.value)
		}
		if !tt.valid && !strings.Contains(o.Reason, "empty result") {
			t.Errorf("%s with maxAge %s: reason %q; want an empty result (Prometheus looked back only maxAge)", tt.query, tt.maxAge, o.Reason)
		}
	}
}
