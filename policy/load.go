package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// doc is the YAML shape of a policy file. Pointers tell a field that was left out from one set to zero, so that
// defaults fill only what is missing (an empty block never wipes them).
type doc struct {
	Target      *docTarget     `yaml:"target"`
	MinReplicas *int32         `yaml:"minReplicas"`
	MaxReplicas *int32         `yaml:"maxReplicas"`
	Interval    *time.Duration `yaml:"interval"`
	Algorithm   *docAlgo       `yaml:"algorithm"`
	Algorithms  []docAlgo      `yaml:"algorithms"`
	Metrics     []docMetric    `yaml:"metrics"`
	Behavior    *docBehavior   `yaml:"behavior"`
	Missing     *docMissing    `yaml:"missingMetrics"`
}

type docTarget struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	Kind      string `yaml:"kind"`
}

type docAlgo struct {
	Name string    `yaml:"name"`
	Args yaml.Node `yaml:"args"`
}

type docMetric struct {
	Name           string         `yaml:"name"`
	Kind           string         `yaml:"kind"`
	Query          string         `yaml:"query"`
	PodsQuery      string         `yaml:"podsQuery"`
	Window         *time.Duration `yaml:"window"`
	Queue          string         `yaml:"queue"`
	Utilization    *float64       `yaml:"utilization"`
	PerReplica     *float64       `yaml:"perReplica"`
	Total          *float64       `yaml:"total"`
	DrainTime      *time.Duration `yaml:"drainTime"`
	RatePerReplica *float64       `yaml:"ratePerReplica"`
}

type docBehavior struct {
	ScaleUp   *docRules `yaml:"scaleUp"`
	ScaleDown *docRules `yaml:"scaleDown"`
}

type docRules struct {
	Window    *time.Duration `yaml:"stabilizationWindow"`
	Cooldown  *time.Duration `yaml:"cooldown"`
	Tolerance *float64       `yaml:"tolerance"`
	Select    *string        `yaml:"select"`
	Policies  []docRate      `yaml:"policies"`
}

type docRate struct {
	Type   string         `yaml:"type"`
	Value  *int32         `yaml:"value"`
	Period *time.Duration `yaml:"period"`
}

type docMissing struct {
	Action   string `yaml:"action"`
	Replicas *int32 `yaml:"replicas"`
	After    *int   `yaml:"after"`
}

// Limits on behaviour fields, as HPA's validation has them where it has one.
const (
	maxWindow   = time.Hour
	maxPeriod   = 30 * time.Minute
	maxCooldown = 24 * time.Hour
)

var yamlLine = regexp.MustCompile(`line (\d+)`)

// Parse reads one policy file's contents strictly. The error, when not nil, is an Errors listing every problem.
func Parse(file string, data []byte, reg *Registry) (*Policy, error) {
	n, errs := document(file, data)
	if errs != nil {
		return nil, errs
	}
	var raw doc
	d := newDecoder(file)
	d.pos[""] = mark{n.Line, n.Column}
	d.decode(n, reflect.ValueOf(&raw).Elem(), "")
	p := d.resolve(&raw, reg)
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodeYAML decodes one YAML document into v as strictly as policy files are read: an unknown field at any
// depth, a wrong type, a bad duration or a second document is an error with its position, and every error is
// reported at once (as Errors). Fields v already holds are defaults: what the document leaves out keeps them,
// and an empty block keeps them too. v must point to a struct of the kinds policy files use. The Where it returns
// locates the document's fields, so that a check of the decoded values can name the line of a bad one.
func DecodeYAML(file string, data []byte, v any) (Where, error) {
	n, errs := document(file, data)
	if errs != nil {
		return nil, errs
	}
	d := newDecoder(file)
	d.decode(n, reflect.ValueOf(v).Elem(), "")
	return d.where, d.errs.Err()
}

// Where tells where a document wrote a field path such as "leaderElection.leaseDuration": its line and column, or
// those of its nearest parent that the document wrote; 0, 0 when it wrote neither (the value is a default).
type Where func(path string) (line, col int)

func (d *decoder) where(path string) (line, col int) {
	m, _ := d.written(path)
	return m.line, m.col
}

// document parses the single YAML document of a file.
func document(file string, data []byte) (*yaml.Node, Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Msg: "empty file: want one YAML document"}}
		}
		return nil, Errors{syntaxError(file, data, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Errors{syntaxError(file, data, err)}
		}
		return nil, Errors{{File: file, Line: extra.Line, Col: extra.Column, Msg: "a second YAML document: put one policy in each file"}}
	}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if isNull(n) {
		return nil, Errors{{File: file, Line: n.Line, Col: n.Column, Msg: "empty file: want one YAML document"}}
	}
	return n, nil
}

// syntaxError words a YAML parser error with the line it is on. The parser's own line is, for most errors, the
// line before the block it was parsing (a zero-based context mark), not the line with the problem: that is the
// first line at which the file, cut off there, fails to parse with the same problem.
func syntaxError(file string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: "YAML syntax: " + msg}
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return e
	}
	problem := strings.TrimSpace(strings.TrimPrefix(msg, m[0]+": "))
	e.Line, e.Col, e.Msg = 0, 1, "YAML syntax: "+problem
	e.Line, _ = strconv.Atoi(m[1])
	if n := problemLine(data, problem); n > 0 {
		e.Line = n
	}
	return e
}

// problemLine is the first line from which data cut off after it, and after every later line, fails to parse with
// problem, or 0. Each later line must fail too: a prefix cut inside a flow that a later line closes ({a: 1 on one
// line, } on the next) fails with the same words as a real error further down. Only small files are searched:
// each try parses the file up to the line.
func problemLine(data []byte, problem string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 2000 {
		return 0
	}
	fails := func(end int) bool {
		var n yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(data[:end]))
		err := dec.Decode(&n)
		for err == nil {
			err = dec.Decode(&n)
		}
		if errors.Is(err, io.EOF) {
			return false
		}
		msg := err.Error()
		return strings.HasSuffix(msg, ": "+problem) || msg == "yaml: "+problem
	}
	end, found := len(data), 0
	for i := len(lines) - 1; i >= 0; i-- {
		if !fails(end) {
			break
		}
		found = i + 1
		end -= len(lines[i])
	}
	return found
}

// resolve applies defaults and validates everything, recording every problem in d.
func (d *decoder) resolve(raw *doc, reg *Registry) *Policy {
	p := &Policy{File: d.file, targetAt: d.at("target")}

	if raw.Target == nil {
		d.fieldf("target", "required: the Deployment to scale (namespace and name)")
	} else {
		t := raw.Target
		p.Target = Target{Namespace: t.Namespace, Name: t.Name, Kind: t.Kind}
		switch {
		case t.Namespace == "":
			d.fieldf("target.namespace", "required")
		case !validNamespace(t.Namespace):
			d.fieldf("target.namespace", "%q is not a valid namespace (a DNS-1123 label)", t.Namespace)
		}
		switch {
		case t.Name == "":
			d.fieldf("target.name", "required")
		case !validName(t.Name):
			d.fieldf("target.name", "%q is not a valid Deployment name (a DNS-1123 subdomain)", t.Name)
		}
		if p.Target.Kind == "" {
			p.Target.Kind = "Deployment"
		} else if p.Target.Kind != "Deployment" {
			d.fieldf("target.kind", "only Deployment is supported, got %q", t.Kind)
		}
	}

	p.MinReplicas = deref(raw.MinReplicas, 1)
	if p.MinReplicas < 0 {
		d.fieldf("minReplicas", "must not be negative, got %d", p.MinReplicas)
	}
	if raw.MaxReplicas == nil {
		d.fieldf("maxReplicas", "required")
	} else {
		p.MaxReplicas = *raw.MaxReplicas
		switch {
		case p.MaxReplicas < 1:
			d.fieldf("maxReplicas", "must be at least 1, got %d", p.MaxReplicas)
		case p.MaxReplicas > MaxReplicasLimit:
			d.fieldf("maxReplicas", "must be at most %d, got %d", MaxReplicasLimit, p.MaxReplicas)
		case p.MinReplicas > p.MaxReplicas:
			d.fieldf("minReplicas", "must not exceed maxReplicas (%d), got %d", p.MaxReplicas, p.MinReplicas)
		}
	}
	p.Interval = deref(raw.Interval, DefaultInterval)
	if p.Interval < time.Second {
		d.fieldf("interval", "must be at least 1s, got %s", p.Interval)
	}

	d.metrics(p, raw.Metrics)
	if p.MinReplicas == 0 && !slices.ContainsFunc(p.Metrics, func(m Metric) bool { _, mode := m.Target(); return mode != PodAverage }) {
		d.fieldf("minReplicas", "0 needs a queue or promql metric to wake the target up: cpu and qps have no reading without pods")
	}

	algos, args, where := d.algorithms(raw, reg)
	if len(algos) > 0 && args[0] != nil {
		p.Behavior = algos[0].behavior(args[0])
		if raw.Behavior == nil && algos[0].legacy {
			p.Behavior.Legacy = true
		}
	}
	if raw.Behavior != nil {
		d.rules(&p.Behavior.Up, raw.Behavior.ScaleUp, "behavior.scaleUp")
		d.rules(&p.Behavior.Down, raw.Behavior.ScaleDown, "behavior.scaleDown")
	}
	d.missing(p, raw.Missing)

	// The arguments' checks read the interval, the bounds and the metrics: with one of those wrong they would
	// report errors that are not there. Any other error is reported beside theirs, so that all come at once.
	if slices.ContainsFunc(d.errs, func(e *Error) bool {
		return slices.ContainsFunc([]string{"interval", "minReplicas", "maxReplicas", "metrics", "algorithm", "algorithms"}, func(f string) bool {
			return e.Path == f || strings.HasPrefix(e.Path, f+".") || strings.HasPrefix(e.Path, f+"[")
		})
	}) {
		return p
	}
	for i, g := range algos {
		var pr Problems
		g.check(args[i], p, &pr)
		for _, e := range pr.list {
			if where[i] == "" {
				// The default algorithm with its default arguments: only the interval can have made them wrong.
				d.fieldf("interval", "the default algorithm %s's %s %s; name the algorithm and set it (algorithm: {args: ...})",
					g.Name, e.path, e.msg)
				continue
			}
			d.fieldf(join(where[i]+".args", e.path), "%s", e.msg)
		}
		p.Algorithms = append(p.Algorithms, Algo{Name: g.Name, Impl: g.build(args[i], p)})
	}
	if len(d.errs) == 0 { // an algorithm that refused its metrics has said so
		d.unused(p, raw.Metrics != nil)
	}
	return p
}

// unused refuses each metric that no algorithm of p sizes on.
func (d *decoder) unused(p *Policy, written bool) {
	for i := range p.Metrics {
		m := &p.Metrics[i]
		var why []string
		for _, a := range p.Algorithms {
			u, ok := a.Impl.(MetricUser)
			if !ok || u.Uses(m) {
				why = nil
				break
			}
			if only := u.UsesOnly(); only != "" {
				why = append(why, a.Name+" sizes only on "+only)
			}
		}
		if why == nil {
			continue
		}
		path := fmt.Sprintf("metrics[%d]", i)
		if !written {
			path = "metrics" // the default metric, HPA's cpu at 80 %
		}
		d.fieldf(path, "no algorithm of this policy uses this %s metric (%s): remove it, or list an algorithm that uses it",
			m.Kind, strings.Join(why, "; "))
	}
}

func deref[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

// algorithms resolves the algorithm list and decodes each one's arguments over its defaults. where is each one's
// path in the file ("algorithm", "algorithms[1]"), or "" for the default algorithm the file does not name.
func (d *decoder) algorithms(raw *doc, reg *Registry) (regs []Registration, args []any, where []string) {
	var list []docAlgo
	paths := []string{}
	switch {
	case raw.Algorithm != nil && raw.Algorithms != nil:
		d.fieldf("algorithms", "give either algorithm or algorithms, not both")
		return nil, nil, nil
	case raw.Algorithm != nil:
		list, paths = []docAlgo{*raw.Algorithm}, []string{"algorithm"}
		if list[0].Name == "" {
			list[0].Name = DefaultAlgorithm // algorithm: {args: ...} tunes the default algorithm
		}
	case raw.Algorithms != nil:
		if len(raw.Algorithms) == 0 {
			d.fieldf("algorithms", "must list at least one algorithm")
		}
		list = raw.Algorithms
		for i := range list {
			paths = append(paths, fmt.Sprintf("algorithms[%d]", i))
		}
	default:
		list, paths = []docAlgo{{Name: DefaultAlgorithm}}, []string{""}
	}
	seen := map[string]bool{}
	for i, a := range list {
		g, ok := reg.Lookup(a.Name)
		switch {
		case a.Name == "":
			d.fieldf(join(paths[i], "name"), "required (one of %s)", strings.Join(reg.Names(), ", "))
			continue
		case !ok:
			d.fieldf(join(paths[i], "name"), "unknown algorithm %q (known: %s)", a.Name, strings.Join(reg.Names(), ", "))
			continue
		case seen[a.Name]:
			d.fieldf(join(paths[i], "name"), "algorithm %q listed twice", a.Name)
			continue
		}
		seen[a.Name] = true
		v := g.newArgs()
		if a.Args.Kind != 0 && !isNull(&a.Args) {
			d.decode(&a.Args, reflect.ValueOf(v).Elem(), join(paths[i], "args"))
		}
		regs = append(regs, g)
		args = append(args, v)
		where = append(where, paths[i])
	}
	return regs, args, where
}

func (d *decoder) metrics(p *Policy, raw []docMetric) {
	if raw == nil {
		// As HPA: no metrics means CPU at 80 % of requests.
		m := Metric{Name: string(CPU), Kind: CPU, Utilization: 80, Window: DefaultWindow, Query: defaultQueries[CPU]}
		m.tmpl, _ = compileQuery(m.Query)
		p.Metrics = []Metric{m}
		return
	}
	if len(raw) == 0 {
		d.fieldf("metrics", "must list at least one metric")
	}
	names := map[string]string{}
	for i, r := range raw {
		path := fmt.Sprintf("metrics[%d]", i)
		m := Metric{Kind: MetricKind(r.Kind), Name: r.Name, Query: r.Query, Queue: r.Queue, Window: deref(r.Window, DefaultWindow)}
		if r.Kind == "" {
			d.fieldf(join(path, "kind"), "required: one of cpu, qps, queue, promql")
			continue
		}
		if _, known := defaultQueries[m.Kind]; !known && m.Kind != PromQL {
			d.fieldf(join(path, "kind"), "unknown metric kind %q (known: cpu, qps, queue, promql)", r.Kind)
			continue
		}
		if m.Name == "" {
			if m.Kind == PromQL {
				d.fieldf(join(path, "name"), "required for promql metrics")
			}
			m.Name = string(m.Kind)
		}
		if !metricName.MatchString(m.Name) {
			d.fieldf(join(path, "name"), "%q must start with a lowercase letter and hold only a-z, 0-9, _ and -", m.Name)
		} else if prev, dup := names[m.Name]; dup {
			d.fieldf(join(path, "name"), "%q is already the name of %s (give each metric its own name)", m.Name, prev)
		}
		names[m.Name] = path
		if m.Window < time.Second {
			d.fieldf(join(path, "window"), "must be at least 1s, got %s", m.Window)
		}
		d.metricTarget(&m, &r, path)
		if m.Query == "" {
			if m.Kind == PromQL {
				d.fieldf(join(path, "query"), "required for promql metrics")
			}
			m.Query, m.PodsQuery = defaultQueries[m.Kind], defaultPodsQueries[m.Kind]
			if m.PodsQuery != "" {
				m.podsTmpl, _ = compileQuery(m.PodsQuery) // built in: compiles
			}
		}
		if r.PodsQuery != "" && slices.Contains([]MetricKind{QPS, PromQL}, m.Kind) {
			t, err := compileQuery(r.PodsQuery)
			if err != nil {
				d.fieldf(join(path, "podsQuery"), "%v", err)
			}
			m.PodsQuery, m.podsTmpl = r.PodsQuery, t
		}
		if m.Query != "" {
			t, err := compileQuery(m.Query)
			if err != nil {
				d.fieldf(join(path, "query"), "%v", err)
			}
			m.tmpl = t
		}
		p.Metrics = append(p.Metrics, m)
	}
}

// metricTarget checks that a metric sets exactly the target fields its kind uses.
func (d *decoder) metricTarget(m *Metric, r *docMetric, path string) {
	set := map[string]bool{
		"utilization": r.Utilization != nil, "perReplica": r.PerReplica != nil, "total": r.Total != nil,
		"drainTime": r.DrainTime != nil, "ratePerReplica": r.RatePerReplica != nil, "queue": r.Queue != "",
		"podsQuery": r.PodsQuery != "",
	}
	uses := map[MetricKind][]string{
		CPU:    {"utilization"},
		QPS:    {"perReplica", "podsQuery"},
		Queue:  {"perReplica", "drainTime", "ratePerReplica", "queue"},
		PromQL: {"perReplica", "total", "podsQuery"},
	}[m.Kind]
	for _, f := range []string{"utilization", "perReplica", "total", "drainTime", "ratePerReplica", "queue", "podsQuery"} {
		if set[f] && !slices.Contains(uses, f) {
			d.fieldf(join(path, f), "not used by %s metrics (they use %s)", m.Kind, strings.Join(uses, ", "))
		}
	}
	positive := func(field string, v *float64) float64 {
		if v == nil {
			return 0
		}
		if *v <= 0 {
			d.fieldf(join(path, field), "must be greater than 0, got %g", *v)
		}
		return *v
	}
	switch m.Kind {
	case CPU:
		m.Utilization = positive("utilization", r.Utilization)
		if r.Utilization == nil {
			d.fieldf(join(path, "utilization"), "required: target CPU utilization, percent of requests")
		} else if m.Utilization > 1000 {
			d.fieldf(join(path, "utilization"), "must be at most 1000 (percent of requests), got %g", m.Utilization)
		}
	case QPS:
		m.PerReplica = positive("perReplica", r.PerReplica)
		if r.PerReplica == nil {
			d.fieldf(join(path, "perReplica"), "required: target requests per second per replica")
		}
	case Queue:
		m.PerReplica = positive("perReplica", r.PerReplica)
		m.RatePerReplica = positive("ratePerReplica", r.RatePerReplica)
		if r.DrainTime != nil {
			m.DrainTime = *r.DrainTime
			if m.DrainTime <= 0 {
				d.fieldf(join(path, "drainTime"), "must be greater than 0")
			}
			if r.RatePerReplica == nil {
				d.fieldf(join(path, "ratePerReplica"), "required with drainTime: messages per second one replica processes")
			}
		} else if r.RatePerReplica != nil {
			d.fieldf(join(path, "drainTime"), "required with ratePerReplica, which only sizes the drain of a backlog within drainTime")
		}
		if r.PerReplica == nil && r.DrainTime == nil {
			d.fieldf(join(path, "perReplica"), "required: backlog per replica, or drainTime with ratePerReplica")
		}
		if m.Queue == "" && r.Query == "" {
			d.fieldf(join(path, "queue"), "required: the queue's name, used by the default query")
		}
	case PromQL:
		m.PerReplica = positive("perReplica", r.PerReplica)
		m.Total = positive("total", r.Total)
		if (r.PerReplica == nil) == (r.Total == nil) {
			d.fieldf(join(path, "perReplica"), "give exactly one of perReplica or total")
		}
	}
}

// rules overlays one direction's behaviour fields on the algorithm's defaults.
func (d *decoder) rules(r *Rules, raw *docRules, path string) {
	if raw == nil {
		return
	}
	if raw.Window != nil {
		r.Window = *raw.Window
		if r.Window > maxWindow {
			d.fieldf(join(path, "stabilizationWindow"), "must be at most %s, got %s", FormatDuration(maxWindow), FormatDuration(r.Window))
		}
	}
	if raw.Cooldown != nil {
		r.Cooldown = *raw.Cooldown
		if r.Cooldown > maxCooldown {
			d.fieldf(join(path, "cooldown"), "must be at most %s, got %s", FormatDuration(maxCooldown), FormatDuration(r.Cooldown))
		}
	}
	if raw.Tolerance != nil {
		r.Tolerance = *raw.Tolerance
		if r.Tolerance < 0 || r.Tolerance >= 1 {
			d.fieldf(join(path, "tolerance"), "must be at least 0 and below 1 (a fraction, 0.1 is 10%%), got %g", r.Tolerance)
		}
	}
	if raw.Select != nil {
		r.Select = Select(*raw.Select)
		if !slices.Contains([]Select{SelectMax, SelectMin, SelectDisabled}, r.Select) {
			d.fieldf(join(path, "select"), "must be Max, Min or Disabled, got %q", *raw.Select)
		}
	}
	if raw.Policies != nil {
		r.Policies = nil
		if len(raw.Policies) == 0 {
			d.fieldf(join(path, "policies"), "must list at least one policy (use select: Disabled to stop scaling in this direction)")
		}
		for i, rp := range raw.Policies {
			pp := fmt.Sprintf("%s.policies[%d]", path, i)
			out := RatePolicy{Type: RateType(rp.Type), Value: deref(rp.Value, 0), Period: deref(rp.Period, 0)}
			if out.Type != Pods && out.Type != Percent {
				d.fieldf(join(pp, "type"), "must be Pods or Percent, got %q", rp.Type)
			}
			if rp.Value == nil || out.Value <= 0 {
				d.fieldf(join(pp, "value"), "must be greater than 0")
			}
			if rp.Period == nil || out.Period <= 0 || out.Period > maxPeriod {
				d.fieldf(join(pp, "period"), "must be more than 0s and at most %s", FormatDuration(maxPeriod))
			}
			r.Policies = append(r.Policies, out)
		}
	}
}

func (d *decoder) missing(p *Policy, raw *docMissing) {
	p.Missing = Missing{Action: Hold, After: 3}
	if raw == nil {
		return
	}
	if raw.Action != "" {
		p.Missing.Action = MissingAction(raw.Action)
	}
	p.Missing.After = deref(raw.After, 3)
	switch p.Missing.Action {
	case Hold:
		if raw.Replicas != nil {
			d.fieldf("missingMetrics.replicas", "only used with action: fallback")
		}
		if raw.After != nil {
			d.fieldf("missingMetrics.after", "only used with action: fallback")
		}
	case Fallback:
		if raw.Replicas == nil {
			d.fieldf("missingMetrics.replicas", "required with action: fallback")
			return
		}
		p.Missing.Replicas = *raw.Replicas
		switch {
		case p.Missing.Replicas < 1 || (p.MaxReplicas > 0 && p.Missing.Replicas > p.MaxReplicas):
			d.fieldf("missingMetrics.replicas", "must be between 1 and maxReplicas (%d), got %d", p.MaxReplicas, p.Missing.Replicas)
		case p.Missing.Replicas <= p.MinReplicas:
			// A fallback only raises the count, which is never below minReplicas: this one would never act.
			d.fieldf("missingMetrics.replicas", "must be above minReplicas (%d), got %d: a fallback only raises the count, so one at or below minReplicas never acts", p.MinReplicas, p.Missing.Replicas)
		}
		if p.Missing.After < 1 {
			d.fieldf("missingMetrics.after", "must be at least 1, got %d", p.Missing.After)
		}
	default:
		d.fieldf("missingMetrics.action", "must be hold or fallback, got %q", raw.Action)
	}
}

// LoadFile reads and parses one policy file.
func LoadFile(path string, reg *Registry) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data, reg)
}

// Files lists the policy files named by paths: files as given, and the *.yaml and *.yml files of directories
// (not recursively, hidden names skipped), in a stable order.
// Duplicate is the error for p's file claiming a target that the policy in file other already has, at the line
// and column where p's file names it.
func (p *Policy) Duplicate(other string) *Error {
	return &Error{File: p.File, Line: p.targetAt.line, Col: p.targetAt.col, Path: "target",
		Msg: fmt.Sprintf("%s is already the target of %s: one policy per target", p.Target, other)}
}

func Files(paths []string) ([]string, error) {
	files, errs := expand(paths)
	return files, errs.Err()
}

// Load reads policy files and directories (their *.yaml and *.yml files, not recursively). It returns the valid
// policies and an Errors with every problem in every file, including two files that claim the same target.
func Load(paths []string, reg *Registry) ([]*Policy, error) {
	files, errs := expand(paths)
	var out []*Policy
	owner := map[string]*Policy{}
	for _, f := range files {
		p, err := LoadFile(f, reg)
		if err != nil {
			var es Errors
			if errors.As(err, &es) {
				errs = append(errs, es...)
				continue
			}
			errs = append(errs, &Error{File: f, Msg: err.Error()})
			continue
		}
		key := p.Target.String()
		if prev, dup := owner[key]; dup {
			errs = append(errs, p.Duplicate(prev.File))
			continue
		}
		owner[key] = p
		out = append(out, p)
	}
	return out, errs.Err()
}

// expand lists the policy files named by paths, in a stable order.
func expand(paths []string) ([]string, Errors) {
	var files []string
	var errs Errors
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: err.Error()})
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: err.Error()})
			continue
		}
		for _, e := range entries {
			// Regular files and links: a mounted ConfigMap links each key to ..data/key. Hidden names are skipped.
			ext := filepath.Ext(e.Name())
			if (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(e.Name(), ".") && !e.IsDir() {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	return files, errs
}
