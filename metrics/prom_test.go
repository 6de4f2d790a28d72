package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podpilot/podpilot/policy"
)

// evalAt is the evaluation time of the tests: a whole second plus 250 ms, so that the time parameter is checked
// below the second.
var evalAt = time.Date(2026, 7, 1, 12, 0, 0, 250e6, time.UTC)

// promRequest is what the fake Prometheus saw of one request.
type promRequest struct {
	Method string
	Path   string
	Query  string
	Time   string
	Form   url.Values
	Header http.Header
}

// fakeProm is an httptest Prometheus: answer returns the status code and JSON body for each request.
type fakeProm struct {
	*httptest.Server
	answer func(r *http.Request, req promRequest) (int, string)

	mu     sync.Mutex
	reqs   []promRequest
	forget bool // keep no requests (benchmarks)
}

func newFakeProm(t testing.TB, tls bool, answer func(r *http.Request, req promRequest) (int, string)) *fakeProm {
	f := &fakeProm{answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := promRequest{Method: r.Method, Path: r.URL.Path, Query: r.Form.Get("query"), Time: r.Form.Get("time"), Form: r.Form, Header: r.Header.Clone()}
		f.mu.Lock()
		if !f.forget {
			f.reqs = append(f.reqs, req)
		}
		f.mu.Unlock()
		code, body := f.answer(r, req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	})
	f.Server = httptest.NewUnstartedServer(h)
	f.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected by some tests
	if tls {
		f.StartTLS()
	} else {
		f.Start()
	}
	t.Cleanup(f.Close)
	return f
}

// requests returns the requests seen so far and forgets them.
func (f *fakeProm) requests() []promRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

// queries returns the query texts of the requests seen so far, sorted, and forgets them.
func (f *fakeProm) queries() []string {
	var qs []string
	for _, r := range f.requests() {
		qs = append(qs, r.Query)
	}
	slices.Sort(qs)
	return qs
}

// promSample is one series of a vector answer.
type promSample struct {
	labels map[string]string
	value  string    // as Prometheus writes it: "1.5", "NaN", "+Inf"
	at     time.Time // zero: evalAt, as Prometheus stamps instant results
}

func targetLabels(ns, name string) map[string]string {
	return map[string]string{"namespace": ns, "target": name}
}

func promTime(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

func okBody(resultType string, result any) (int, string) {
	b, err := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": resultType, "result": result}})
	if err != nil {
		panic(err)
	}
	return http.StatusOK, string(b)
}

func vectorBody(ss ...promSample) (int, string) {
	out := []map[string]any{}
	for _, s := range ss {
		at := s.at
		if at.IsZero() {
			at = evalAt
		}
		l := s.labels
		if l == nil {
			l = map[string]string{}
		}
		out = append(out, map[string]any{"metric": l, "value": []any{promTime(at), s.value}})
	}
	return okBody("vector", out)
}

func errorBody(code int, errorType, msg string) (int, string) {
	b, _ := json.Marshal(map[string]any{"status": "error", "errorType": errorType, "error": msg})
	return code, string(b)
}

// promWorld answers the default templates as a Prometheus holding one series per target would: it reads the
// namespace and name alternations (or the queue alternation) out of the query and returns the series of the
// targets (or queues) it holds that they name, labelled as the default templates label them.
type promWorld struct {
	cpu, qps, pods map[targetKey]string // value per target (pods: what the qps template's pods query counts)
	queues         map[string]string    // value per queue
}

func (w *promWorld) answer(_ *http.Request, r promRequest) (int, string) {
	if value, pods, ok := splitPods(r.Query); ok {
		vs, ok1 := w.samples(value, w.qps)
		ps, ok2 := w.samples(pods, w.pods)
		if !ok1 || !ok2 {
			return errorBody(http.StatusBadRequest, "bad_data", "unknown query")
		}
		return vectorBody(append(withPart(vs, "value"), withPart(ps, "pods")...)...)
	}
	out, ok := w.samples(r.Query, w.qps)
	if !ok {
		return errorBody(http.StatusBadRequest, "bad_data", "unknown query")
	}
	return vectorBody(out...)
}

// samples answers one query of the default templates; http_requests_total reads qps.
func (w *promWorld) samples(query string, qps map[targetKey]string) ([]promSample, bool) {
	var out []promSample
	switch {
	case strings.Contains(query, "rabbitmq_queue_messages_ready"):
		for _, q := range splitAlternation(promMatcher(query, "queue")) {
			if v, ok := w.queues[q]; ok {
				out = append(out, promSample{labels: map[string]string{"queue": q}, value: v})
			}
		}
	case strings.Contains(query, "container_cpu_usage_seconds_total"), strings.Contains(query, "http_requests_total"):
		vals := qps
		if strings.Contains(query, "container_cpu_usage_seconds_total") {
			vals = w.cpu
		}
		pod := promMatcher(query, "pod")
		names := splitAlternation(strings.TrimSuffix(strings.TrimPrefix(pod, "("), ")-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"))
		for _, ns := range splitAlternation(promMatcher(query, "namespace")) {
			for _, name := range names {
				if v, ok := vals[targetKey{ns, name}]; ok {
					out = append(out, promSample{labels: targetLabels(ns, name), value: v})
				}
			}
		}
	default:
		return nil, false
	}
	return out, true
}

// splitPods splits a query that reads a value and its count of pods (withPods) into the two.
func splitPods(q string) (value, pods string, ok bool) {
	const sep = `, "podpilot_part", "value", "", "") or label_replace(`
	v, p, ok := strings.Cut(q, sep)
	if !ok || !strings.HasPrefix(v, "label_replace(") || !strings.HasSuffix(p, `, "podpilot_part", "pods", "", "")`) {
		return "", "", false
	}
	return strings.TrimPrefix(v, "label_replace("), strings.TrimSuffix(p, `, "podpilot_part", "pods", "", "")`), true
}

// withPart labels each sample as withPods' label_replace does.
func withPart(ss []promSample, part string) []promSample {
	out := make([]promSample, len(ss))
	for i, s := range ss {
		l := map[string]string{"podpilot_part": part}
		for k, v := range s.labels {
			l[k] = v
		}
		s.labels = l
		out[i] = s
	}
	return out
}

// matcher returns the regular expression of the first `label=~"..."` matcher of a query, unquoted as PromQL
// unquotes a double-quoted string ("" when there is none).
func promMatcher(query, label string) string {
	i := strings.Index(query, label+`=~"`)
	if i < 0 {
		return ""
	}
	s := query[i+len(label)+2:]
	end := 1
	for ; end < len(s) && s[end] != '"'; end++ {
		if s[end] == '\\' {
			end++
		}
	}
	re, err := strconv.Unquote(s[:end+1])
	if err != nil {
		panic(fmt.Sprintf("matcher %s in %q: %v", label, query, err))
	}
	return re
}

// alternation splits a regex of escaped literals joined by | back into the literals.
func splitAlternation(re string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(re); i++ {
		switch re[i] {
		case '\\':
			i++
			b.WriteByte(re[i])
		case '|':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(re[i])
		}
	}
	return append(out, b.String())
}

// fullMatch compiles re as Prometheus does: anchored at both ends.
func anchored(t *testing.T, re string) *regexp.Regexp {
	t.Helper()
	r, err := regexp.Compile("^(?:" + re + ")$")
	if err != nil { // called from server goroutines: no Fatal
		t.Errorf("regexp %q from the query does not compile: %v", re, err)
		return regexp.MustCompile(`[^\s\S]`)
	}
	return r
}

// testPolicy loads a policy for namespace/name with the given YAML metrics list.
func testPolicy(t testing.TB, ns, name, metrics string) *policy.Policy {
	t.Helper()
	src := fmt.Sprintf("target: {namespace: %s, name: %s}\nmaxReplicas: 10\nmetrics: %s\n", ns, name, metrics)
	p, err := policy.Parse(ns+"-"+name+".yaml", []byte(src), policy.Builtin())
	if err != nil {
		t.Fatalf("policy for %s/%s: %v", ns, name, err)
	}
	return p
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return c
}

func validObs(v float64) policy.Observation { return policy.Observation{Value: v, Valid: true} }

func podsObs(v float64, pods int32) policy.Observation {
	return policy.Observation{Value: v, Valid: true, Pods: pods, PodsKnown: true}
}
