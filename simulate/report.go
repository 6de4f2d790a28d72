package simulate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/podpilot/podpilot/policy"
)

// Schema names the JSON output's version. Fields are only ever added to a version; a change of meaning gets a
// new one.
const Schema = "podpilot.simulate/v1"

// num is a float that encodes NaN and ±Inf as null.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

type jsonReport struct {
	Schema    string       `json:"schema"`
	Mode      Mode         `json:"mode"`
	Recording jsonInfo     `json:"recording"`
	Warmup    num          `json:"warmupSeconds"`
	Model     *jsonModel   `json:"model,omitempty"`
	SLO       jsonSLO      `json:"slo"`
	Policies  []jsonPolicy `json:"policies"`
}

type jsonInfo struct {
	File        string    `json:"file"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	StepSeconds num       `json:"stepSeconds"`
	Samples     int       `json:"samples"`
	Gaps        []jsonGap `json:"gaps"`
}

type jsonGap struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Line int       `json:"line,omitempty"`
}

type jsonModel struct {
	Demand         string `json:"demand"`
	Scale          num    `json:"scale"`
	Capacity       num    `json:"capacity"`
	StartupSeconds num    `json:"startupSeconds"`
	ScrapeSeconds  num    `json:"scrapeSeconds"`
	MaxUtilization num    `json:"maxUtilization"`
}

type jsonSLO struct {
	Utilization num `json:"utilization"`
	WaitSeconds num `json:"waitSeconds"`
}

type jsonPolicy struct {
	Name            string      `json:"name"`
	File            string      `json:"file"`
	Algorithms      []string    `json:"algorithms"`
	IntervalSeconds num         `json:"intervalSeconds"`
	PassSeconds     num         `json:"passSeconds"`
	TickSeconds     num         `json:"tickSeconds"`
	Summary         jsonSummary `json:"summary"`
	LowerBound      jsonSummary `json:"lowerBound"`
	Steps           []jsonStep  `json:"steps"`
}

type jsonSummary struct {
	ReplicaSeconds  num   `json:"replicaSeconds"`
	CostRatio       num   `json:"costRatio"`
	OverloadSeconds num   `json:"overloadSeconds"`
	SLOSeconds      num   `json:"sloViolationSeconds"`
	ScaleEvents     int   `json:"scaleEvents"`
	Reversals       int   `json:"reversals"`
	Unserved        num   `json:"unservedWork"`
	PeakReplicas    int32 `json:"peakReplicas"`
	Steps           int   `json:"steps"`
}

type jsonStep struct {
	Time     time.Time      `json:"time"`
	Decided  bool           `json:"decided"`
	Demand   num            `json:"demand"`
	Bound    int32          `json:"lowerBound"`
	Current  int32          `json:"current"`
	Ready    int32          `json:"ready"`
	Desired  int32          `json:"desired"`
	Metrics  map[string]num `json:"metrics"`
	Stage    policy.Stage   `json:"stage"`
	Reason   policy.Reason  `json:"reason"`
	Winner   string         `json:"winner"`
	Overload bool           `json:"overload"`
	Backlog  num            `json:"backlog"`
}

func summaryJSON(s Summary) jsonSummary {
	return jsonSummary{num(s.ReplicaSeconds), num(s.CostRatio), num(s.OverloadSeconds), num(s.SLOSeconds), s.ScaleEvents,
		s.Reversals, num(s.Unserved), s.PeakReplicas, s.Steps}
}

// WriteJSON writes the result in the documented schema (README, "simulate output").
func WriteJSON(w io.Writer, res *Result, files map[string]string) error {
	c := res.Config
	rep := jsonReport{Schema: Schema, Mode: c.Mode, Warmup: num(c.Warmup.Seconds()), SLO: jsonSLO{num(c.SLOUtilization), num(c.SLOWait.Seconds())}}
	ri := res.Recording
	rep.Recording = jsonInfo{File: ri.File, Start: ri.Start, End: ri.End, StepSeconds: num(ri.Step.Seconds()), Samples: ri.Samples, Gaps: []jsonGap{}}
	for _, g := range ri.Gaps {
		rep.Recording.Gaps = append(rep.Recording.Gaps, jsonGap{g.From, g.To, g.Line})
	}
	if c.Mode == ClosedLoop {
		rep.Model = &jsonModel{c.Demand, num(c.Scale), num(c.Model.Capacity), num(c.Model.Startup.Seconds()), num(c.Model.Scrape.Seconds()), num(c.Model.MaxUtilization)}
	}
	rep.Policies = []jsonPolicy{}
	for _, r := range res.Runs {
		jp := jsonPolicy{Name: r.Name, File: files[r.Name], IntervalSeconds: num(r.Interval.Seconds()),
			PassSeconds: num(r.Pass.Seconds()), TickSeconds: num(r.Tick.Seconds()),
			Summary: summaryJSON(r.Summary), LowerBound: summaryJSON(r.Bound), Steps: []jsonStep{}}
		for _, a := range r.Policy.Algorithms {
			jp.Algorithms = append(jp.Algorithms, a.Name)
		}
		for _, s := range r.Steps {
			js := jsonStep{Time: s.Time, Decided: s.Decided, Demand: num(s.Demand), Bound: s.Bound, Current: s.Current, Ready: s.Ready, Desired: s.Desired,
				Metrics: map[string]num{}, Stage: s.Stage, Reason: s.Reason, Winner: s.Winner, Overload: s.Overload, Backlog: num(s.Backlog)}
			for j, m := range r.Policy.Metrics {
				if s.Decided {
					js.Metrics[m.Name] = num(s.Metrics[j])
				}
			}
			jp.Steps = append(jp.Steps, js)
		}
		rep.Policies = append(rep.Policies, jp)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(rep)
}

// WriteStepsCSV writes every run's steps, one row per policy and step. Metric columns are the union of the
// policies' metric names, sorted; a policy without that metric leaves the cell empty, an invalid reading is NaN.
func WriteStepsCSV(w io.Writer, res *Result) error {
	names := map[string]bool{}
	for _, r := range res.Runs {
		for _, m := range r.Policy.Metrics {
			names[m.Name] = true
		}
	}
	cols := make([]string, 0, len(names))
	for n := range names {
		cols = append(cols, n)
	}
	sort.Strings(cols)
	bw := bufio.NewWriter(w)
	bw.WriteString("policy,time,demand,lower_bound,current,ready,desired,stage,reason,winner,overload,backlog,decided")
	for _, c := range cols {
		bw.WriteString(",metric:" + c)
	}
	bw.WriteString("\n")
	for _, r := range res.Runs {
		idx := make([]int, len(cols))
		for k, c := range cols {
			idx[k] = r.Policy.Lookup(c)
		}
		for _, s := range r.Steps {
			fmt.Fprintf(bw, "%s,%d,%s,%d,%d,%d,%d,%s,%s,%s,%t,%s,%t", r.Name, s.Time.Unix(), fnum(s.Demand), s.Bound, s.Current, s.Ready,
				s.Desired, s.Stage, s.Reason, s.Winner, s.Overload, fnum(s.Backlog), s.Decided)
			for _, j := range idx {
				bw.WriteString(",")
				if j >= 0 && s.Decided {
					bw.WriteString(fnum(s.Metrics[j]))
				}
			}
			bw.WriteString("\n")
		}
	}
	return bw.Flush()
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// WriteTable writes the side-by-side comparison for people.
func WriteTable(w io.Writer, res *Result) error {
	c, ri := res.Config, res.Recording
	fmt.Fprintf(w, "podpilot simulate: %s on %s\n", c.Mode, ri.File)
	fmt.Fprintf(w, "  %s to %s, %d samples every %s", ri.Start.Format(time.RFC3339), ri.End.Format(time.RFC3339), ri.Samples, policy.FormatDuration(ri.Step))
	if len(ri.Gaps) > 0 {
		longest := time.Duration(0)
		for _, g := range ri.Gaps {
			longest = max(longest, g.To.Sub(g.From))
		}
		stale := "twice each series' step"
		if c.MaxAge != 0 {
			stale = policy.FormatDuration(c.MaxAge)
		}
		fmt.Fprintf(w, "; %d gap(s), the longest %s (replay: metrics stale after %s; closed-loop: demand holds)", len(ri.Gaps), policy.FormatDuration(longest), stale)
	}
	fmt.Fprintln(w)
	if c.Warmup > 0 {
		fmt.Fprintf(w, "  warm-up: the first %s is simulated but not scored\n", policy.FormatDuration(c.Warmup))
	}
	for _, r := range res.Runs {
		if every := r.Policy.Every(r.Pass); every != r.Interval {
			fmt.Fprintf(w, "  %s: interval %s, evaluated every %s on the daemon's %s passes (--pass)\n", r.Name,
				policy.FormatDuration(r.Interval), policy.FormatDuration(every), policy.FormatDuration(r.Pass))
		}
	}
	if c.Mode == ClosedLoop {
		fmt.Fprintf(w, "  model: demand %q × %g, capacity %g per replica, start-up %s, scrape %s, CPU up to %g× requests; SLO: utilization above %g%%, queue wait above %s\n",
			c.Demand, c.Scale, c.Model.Capacity, policy.FormatDuration(c.Model.Startup), policy.FormatDuration(c.Model.Scrape), c.Model.MaxUtilization, c.SLOUtilization*100, policy.FormatDuration(c.SLOWait))
	} else {
		fmt.Fprintln(w, "  replay: the policies see the recorded metrics; overload, SLO and the lower bound need a demand model (closed-loop mode)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{""}
	for _, r := range res.Runs {
		head = append(head, r.Name)
	}
	closed := c.Mode == ClosedLoop
	if closed && len(res.Runs) > 0 {
		head = append(head, "lower bound")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	// Each run's own scored time: policies may have different intervals.
	scored := func(r Run) float64 { return float64(r.Summary.Steps) * r.Tick.Seconds() }
	row := func(label string, f func(s Summary, secs float64) string) {
		cells := []string{label}
		for _, r := range res.Runs {
			cells = append(cells, f(r.Summary, scored(r)))
		}
		if closed && len(res.Runs) > 0 {
			cells = append(cells, f(res.Runs[0].Bound, scored(res.Runs[0])))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("cost (× lower bound)", func(s Summary, _ float64) string { return f2(s.CostRatio) })
	row("replica-hours", func(s Summary, _ float64) string { return f1(s.ReplicaSeconds / 3600) })
	row("overload (s)", func(s Summary, _ float64) string { return f0(s.OverloadSeconds) })
	row("overload (% of time)", func(s Summary, secs float64) string { return f2(100 * s.OverloadSeconds / secs) })
	row("SLO violation (s)", func(s Summary, _ float64) string { return f0(s.SLOSeconds) })
	row("unserved work", func(s Summary, _ float64) string { return f0(s.Unserved) })
	row("scale events", func(s Summary, _ float64) string { return strconv.Itoa(s.ScaleEvents) })
	row("reversals", func(s Summary, _ float64) string { return strconv.Itoa(s.Reversals) })
	row("peak replicas", func(s Summary, _ float64) string { return strconv.Itoa(int(s.PeakReplicas)) })
	if err := tw.Flush(); err != nil {
		return err
	}
	if closed && len(res.Runs) > 1 {
		for _, r := range res.Runs[1:] {
			if r.Bound.ReplicaSeconds != res.Runs[0].Bound.ReplicaSeconds {
				_, err := fmt.Fprintf(w, "\n  The lower bound column is %s's (its bounds); %s's differs, and each cost ratio is against the policy's own.\n",
					res.Runs[0].Name, r.Name)
				return err
			}
		}
	}
	return nil
}

func f0(f float64) string { return fmtNum(f, 0) }
func f1(f float64) string { return fmtNum(f, 1) }
func f2(f float64) string { return fmtNum(f, 2) }

func fmtNum(f float64, prec int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', prec, 64)
}

// queues counts the sweep's runs of queue workloads.
func queues(sr *SweepResult) int {
	n := 0
	for _, r := range sr.Runs {
		if len(r.Points) > 0 && r.Points[0].Summary.Queue {
			n++
		}
	}
	return n
}

// missNames names what a sweep weighs against cost (Summary.Miss), as its header prints it and as its frontier
// is called.
func missNames(sr *SweepResult) (label, short string) {
	request, queue := Summary{}.MissName(), Summary{Queue: true}.MissName()
	switch queues(sr) {
	case 0:
		return request, "overload"
	case len(sr.Runs):
		return queue, "SLO"
	}
	return request + ", " + queue + " for queue policies", "overload (SLO)"
}

// WriteSweep writes each policy's cost and overload (a queue's SLO violation: Summary.Miss) at every value, marks
// the frontier, and reads off, for each frontier point of the first policy (the baseline), what every other policy
// achieves at equal or lower cost.
func WriteSweep(w io.Writer, sr *SweepResult) error {
	label, short := missNames(sr)
	fmt.Fprintf(w, "sweep %s: cost (× lower bound) / %s / reversals; * marks each policy's cost-%s frontier\n\n", sr.Field, label, short)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"value"}
	for _, r := range sr.Runs {
		head = append(head, r.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	if len(sr.Runs) > 0 {
		for j, p := range sr.Runs[0].Points {
			cells := []string{p.Value}
			for _, r := range sr.Runs {
				q := r.Points[j]
				star := " "
				if q.Frontier {
					star = "*"
				}
				cells = append(cells, fmt.Sprintf("%s / %s / %d %s", f2(q.Summary.CostRatio), f0(q.Summary.Miss()), q.Summary.Reversals, star))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(sr.Runs) < 2 {
		return nil
	}
	base := sr.Runs[0]
	fmt.Fprintf(w, "\nat equal or lower cost than %s's frontier points (best value of each policy within that cost):\n\n", base.Name)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head = []string{base.Name}
	for _, r := range sr.Runs[1:] {
		head = append(head, r.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, p := range Frontier(base.Points) {
		cells := []string{fmt.Sprintf("%s=%s: %s / %s", sr.Field, p.Value, f2(p.Summary.CostRatio), f0(p.Summary.Miss()))}
		for _, r := range sr.Runs[1:] {
			q, ok := AtCost(r.Points, p.Summary.ReplicaSeconds)
			if !ok {
				cells = append(cells, "none this cheap")
				continue
			}
			cells = append(cells, fmt.Sprintf("%s: %s / %s", q.Value, f2(q.Summary.CostRatio), f0(q.Summary.Miss())))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}
