package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// forever is the "until" of a demand that never changes again.
const forever = time.Duration(math.MaxInt64)

// Curve is a demand curve in requests per second, piecewise constant in the time elapsed since it started.
// At returns the demand at elapsed and the elapsed time until which that demand holds (forever if it never
// changes again), so that counters and queues can be integrated exactly across every change.
type Curve interface {
	At(elapsed time.Duration) (rps float64, until time.Duration)
}

// Const is a constant demand.
type Const float64

// At implements Curve.
func (c Const) At(time.Duration) (float64, time.Duration) { return float64(c), forever }

// Steps is a demand that takes Values[i] from Offsets[i] until Offsets[i+1], and the last value from the last
// offset on. Before the first offset the demand is 0. Offsets increase strictly.
type Steps struct {
	Offsets []time.Duration
	Values  []float64
}

// At implements Curve.
func (s *Steps) At(e time.Duration) (float64, time.Duration) {
	// The last offset <= e, found by binary search (traces have tens of thousands of rows).
	lo, hi := 0, len(s.Offsets)
	for lo < hi {
		mid := (lo + hi) / 2
		if s.Offsets[mid] <= e {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo - 1 // the step in force, -1 before the first
	until := forever
	if lo < len(s.Offsets) {
		until = s.Offsets[lo]
	}
	if i < 0 {
		return 0, until
	}
	return s.Values[i], until
}

// ParseSpec reads a demand spec: const:N, steps:N@0s,M@60s,... (offsets from the start, increasing) or
// trace:FILE[:scale][:speed] (a timestamp,value CSV replayed from its first row, each value times scale, time
// compressed by speed: speed 60 plays a minute of the trace per second).
func ParseSpec(spec string) (Curve, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("demand %q: want const:N, steps:N@0s,M@60s,... or trace:FILE[:scale][:speed]", spec)
	}
	switch kind {
	case "const":
		v, err := parseRate(arg)
		if err != nil {
			return nil, fmt.Errorf("demand %q: %w", spec, err)
		}
		return Const(v), nil
	case "steps":
		s, err := parseSteps(arg)
		if err != nil {
			return nil, fmt.Errorf("demand %q: %w", spec, err)
		}
		return s, nil
	case "trace":
		parts := strings.Split(arg, ":")
		if len(parts) > 3 || parts[0] == "" {
			return nil, fmt.Errorf("demand %q: want trace:FILE[:scale][:speed] (FILE may not contain ':')", spec)
		}
		scale, speed := 1.0, 1.0
		var err error
		if len(parts) > 1 {
			if scale, err = parseRate(parts[1]); err != nil {
				return nil, fmt.Errorf("demand %q: scale: %w", spec, err)
			}
		}
		if len(parts) > 2 {
			if speed, err = strconv.ParseFloat(parts[2], 64); err != nil || !(speed > 0) || math.IsInf(speed, 0) {
				return nil, fmt.Errorf("demand %q: speed: want a number > 0, got %q", spec, parts[2])
			}
		}
		data, err := os.ReadFile(parts[0])
		if err != nil {
			return nil, fmt.Errorf("demand %q: %w", spec, err)
		}
		s, err := ParseTrace(bytes.NewReader(data), scale, speed)
		if err != nil {
			return nil, fmt.Errorf("demand %q: %s: %w", spec, parts[0], err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("demand %q: unknown kind %q: want const, steps or trace", spec, kind)
	}
}

// parseRate reads a finite number >= 0.
func parseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("want a number >= 0, got %q", s)
	}
	return v, nil
}

func parseSteps(arg string) (*Steps, error) {
	s := &Steps{}
	for i, item := range strings.Split(arg, ",") {
		val, off, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("step %d %q: want VALUE@OFFSET such as 20@30s", i+1, item)
		}
		v, err := parseRate(val)
		if err != nil {
			return nil, fmt.Errorf("step %d %q: %w", i+1, item, err)
		}
		d, err := time.ParseDuration(off)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("step %d %q: want an offset such as 0s or 1m30s, got %q", i+1, item, off)
		}
		if n := len(s.Offsets); n > 0 && d <= s.Offsets[n-1] {
			return nil, fmt.Errorf("step %d %q: offsets must increase, %s follows %s", i+1, item, d, s.Offsets[n-1])
		}
		s.Offsets = append(s.Offsets, d)
		s.Values = append(s.Values, v)
	}
	return s, nil
}

// ParseTrace reads a timestamp,value CSV (an optional header row, timestamps in seconds, increasing) into a
// step curve starting at the first row: row i holds from (t_i - t_0)/speed until the next row, value × scale.
// The last value holds after the trace ends.
func ParseTrace(r io.Reader, scale, speed float64) (*Steps, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	cr.TrimLeadingSpace = true
	s := &Steps{}
	var t0, prev float64
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		ts, errT := strconv.ParseFloat(rec[0], 64)
		v, errV := strconv.ParseFloat(rec[1], 64)
		if line == 1 && (errT != nil || errV != nil) {
			continue // a header such as timestamp,value
		}
		if errT != nil || math.IsInf(ts, 0) || math.IsNaN(ts) {
			return nil, fmt.Errorf("line %d: bad timestamp %q", line, rec[0])
		}
		if errV != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("line %d: bad value %q: want a number >= 0", line, rec[1])
		}
		if len(s.Offsets) == 0 {
			t0 = ts
		} else if ts <= prev {
			return nil, fmt.Errorf("line %d: timestamp %v does not follow %v", line, rec[0], prev)
		}
		prev = ts
		off := time.Duration((ts - t0) / speed * float64(time.Second))
		if n := len(s.Offsets); n > 0 && off <= s.Offsets[n-1] {
			return nil, fmt.Errorf("line %d: rows closer than 1ns after dividing by speed %v", line, speed)
		}
		s.Offsets = append(s.Offsets, off)
		s.Values = append(s.Values, v*scale)
	}
	if len(s.Offsets) == 0 {
		return nil, errors.New("no rows")
	}
	return s, nil
}
