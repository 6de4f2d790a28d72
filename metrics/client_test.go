package metrics

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/podpilot/podpilot/policy"
)

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{}, `prometheus address "": want an http or https URL`},
		{"not http", Config{Address: "ftp://prometheus:9090"}, `prometheus address "ftp://prometheus:9090": want an http or https URL`},
		{"no host", Config{Address: "http://"}, `prometheus address "http://": want an http or https URL`},
		{"negative timeout", Config{Address: "http://p", Timeout: -time.Second}, "prometheus timeout: must not be negative, got -1s"},
		{"negative max age", Config{Address: "http://p", MaxAge: -time.Second}, "prometheus max age: must not be negative, got -1s"},
		{
			"two credentials",
			Config{Address: "http://p", HTTP: config.HTTPClientConfig{BearerToken: "t", BasicAuth: &config.BasicAuth{Username: "u"}}},
			"prometheus http config: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
		},
		{
			"reserved header",
			Config{Address: "http://p", HTTP: config.HTTPClientConfig{HTTPHeaders: &config.Headers{Headers: map[string]config.Header{"authorization": {Values: []string{"x"}}}}}},
			`prometheus http config: setting header "Authorization" is not allowed`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("New(%+v) = %v; want an error starting %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The HTTP client configuration (credentials, TLS, headers) reaches the server.
func TestFetchHTTPConfig(t *testing.T) {
	tests := []struct {
		name    string
		tls     bool
		http    func(t *testing.T, srv *fakeProm) config.HTTPClientConfig
		check   func(r *http.Request) bool // the server answers 401 unless this holds
		wantErr string                     // "" for a valid reading; else a part of the reason
	}{{
		name: "bearer token file",
		http: func(t *testing.T, _ *fakeProm) config.HTTPClientConfig {
			return config.HTTPClientConfig{BearerTokenFile: writeFile(t, "token", "tok-123\n")}
		},
		check: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer tok-123" },
	}, {
		name: "basic auth",
		http: func(t *testing.T, _ *fakeProm) config.HTTPClientConfig {
			return config.HTTPClientConfig{BasicAuth: &config.BasicAuth{Username: "podpilot", PasswordFile: writeFile(t, "pw", "s3cret")}}
		},
		check: func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "podpilot" && p == "s3cret" },
	}, {
		name: "extra header",
		http: func(*testing.T, *fakeProm) config.HTTPClientConfig {
			return config.HTTPClientConfig{HTTPHeaders: &config.Headers{Headers: map[string]config.Header{"X-Scope-OrgID": {Values: []string{"tenant-1"}}}}}
		},
		check: func(r *http.Request) bool { return r.Header.Get("X-Scope-OrgID") == "tenant-1" },
	}, {
		name: "TLS with a CA file",
		tls:  true,
		http: func(t *testing.T, srv *fakeProm) config.HTTPClientConfig {
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			return config.HTTPClientConfig{TLSConfig: config.TLSConfig{CAFile: writeFile(t, "ca.pem", string(ca))}, BearerToken: "t"}
		},
		check: func(r *http.Request) bool { return r.TLS != nil && r.Header.Get("Authorization") == "Bearer t" },
	}, {
		name:    "TLS without the CA",
		tls:     true,
		http:    func(*testing.T, *fakeProm) config.HTTPClientConfig { return config.HTTPClientConfig{} },
		check:   func(*http.Request) bool { return true },
		wantErr: "certificate signed by unknown authority",
	}, {
		name:    "missing credentials",
		http:    func(*testing.T, *fakeProm) config.HTTPClientConfig { return config.HTTPClientConfig{} },
		check:   func(r *http.Request) bool { return r.Header.Get("Authorization") != "" },
		wantErr: "shop/web qps: query failed: client_error: client error: 401: unauthorized (query: ",
	}}
	w := testWorld()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeProm(t, tt.tls, func(r *http.Request, req promRequest) (int, string) {
				if !tt.check(r) {
					return http.StatusUnauthorized, "unauthorized\n"
				}
				return w.answer(r, req)
			})
			c := newTestClient(t, Config{Address: srv.URL, HTTP: tt.http(t, srv)})
			res := c.Fetch(context.Background(), []*policy.Policy{testPolicy(t, "shop", "web", qpsOnly)}, evalAt)
			got := res.Obs[0][0]
			switch {
			case tt.wantErr == "" && !got.Valid:
				t.Errorf("Fetch(...) = %+v; want a valid reading", got)
			case tt.wantErr != "" && (got.Valid || !strings.Contains(got.Reason, tt.wantErr)):
				t.Errorf("Fetch(...) = %+v; want invalid with %q", got, tt.wantErr)
			}
		})
	}
}

// rangeAnswer answers range queries with two series, job a and job b, whose value at each step is its time in
// seconds.
func rangeAnswer(_ *http.Request, r promRequest) (int, string) {
	if r.Path != "/api/v1/query_range" {
		return errorBody(http.StatusNotFound, "bad_data", "not a range query")
	}
	ms := func(name string) int64 {
		f, err := strconv.ParseFloat(r.Form.Get(name), 64)
		if err != nil {
			panic(err)
		}
		return int64(math.Round(f * 1000))
	}
	start, end, step := ms("start"), ms("end"), ms("step")
	var vals [][]any
	for t := start; t <= end; t += step {
		vals = append(vals, []any{float64(t) / 1000, strconv.FormatFloat(float64(t)/1000, 'f', -1, 64)})
	}
	return okBody("matrix", []any{
		map[string]any{"metric": map[string]string{"job": "b"}, "values": vals},
		map[string]any{"metric": map[string]string{"job": "a"}, "values": vals},
	})
}

func TestRange(t *testing.T) {
	start, end := evalAt.Add(-time.Minute), evalAt
	pairs := func(from, to time.Time, step time.Duration) []model.SamplePair {
		var out []model.SamplePair
		for at := from; !at.After(to); at = at.Add(step) {
			ts := model.TimeFromUnixNano(at.UnixNano())
			out = append(out, model.SamplePair{Timestamp: ts, Value: model.SampleValue(float64(ts) / 1000)})
		}
		return out
	}
	t.Run("one query", func(t *testing.T) {
		srv := newFakeProm(t, false, rangeAnswer)
		c := newTestClient(t, Config{Address: srv.URL})
		got, _, err := c.Range(context.Background(), "up", start, end, 15*time.Second)
		if err != nil {
			t.Fatalf("Range(...) = %v", err)
		}
		want := model.Matrix{
			{Metric: model.Metric{"job": "a"}, Values: pairs(start, end, 15*time.Second)},
			{Metric: model.Metric{"job": "b"}, Values: pairs(start, end, 15*time.Second)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Range(...) mismatch (-want +got):\n%s", diff)
		}
		reqs := srv.requests()
		if len(reqs) != 1 || reqs[0].Form.Get("step") != "15" || reqs[0].Query != "up" {
			t.Errorf("requests = %+v; want one, query up, step 15", reqs)
		}
	})
	t.Run("longer than 11000 steps", func(t *testing.T) {
		srv := newFakeProm(t, false, rangeAnswer)
		c := newTestClient(t, Config{Address: srv.URL})
		from := end.Add(-25000 * time.Second)
		got, _, err := c.Range(context.Background(), "up", from, end, time.Second)
		if err != nil {
			t.Fatalf("Range(...) = %v", err)
		}
		want := model.Matrix{
			{Metric: model.Metric{"job": "a"}, Values: pairs(from, end, time.Second)},
			{Metric: model.Metric{"job": "b"}, Values: pairs(from, end, time.Second)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Range(...) mismatch (-want +got):\n%s", diff)
		}
		var spans []string
		for _, r := range srv.requests() {
			spans = append(spans, r.Form.Get("start")+".."+r.Form.Get("end"))
		}
		s := func(d time.Duration) string {
			return strconv.FormatFloat(float64(from.Add(d).UnixMilli())/1000, 'f', -1, 64)
		}
		wantSpans := []string{s(0) + ".." + s(10999*time.Second), s(11000*time.Second) + ".." + s(21999*time.Second), s(22000*time.Second) + ".." + s(25000*time.Second)}
		if diff := cmp.Diff(wantSpans, spans); diff != "" {
			t.Errorf("range queries mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("errors", func(t *testing.T) {
		srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
			switch req.Query {
			case "vector":
				return vectorBody()
			case "bad":
				return errorBody(http.StatusBadRequest, "bad_data", "1:4: parse error")
			}
			return rangeAnswer(r, req)
		})
		c := newTestClient(t, Config{Address: srv.URL})
		span := fmt.Sprintf("from %s to %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
		tests := []struct {
			query      string
			start, end time.Time
			step       time.Duration
			want       string
		}{
			{"vector", start, end, time.Second, `range query "vector" ` + span + `: result is a vector, want a matrix`},
			{"bad", start, end, time.Second, `range query "bad" ` + span + `: query failed: bad_data: 1:4: parse error`},
			{"up", start, end, 0, `range query "up": step must be positive, got 0s`},
			{"up", end, start, time.Second, `range query "up": end 2026-07-01T11:59:00Z is before start 2026-07-01T12:00:00Z`},
		}
		for _, tt := range tests {
			if _, _, err := c.Range(context.Background(), tt.query, tt.start, tt.end, tt.step); err == nil || err.Error() != tt.want {
				t.Errorf("Range(%q, step %s) = %v; want %s", tt.query, tt.step, err, tt.want)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
			<-r.Context().Done()
			return rangeAnswer(r, req)
		})
		c := newTestClient(t, Config{Address: srv.URL, Timeout: 50 * time.Millisecond})
		_, _, err := c.Range(context.Background(), "up", start, end, time.Second)
		want := fmt.Sprintf(`range query "up" from %s to %s: query timed out after 50ms`, start.Format(time.RFC3339), end.Format(time.RFC3339))
		if err == nil || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Range(slow) = %v; want %s, a context.DeadlineExceeded", err, want)
		}
	})
}

func TestRegisterer(t *testing.T) {
	w := testWorld()
	srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
		if strings.Contains(req.Query, "container_cpu_usage_seconds_total") {
			return http.StatusInternalServerError, "boom"
		}
		return w.answer(r, req)
	})
	reg := prometheus.NewRegistry()
	ps := []*policy.Policy{testPolicy(t, "shop", "web", cpuQPS), testPolicy(t, "shop", "api", cpuQPS)}
	newTestClient(t, Config{Address: srv.URL, Registerer: reg}).Fetch(context.Background(), ps, evalAt)
	// A second client on the same registry shares the collectors.
	newTestClient(t, Config{Address: srv.URL, Registerer: reg}).Fetch(context.Background(), ps[:1], evalAt)

	const wantErrors = `
# HELP podpilot_query_errors_total Prometheus queries that failed: HTTP or API errors, timeouts and results that are not of the wanted type.
# TYPE podpilot_query_errors_total counter
podpilot_query_errors_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantErrors), "podpilot_query_errors_total"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "podpilot_query_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			counts[m.GetLabel()[0].GetValue()] = h.GetSampleCount()
			if s := h.GetSampleSum(); s <= 0 || s > 10 {
				t.Errorf("podpilot_query_duration_seconds{result=%q} sum = %gs; want a positive duration under the timeouts", m.GetLabel()[0].GetValue(), s)
			}
		}
	}
	// Each pass: the cpu query fails; the qps query (with the count of its pods) succeeds.
	if diff := cmp.Diff(map[string]uint64{"ok": 2, "error": 2}, counts); diff != "" {
		t.Errorf("podpilot_query_duration_seconds counts by result mismatch (-want +got):\n%s", diff)
	}
}
