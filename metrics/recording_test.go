package metrics

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestReadFileErrors(t *testing.T) {
	tests := []struct {
		file, name, want string
	}{
		{"nonnumeric.csv", "", `testdata/nonnumeric.csv:4: cpu: want a number, got "abc"`},
		{"malformed.csv", "", "testdata/malformed.csv:3: malformed row: 2 fields, want 3 like the header"},
		{"duplicate.csv", "", "testdata/duplicate.csv:4: timestamp: duplicate of line 3 (1015)"},
		{"backwards.csv", "", "testdata/backwards.csv:4: timestamp: 1015 is before line 3's: timestamps must increase"},
		{"empty.csv", "", "testdata/empty.csv: empty file: want a header `timestamp,<series>...` and rows"},
		{"header-only.csv", "", "testdata/header-only.csv: no rows after the header"},
		{"bad-header.csv", "", "testdata/bad-header.csv:1: header must be `timestamp,<series>...`, got \"time,cpu\""},
		{"bad-time.csv", "", `testdata/bad-time.csv:3: timestamp: want unix seconds or RFC 3339, got "yesterday"`},
		{"error.json", "cpu", `testdata/error.json: Prometheus answered with an error: bad_data: 1:5: parse error: unexpected identifier "foo"`},
		{"vector.json", "cpu", `testdata/vector.json: result type "vector", want "matrix" (save a query_range response, not an instant query)`},
		{"several.json", "cpu", `testdata/several.json: 2 series in the result, want 1 (aggregate the query, e.g. sum(...)): first two are {namespace="shop", target="web"} and {namespace="shop", target="api"}`},
		{"broken.json", "cpu", "testdata/broken.json:2: bad JSON: invalid character '}' looking for beginning of value"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := ReadFile("testdata/"+tt.file, tt.name)
			if err == nil || err.Error() != tt.want {
				t.Errorf("ReadFile(%s) = %v\nwant %s", tt.file, err, tt.want)
			}
		})
	}
}

func TestParseCSVBadRows(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"bare quote in the first field", "timestamp,value\n1,2\n\"a\"b,3\n", "q.csv: line 3: malformed row:"},
		{"unterminated quote", "timestamp,value\n\"1,2\n", "q.csv: line 2: malformed row:"},
		{"milliseconds", "timestamp,value\n1690000000,5\n1690000000000,5\n", "q.csv:3: timestamp: 1690000000000 is not a unix time in seconds from 1970 to 9999 (milliseconds?)"},
		{"negative time", "timestamp,value\n-5,1\n", "q.csv:2: timestamp: -5 is not a unix time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCSV("q.csv", strings.NewReader(tt.body))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ParseCSV = %v; want %s…", err, tt.want)
			}
		})
	}
}

func TestParseCSV(t *testing.T) {
	r, err := ReadFile("testdata/good.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	want := &Recording{
		File:  "testdata/good.csv",
		Times: []time.Time{base, base.Add(15 * time.Second), base.Add(30 * time.Second), base.Add(90 * time.Second)},
		Lines: []int{2, 3, 4, 5},
		Series: []Series{
			{Name: "cpu", Values: []float64{50, math.NaN(), math.NaN(), 70}},
			{Name: "qps", Values: []float64{100, 110, 120, 130}},
			{Name: "replicas", Values: []float64{4, 4, 5, 5}},
		},
	}
	if diff := cmp.Diff(want, r, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("ParseCSV (-want +got):\n%s", diff)
	}
	if r.Step() != 15*time.Second {
		t.Errorf("Step = %s; want 15s", r.Step())
	}
	if diff := cmp.Diff([]Gap{{From: base.Add(30 * time.Second), To: base.Add(90 * time.Second), Line: 5}}, r.Gaps()); diff != "" {
		t.Errorf("Gaps (-want +got):\n%s", diff)
	}
	if err := r.CheckFinite("replicas", true); err != nil {
		t.Errorf("CheckFinite(replicas) = %v", err)
	}
	if err := r.CheckFinite("cpu", false); err == nil || err.Error() != "testdata/good.csv:3: cpu: want a number, got NaN (not allowed in this column)" {
		t.Errorf("CheckFinite(cpu) = %v", err)
	}
}

// A recording written and read again is the same, and the same bytes every time.
func TestCSVRoundTrip(t *testing.T) {
	r, err := ReadFile("testdata/good.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := WriteCSV(&a, r); err != nil {
		t.Fatal(err)
	}
	back, err := ParseCSV("again", bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	WriteCSV(&b, back)
	if a.String() != b.String() {
		t.Errorf("round trip differs:\n%s\n%s", a.String(), b.String())
	}
	if !strings.HasPrefix(a.String(), "timestamp,cpu,qps,replicas\n1782907200,50,100,4\n1782907215,NaN,110,4\n") {
		t.Errorf("WriteCSV =\n%s", a.String())
	}
}

func TestQueryRangeAndMerge(t *testing.T) {
	q, err := ReadFile("testdata/qps.json", "qps")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCSV("cpu.csv", strings.NewReader("timestamp,cpu\n1000,40\n1030.5,60\n1045,65\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Merge(q, c)
	if err != nil {
		t.Fatal(err)
	}
	ts := func(s float64) time.Time { return time.Unix(0, int64(s*1e9)).UTC() }
	want := &Recording{
		File:  "testdata/qps.json, cpu.csv",
		Times: []time.Time{ts(1000), ts(1015), ts(1030.5), ts(1045)},
		Lines: []int{2, 0, 3, 4},
		Series: []Series{
			{Name: "qps", Values: []float64{100, math.NaN(), 120, math.NaN()}, Absent: []bool{false, false, false, true},
				File: "testdata/qps.json", Lines: []int{0, 0, 0, 0}},
			{Name: "cpu", Values: []float64{40, math.NaN(), 60, 65}, Absent: []bool{false, true, false, false},
				File: "cpu.csv", Lines: []int{2, 0, 3, 4}},
		},
	}
	if diff := cmp.Diff(want, m, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}
	// A merged series is checked at its own samples only, and its errors name its own file and line.
	if err := m.CheckFinite("cpu", true); err != nil {
		t.Errorf("CheckFinite(cpu) = %v; want nil: its one NaN is where cpu.csv has no row", err)
	}
	if err := m.CheckFinite("qps", true); err == nil || !strings.HasPrefix(err.Error(), "testdata/qps.json: at 1970-01-01T00:16:55Z: qps: want a number") {
		t.Errorf("CheckFinite(qps) = %v; want qps.json's NaN at 1015, named by its time", err)
	}
	bad, _ := ParseCSV("neg.csv", strings.NewReader("timestamp,cpu\n1000,40\n1045,-1\n"))
	if m, _ = Merge(q, bad); m == nil {
		t.Fatal("Merge failed")
	} else if err := m.CheckFinite("cpu", true); err == nil || !strings.HasPrefix(err.Error(), "neg.csv:3: cpu: must not be negative") {
		t.Errorf("CheckFinite(cpu) = %v; want neg.csv's line 3", err)
	}
	var b strings.Builder
	if err := WriteCSV(&b, m); err != nil || !strings.Contains(b.String(), "\n1015,NaN,\n") {
		t.Errorf("WriteCSV of a merge = %v\n%s; want an empty cell where cpu is absent", err, b.String())
	}
	two, _ := ParseCSV("b.csv", strings.NewReader("timestamp,cpu2,ready\n1000,1,3\n"))
	one, _ := ParseCSV("a.csv", strings.NewReader("timestamp,cpu,ready\n1000,1,3\n"))
	if _, err := Merge(one, two); err == nil || err.Error() != `series "ready" is in both a.csv and b.csv (podpilot record writes it with every recording of a target: record all but one with --replicas-query '' --ready-query '')` {
		t.Errorf("Merge of two recordings' counts = %v; want the flags that leave them out", err)
	}
	if _, err := Merge(q, q); err == nil || !strings.Contains(err.Error(), `series "qps" is in both`) {
		t.Errorf("Merge of a series twice = %v", err)
	}
}

// FuzzParseCSV: the reader never panics, and whatever it accepts has aligned, increasing times.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("timestamp,cpu\n1,2\n3,4\n"))
	f.Add([]byte("timestamp,a,b\n2026-07-01T12:00:00Z,1,\n2026-07-01T12:00:01Z,NaN,3\n"))
	f.Add([]byte("timestamp\n"))
	f.Add([]byte("timestamp,value\n1,2\n\"a\"b,3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseCSV("fuzz.csv", bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 1; i < len(r.Times); i++ {
			if !r.Times[i].After(r.Times[i-1]) {
				t.Fatalf("times not increasing at %d", i)
			}
		}
		for _, s := range r.Series {
			if len(s.Values) != len(r.Times) {
				t.Fatalf("series %s has %d values for %d times", s.Name, len(s.Values), len(r.Times))
			}
		}
	})
}
