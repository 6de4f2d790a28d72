package simulate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/podpilot/podpilot/policy"
)

// Source is a policy's YAML text with its label. Every policy a simulation runs, built-in or swept, is one, so
// that all of them go through policy.Parse and its validation.
type Source struct {
	Name string
	File string // where it came from ("built-in" for the baselines)
	Data []byte
}

// Builtins are the policies simulate can add by name. Each takes the target, bounds and metrics of the first
// policy file given (or of the fallback base) with the algorithm's defaults for everything else; hpa is a
// Kubernetes HPA object without spec.behavior.
var Builtins = []string{"hpa", "target-tracking"}

// BaseSpec is the policy the built-ins use when no policy file is given.
type BaseSpec struct {
	Min, Max    int32
	Utilization float64
}

// Sources turns --policy arguments (files or built-in names) into sources.
func Sources(args []string, base BaseSpec) ([]Source, error) {
	var out []Source
	var first []byte
	for _, a := range args {
		if isBuiltin(a) {
			continue
		}
		data, err := os.ReadFile(a)
		if err != nil {
			return nil, fmt.Errorf("--policy %s: %w", a, err)
		}
		if first == nil {
			first = data
		}
	}
	if first == nil {
		first = []byte(fmt.Sprintf("target: {namespace: simulate, name: workload}\nminReplicas: %d\nmaxReplicas: %d\nmetrics: [{kind: cpu, utilization: %g}]\n",
			base.Min, base.Max, base.Utilization))
	}
	seen := map[string]int{}
	for _, a := range args {
		var s Source
		if isBuiltin(a) {
			data, err := builtin(first, a)
			if err != nil {
				return nil, err
			}
			s = Source{Name: a, File: "built-in", Data: data}
		} else {
			data, _ := os.ReadFile(a)
			s = Source{Name: strings.TrimSuffix(filepath.Base(a), filepath.Ext(a)), File: a, Data: data}
		}
		seen[s.Name]++
		if seen[s.Name] > 1 {
			s.Name = fmt.Sprintf("%s#%d", s.Name, seen[s.Name])
		}
		out = append(out, s)
	}
	return out, nil
}

func isBuiltin(a string) bool {
	for _, b := range Builtins {
		if a == b {
			return true
		}
	}
	return false
}

// builtin derives a baseline from a policy file: same target, bounds, interval and metrics; the named algorithm
// with its defaults; no behavior or missingMetrics block.
func builtin(base []byte, name string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(base, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("built-in %s: the first policy file is not a YAML mapping", name)
	}
	m := doc.Content[0]
	for _, k := range []string{"algorithm", "algorithms", "behavior", "missingMetrics"} {
		deleteKey(m, k)
	}
	m.Content = append(m.Content, scalar("algorithm"), &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{scalar("name"), scalar(name)}})
	return yaml.Marshal(&doc)
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

// Parse parses every source with the registry, naming the source in errors.
func Parse(srcs []Source, reg *policy.Registry) ([]Named, error) {
	var out []Named
	for _, s := range srcs {
		file := s.File
		if file == "built-in" {
			file = "built-in " + s.Name
		}
		p, err := policy.Parse(file, s.Data, reg)
		if err != nil {
			return nil, err
		}
		out = append(out, Named{Name: s.Name, Policy: p})
	}
	return out, nil
}

var pathPart = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_-]*)((?:\[\d+\])*)$`)

// SetField returns data with the field at path (as policy errors name fields: "metrics[0].utilization",
// "behavior.scaleDown.cooldown") set to value. Missing mappings on the way are created; list items must exist.
func SetField(data []byte, path, value string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("sweep %s: the policy is not a YAML document", path)
	}
	n := doc.Content[0]
	parts := strings.Split(path, ".")
	for pi, part := range parts {
		mt := pathPart.FindStringSubmatch(part)
		if mt == nil {
			return nil, fmt.Errorf("sweep: bad field path %q at %q", path, part)
		}
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("sweep %s: %s is not a mapping", path, strings.Join(parts[:pi], "."))
		}
		last := pi == len(parts)-1 && mt[2] == ""
		next := lookup(n, mt[1])
		if next == nil {
			if last {
				next = &yaml.Node{Kind: yaml.ScalarNode}
			} else if mt[2] == "" {
				next = &yaml.Node{Kind: yaml.MappingNode}
			} else {
				return nil, fmt.Errorf("sweep %s: the policy has no %s", path, mt[1])
			}
			n.Content = append(n.Content, scalar(mt[1]), next)
		}
		n = next
		for _, idx := range regexp.MustCompile(`\d+`).FindAllString(mt[2], -1) {
			i, _ := strconv.Atoi(idx)
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return nil, fmt.Errorf("sweep %s: the policy has no item %d there", path, i)
			}
			n = n.Content[i]
		}
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("sweep %s: not a single value", path)
	}
	n.Value, n.Tag, n.Style = value, tagOf(value), 0
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func tagOf(v string) string {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return "!!int"
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return "!!float"
	}
	if v == "true" || v == "false" {
		return "!!bool"
	}
	return "!!str"
}

// Sweep is a parameter sweep: one field, several values.
type Sweep struct {
	Field  string
	Values []string
}

// ParseSweep reads "field=v1,v2,...".
func ParseSweep(s string) (Sweep, error) {
	field, vals, ok := strings.Cut(s, "=")
	if !ok || field == "" || vals == "" {
		return Sweep{}, fmt.Errorf("--sweep %q: want field=v1,v2,... (e.g. metrics[0].utilization=50,60,70)", s)
	}
	return Sweep{Field: field, Values: strings.Split(vals, ",")}, nil
}
