package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type point struct {
	At    time.Duration
	RPS   float64
	Until time.Duration
}

func sample(c Curve, at ...time.Duration) []point {
	var out []point
	for _, e := range at {
		v, u := c.At(e)
		out = append(out, point{e, v, u})
	}
	return out
}

func TestParseSpec(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(trace, []byte("timestamp,value\n1000,60\n1060,120\n1120,30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := time.Second
	tests := []struct {
		spec string
		at   []time.Duration
		want []point
	}{
		{"const:20", []time.Duration{0, time.Hour}, []point{{0, 20, forever}, {time.Hour, 20, forever}}},
		{"const:0", []time.Duration{0}, []point{{0, 0, forever}}},
		{"steps:5@0s,50@1m,10@90s", []time.Duration{0, 59 * s, 60 * s, 89 * s, 90 * s, time.Hour}, []point{
			{0, 5, 60 * s}, {59 * s, 5, 60 * s}, {60 * s, 50, 90 * s}, {89 * s, 50, 90 * s},
			{90 * s, 10, forever}, {time.Hour, 10, forever},
		}},
		// Before the first step the demand is 0.
		{"steps:7@10s", []time.Duration{0, 10 * s}, []point{{0, 0, 10 * s}, {10 * s, 7, forever}}},
		// The trace from its first row, as is.
		{"trace:" + trace, []time.Duration{0, 59 * s, 60 * s, 120 * s, time.Hour}, []point{
			{0, 60, 60 * s}, {59 * s, 60, 60 * s}, {60 * s, 120, 120 * s}, {120 * s, 30, forever}, {time.Hour, 30, forever},
		}},
		// Per-minute counts as requests per second (scale 1/60), a minute of trace per second (speed 60).
		{"trace:" + trace + ":0.016666666666666666:60", []time.Duration{0, 999 * time.Millisecond, s, 2 * s}, []point{
			{0, 1, s}, {999 * time.Millisecond, 1, s}, {s, 2, 2 * s}, {2 * s, 0.5, forever},
		}},
		{"trace:" + trace + ":2", []time.Duration{0}, []point{{0, 120, 60 * s}}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			c, err := ParseSpec(tt.spec)
			if err != nil {
				t.Fatalf("ParseSpec(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff(tt.want, sample(c, tt.at...), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
				t.Errorf("ParseSpec(%q) samples (-want +got):\n%s", tt.spec, diff)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	backwards := write("back.csv", "timestamp,value\n10,1\n5,2\n")
	negative := write("neg.csv", "0,1\n60,-2\n")
	empty := write("empty.csv", "timestamp,value\n")
	tests := []struct{ spec, want string }{
		{"20", "want const:N"},
		{"linear:5", `unknown kind "linear"`},
		{"const:", "want a number >= 0"},
		{"const:-1", "want a number >= 0"},
		{"const:NaN", "want a number >= 0"},
		{"const:+Inf", "want a number >= 0"},
		{"steps:5", "want VALUE@OFFSET"},
		{"steps:5@0s,6@0s", "offsets must increase"},
		{"steps:5@10s,6@5s", "offsets must increase"},
		{"steps:5@-1s", "want an offset"},
		{"steps:5@10", "want an offset"},
		{"trace:", "want trace:FILE"},
		{"trace:" + filepath.Join(dir, "missing.csv"), "no such file"},
		{"trace:" + backwards, "line 3: timestamp 5 does not follow 10"},
		{"trace:" + negative, "line 2: bad value"},
		{"trace:" + empty, "no rows"},
		{"trace:" + empty + ":1:0", "speed: want a number > 0"},
		{"trace:" + empty + ":x", "scale: want a number >= 0"},
		{"trace:" + empty + ":1:1:1", "want trace:FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseSpec(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSpec(%q) = %v; want an error containing %q", tt.spec, err, tt.want)
			}
		})
	}
}

// TestSharedTraces reads every trace the project ships in shared/traces, when it is there.
func TestSharedTraces(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/traces/*.csv")
	if len(files) == 0 {
		t.Skip("no ../shared/traces beside the repository")
	}
	for _, f := range files {
		c, err := ParseSpec("trace:" + f + ":1:60")
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if s := c.(*Steps); len(s.Offsets) < 1000 {
			t.Errorf("%s: %d rows; want the whole trace", f, len(s.Offsets))
		}
	}
}
