package policy

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns a yaml.Node tree into Go values strictly. Every unknown key, wrong type, duplicate key or bad
// duration becomes an Error with its position and field path, and decoding goes on so that one run reports them
// all. yaml.v3's own Node.Decode cannot do this: it is not strict and its errors lose the field path.
//
// It also remembers where each field was written, so that validation can point at the right line later.
type decoder struct {
	file string
	errs Errors
	pos  map[string]mark
	bad  map[string]bool // paths that failed to decode: validation says nothing more about them
}

type mark struct{ line, col int }

var (
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: map[string]mark{}, bad: map[string]bool{}}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
	d.bad[path] = true
}

// written returns the recorded position of path, or of its nearest recorded parent other than the document.
func (d *decoder) written(path string) (mark, bool) {
	for path != "" {
		if m, ok := d.pos[path]; ok {
			return m, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return mark{}, false
}

// at returns the recorded position of path, or of its nearest recorded parent, or of the document.
func (d *decoder) at(path string) mark {
	if m, ok := d.written(path); ok {
		return m
	}
	return d.pos[""]
}

// fieldf records a validation problem on a field that decoded fine.
func (d *decoder) fieldf(path, format string, args ...any) {
	for p := path; ; {
		if d.bad[p] {
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	m := d.at(path)
	d.errs = append(d.errs, &Error{File: d.file, Line: m.line, Col: m.col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	}
	return path + "." + field
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = mark{n.Line, n.Column}
	}
	t := v.Type()
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case t.Kind() == reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		if !d.bad[path] { // a value that failed to decode stays "left out", not zero
			v.Set(p)
		}
		return
	case t == durationType:
		s, ok := d.scalar(n, path, "a duration such as 30s or 5m")
		if !ok {
			return
		}
		if n.Tag != "!!str" {
			d.errorf(n, path, "bad duration %s: want a number with a unit, such as 30s, 5m or 1h", s)
			return
		}
		dur, err := ParseDuration(s)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if isNull(n) {
			return // an empty block keeps what v holds
		}
		d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		s, ok := d.scalar(n, path, "a string")
		if !ok {
			return
		}
		if n.Tag != "!!str" {
			d.errorf(n, path, "want a string, got %s (quote it)", describe(n))
			return
		}
		v.SetString(s)
	case reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, path, "want a finite number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Int, reflect.Int32, reflect.Int64:
		s, ok := d.scalar(n, path, "a whole number")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 10, t.Bits())
		digits := strings.TrimLeft(s, "+-")
		switch {
		case n.Tag == "!!int" && len(digits) > 1 && digits[0] == '0':
			// YAML 1.1 (kubectl's) reads 010 as 8, YAML 1.2 as 10, and 0x10 is no clearer: say which.
			d.errorf(n, path, "want a whole number in decimal digits without leading zeros, got %s", describe(n))
			return
		case n.Tag == "!!int" && errors.Is(err, strconv.ErrSyntax):
			d.errorf(n, path, "want a whole number in decimal digits, got %s", describe(n))
			return
		case n.Tag != "!!int" || err != nil:
			d.errorf(n, path, "want a whole number, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		var b bool
		switch s {
		case "true", "True", "TRUE":
			b = true
		case "false", "False", "FALSE":
		default:
			ok = false // an explicit !!bool tag on another word (!!bool yes) is no boolean either
		}
		if n.Tag != "!!bool" || !ok {
			d.errorf(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("policy: decoder cannot fill %s", t))
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "want %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

// mapping fills the struct v from a YAML mapping, field by field, refusing keys the struct does not have.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "want a field name, got %s", describe(k))
			continue
		}
		if k.Value == "<<" {
			d.errorf(k, path, "merge keys (<<) are not supported")
			continue
		}
		fp := join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k, fp, "unknown field %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, fp, "field given twice")
			continue
		}
		seen[k.Value] = true
		d.pos[fp] = mark{k.Line, k.Column}
		d.decode(val, v.Field(idx), fp)
	}
}

func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		m[tag] = i
	}
	return m
}

// suggest names the known field closest to an unknown one, when one differs only in case.
func suggest(name string, fields map[string]int) string {
	for f := range fields {
		if strings.EqualFold(f, name) {
			return fmt.Sprintf(" (did you mean %q?)", f)
		}
	}
	return ""
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int", "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected value"
}
