package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/podpilot/podpilot/policy"
)

const (
	cpuOnly = `[{kind: cpu, utilization: 70}]`
	cpuQPS  = `[{kind: cpu, utilization: 70}, {kind: qps, perReplica: 50}]`
	qpsOnly = `[{kind: qps, perReplica: 50}]`
)

func testWorld() *promWorld {
	return &promWorld{
		cpu: map[targetKey]string{
			{"shop", "web"}: "55", {"shop", "api"}: "71.5", {"blog", "web"}: "12",
			{"blog", "api"}: "99", // in no policy, but matched by the batch's namespace × name alternations
		},
		qps:    map[targetKey]string{{"shop", "web"}: "120", {"shop", "api"}: "3", {"blog", "web"}: "0"},
		pods:   map[targetKey]string{{"shop", "web"}: "4", {"shop", "api"}: "1"}, // blog/web: no pod reports
		queues: map[string]string{"orders": "250", "payments": "7", "unused": "1"},
	}
}

func TestFetchBatching(t *testing.T) {
	w := testWorld()
	srv := newFakeProm(t, false, w.answer)
	c := newTestClient(t, Config{Address: srv.URL})
	pol := func(ns, name, metrics string) *policy.Policy { return testPolicy(t, ns, name, metrics) }
	tests := []struct {
		name    string
		ps      []*policy.Policy
		want    [][]policy.Observation
		queries int
	}{{
		name:    "one target",
		ps:      []*policy.Policy{pol("shop", "web", cpuOnly)},
		want:    [][]policy.Observation{{validObs(55)}},
		queries: 1,
	}, {
		name:    "three targets on one template",
		ps:      []*policy.Policy{pol("shop", "web", cpuOnly), pol("shop", "api", cpuOnly), pol("blog", "web", cpuOnly)},
		want:    [][]policy.Observation{{validObs(55)}, {validObs(71.5)}, {validObs(12)}},
		queries: 1,
	}, {
		name: "two templates",
		ps:   []*policy.Policy{pol("shop", "web", cpuQPS), pol("shop", "api", cpuQPS), pol("blog", "web", cpuQPS)},
		// qps's default template comes with a count of the pods it covers, read in the same query; blog/web's
		// reading has a series and its count has none: no pod is covered.
		want:    [][]policy.Observation{{validObs(55), podsObs(120, 4)}, {validObs(71.5), podsObs(3, 1)}, {validObs(12), podsObs(0, 0)}},
		queries: 2,
	}, {
		name: "one template, two windows",
		ps: []*policy.Policy{
			pol("shop", "web", `[{kind: cpu, utilization: 70, window: 1m}]`),
			pol("shop", "api", `[{kind: cpu, utilization: 70, window: 2m}]`),
		},
		want:    [][]policy.Observation{{validObs(55)}, {validObs(71.5)}},
		queries: 2,
	}, {
		name: "queues route by queue label",
		ps: []*policy.Policy{
			pol("shop", "orders-worker", `[{kind: queue, queue: orders, perReplica: 100}]`),
			pol("shop", "pay-worker", `[{kind: queue, queue: payments, perReplica: 100}]`),
			pol("shop", "audit", `[{kind: queue, queue: orders, perReplica: 10}]`),
		},
		want:    [][]policy.Observation{{validObs(250)}, {validObs(7)}, {validObs(250)}},
		queries: 1,
	}, {
		name: "queue and cpu in one policy, two queues in another",
		ps: []*policy.Policy{
			pol("shop", "web", `[{kind: cpu, utilization: 70}, {kind: queue, queue: orders, perReplica: 100}]`),
			pol("shop", "api", `[{kind: queue, name: a, queue: payments, perReplica: 1}, {kind: queue, name: b, queue: orders, perReplica: 1}]`),
		},
		want:    [][]policy.Observation{{validObs(55), validObs(250)}, {validObs(7), validObs(250)}},
		queries: 2,
	}, {
		name:    "nil policy",
		ps:      []*policy.Policy{nil, pol("shop", "web", cpuOnly)},
		want:    [][]policy.Observation{nil, {validObs(55)}},
		queries: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.Fetch(context.Background(), tt.ps, evalAt)
			if diff := cmp.Diff(tt.want, res.Obs); diff != "" {
				t.Errorf("Fetch(...).Obs mismatch (-want +got):\n%s", diff)
			}
			if res.Queries != tt.queries {
				t.Errorf("Fetch(...).Queries = %d; want %d", res.Queries, tt.queries)
			}
			if n := len(srv.requests()); n != tt.queries {
				t.Errorf("the server saw %d queries; want %d", n, tt.queries)
			}
		})
	}
}

// The batched query text is the same whatever the order of the policies.
func TestFetchDeterministicQuery(t *testing.T) {
	w := testWorld()
	srv := newFakeProm(t, false, w.answer)
	c := newTestClient(t, Config{Address: srv.URL})
	ps := []*policy.Policy{testPolicy(t, "shop", "web", cpuQPS), testPolicy(t, "blog", "web", cpuQPS), testPolicy(t, "shop", "api", cpuQPS)}
	c.Fetch(context.Background(), ps, evalAt)
	first := srv.queries()
	slices.Reverse(ps)
	c.Fetch(context.Background(), ps, evalAt)
	if diff := cmp.Diff(first, srv.queries()); diff != "" {
		t.Errorf("queries depend on the policies' order (-first +reversed):\n%s", diff)
	}
	if len(first) != 2 || !strings.Contains(first[0], `namespace=~"blog|shop"`) || !strings.Contains(first[0], `pod=~"(api|web)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"`) {
		t.Errorf("queries = %q; want two (cpu, qps with its pods), over namespace=~\"blog|shop\" and pod=~\"(api|web)-...\"", first)
	}
}

func TestFetchInvalid(t *testing.T) {
	p := testPolicy(t, "shop", "web", cpuOnly)
	q, err := p.Query(0)
	if err != nil {
		t.Fatal(err)
	}
	reason := func(why string) string { return fmt.Sprintf("shop/web cpu: %s (query: %s)", why, shortQuery(q)) }
	web := targetLabels("shop", "web")
	tests := []struct {
		name string
		code int
		body string
		want policy.Observation
	}{
		{name: "ok", want: validObs(1.5), body: body(vectorBody(promSample{labels: web, value: "1.5"}))},
		{name: "zero is a reading", want: validObs(0), body: body(vectorBody(promSample{labels: web, value: "0"}))},
		{name: "empty", want: invalidObs(reason("empty result")), body: body(vectorBody())},
		{name: "NaN", want: invalidObs(reason("value is NaN")), body: body(vectorBody(promSample{labels: web, value: "NaN"}))},
		{name: "+Inf", want: invalidObs(reason("value is +Inf")), body: body(vectorBody(promSample{labels: web, value: "+Inf"}))},
		{name: "-Inf", want: invalidObs(reason("value is -Inf")), body: body(vectorBody(promSample{labels: web, value: "-Inf"}))},
		{
			name: "stale",
			want: invalidObs(reason("stale sample from 2026-07-01T11:57:00Z, 3m0s before the evaluation time (max age 2m0s)")),
			body: body(vectorBody(promSample{labels: web, value: "4", at: evalAt.Add(-3 * time.Minute)})),
		},
		{name: "old but within max age", want: validObs(4), body: body(vectorBody(promSample{labels: web, value: "4", at: evalAt.Add(-119 * time.Second)}))},
		{
			name: "two series",
			want: invalidObs(reason(`2 series, want 1 ({namespace="shop", pod="web-1", target="web"}, {namespace="shop", pod="web-2", target="web"}…)`)),
			body: body(vectorBody(
				promSample{labels: map[string]string{"namespace": "shop", "target": "web", "pod": "web-1"}, value: "1"},
				promSample{labels: map[string]string{"namespace": "shop", "target": "web", "pod": "web-2"}, value: "2"},
			)),
		},
		{name: "scalar", want: invalidObs(reason("result is a scalar, want a vector")), body: body(okBody("scalar", []any{promTime(evalAt), "1"}))},
		{name: "string", want: invalidObs(reason(`query failed: bad_response: unexpected value type "string"`)), body: body(okBody("string", []any{promTime(evalAt), "up"}))},
		{
			name: "matrix",
			want: invalidObs(reason("result is a matrix, want a vector")),
			body: body(okBody("matrix", []any{map[string]any{"metric": web, "values": [][]any{{promTime(evalAt), "1"}}}})),
		},
		{
			name: "native histogram",
			want: invalidObs(reason("the sample is a native histogram, want a number")),
			body: body(okBody("vector", []any{map[string]any{"metric": web, "histogram": []any{promTime(evalAt), map[string]any{"count": "2", "sum": "3", "buckets": []any{}}}}})),
		},
		{
			name: "status error",
			code: http.StatusBadRequest,
			want: invalidObs(reason("query failed: bad_data: 1:5: parse error: unexpected identifier")),
			body: body(errorBody(http.StatusBadRequest, "bad_data", "1:5: parse error: unexpected identifier")),
		},
		{
			name: "execution error",
			code: http.StatusUnprocessableEntity,
			want: invalidObs(reason("query failed: execution: query processing would load too many samples into memory")),
			body: body(errorBody(http.StatusUnprocessableEntity, "execution", "query processing would load too many samples into memory")),
		},
		{
			name: "500",
			code: http.StatusInternalServerError,
			want: invalidObs(reason("query failed: server_error: server error: 500: upstream broke")),
			body: "upstream \n broke\n",
		},
		{
			name: "status error with 200",
			want: invalidObs(reason("query failed: internal: out of memory")),
			body: body(errorBody(http.StatusOK, "internal", "out of memory")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeProm(t, false, func(_ *http.Request, req promRequest) (int, string) {
				if tt.code == 0 {
					return http.StatusOK, tt.body
				}
				return tt.code, tt.body
			})
			c := newTestClient(t, Config{Address: srv.URL})
			res := c.Fetch(context.Background(), []*policy.Policy{p}, evalAt)
			if diff := cmp.Diff([][]policy.Observation{{tt.want}}, res.Obs); diff != "" {
				t.Errorf("Fetch(...).Obs mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func body(_ int, b string) string { return b }

// A batched queue series that names its namespace routes only to that namespace's targets: a queue of the same
// name elsewhere is another queue, and its target gets no reading rather than this one.
func TestFetchQueueNamespace(t *testing.T) {
	srv := newFakeProm(t, false, func(*http.Request, promRequest) (int, string) {
		return vectorBody(promSample{labels: map[string]string{"namespace": "prod", "queue": "orders"}, value: "40"})
	})
	c := newTestClient(t, Config{Address: srv.URL})
	queue := `[{kind: queue, queue: orders, perReplica: 10}]`
	ps := []*policy.Policy{testPolicy(t, "prod", "worker", queue), testPolicy(t, "staging", "worker", queue)}
	res := c.Fetch(context.Background(), ps, evalAt)
	if res.Queries != 1 {
		t.Fatalf("queries = %d; want one batch", res.Queries)
	}
	if o := res.Obs[0][0]; !o.Valid || o.Value != 40 {
		t.Errorf("prod/worker: %+v; want 40", o)
	}
	if o := res.Obs[1][0]; o.Valid || !strings.Contains(o.Reason, "staging/worker queue: empty result") {
		t.Errorf("staging/worker: %+v; want no reading (empty result), not prod's", o)
	}
}

func invalidObs(reason string) policy.Observation { return policy.Observation{Reason: reason} }

// A batch's failure invalidates each of its targets, and not the other templates' readings; one target with two
// series is invalid without touching its neighbours.
func TestFetchBatchFailures(t *testing.T) {
	var ps []*policy.Policy
	for i := range 300 {
		ps = append(ps, testPolicy(t, "shop", fmt.Sprintf("svc-%03d", i), cpuQPS))
	}
	t.Run("500 on one template", func(t *testing.T) {
		srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
			switch {
			case strings.Contains(req.Query, "container_cpu_usage_seconds_total"):
				return http.StatusInternalServerError, "boom"
			}
			return vectorBody(promSample{labels: targetLabels("shop", "svc-007"), value: "9"})
		})
		c := newTestClient(t, Config{Address: srv.URL})
		res := c.Fetch(context.Background(), ps, evalAt)
		if res.Queries != 2 {
			t.Errorf("Queries = %d; want 2 (cpu, qps with its pods)", res.Queries)
		}
		for i, obs := range res.Obs {
			name := fmt.Sprintf("shop/svc-%03d", i)
			cpu := obs[0]
			if cpu.Valid || !strings.HasPrefix(cpu.Reason, name+" cpu: query failed: server_error: server error: 500: boom (query: 100 * sum by (namespace, target)") || !strings.HasSuffix(cpu.Reason, "…)") {
				t.Fatalf("%s cpu = %+v; want invalid, naming the target, the 500 and the shortened query", name, cpu)
			}
			if len(cpu.Reason) > 400 {
				t.Fatalf("%s cpu reason is %d bytes long; want the query cut to about 300", name, len(cpu.Reason))
			}
			if i == 7 {
				if diff := cmp.Diff(podsObs(9, 0), obs[1]); diff != "" { // the count has no series: no pod covered
					t.Errorf("%s qps mismatch (-want +got):\n%s", name, diff)
				}
			} else if qps := obs[1]; qps.Valid || !strings.HasPrefix(qps.Reason, name+" qps: empty result (query: label_replace(sum by (namespace, target)") {
				t.Errorf("%s qps = %+v; want an empty result", name, qps)
			}
		}
	})
	t.Run("two series for one target", func(t *testing.T) {
		srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
			return vectorBody(
				promSample{labels: targetLabels("shop", "svc-001"), value: "1"},
				promSample{labels: map[string]string{"namespace": "shop", "target": "svc-002", "container": "a"}, value: "2"},
				promSample{labels: map[string]string{"namespace": "shop", "target": "svc-002", "container": "b"}, value: "3"},
			)
		})
		c := newTestClient(t, Config{Address: srv.URL})
		res := c.Fetch(context.Background(), ps[:3], evalAt)
		if diff := cmp.Diff(validObs(1), res.Obs[1][0]); diff != "" {
			t.Errorf("svc-001 cpu mismatch (-want +got):\n%s", diff)
		}
		want := `shop/svc-002 cpu: 2 series, want 1 ({container="a", namespace="shop", target="svc-002"}, {container="b", namespace="shop", target="svc-002"}…) (query: `
		if got := res.Obs[2][0]; got.Valid || !strings.HasPrefix(got.Reason, want) {
			t.Errorf("svc-002 cpu = %+v; want a reason starting %q", got, want)
		}
		if res.Queries != 2 {
			t.Errorf("Queries = %d; want 2 (no fallback: every series had labels)", res.Queries)
		}
	})
}

// A template whose series carry no routing labels is read per target, from the pass that finds out on.
func TestFetchFallback(t *testing.T) {
	const custom = `[{kind: promql, name: lag, query: 'sum(consumer_lag{namespace=~"{{.Namespace}}", deployment=~"{{.Name}}"})', perReplica: 10}]`
	lag := map[targetKey]string{{"shop", "web"}: "5", {"shop", "api"}: "6", {"blog", "web"}: "7"}
	srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
		ns, names := splitAlternation(promMatcher(req.Query, "namespace")), splitAlternation(promMatcher(req.Query, "deployment"))
		if len(ns) > 1 || len(names) > 1 {
			return vectorBody(promSample{value: "18"}) // sum() over every target: no labels
		}
		if names[0] == "api" {
			return http.StatusInternalServerError, "api is broken"
		}
		if v, ok := lag[targetKey{ns[0], names[0]}]; ok {
			return vectorBody(promSample{value: v})
		}
		return vectorBody()
	})
	c := newTestClient(t, Config{Address: srv.URL})
	ps := []*policy.Policy{testPolicy(t, "shop", "web", custom), testPolicy(t, "shop", "api", custom), testPolicy(t, "blog", "web", custom)}
	apiQuery, _ := ps[1].Query(0)
	want := [][]policy.Observation{
		{validObs(5)},
		{invalidObs(fmt.Sprintf("shop/api lag: query failed: server_error: server error: 500: api is broken (query: %s)", apiQuery))},
		{validObs(7)},
	}
	for pass, queries := range []int{1 + 3, 3} {
		res := c.Fetch(context.Background(), ps, evalAt)
		if diff := cmp.Diff(want, res.Obs); diff != "" {
			t.Errorf("pass %d: Fetch(...).Obs mismatch (-want +got):\n%s", pass, diff)
		}
		if res.Queries != queries {
			t.Errorf("pass %d: Queries = %d; want %d", pass, res.Queries, queries)
		}
		for _, q := range srv.queries() {
			if pass > 0 && strings.Contains(q, "|") {
				t.Errorf("pass %d: batched query %q; want per-target queries only", pass, q)
			}
		}
	}

	// A lone target takes its one series whatever its labels, with one query.
	c = newTestClient(t, Config{Address: srv.URL})
	res := c.Fetch(context.Background(), ps[:1], evalAt)
	if diff := cmp.Diff([][]policy.Observation{{validObs(5)}}, res.Obs); diff != "" || res.Queries != 1 {
		t.Errorf("one target: Obs mismatch (-want +got):\n%s; Queries = %d, want 1", diff, res.Queries)
	}
}

func TestFetchTimeout(t *testing.T) {
	w := testWorld()
	srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
		if strings.Contains(req.Query, "container_cpu_usage_seconds_total") {
			select { // sleep past the client's timeout
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
		return w.answer(r, req)
	})
	c := newTestClient(t, Config{Address: srv.URL, Timeout: 100 * time.Millisecond})
	p := testPolicy(t, "shop", "web", cpuQPS)
	q, _ := p.Query(0)
	start := time.Now()
	res := c.Fetch(context.Background(), []*policy.Policy{p}, evalAt)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch took %s; want about the 100ms timeout", d)
	}
	want := [][]policy.Observation{{invalidObs(fmt.Sprintf("shop/web cpu: query timed out after 100ms (query: %s)", shortQuery(q))), podsObs(120, 4)}}
	if diff := cmp.Diff(want, res.Obs); diff != "" {
		t.Errorf("Fetch(...).Obs mismatch (-want +got):\n%s", diff)
	}
}

func TestFetchCanceled(t *testing.T) {
	w := testWorld()
	srv := newFakeProm(t, false, w.answer)
	c := newTestClient(t, Config{Address: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := c.Fetch(ctx, []*policy.Policy{testPolicy(t, "shop", "web", qpsOnly)}, evalAt)
	if got := res.Obs[0][0]; got.Valid || !strings.HasPrefix(got.Reason, "shop/web qps: query canceled: context canceled (query: ") {
		t.Errorf("Fetch(canceled) = %+v; want invalid, query canceled", got)
	}
}

// Each query is an instant query at exactly the evaluation time, with the timeout passed on to Prometheus and a
// lookback delta of MaxAge; a reading and the count of the pods it covers are one query.
func TestFetchRequest(t *testing.T) {
	w := testWorld()
	srv := newFakeProm(t, false, w.answer)
	c := newTestClient(t, Config{Address: srv.URL, Timeout: 3 * time.Second, MaxAge: 90 * time.Second})
	c.Fetch(context.Background(), []*policy.Policy{testPolicy(t, "shop", "web", qpsOnly)}, evalAt)
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests; want 1", len(reqs))
	}
	for _, r := range reqs {
		sec, err := strconv.ParseFloat(r.Time, 64)
		if err != nil {
			t.Fatalf("time parameter %q: %v", r.Time, err)
		}
		if got := time.UnixMilli(int64(math.Round(sec * 1000))).UTC(); !got.Equal(evalAt) {
			t.Errorf("time parameter = %q (%s); want %s", r.Time, got, evalAt)
		}
		if r.Path != "/api/v1/query" || r.Method != http.MethodPost || r.Form.Get("timeout") != "3s" || r.Form.Get("lookback_delta") != "1m30s" {
			t.Errorf("request = %s %s timeout=%q lookback_delta=%q; want POST /api/v1/query timeout=3s lookback_delta=1m30s",
				r.Method, r.Path, r.Form["timeout"], r.Form["lookback_delta"])
		}
	}
}

// Names and queues with regular-expression and quote characters reach Prometheus escaped: the matchers match
// exactly the literal values.
func TestFetchEscaping(t *testing.T) {
	const queue = `a.b|c"d\e`
	srv := newFakeProm(t, false, func(r *http.Request, req promRequest) (int, string) {
		if strings.Contains(req.Query, "rabbitmq_queue_messages_ready") {
			re := anchored(t, promMatcher(req.Query, "queue"))
			for _, s := range []string{queue, "a.b", `axb|c"d\e`, `c"d\e`} {
				if re.MatchString(s) != (s == queue) {
					t.Errorf("queue matcher %q matches %q: %t; want %t", re, s, re.MatchString(s), s == queue)
				}
			}
			return vectorBody(promSample{labels: map[string]string{"queue": queue}, value: "3"})
		}
		ns, pod := anchored(t, promMatcher(req.Query, "namespace")), anchored(t, promMatcher(req.Query, "pod"))
		for _, s := range []string{"web.v2-7d9f8c-x2x9z", "webxv2-7d9f8c-x2x9z", "web.v2", "api-7d9f8c-x2x9z"} {
			if want := s == "web.v2-7d9f8c-x2x9z"; pod.MatchString(s) != want {
				t.Errorf("pod matcher %q matches %q: %t; want %t", pod, s, !want, want)
			}
		}
		if !ns.MatchString("shop") || ns.MatchString("shopx") {
			t.Errorf("namespace matcher %q; want exactly shop", ns)
		}
		return vectorBody(promSample{labels: targetLabels("shop", "web.v2"), value: "4"})
	})
	c := newTestClient(t, Config{Address: srv.URL})
	p := testPolicy(t, "shop", "web.v2", `[{kind: queue, queue: 'a.b|c"d\e', perReplica: 10}, {kind: qps, perReplica: 5}]`)
	res := c.Fetch(context.Background(), []*policy.Policy{p}, evalAt)
	if diff := cmp.Diff([][]policy.Observation{{validObs(3), podsObs(4, 0)}}, res.Obs); diff != "" {
		t.Errorf("Fetch(...).Obs mismatch (-want +got):\n%s", diff)
	}
	seen := srv.queries() // sorted: qps with its pods, the queue
	wantText := []string{`pod=~"(web\\.v2)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"`, `queue=~"a\\.b\\|c\"d\\\\e"`}
	if len(seen) != 2 || !strings.Contains(seen[0], wantText[0]) || !strings.Contains(seen[1], wantText[1]) {
		t.Errorf("queries = %q; want them to hold %q", seen, wantText)
	}
}

// Prometheus' warnings are logged with the query, and mark the reading: it may be low (a partial response), so
// the policy may scale up on it but not down.
func TestFetchWarnings(t *testing.T) {
	srv := newFakeProm(t, false, func(*http.Request, promRequest) (int, string) {
		return http.StatusOK, fmt.Sprintf(`{"status":"success","warnings":["PromQL warning: encountered a mix of histograms and floats"],`+
			`"data":{"resultType":"vector","result":[{"metric":{},"value":[%s,"1"]}]}}`, strconv.FormatFloat(promTime(evalAt), 'f', -1, 64))
	})
	c := newTestClient(t, Config{Address: srv.URL})
	p := testPolicy(t, "shop", "web", qpsOnly)
	q, _ := p.Query(0)
	pq, _ := p.Metrics[0].RenderPods(p.VarsFor(&p.Metrics[0]))
	res := c.Fetch(context.Background(), []*policy.Policy{p}, evalAt)
	want := []string{"PromQL warning: encountered a mix of histograms and floats (query: " + shortQuery(withPods(q, pq)) + ")"}
	if diff := cmp.Diff(want, res.Warnings); diff != "" || !res.Obs[0][0].Valid {
		t.Errorf("Fetch(...).Warnings mismatch (-want +got):\n%s\nObs = %+v, want valid", diff, res.Obs)
	}
	if o := res.Obs[0][0]; o.Warning != "PromQL warning: encountered a mix of histograms and floats" {
		t.Errorf("Obs = %+v; want the warning on the reading", o)
	}
}

func TestShortQuery(t *testing.T) {
	long := strings.Repeat("x", 1000)
	multi := strings.Repeat("é", 400)
	tests := []struct {
		in, want string
	}{
		{"sum(up)", "sum(up)"},
		{"  sum by (job)\n\t(up)  ", "sum by (job) (up)"},
		{long, long[:300] + "…"},
		{multi, multi[:300] + "…"},
		{"x" + multi, ("x" + multi)[:301] + "…"}, // a cut inside a character moves to its end
	}
	for _, tt := range tests {
		got := shortQuery(tt.in)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("shortQuery(%.20q...) = %.40q... (%d bytes); want %.40q... (%d bytes)", tt.in, got, len(got), tt.want, len(tt.want))
		}
	}
}

// The count of the pods a reading covers comes in the reading's query, labelled podpilot_part="pods". No series
// for the target means no pod is covered; a count that cannot be read leaves it unknown, says why, and leaves the
// reading valid, but doubtful: it carries the warning, so it scales nothing down.
func TestFetchPods(t *testing.T) {
	warnedObs := func(v float64, why string) policy.Observation {
		o := validObs(v)
		o.Warning = "pods covered unknown: " + why
		return o
	}
	web := targetLabels("shop", "web")
	part := func(p, v string, l map[string]string) promSample {
		return withPart([]promSample{{labels: l, value: v}}, p)[0]
	}
	value := part("value", "7", web)
	tests := []struct {
		name   string
		ss     []promSample
		want   policy.Observation
		reason string // an invalid reading's reason starts with it (and want is not compared)
		warn   string // the warning's start after "shop/web qps: pods covered unknown: "
	}{
		{name: "a count", ss: []promSample{value, part("pods", "3", web)}, want: podsObs(7, 3)},
		{name: "no count: no pod covered", ss: []promSample{value}, want: podsObs(7, 0)},
		{name: "a count of 0", ss: []promSample{value, part("pods", "0", web)}, want: podsObs(7, 0)},
		{name: "no whole number", ss: []promSample{value, part("pods", "2.5", web)}, want: warnedObs(7, "2.5 is not a count"), warn: "2.5 is not a count"},
		{name: "negative", ss: []promSample{value, part("pods", "-1", web)}, want: warnedObs(7, "-1 is not a count"), warn: "-1 is not a count"},
		{name: "NaN", ss: []promSample{value, part("pods", "NaN", web)}, want: warnedObs(7, "value is NaN"), warn: "value is NaN"},
		{name: "two counts", ss: []promSample{value, part("pods", "3", web), part("pods", "4", map[string]string{"namespace": "shop", "target": "web", "x": "y"})},
			want: warnedObs(7, `2 series, want 1 ({namespace="shop", podpilot_part="pods", target="web"}, {namespace="shop", podpilot_part="pods", target="web", x="y"}…)`), warn: "2 series, want 1"},
		{name: "a count, no reading", ss: []promSample{part("pods", "3", web)}, reason: "shop/web qps: empty result (query: label_replace("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeProm(t, false, func(*http.Request, promRequest) (int, string) { return vectorBody(tt.ss...) })
			c := newTestClient(t, Config{Address: srv.URL})
			res := c.Fetch(context.Background(), []*policy.Policy{testPolicy(t, "shop", "web", qpsOnly)}, evalAt)
			got := res.Obs[0][0]
			if tt.reason != "" {
				if got.Valid || got.PodsKnown || !strings.HasPrefix(got.Reason, tt.reason) {
					t.Errorf("Obs = %+v; want invalid, with a reason starting %q", got, tt.reason)
				}
			} else if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Obs mismatch (-want +got):\n%s", diff)
			}
			switch {
			case tt.warn == "" && len(res.Warnings) > 0:
				t.Errorf("Warnings = %q; want none", res.Warnings)
			case tt.warn != "" && (len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "shop/web qps: pods covered unknown: "+tt.warn)):
				t.Errorf("Warnings = %q; want one starting %q", res.Warnings, tt.warn)
			}
		})
	}
}
