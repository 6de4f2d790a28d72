package policy

import (
	"fmt"
	"strings"
	"time"
)

// scheduleArgs are schedule's arguments.
type scheduleArgs struct {
	// Timezone is the IANA time zone the windows are read in.
	Timezone string `yaml:"timezone"`
	// Windows are the replica floors, by day of the week and time of day.
	Windows []scheduleWindow `yaml:"windows"`
}

// scheduleWindow is one replica floor: on Days, from Start to End (local time), at least Replicas.
type scheduleWindow struct {
	Days     string `yaml:"days"`  // "*", "Mon-Fri", "Sat,Sun", "Mon,Wed-Fri"
	Start    string `yaml:"start"` // HH:MM
	End      string `yaml:"end"`   // HH:MM (24:00 for midnight); before Start: the window runs past midnight
	Replicas *int32 `yaml:"replicas"`
}

// scheduleRegistration raises the replica floor in windows of the week, in a time zone: it is meant to be
// combined with a metric algorithm (algorithms: [{name: target-tracking}, {name: schedule, ...}]), where the
// largest proposal wins. Outside every window it proposes nothing, so it never holds a scale-down back; alone
// in a policy, it proposes minReplicas there.
func scheduleRegistration() Registration {
	return Define("schedule", "replica floors in windows of the week, in a time zone; combine it with a metric algorithm",
		func() *scheduleArgs { return &scheduleArgs{Timezone: "UTC"} },
		func(a *scheduleArgs, p *Policy, pr *Problems) {
			if a.Timezone == "Local" {
				pr.Add("timezone", "must name a zone such as Europe/Berlin, not Local (the host's zone)")
			} else if _, err := time.LoadLocation(a.Timezone); err != nil || a.Timezone == "" {
				pr.Add("timezone", "unknown time zone %q: want an IANA name such as UTC or Europe/Berlin", a.Timezone)
			}
			if len(a.Windows) == 0 {
				pr.Add("windows", "must list at least one window")
			}
			for i, w := range a.Windows {
				path := fmt.Sprintf("windows[%d]", i)
				if _, err := parseDays(w.Days); err != nil {
					pr.Add(path+".days", "%v", err)
				}
				start, err1 := parseClock(w.Start, false)
				if err1 != nil {
					pr.Add(path+".start", "%v", err1)
				}
				end, err2 := parseClock(w.End, true)
				if err2 != nil {
					pr.Add(path+".end", "%v", err2)
				}
				if err1 == nil && err2 == nil && start == end {
					pr.Add(path+".end", "must differ from start (a whole day is 00:00 to 24:00)")
				}
				switch {
				case w.Replicas == nil:
					pr.Add(path+".replicas", "required: the floor inside the window")
				case *w.Replicas < p.MinReplicas || *w.Replicas > p.MaxReplicas:
					pr.Add(path+".replicas", "must be between minReplicas (%d) and maxReplicas (%d), got %d", p.MinReplicas, p.MaxReplicas, *w.Replicas)
				}
			}
		},
		func(*scheduleArgs) Behavior { return trackingBehavior() },
		func(a *scheduleArgs, _ *Policy) Algorithm {
			g := scheduleAlgo{loc: time.UTC}
			if loc, err := time.LoadLocation(a.Timezone); err == nil && a.Timezone != "Local" {
				g.loc = loc
			}
			for _, w := range a.Windows {
				days, err := parseDays(w.Days)
				start, err1 := parseClock(w.Start, false)
				end, err2 := parseClock(w.End, true)
				if err != nil || err1 != nil || err2 != nil || w.Replicas == nil {
					continue // refused by the check
				}
				g.windows = append(g.windows, window{days: days, start: start, end: end, replicas: *w.Replicas,
					label: fmt.Sprintf("window %s %s-%s %s", dayList(w.Days), w.Start, w.End, g.loc)})
			}
			return g
		})
}

type scheduleAlgo struct {
	loc     *time.Location
	windows []window
}

type window struct {
	days       uint8 // bit d set: the window starts on weekday d (Sunday is 0)
	start, end int   // minutes after local midnight; end < start runs past midnight
	replicas   int32
	label      string
}

const noteOutside = "outside every window"

// Uses: schedule sizes on no metric; its windows are floors.
func (scheduleAlgo) Uses(*Metric) bool { return false }

// UsesOnly is empty: schedule uses no metric (MetricUser).
func (scheduleAlgo) UsesOnly() string { return "" }

// Propose proposes the highest floor among the windows open now, without a metric. Outside every window it
// proposes nothing, or minReplicas when it is the policy's only algorithm.
func (a scheduleAlgo) Propose(dst []Proposal, c *Context) []Proposal {
	local := c.Input.Now.In(a.loc)
	day, mins := local.Weekday(), local.Hour()*60+local.Minute()
	best := -1
	for i := range a.windows {
		w := &a.windows[i]
		if w.open(day, mins) && (best < 0 || w.replicas > a.windows[best].replicas) {
			best = i
		}
	}
	switch {
	case best >= 0:
		w := &a.windows[best]
		return append(dst, Proposal{Algorithm: c.Name, Replicas: w.replicas, Valid: true, Note: w.label})
	case len(c.Policy.Algorithms) == 1:
		return append(dst, Proposal{Algorithm: c.Name, Replicas: c.Policy.MinReplicas, Valid: true, Note: noteOutside})
	}
	return dst
}

// open reports whether the window is open on weekday day at mins minutes after local midnight. Reading the
// local wall clock keeps a window at the same local hours across daylight-saving changes.
func (w *window) open(day time.Weekday, mins int) bool {
	on := func(d time.Weekday) bool { return w.days&(1<<d) != 0 }
	if w.start < w.end {
		return on(day) && w.start <= mins && mins < w.end
	}
	return (on(day) && mins >= w.start) || (on((day+6)%7) && mins < w.end)
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// parseDays reads "*", a day ("Mon"), a range ("Mon-Fri", or "Fri-Mon" across the weekend) or a comma-separated
// list of those, as a bit set of weekdays.
func parseDays(s string) (uint8, error) {
	if strings.TrimSpace(s) == "" {
		return 0, fmt.Errorf("required: \"*\", a day such as Mon, a range such as Mon-Fri, or a list such as Sat,Sun")
	}
	day := func(name string) (int, error) {
		for i, d := range weekdays {
			if strings.EqualFold(strings.TrimSpace(name), d) {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%q is not a day: want Mon, Tue, Wed, Thu, Fri, Sat, Sun or *, in a range (Mon-Fri) or a list (Sat,Sun)", strings.TrimSpace(name))
	}
	var set uint8
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "*" {
			set |= 0x7f
			continue
		}
		from, to, isRange := strings.Cut(part, "-")
		a, err := day(from)
		if err != nil {
			return 0, err
		}
		b := a
		if isRange {
			if b, err = day(to); err != nil {
				return 0, err
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			set |= 1 << d
			if d == b {
				break
			}
		}
	}
	return set, nil
}

// dayList is days as written, for labels.
func dayList(s string) string {
	if s == "*" {
		return "every day"
	}
	return strings.ReplaceAll(s, " ", "")
}

// parseClock reads HH:MM (00:00 to 23:59, and 24:00 when end) as minutes after midnight.
func parseClock(s string, end bool) (int, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("want a time of day as HH:MM, such as 08:00, got %q", s)
	}
	h, m := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	switch {
	case end && h == 24 && m == 0:
		return 24 * 60, nil
	case end && (h > 23 || m > 59):
		return 0, fmt.Errorf("%q is not a time of day: want 00:00 to 23:59, or 24:00", s)
	case h > 23 || m > 59:
		return 0, fmt.Errorf("%q is not a time of day: want 00:00 to 23:59", s)
	}
	return h*60 + m, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
