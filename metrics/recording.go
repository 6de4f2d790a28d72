package metrics

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Recording is a set of time series on one timeline: what `podpilot record` writes and `podpilot simulate` reads.
type Recording struct {
	File   string      // where it was read from, for messages
	Times  []time.Time // strictly increasing
	Lines  []int       // the source line of each time (0 when the source has no lines)
	Series []Series
	// Warnings are what Prometheus warned while the recording was pulled (a partial response, for one). A replay
	// reads the samples as valid, where the daemon would have scaled nothing down on them.
	Warnings []string
}

// Series is one column of a recording. NaN or ±Inf is a reading that was invalid (or missing) at that time.
type Series struct {
	Name   string
	Values []float64 // aligned with Recording.Times

	// Set by Merge: Absent is true where the series' own recording has no time (its value there is NaN, and a
	// replay looks back to its latest sample, as an instant query would); File and Lines are where it was read.
	Absent []bool
	File   string
	Lines  []int
}

// Has reports whether the series has a sample (valid or not) at index j of the recording's times.
func (s *Series) Has(j int) bool { return s.Absent == nil || !s.Absent[j] }

// where names the source of series i's sample j: the file and line, or the file and time when it has no lines.
func (r *Recording) where(i, j int) string {
	file, lines := r.File, r.Lines
	if s := &r.Series[i]; s.Lines != nil {
		file, lines = s.File, s.Lines
	}
	if lines[j] > 0 {
		return fmt.Sprintf("%s:%d", file, lines[j])
	}
	return fmt.Sprintf("%s: at %s", file, r.Times[j].Format(time.RFC3339))
}

// Lookup returns the index of the series called name, or -1.
func (r *Recording) Lookup(name string) int {
	return slices.IndexFunc(r.Series, func(s Series) bool { return s.Name == name })
}

// Step is the recording's usual spacing: the median interval between samples (0 with fewer than two).
func (r *Recording) Step() time.Duration {
	if len(r.Times) < 2 {
		return 0
	}
	d := make([]time.Duration, len(r.Times)-1)
	for i := range d {
		d[i] = r.Times[i+1].Sub(r.Times[i])
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// SeriesStep is series i's usual interval: the median spacing of the times where it has a sample (in a merged
// recording, a coarser series' own step, not the finest one's).
func (r *Recording) SeriesStep(i int) time.Duration {
	s := &r.Series[i]
	var d []time.Duration
	last := -1
	for j := range r.Times {
		if !s.Has(j) {
			continue
		}
		if last >= 0 {
			d = append(d, r.Times[j].Sub(r.Times[last]))
		}
		last = j
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// Gap is a stretch with no samples, longer than 1.5 × Step.
type Gap struct {
	From, To time.Time
	Line     int // line of the sample after the gap
}

// Gaps lists the stretches with no samples.
func (r *Recording) Gaps() []Gap {
	step := r.Step()
	var gaps []Gap
	for i := 1; i < len(r.Times); i++ {
		if d := r.Times[i].Sub(r.Times[i-1]); d*2 > step*3 {
			gaps = append(gaps, Gap{From: r.Times[i-1], To: r.Times[i], Line: r.Lines[i]})
		}
	}
	return gaps
}

// CheckFinite returns an error naming the file and line of the first value of series name that is not a finite
// number, or that is negative when nonNegative is set.
func (r *Recording) CheckFinite(name string, nonNegative bool) error {
	i := r.Lookup(name)
	if i < 0 {
		return fmt.Errorf("%s: no series %q", r.File, name)
	}
	s := &r.Series[i]
	for j, v := range s.Values {
		if !s.Has(j) {
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: %s: want a number, got %v (not allowed in this column)", r.where(i, j), name, v)
		}
		if nonNegative && v < 0 {
			return fmt.Errorf("%s: %s: must not be negative, got %v", r.where(i, j), name, v)
		}
	}
	return nil
}

// CheckCount checks that the series called name is a count: a whole number, not negative, where it has one (NaN
// is a count not known at that time).
func (r *Recording) CheckCount(name string) error {
	i := r.Lookup(name)
	if i < 0 {
		return fmt.Errorf("%s: no series %q", r.File, name)
	}
	s := &r.Series[i]
	for j, v := range s.Values {
		if !s.Has(j) || math.IsNaN(v) {
			continue
		}
		if math.IsInf(v, 0) || v < 0 || v != math.Trunc(v) || v > math.MaxInt32 {
			return fmt.Errorf("%s: %s: want a count of pods (a whole number, at least 0) or NaN, got %v", r.where(i, j), name, v)
		}
	}
	return nil
}

// ReadFile reads a recording: Prometheus query_range JSON when the file starts with "{", else CSV. name is the
// series name a JSON file's single series gets.
func ReadFile(path, name string) (*Recording, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return ParseQueryRange(path, name, data)
	}
	return ParseCSV(path, bytes.NewReader(data))
}

// ParseCSV reads a recording with the header `timestamp,<series>...`. Timestamps are unix seconds or RFC 3339,
// strictly increasing. A value is a number; NaN, ±Inf or an empty cell is a reading that was invalid or missing.
func ParseCSV(file string, rd io.Reader) (*Recording, error) {
	cr := csv.NewReader(bufio.NewReader(rd))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: want a header `timestamp,<series>...` and rows", file)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, csvErr(err))
	}
	if len(head) < 2 || strings.TrimSpace(head[0]) != "timestamp" {
		return nil, fmt.Errorf("%s:1: header must be `timestamp,<series>...`, got %q", file, strings.Join(head, ","))
	}
	r := &Recording{File: file}
	seen := map[string]bool{}
	for _, h := range head[1:] {
		h = strings.TrimSpace(h)
		if h == "" || seen[h] {
			return nil, fmt.Errorf("%s:1: header: column name %q is empty or repeated", file, h)
		}
		seen[h] = true
		r.Series = append(r.Series, Series{Name: h})
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, csvErr(err))
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(head) {
			return nil, fmt.Errorf("%s:%d: malformed row: %d fields, want %d like the header", file, line, len(rec), len(head))
		}
		t, err := parseTime(strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: timestamp: %v", file, line, err)
		}
		if n := len(r.Times); n > 0 {
			switch prev := r.Times[n-1]; {
			case t.Equal(prev):
				return nil, fmt.Errorf("%s:%d: timestamp: duplicate of line %d (%s)", file, line, r.Lines[n-1], rec[0])
			case t.Before(prev):
				return nil, fmt.Errorf("%s:%d: timestamp: %s is before line %d's: timestamps must increase", file, line, rec[0], r.Lines[n-1])
			}
		}
		r.Times = append(r.Times, t)
		r.Lines = append(r.Lines, line)
		for i, cell := range rec[1:] {
			v, err := parseValue(strings.TrimSpace(cell))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %v", file, line, r.Series[i].Name, err)
			}
			r.Series[i].Values = append(r.Series[i].Values, v)
		}
	}
	if len(r.Times) == 0 {
		return nil, fmt.Errorf("%s: no rows after the header", file)
	}
	return r, nil
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: malformed row: %v", pe.Line, pe.Err)
	}
	return err
}

// maxUnix is the last second of the year 9999.
const maxUnix = 253402300799

func parseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, fmt.Errorf("want unix seconds or RFC 3339, got %q", s)
		}
		if f < 0 || f > maxUnix {
			return time.Time{}, fmt.Errorf("%s is not a unix time in seconds from 1970 to 9999 (milliseconds?)", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want unix seconds or RFC 3339, got %q", s)
	}
	return t.UTC(), nil
}

func parseValue(s string) (float64, error) {
	if s == "" {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("want a number, got %q", s)
	}
	return v, nil
}

// queryRange is the body Prometheus's /api/v1/query_range returns.
type queryRange struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// ParseQueryRange reads the JSON body of a Prometheus range query holding exactly one series, named name.
func ParseQueryRange(file, name string, data []byte) (*Recording, error) {
	var q queryRange
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&q); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("%s:%d: bad JSON: %v", file, lineOf(data, se.Offset), err)
		case errors.As(err, &te):
			return nil, fmt.Errorf("%s:%d: bad JSON: %s holds %s, want %s", file, lineOf(data, te.Offset), te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("%s: bad JSON: %v", file, err)
	}
	switch {
	case q.Status == "error":
		return nil, fmt.Errorf("%s: Prometheus answered with an error: %s: %s", file, q.ErrorType, q.Error)
	case q.Status != "success":
		return nil, fmt.Errorf("%s: status %q, want \"success\" (is this a query_range response?)", file, q.Status)
	case q.Data.ResultType != "matrix":
		return nil, fmt.Errorf("%s: result type %q, want \"matrix\" (save a query_range response, not an instant query)", file, q.Data.ResultType)
	case len(q.Data.Result) == 0:
		return nil, fmt.Errorf("%s: no series in the result", file)
	case len(q.Data.Result) > 1:
		return nil, fmt.Errorf("%s: %d series in the result, want 1 (aggregate the query, e.g. sum(...)): first two are %v and %v",
			file, len(q.Data.Result), labels(q.Data.Result[0].Metric), labels(q.Data.Result[1].Metric))
	}
	r := &Recording{File: file, Series: []Series{{Name: name}}}
	for i, pt := range q.Data.Result[0].Values {
		ts, ok := pt[0].(float64)
		vs, ok2 := pt[1].(string)
		if !ok || !ok2 {
			return nil, fmt.Errorf("%s: sample %d: want [unix seconds, \"value\"], got %v", file, i, pt)
		}
		t := time.Unix(0, int64(math.Round(ts*1e3))*int64(time.Millisecond)).UTC()
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: sample %d: value %q is not a number", file, i, vs)
		}
		if n := len(r.Times); n > 0 && !t.After(r.Times[n-1]) {
			return nil, fmt.Errorf("%s: sample %d: timestamp %v is not after the previous one: timestamps must increase", file, i, ts)
		}
		r.Times = append(r.Times, t)
		r.Lines = append(r.Lines, 0)
		r.Series[0].Values = append(r.Series[0].Values, v)
	}
	if len(r.Times) == 0 {
		return nil, fmt.Errorf("%s: the series has no samples", file)
	}
	return r, nil
}

func lineOf(data []byte, off int64) int {
	return bytes.Count(data[:min(int(off), len(data))], []byte("\n")) + 1
}

func labels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteString("}")
	return b.String()
}

// Merge puts recordings on one timeline: the union of their times. A series has NaN where its own recording has
// no sample, marked Absent. Series names must be unique across the recordings.
func Merge(recs ...*Recording) (*Recording, error) {
	if len(recs) == 1 {
		return recs[0], nil
	}
	var files []string
	idx := map[int64]bool{}
	names := map[string]string{}
	for _, r := range recs {
		files = append(files, r.File)
		for _, s := range r.Series {
			if prev, dup := names[s.Name]; dup {
				hint := ""
				if s.Name == ReplicasColumn || s.Name == ReadyColumn {
					hint = " (podpilot record writes it with every recording of a target: record all but one with --replicas-query '' --ready-query '')"
				}
				return nil, fmt.Errorf("series %q is in both %s and %s%s", s.Name, prev, r.File, hint)
			}
			names[s.Name] = r.File
		}
		for _, t := range r.Times {
			idx[t.UnixNano()] = true
		}
	}
	out := &Recording{File: strings.Join(files, ", ")}
	for ns := range idx {
		out.Times = append(out.Times, time.Unix(0, ns).UTC())
	}
	slices.SortFunc(out.Times, func(a, b time.Time) int { return a.Compare(b) })
	pos := make(map[int64]int, len(out.Times))
	for i, t := range out.Times {
		pos[t.UnixNano()] = i
	}
	out.Lines = make([]int, len(out.Times))
	for _, r := range recs {
		for _, s := range r.Series {
			m := Series{Name: s.Name, Values: make([]float64, len(out.Times)), Absent: make([]bool, len(out.Times)),
				File: r.File, Lines: make([]int, len(out.Times))}
			for i := range m.Values {
				m.Values[i], m.Absent[i] = math.NaN(), true
			}
			for j, t := range r.Times {
				k := pos[t.UnixNano()]
				m.Values[k], m.Absent[k], m.Lines[k] = s.Values[j], false, r.Lines[j]
			}
			out.Series = append(out.Series, m)
		}
		for j, t := range r.Times {
			if out.Lines[pos[t.UnixNano()]] == 0 {
				out.Lines[pos[t.UnixNano()]] = r.Lines[j]
			}
		}
	}
	return out, nil
}

// WriteCSV writes r in the form ParseCSV reads: unix seconds, and the shortest exact form of each value.
func WriteCSV(w io.Writer, r *Recording) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("timestamp")
	for _, s := range r.Series {
		bw.WriteString(",")
		bw.WriteString(s.Name)
	}
	bw.WriteString("\n")
	for i, t := range r.Times {
		bw.WriteString(formatTime(t))
		for _, s := range r.Series {
			bw.WriteString(",")
			if s.Has(i) {
				bw.WriteString(strconv.FormatFloat(s.Values[i], 'g', -1, 64))
			}
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

func formatTime(t time.Time) string {
	if t.Nanosecond() == 0 {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
}
