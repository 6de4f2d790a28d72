package policy

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// Vars are the values a query template can use, as {{.Namespace}}, {{.Selector}} and so on. Every value is
// escaped for use inside a double-quoted PromQL string with a regular-expression matcher (=~), so that no
// namespace, name or queue can inject PromQL. A template rendered for several targets at once gets alternations
// that match any of them; the results are told apart by their namespace and target labels (or queue label).
type Vars struct {
	Namespace string // matches the target's namespace
	Name      string // matches the Deployment's name
	Pod       string // matches the Deployment's pods; its first capture group is the Deployment's name
	Selector  string // namespace=~"<Namespace>", pod=~"<Pod>"
	Queue     string // matches the queue's name
	Window    string // the metric's rate window, such as 1m
}

// Default query templates, one per kind, for the exporters most clusters run: cAdvisor and kube-state-metrics
// for CPU, an application's http_requests_total for QPS, and the RabbitMQ exporter for queues. Each returns one
// series per target, labelled namespace and target (or queue), so that many targets share one query.
var defaultQueries = map[MetricKind]string{
	CPU: `100 * sum by (namespace, target) (label_replace(sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{ {{.Selector}}, container!="", container!="POD"}[{{.Window}}])), "target", "$1", "pod", "{{.Pod}}"))` +
		` / sum by (namespace, target) (label_replace(sum by (namespace, pod) (kube_pod_container_resource_requests{ {{.Selector}}, resource="cpu"}) and on (namespace, pod) sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{ {{.Selector}}, container!="", container!="POD"}[{{.Window}}])), "target", "$1", "pod", "{{.Pod}}"))`,
	QPS:   `sum by (namespace, target) (label_replace(` + httpRate + `, "target", "$1", "pod", "{{.Pod}}"))`,
	Queue: `sum by (queue) (rabbitmq_queue_messages_ready{queue=~"{{.Queue}}"})`,
}

// Default templates for the number of pods a default query's reading covers, per kind (only qps: a sum of
// rates, which pods that are not scraped would make look low). A pod counts once its series is a whole window
// old (it had a sample one window ago): a younger series' rate is extrapolated over part of the window only, and
// is too low. CPU's default is a ratio over the pods that report both usage and requests, which a missing pod
// leaves unbiased.
var defaultPodsQueries = map[MetricKind]string{
	QPS: `count by (namespace, target) (label_replace(sum by (namespace, pod) (` + httpRate + `)` +
		` and on (namespace, pod) sum by (namespace, pod) (` + httpRequests + ` offset {{.Window}}), "target", "$1", "pod", "{{.Pod}}"))`,
}

// The series behind the qps default and its count of pods, written once so that the two read the same.
const (
	httpRequests = `http_requests_total{ {{.Selector}} }`
	httpRate     = `rate(` + httpRequests + `[{{.Window}}])`
)

// DefaultQuery returns the built-in template of a metric kind ("" for promql, which has none).
func DefaultQuery(k MetricKind) string { return defaultQueries[k] }

// podSuffix matches what a Deployment adds to its name to name a pod: the ReplicaSet's pod-template hash (up to
// 10 characters) and the pod's own 5, both in the alphabet of Kubernetes' generated names (no vowels, no 0, 1 or
// 3). Looser, it took in other workloads' pods: a StatefulSet web-cache's web-cache-0, a Job's web-migrate-8x2kq.
const podSuffix = `-[` + nameChars + `]{1,10}-[` + nameChars + `]{5}`

// nameChars is the alphabet of generated names (k8s.io/apimachinery/pkg/util/rand).
const nameChars = "bcdfghjklmnpqrstvwxz2456789"

// quoter escapes for a PromQL double-quoted string. It is never changed after creation.
var quoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// escape makes s a literal inside a PromQL double-quoted regex matcher.
func escape(s string) string {
	return quoter.Replace(regexp.QuoteMeta(s))
}

// alternation escapes each value and joins them so that the regex matches any of them.
func alternation(vals []string) string {
	esc := make([]string, len(vals))
	for i, v := range vals {
		esc[i] = escape(v)
	}
	return strings.Join(esc, "|")
}

// NewVars builds the template values for one target or, with several values per field, for a batch.
func NewVars(namespaces, names, queues []string, window string) Vars {
	ns, nm := alternation(namespaces), alternation(names)
	pod := "(" + nm + ")" + podSuffix
	return Vars{
		Namespace: ns,
		Name:      nm,
		Pod:       pod,
		Selector:  fmt.Sprintf(`namespace=~"%s", pod=~"%s"`, ns, pod),
		Queue:     alternation(queues),
		Window:    window,
	}
}

// VarsFor returns the template values for metric m of policy p alone.
func (p *Policy) VarsFor(m *Metric) Vars {
	return NewVars([]string{p.Target.Namespace}, []string{p.Target.Name}, []string{m.Queue}, FormatDuration(m.Window))
}

// Render returns the metric's query for the given values.
func (m *Metric) Render(v Vars) (string, error) {
	var b strings.Builder
	if err := m.tmpl.Execute(&b, v); err != nil {
		return "", fmt.Errorf("render query of metric %q: %w", m.Name, err)
	}
	return b.String(), nil
}

// RenderPods returns the query for the number of pods the metric's reading covers, or "" when it has none.
func (m *Metric) RenderPods(v Vars) (string, error) {
	if m.podsTmpl == nil {
		return "", nil
	}
	var b strings.Builder
	if err := m.podsTmpl.Execute(&b, v); err != nil {
		return "", fmt.Errorf("render pods query of metric %q: %w", m.Name, err)
	}
	return b.String(), nil
}

// Query returns the metric's query for policy p's target alone.
func (p *Policy) Query(i int) (string, error) {
	m := &p.Metrics[i]
	return m.Render(p.VarsFor(m))
}

// compileQuery parses a template and renders it once with sample values, so that syntax errors, unknown
// variables and queries that come out empty are found when the file is loaded.
func compileQuery(text string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	t, err := template.New("query").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("bad template: %s", cleanTemplateErr(err))
	}
	var b strings.Builder
	if err := t.Execute(&b, NewVars([]string{"ns"}, []string{"app"}, []string{"q"}, "1m")); err != nil {
		return nil, fmt.Errorf("bad template: %s (known variables: .Namespace, .Name, .Pod, .Selector, .Queue, .Window)", cleanTemplateErr(err))
	}
	if strings.TrimSpace(b.String()) == "" {
		return nil, fmt.Errorf("template renders an empty query")
	}
	return t, nil
}

// Render checks a query template as a policy file's are checked and renders it with v: for a template that
// comes from a flag, not a policy file (podpilot record's --ready-query).
func Render(text string, v Vars) (string, error) {
	t, err := compileQuery(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("bad template: %s", cleanTemplateErr(err))
	}
	return b.String(), nil
}

// cleanTemplateErr drops text/template's "template: query:1:5: executing ..." prefix noise but keeps the column.
func cleanTemplateErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "template: ")
	s = strings.Replace(s, `executing "query" at `, "", 1)
	s = strings.Replace(s, "can't evaluate field ", "unknown variable .", 1)
	return s
}
