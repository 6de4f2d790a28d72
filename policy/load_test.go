package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Every bad file gets every one of its errors, each as file:line:col: path: message.
func TestLoadBad(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"syntax.bad.yaml", []string{
			"testdata/syntax.bad.yaml:7:1: YAML syntax: did not find expected '-' indicator",
		}},
		{"unknown-field.bad.yaml", []string{
			`testdata/unknown-field.bad.yaml:4:3: target.namepsace: unknown field "namepsace"`,
			`testdata/unknown-field.bad.yaml:9:5: metrics[0].treshold: unknown field "treshold"`,
			`testdata/unknown-field.bad.yaml:16:9: behavior.scaleDown.policies[0].perod: unknown field "perod"`,
		}},
		{"unknown-arg.bad.yaml", []string{
			`testdata/unknown-arg.bad.yaml:9:5: algorithm.args.panicWindow: unknown field "panicWindow"`,
		}},
		{"wrong-type.bad.yaml", []string{
			`testdata/wrong-type.bad.yaml:4:14: maxReplicas: want a whole number, got string "ten"`,
			`testdata/wrong-type.bad.yaml:5:14: minReplicas: want a whole number, got number 1.5`,
			`testdata/wrong-type.bad.yaml:8:18: metrics[0].utilization: want a number, got a list`,
			`testdata/wrong-type.bad.yaml:9:11: behavior: want a mapping, got string "fast"`,
		}},
		{"zero-target.bad.yaml", []string{
			`testdata/zero-target.bad.yaml:7:5: metrics[0].utilization: must be greater than 0, got 0`,
			`testdata/zero-target.bad.yaml:9:5: metrics[1].perReplica: must be greater than 0, got -5`,
		}},
		{"min-over-max.bad.yaml", []string{
			`testdata/min-over-max.bad.yaml:4:1: minReplicas: must not exceed maxReplicas (10), got 12`,
		}},
		{"max-too-big.bad.yaml", []string{
			`testdata/max-too-big.bad.yaml:4:1: maxReplicas: must be at most 10000, got 1000000`,
		}},
		{"unknown-algorithm.bad.yaml", []string{
			`testdata/unknown-algorithm.bad.yaml:6:3: algorithm.name: unknown algorithm "magic" (known: burst, hpa, predictive, queue, schedule, target-tracking)`,
		}},
		{"unknown-kind.bad.yaml", []string{
			`testdata/unknown-kind.bad.yaml:6:5: metrics[0].kind: unknown metric kind "memory" (known: cpu, qps, queue, promql)`,
		}},
		{"bad-duration.bad.yaml", []string{
			`testdata/bad-duration.bad.yaml:5:11: interval: bad duration 15: want a number with a unit, such as 30s, 5m or 1h`,
			`testdata/bad-duration.bad.yaml:8:26: behavior.scaleDown.stabilizationWindow: bad duration "5 minutes": want a number with a unit, such as 30s, 5m or 1h`,
			`testdata/bad-duration.bad.yaml:9:15: behavior.scaleDown.cooldown: bad duration "-1m": must not be negative`,
		}},
		{"empty-query.bad.yaml", []string{
			`testdata/empty-query.bad.yaml:8:5: metrics[0].query: must not be empty`,
		}},
		{"template-var.bad.yaml", []string{
			`testdata/template-var.bad.yaml:8:5: metrics[0].query: bad template: query:1:51: <.ConsumerGroup>: unknown variable .ConsumerGroup in type policy.Vars (known variables: .Namespace, .Name, .Pod, .Selector, .Queue, .Window)`,
		}},
		{"two-documents.bad.yaml", []string{
			`testdata/two-documents.bad.yaml:5:1: a second YAML document: put one policy in each file`,
		}},
		{"empty.bad.yaml", []string{
			`testdata/empty.bad.yaml: empty file: want one YAML document`,
		}},
		{"bad-behavior.bad.yaml", []string{
			`testdata/bad-behavior.bad.yaml:3:3: target.name: "Web_1" is not a valid Deployment name (a DNS-1123 subdomain)`,
			`testdata/bad-behavior.bad.yaml:4:1: kind: unknown field "kind"`,
			`testdata/bad-behavior.bad.yaml:8:5: behavior.scaleUp.tolerance: must be at least 0 and below 1 (a fraction, 0.1 is 10%), got 1.5`,
			`testdata/bad-behavior.bad.yaml:9:5: behavior.scaleUp.select: must be Max, Min or Disabled, got "Most"`,
			`testdata/bad-behavior.bad.yaml:10:5: behavior.scaleUp.policies: must list at least one policy (use select: Disabled to stop scaling in this direction)`,
			`testdata/bad-behavior.bad.yaml:12:5: behavior.scaleDown.stabilizationWindow: must be at most 1h, got 2h`,
			`testdata/bad-behavior.bad.yaml:14:9: behavior.scaleDown.policies[0].type: must be Pods or Percent, got "Pod"`,
			`testdata/bad-behavior.bad.yaml:15:9: behavior.scaleDown.policies[0].value: must be greater than 0`,
			`testdata/bad-behavior.bad.yaml:16:9: behavior.scaleDown.policies[0].period: must be more than 0s and at most 30m`,
			`testdata/bad-behavior.bad.yaml:18:3: missingMetrics.action: must be hold or fallback, got "panic"`,
		}},
		{"unused-fields.bad.yaml", []string{
			`testdata/unused-fields.bad.yaml:7:12: algorithms[0].args.panicThreshold: must be between 1.1 and 10 (times the ready pods), got 0.5`,
			`testdata/unused-fields.bad.yaml:13:44: behavior.scaleUp.policies[0].value: want a whole number in decimal digits without leading zeros, got number 04`,
			`testdata/unused-fields.bad.yaml:16:3: missingMetrics.after: only used with action: fallback`,
		}},
		{"fallback-at-min.bad.yaml", []string{
			`testdata/fallback-at-min.bad.yaml:5:36: missingMetrics.replicas: must be above minReplicas (3), got 3: a fallback only raises the count, so one at or below minReplicas never acts`,
		}},
		{"rate-without-drain.bad.yaml", []string{
			`testdata/rate-without-drain.bad.yaml:5:5: metrics[0].drainTime: required with ratePerReplica, which only sizes the drain of a backlog within drainTime`,
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load([]string{filepath.Join("testdata", tt.file)}, Builtin())
			if diff := cmp.Diff(tt.want, errorLines(t, err)); diff != "" {
				t.Errorf("Load(%s) errors (-want +got):\n%s", tt.file, diff)
			}
		})
	}
	// Every bad file in testdata has a row above.
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no expected errors in TestLoadBad", f)
		}
	}
}

func errorLines(t *testing.T, err error) []string {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error = %v; want policy.Errors", err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}

func TestLoadDuplicateTarget(t *testing.T) {
	ps, err := Load([]string{"testdata/dup"}, Builtin())
	want := []string{`testdata/dup/b.yaml:2:1: target: shop/web is already the target of testdata/dup/a.yaml: one policy per target`}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if len(ps) != 1 || ps[0].File != "testdata/dup/a.yaml" {
		t.Errorf("valid policies = %v; want only a.yaml", ps)
	}
}

// The shipped examples load, so that the README and the examples cannot drift from the loader.
func TestExamplesValid(t *testing.T) {
	ps, err := Load([]string{"../examples/policies"}, Builtin())
	if err != nil {
		t.Fatalf("Load(examples) = %v", err)
	}
	if len(ps) < 3 {
		t.Fatalf("Load(examples) = %d policies; want at least 3", len(ps))
	}
	// So do the benchmark's policies, which the README's and docs/benchmarks.md's commands name.
	if ps, err := Load([]string{"../testdata/bench"}, Builtin()); err != nil || len(ps) < 3 {
		t.Errorf("Load(testdata/bench) = %d policies, %v; want burst, floor and predictive", len(ps), err)
	}
}

// The reference example spells out target-tracking's defaults; loading it must give exactly what a minimal file
// gets by default, apart from the fields the example changes on purpose.
func TestDefaults(t *testing.T) {
	p, err := LoadFile("testdata/minimal.good.yaml", Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if p.MinReplicas != 1 || p.Interval != 15*time.Second || p.Target.Kind != "Deployment" {
		t.Errorf("defaults: min %d interval %s kind %q; want 1, 15s, Deployment", p.MinReplicas, p.Interval, p.Target.Kind)
	}
	if len(p.Algorithms) != 1 || p.Algorithms[0].Name != DefaultAlgorithm {
		t.Errorf("algorithms = %v; want [%s]", p.Algorithms, DefaultAlgorithm)
	}
	if len(p.Metrics) != 1 || p.Metrics[0].Kind != CPU || p.Metrics[0].Utilization != 80 {
		t.Errorf("metrics = %+v; want cpu at 80 (HPA's default)", p.Metrics)
	}
	if diff := cmp.Diff(trackingBehavior(), p.Behavior); diff != "" {
		t.Errorf("behavior (-want +got):\n%s", diff)
	}
	if p.Missing != (Missing{Action: Hold, After: 3}) {
		t.Errorf("missingMetrics = %+v; want hold", p.Missing)
	}

	web, err := LoadFile("../examples/policies/web.yaml", Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(trackingBehavior(), web.Behavior); diff != "" {
		t.Errorf("examples/policies/web.yaml documents behaviour other than the defaults (-default +file):\n%s", diff)
	}
	want := *trackingDefaults()
	want.Headroom = 0.1 // changed on purpose, to show the field
	if diff := cmp.Diff(want, web.Algorithms[0].Impl.(trackingAlgo).args); diff != "" {
		t.Errorf("examples/policies/web.yaml documents target-tracking arguments other than the defaults (-default +file):\n%s", diff)
	}
}

// An empty block keeps the defaults, and a partial block overrides only the fields it names.
func TestDefaultsOverlay(t *testing.T) {
	base := "target: {namespace: a, name: b}\nmaxReplicas: 9\nalgorithm: {name: hpa}\n"
	tests := []struct {
		name, extra string
		want        func(b *Behavior)
	}{
		{"no behavior block is HPA's legacy path", "", func(b *Behavior) { b.Legacy = true }},
		{"empty behavior block", "behavior: {}\n", func(*Behavior) {}},
		{"empty direction", "behavior: {scaleUp: {}}\n", func(*Behavior) {}},
		{"one field", "behavior: {scaleDown: {stabilizationWindow: 1m}}\n", func(b *Behavior) { b.Down.Window = time.Minute }},
		{"policies replace the list", "behavior: {scaleUp: {policies: [{type: Pods, value: 1, period: 1m}]}}\n",
			func(b *Behavior) { b.Up.Policies = []RatePolicy{{Type: Pods, Value: 1, Period: time.Minute}} }},
		{"controller flags", "algorithm: {name: hpa, args: {tolerance: 0.2, downscaleStabilization: 1m}}\nbehavior: {}\n",
			func(b *Behavior) { b.Up.Tolerance, b.Down.Tolerance, b.Down.Window = 0.2, 0.2, time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + tt.extra
			if strings.Contains(tt.extra, "algorithm:") {
				src = strings.Replace(base, "algorithm: {name: hpa}\n", "", 1) + tt.extra
			}
			p, err := Parse("t.yaml", []byte(src), Builtin())
			if err != nil {
				t.Fatal(err)
			}
			want := hpaBehavior(&hpaArgs{Tolerance: 0.1, DownscaleStabilization: 5 * time.Minute})
			tt.want(&want)
			if diff := cmp.Diff(want, p.Behavior); diff != "" {
				t.Errorf("behavior (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryTemplates(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: my.app}
maxReplicas: 5
metrics:
  - {kind: qps, perReplica: 10}
  - {kind: queue, queue: 'a"b', perReplica: 10}
`)
	got, err := p.Query(0)
	if err != nil {
		t.Fatal(err)
	}
	want := `sum by (namespace, target) (label_replace(rate(http_requests_total{ namespace=~"shop", pod=~"(my\\.app)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}" }[1m]), "target", "$1", "pod", "(my\\.app)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"))`
	if got != want {
		t.Errorf("Query(qps) =\n%s\nwant\n%s", got, want)
	}
	q, err := p.Query(1)
	if err != nil {
		t.Fatal(err)
	}
	if want := `sum by (queue) (rabbitmq_queue_messages_ready{queue=~"a\"b"})`; q != want {
		t.Errorf("Query(queue) = %s; want %s", q, want)
	}
	// A batch of targets matches any of them.
	v := NewVars([]string{"a", "b"}, []string{"x", "y"}, nil, "30s")
	if v.Selector != `namespace=~"a|b", pod=~"(x|y)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"` {
		t.Errorf("batch selector = %s", v.Selector)
	}
}

// No name can break out of the string it is put in.
func TestEscapeInjection(t *testing.T) {
	for _, s := range []string{`"} or vector(1) or {"`, `a\"b`, `.*`, "x\ny"} {
		e := escape(s)
		for i := 0; i < len(e); i++ {
			if e[i] == '"' && (i == 0 || e[i-1] != '\\') {
				t.Errorf("escape(%q) = %q leaves a bare quote", s, e)
			}
		}
		if strings.Contains(e, ".*") {
			t.Errorf("escape(%q) = %q leaves a regex wildcard", s, e)
		}
	}
}

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse("test.yaml", []byte(src), Builtin())
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return p
}

// FuzzParse: the loader never panics, and whatever it accepts is a sane policy.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata", "../examples/policies"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data, Builtin())
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %v is not a non-empty policy.Errors", err)
			}
			return
		}
		if p.MinReplicas < 0 || p.MinReplicas > p.MaxReplicas || p.MaxReplicas > MaxReplicasLimit {
			t.Fatalf("accepted bounds %d..%d", p.MinReplicas, p.MaxReplicas)
		}
		if len(p.Metrics) == 0 || len(p.Algorithms) == 0 {
			t.Fatalf("accepted a policy with %d metrics and %d algorithms", len(p.Metrics), len(p.Algorithms))
		}
		for i := range p.Metrics {
			if tgt, _ := p.Metrics[i].Target(); !(tgt > 0) {
				t.Fatalf("metric %d has target %v", i, tgt)
			}
			if _, err := p.Query(i); err != nil {
				t.Fatalf("accepted a query that does not render: %v", err)
			}
		}
	})
}

// podsQuery counts the pods a qps or promql reading of one's own covers; the default qps query comes with its own
// count, another query with none. It is checked as query is, and refused where a reading is no sum over pods.
func TestPodsQuery(t *testing.T) {
	p := mustParse(t, `target: {namespace: shop, name: web}
maxReplicas: 10
metrics:
  - {kind: qps, perReplica: 10}
  - {kind: qps, name: ingress, perReplica: 10, query: 'sum(rate(nginx_requests{ {{.Selector}} }[{{.Window}}]))'}
  - {kind: promql, name: app, perReplica: 10, query: 'sum(rate(app_requests{ {{.Selector}} }[1m]))', podsQuery: 'count(rate(app_requests{ {{.Selector}} }[1m]))'}
`)
	var got []string
	for i := range p.Metrics {
		q, err := p.Metrics[i].RenderPods(p.VarsFor(&p.Metrics[i]))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, q)
	}
	want := []string{
		`count by (namespace, target) (label_replace(sum by (namespace, pod) (rate(http_requests_total{ namespace=~"shop", pod=~"(web)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}" }[1m]))` +
			` and on (namespace, pod) sum by (namespace, pod) (http_requests_total{ namespace=~"shop", pod=~"(web)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}" } offset 1m), "target", "$1", "pod", "(web)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"))`,
		"",
		`count(rate(app_requests{ namespace=~"shop", pod=~"(web)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}" }[1m]))`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pods queries (-want +got):\n%s", diff)
	}
	_, err := Parse("test.yaml", []byte(`target: {namespace: shop, name: web}
maxReplicas: 10
metrics:
  - {kind: cpu, utilization: 50, podsQuery: 'count(up)'}
  - {kind: qps, perReplica: 10, podsQuery: 'count(x{ {{.Nope}} })'}
`), Builtin())
	wantErr := []string{
		`test.yaml:4:34: metrics[0].podsQuery: not used by cpu metrics (they use utilization)`,
		`test.yaml:5:33: metrics[1].podsQuery: bad template: query:1:11: <.Nope>: unknown variable .Nope in type policy.Vars (known variables: .Namespace, .Name, .Pod, .Selector, .Queue, .Window)`,
	}
	if diff := cmp.Diff(wantErr, errorLines(t, err)); diff != "" {
		t.Errorf("Parse errors (-want +got):\n%s", diff)
	}
}

// A syntax error names the line it is on, not the line of the block around it (yaml.v3's own number).
func TestSyntaxErrorLine(t *testing.T) {
	head := "target: {namespace: shop, name: web}\nmaxReplicas: 10\n"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"bad indentation", "metrics:\n  - kind: cpu\n   utilization: 70\n", "test.yaml:5:1: YAML syntax: did not find expected '-' indicator"},
		{"unclosed flow", "minReplicas: [1\nalgorithm: {name: hpa}\n", "test.yaml:3:1: YAML syntax: did not find expected ',' or ']'"},
		{"a tab", "metrics:\n\t- {kind: cpu, utilization: 70}\n", "test.yaml:4:1: YAML syntax: found character that cannot start any token"},
		{"in a second document", "---\nminReplicas: [1\n", "test.yaml:4:1: YAML syntax: did not find expected ',' or ']'"},
		// Cut off after line 3 the file fails with the same words, but line 4 closes that flow.
		{"after a flow closed on a later line", "algorithm: {name: hpa\n  }\nmetrics: [{kind: cpu, utilization: 50]\n",
			"test.yaml:5:1: YAML syntax: did not find expected ',' or '}'"},
		{"a missing comma in a multi-line flow", "metrics: [\n  {kind: cpu, utilization: 50}\n  {kind: qps, perReplica: 3}\n]\n",
			"test.yaml:4:1: YAML syntax: did not find expected ',' or ']'"},
	} {
		_, err := Parse("test.yaml", []byte(head+tc.body), Builtin())
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.name, err, tc.want)
		}
	}
}

// A boolean is true or false (in any of YAML's three cases); a !!bool tag does not make another word one.
func TestBoolStrict(t *testing.T) {
	head := "target: {namespace: shop, name: web}\nmaxReplicas: 10\nalgorithm:\n  args:\n"
	for _, tc := range []struct{ arg, want string }{
		{"estimate: TRUE", ""},
		{"estimate: False", ""},
		{"estimate: yes", `test.yaml:5:15: algorithm.args.estimate: want true or false, got string "yes"`},
		{"estimate: !!bool yes", `test.yaml:5:15: algorithm.args.estimate: want true or false`},
		{"trend: !!bool banana", `test.yaml:5:12: algorithm.args.trend: want true or false`},
	} {
		_, err := Parse("test.yaml", []byte(head+"    "+tc.arg+"\n"), Builtin())
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %v; want %q", tc.arg, err, tc.want)
		}
	}
}

// The default queries' pod regex takes the Deployment's pods and no other workload's whose name starts the same.
func TestPodRegex(t *testing.T) {
	re := regexp.MustCompile(`^(web)` + podSuffix + `$`)
	for name, want := range map[string]bool{
		"web-7d4b9c8f6d-x2k4p":    true,  // a Deployment's pod
		"web-5c7b6-q9zlr":         true,  // a short pod-template hash
		"web-cache-0":             false, // a StatefulSet's
		"web-migrate-8x2kq":       false, // a Job's
		"web-28391234-vbhsm":      false, // a CronJob's Job's (a timestamp, with 1s and 3s)
		"web-db-7d4b9c8f6d-x2k4p": false, // the Deployment web-db's
	} {
		if got := re.MatchString(name); got != want {
			t.Errorf("%s: matched %v; want %v", name, got, want)
		}
	}
}
