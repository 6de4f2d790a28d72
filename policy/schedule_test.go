package policy

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones, whatever the host has

	"github.com/google/go-cmp/cmp"
)

// Office hours in Berlin: target-tracking on the load, and at least 10 replicas on weekdays from 08:00 to 18:00
// local time, and 4 from 22:00 on Fridays into Saturday morning (a batch run). target-tracking keeps no spare
// replica here, so that its counts are the load's.
const schedulePolicy = `
target: {namespace: shop, name: web}
minReplicas: 2
maxReplicas: 50
metrics: [{kind: qps, perReplica: 10}]
algorithms:
  - {name: target-tracking, args: {spare: 0}}
  - name: schedule
    args:
      timezone: Europe/Berlin
      windows:
        - {days: Mon-Fri, start: "08:00", end: "18:00", replicas: 10}
        - {days: Fri, start: "22:00", end: "06:00", replicas: 4}
`

func TestScheduleWindows(t *testing.T) {
	p := mustParse(t, schedulePolicy)
	utc := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	tests := []struct {
		name   string
		at     time.Time
		cur    int32
		load   float64
		want   int32
		winner string
	}{
		// Summer (CEST, UTC+2): 08:00 in Berlin is 06:00 UTC.
		{"Wednesday 07:59 local", utc("2026-07-01T05:59:00Z"), 2, 20, 2, "target-tracking/qps"},
		{"Wednesday 08:00 local", utc("2026-07-01T06:00:00Z"), 2, 20, 10, "schedule"},
		{"Wednesday 17:59 local", utc("2026-07-01T15:59:59Z"), 2, 20, 10, "schedule"},
		{"the load asks for more", utc("2026-07-01T10:00:00Z"), 10, 300, 30, "target-tracking/qps"},
		{"Wednesday 18:00 local", utc("2026-07-01T16:00:00Z"), 2, 20, 2, "target-tracking/qps"},
		{"Saturday 10:00 local", utc("2026-07-04T08:00:00Z"), 2, 20, 2, "target-tracking/qps"},
		// Winter (CET, UTC+1) before the change to summer time on Sunday 29 March 2026, and after it.
		{"Friday 27 March 07:30 local", utc("2026-03-27T06:30:00Z"), 2, 20, 2, "target-tracking/qps"},
		{"Friday 27 March 08:30 local", utc("2026-03-27T07:30:00Z"), 2, 20, 10, "schedule"},
		{"Monday 30 March 08:30 local (CEST)", utc("2026-03-30T06:30:00Z"), 2, 20, 10, "schedule"},
		{"Monday 30 March 07:30 local (CEST)", utc("2026-03-30T05:30:00Z"), 2, 20, 2, "target-tracking/qps"},
		// Across midnight: the window opened on Friday runs into Saturday.
		{"Friday 23:00 local", utc("2026-07-03T21:00:00Z"), 2, 20, 4, "schedule"},
		{"Saturday 05:59 local", utc("2026-07-04T03:59:00Z"), 2, 20, 4, "schedule"},
		{"Saturday 06:00 local", utc("2026-07-04T04:00:00Z"), 2, 20, 2, "target-tracking/qps"},
		{"Saturday 23:00 local", utc("2026-07-04T21:00:00Z"), 2, 20, 2, "target-tracking/qps"},
		{"Thursday 23:00 local", utc("2026-07-02T21:00:00Z"), 2, 20, 2, "target-tracking/qps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := p.Evaluate(Input{Now: tt.at, Current: tt.cur, Ready: tt.cur, Metrics: obs([]float64{tt.load})},
				History{Start: tt.at.Add(-time.Hour), Last: tt.at.Add(-time.Hour)})
			if d.Desired != tt.want || d.Winner != tt.winner {
				t.Errorf("Evaluate = %d from %s (%+v); want %d from %s", d.Desired, d.Winner, d.Proposals, tt.want, tt.winner)
			}
		})
	}
}

// Outside its windows schedule proposes nothing, so it never holds a scale-down back; inside, its floor is a
// valid proposal even while every metric is broken, and evaluate's rule still holds: no scale-down then.
func TestScheduleCombined(t *testing.T) {
	p := mustParse(t, dedupe(schedulePolicy+"behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s}}\n"))
	evening := time.Date(2026, 7, 1, 19, 0, 0, 0, time.UTC) // 21:00 in Berlin
	office := time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)   // 10:00 in Berlin
	h := History{Start: office.Add(-time.Hour), Last: office.Add(-time.Hour)}
	tests := []struct {
		name   string
		at     time.Time
		cur    int32
		load   float64
		want   int32
		reason Reason
	}{
		{"outside: scale-down is not held", evening, 20, 20, 10, ScaleDownLimit},
		{"outside: broken metric holds", evening, 20, bad, 20, MetricUnavailable},
		{"inside: broken metric, the floor raises", office, 2, bad, 10, DesiredWithinRange},
		{"inside: broken metric, no scale-down to the floor", office, 20, bad, 20, MetricUnavailable},
		{"inside: down to the floor", office, 20, 20, 10, DesiredWithinRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h
			h.Start, h.Last = tt.at.Add(-time.Hour), tt.at.Add(-time.Hour)
			d, _ := p.Evaluate(Input{Now: tt.at, Current: tt.cur, Ready: tt.cur, Metrics: obs([]float64{tt.load})}, h)
			if d.Desired != tt.want || d.Reason != tt.reason {
				t.Errorf("Evaluate = %d (%s, %+v); want %d (%s)", d.Desired, d.Reason, d.Proposals, tt.want, tt.reason)
			}
		})
	}
	// Outside every window, schedule adds no proposal: the decision is target-tracking's alone, within
	// tolerance included.
	d, _ := p.Evaluate(Input{Now: evening, Current: 2, Ready: 2, Metrics: obs([]float64{20})}, h)
	if len(d.Proposals) != 1 || d.Reason != WithinTolerance {
		t.Errorf("outside: %s with proposals %+v; want WithinTolerance from target-tracking alone", d.Reason, d.Proposals)
	}
}

// Alone in a policy, schedule is a scheduled scaler: its floors inside windows, minReplicas outside.
func TestScheduleAlone(t *testing.T) {
	p := mustParse(t, `
target: {namespace: shop, name: batch}
minReplicas: 1
maxReplicas: 20
metrics: [{kind: promql, name: jobs, query: 'sum(jobs)', total: 10}]
algorithm: {name: schedule, args: {windows: [{days: "*", start: "02:00", end: "04:00", replicas: 20}]}}
behavior: {scaleDown: {stabilizationWindow: 0s, cooldown: 0s, policies: [{type: Percent, value: 100, period: 15s}]}}
`)
	day := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	walk(t, p, warm, []tick{
		{at: day.Add(time.Hour).Sub(t0), cur: 1, vals: []float64{0}, want: 1},
		{at: day.Add(2 * time.Hour).Sub(t0), cur: prev, vals: []float64{0}, want: 11, reason: ScaleUpLimit},
		{at: day.Add(2*time.Hour + 15*time.Second).Sub(t0), cur: prev, vals: []float64{0}, want: 20},
		{at: day.Add(4 * time.Hour).Sub(t0), cur: prev, vals: []float64{0}, want: 1},
	})
}

// Behaviour defaults come from the first algorithm of the list.
func TestScheduleBehaviorFromFirst(t *testing.T) {
	const base = `
target: {namespace: shop, name: web}
maxReplicas: 50
metrics: [{kind: queue, queue: jobs, drainTime: 1m, ratePerReplica: 10}]
`
	const sched = `{name: schedule, args: {windows: [{days: Mon-Fri, start: "08:00", end: "18:00", replicas: 10}]}}`
	tests := []struct {
		first string
		want  Behavior
	}{
		{"{name: target-tracking}", trackingBehavior()},
		{"{name: hpa}", func() Behavior {
			b := hpaBehavior(&hpaArgs{Tolerance: 0.1, DownscaleStabilization: 5 * time.Minute})
			b.Legacy = true
			return b
		}()},
		{"{name: queue}", queueBehavior()},
		{"{name: burst}", burstBehavior()},
		{sched, trackingBehavior()},
	}
	for _, tt := range tests {
		t.Run(tt.first, func(t *testing.T) {
			second := sched
			if tt.first == sched {
				second = "{name: target-tracking}"
			}
			p := mustParse(t, base+"algorithms: ["+tt.first+", "+second+"]\n")
			if diff := cmp.Diff(tt.want, p.Behavior); diff != "" {
				t.Errorf("behavior (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScheduleValidation(t *testing.T) {
	tests := []struct {
		name string
		args string
		want []string
	}{
		{"no windows", `{timezone: Mars/Olympus}`, []string{
			`test.yaml:7:22: algorithms[1].args.windows: must list at least one window`,
			`test.yaml:7:29: algorithms[1].args.timezone: unknown time zone "Mars/Olympus": want an IANA name such as UTC or Europe/Berlin`,
		}},
		{"bad windows", `{timezone: Local, windows: [
    {days: Mon-Fry, start: "8:00", end: "25:00", replicas: 60},
    {days: "", start: "10:00", end: "10:00"},
    {days: "Sat,Sun,*", start: "00:00", end: "24:00", replicas: 1}]}`, []string{
			`test.yaml:7:29: algorithms[1].args.timezone: must name a zone such as Europe/Berlin, not Local (the host's zone)`,
			`test.yaml:8:6: algorithms[1].args.windows[0].days: "Fry" is not a day: want Mon, Tue, Wed, Thu, Fri, Sat, Sun or *, in a range (Mon-Fri) or a list (Sat,Sun)`,
			`test.yaml:8:21: algorithms[1].args.windows[0].start: want a time of day as HH:MM, such as 08:00, got "8:00"`,
			`test.yaml:8:36: algorithms[1].args.windows[0].end: "25:00" is not a time of day: want 00:00 to 23:59, or 24:00`,
			`test.yaml:8:50: algorithms[1].args.windows[0].replicas: must be between minReplicas (2) and maxReplicas (50), got 60`,
			`test.yaml:9:5: algorithms[1].args.windows[1].replicas: required: the floor inside the window`,
			`test.yaml:9:6: algorithms[1].args.windows[1].days: required: "*", a day such as Mon, a range such as Mon-Fri, or a list such as Sat,Sun`,
			`test.yaml:9:32: algorithms[1].args.windows[1].end: must differ from start (a whole day is 00:00 to 24:00)`,
			`test.yaml:10:55: algorithms[1].args.windows[2].replicas: must be between minReplicas (2) and maxReplicas (50), got 1`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "target: {namespace: shop, name: web}\nminReplicas: 2\nmaxReplicas: 50\nmetrics: [{kind: qps, perReplica: 10}]\n" +
				"algorithms:\n  - {name: target-tracking}\n  - {name: schedule, args: " + tt.args + "}\n"
			_, err := Parse("test.yaml", []byte(src), Builtin())
			if diff := cmp.Diff(tt.want, errorLines(t, err)); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want uint8 // bit 0 is Sunday
	}{
		{"*", 0x7f},
		{"Mon-Fri", 0x3e},
		{"sat,SUN", 0x41},
		{"Fri-Mon", 0x63},
		{"Mon, Wed-Thu", 0x1a},
		{"Tue", 0x04},
	}
	for _, tt := range tests {
		got, err := parseDays(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseDays(%q) = %#x, %v; want %#x", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "Mon-", "Monday", "Mon;Tue", "-"} {
		if _, err := parseDays(in); err == nil {
			t.Errorf("parseDays(%q): no error", in)
		}
	}
}
