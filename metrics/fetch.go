package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/podpilot/podpilot/policy"
)

// The labels a batched query's series are routed by.
const (
	namespaceLabel model.LabelName = "namespace"
	targetLabel    model.LabelName = "target"
	queueLabel     model.LabelName = "queue"
)

// Result is what one Fetch pass read.
type Result struct {
	Obs      [][]policy.Observation // Obs[i][j] is policy i's metric j; nil for a nil policy
	Queries  int                    // HTTP queries this pass issued
	Warnings []string               // Prometheus' warnings, each followed by its (shortened) query
}

// Fetch reads every metric of every given policy at time at, which must not be zero. A reading that cannot be
// trusted (no series, several series, NaN, ±Inf, a stale sample, a failed or timed-out query, a result that is
// not a vector) is an invalid Observation whose Reason names the target, the metric, what is wrong and the
// query; it is never a zero.
//
// Pairs of (policy, metric) that share a query template and window are read with one query: the template is
// rendered with alternations of all their namespaces, names and queues, and each series of the result goes to
// the targets its namespace and target labels (or its queue label) name. A template whose series carry no such
// labels is queried once per target from then on. Queries run in parallel, up to Config.Parallel at once.
func (c *Client) Fetch(ctx context.Context, ps []*policy.Policy, at time.Time) Result {
	res := Result{Obs: make([][]policy.Observation, len(ps))}
	n := 0
	for _, p := range ps {
		if p != nil {
			n += len(p.Metrics)
		}
	}
	buf := make([]policy.Observation, n)
	var groups []*group
	byKey := map[groupKey]*group{}
	for i, p := range ps {
		if p == nil {
			continue
		}
		res.Obs[i], buf = buf[:len(p.Metrics):len(p.Metrics)], buf[len(p.Metrics):]
		for j := range p.Metrics {
			m := &p.Metrics[j]
			mb := member{p: i, m: j, policy: p, metric: m}
			k := groupKey{mb.query(), m.Window}
			g := byKey[k]
			if g == nil {
				g = &group{}
				byKey[k] = g
				groups = append(groups, g)
			}
			g.members = append(g.members, mb)
		}
	}

	var batches []*job
	singles := newSingles()
	for _, g := range groups {
		if len(g.members) > 1 && c.batchable(g.members[0].query()) {
			if j := batchJob(g, &res); j != nil {
				batches = append(batches, j)
			}
			continue
		}
		for _, mb := range g.members {
			singles.add(mb, &res)
		}
	}
	res.Queries += c.run(ctx, append(slices.Clip(batches), singles.jobs...), at)

	var fallback []*group
	for _, j := range batches {
		if !c.settleBatch(j, at, &res) {
			fallback = append(fallback, j.group)
			c.mu.Lock()
			c.unbatchable[j.group.members[0].query()] = true
			c.mu.Unlock()
		}
		res.Warnings = append(res.Warnings, j.warnings()...)
	}
	for _, j := range singles.jobs {
		c.settleEach(j, at, &res)
		res.Warnings = append(res.Warnings, j.warnings()...)
	}
	if len(fallback) == 0 {
		return res
	}

	singles = newSingles()
	for _, g := range fallback {
		for _, mb := range g.members {
			singles.add(mb, &res)
		}
	}
	res.Queries += c.run(ctx, singles.jobs, at)
	for _, j := range singles.jobs {
		c.settleEach(j, at, &res)
		res.Warnings = append(res.Warnings, j.warnings()...)
	}
	return res
}

// groupKey is what (policy, metric) pairs must share to be read with one query.
type groupKey struct {
	query  string
	window time.Duration
}

type group struct {
	members []member
}

// member is one (policy, metric) pair.
type member struct {
	p, m   int // indexes into Fetch's policies and the policy's metrics
	policy *policy.Policy
	metric *policy.Metric
}

// query is the template the member reads: with a PodsQuery, both templates in one query (see withPods).
func (mb member) query() string {
	if mb.metric.PodsQuery == "" {
		return mb.metric.Query
	}
	return withPods(mb.metric.Query, mb.metric.PodsQuery)
}

func (mb member) render(v policy.Vars) (string, error) {
	q, err := mb.metric.Render(v)
	if err != nil || mb.metric.PodsQuery == "" {
		return q, err
	}
	pq, err := mb.metric.RenderPods(v)
	if err != nil {
		return "", err
	}
	return withPods(q, pq), nil
}

// partLabel tells a reading's series from those of the count of the pods it covers, where one query reads both.
const partLabel model.LabelName = "podpilot_part"

// withPods joins a reading's query and its count of pods into one query, whose series the partLabel tells
// apart. One query sees one state of Prometheus' storage (Prometheus isolates queries from appends), so a scrape
// that lands between two queries cannot pair a sum that misses a pod with a count that has it; and a target whose
// reading has series but whose count has none is known to have no pod covered.
func withPods(q, pods string) string {
	return fmt.Sprintf(`label_replace(%s, "%s", "value", "", "") or label_replace(%s, "%s", "pods", "", "")`, q, partLabel, pods, partLabel)
}

// isPods reports whether a series is the count of pods of a query that reads both (withPods).
func isPods(s *model.Sample) bool { return s.Metric[partLabel] == "pods" }

// job is one query and the pairs its result is for.
type job struct {
	query   string
	members []member
	group   *group // batch jobs: the group they read, whose series are routed by label

	vec   model.Vector
	warns v1.Warnings
	err   error
	short string
}

// quoted returns the query as messages quote it, computed once per job.
func (j *job) quoted() string {
	if j.short == "" {
		j.short = shortQuery(j.query)
	}
	return j.short
}

func (j *job) warnings() []string {
	out := make([]string, len(j.warns))
	for i, w := range j.warns {
		out[i] = fmt.Sprintf("%s (query: %s)", w, j.quoted())
	}
	return out
}

func (c *Client) batchable(query string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.unbatchable[query]
}

// batchJob renders g's template once for all its targets, with each value list deduplicated and sorted so that
// the query text does not depend on the order of the policies. It marks every pair invalid and returns nil when
// the template does not render.
func batchJob(g *group, res *Result) *job {
	var ns, names, queues []string
	for _, mb := range g.members {
		ns = append(ns, mb.policy.Target.Namespace)
		names = append(names, mb.policy.Target.Name)
		queues = append(queues, mb.metric.Queue)
	}
	first := g.members[0]
	q, err := first.render(policy.NewVars(sortedSet(ns), sortedSet(names), sortedSet(queues), policy.FormatDuration(first.metric.Window)))
	if err != nil {
		for _, mb := range g.members {
			invalid(res, mb, err.Error(), shortQuery(first.query()))
		}
		return nil
	}
	return &job{query: q, members: g.members, group: g}
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// singles collects per-target queries, one job per distinct query text.
type singles struct {
	jobs   []*job
	byText map[string]*job
}

func newSingles() *singles { return &singles{byText: map[string]*job{}} }

func (s *singles) add(mb member, res *Result) {
	q, err := mb.render(mb.policy.VarsFor(mb.metric))
	if err != nil {
		invalid(res, mb, err.Error(), shortQuery(mb.query()))
		return
	}
	if j := s.byText[q]; j != nil {
		j.members = append(j.members, mb)
		return
	}
	j := &job{query: q, members: []member{mb}}
	s.byText[q] = j
	s.jobs = append(s.jobs, j)
}

// run issues the jobs' queries, up to c.parallel at once, and returns how many it issued.
func (c *Client) run(ctx context.Context, jobs []*job, at time.Time) int {
	sem := make(chan struct{}, c.parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			j.vec, j.warns, j.err = c.instant(ctx, j.query, at)
		})
	}
	wg.Wait()
	return len(jobs)
}

// hits counts the series that went to one pair and keeps the first two.
type hits struct {
	n             int
	first, second *model.Sample
}

func (h *hits) add(s *model.Sample) {
	switch h.n {
	case 0:
		h.first = s
	case 1:
		h.second = s
	}
	h.n++
}

type targetKey struct{ namespace, name string }

// settleBatch routes a batch's series to its pairs and records their observations. It returns false, recording
// nothing, when a series has no label to route it by: the group must then be read one target at a time.
func (c *Client) settleBatch(j *job, at time.Time, res *Result) bool {
	if j.err != nil {
		for _, mb := range j.members {
			invalid(res, mb, j.err.Error(), j.quoted())
		}
		return true
	}
	byTarget := make(map[targetKey][]int, len(j.members))
	byQueue := map[string][]int{}
	for k, mb := range j.members {
		t := targetKey{mb.policy.Target.Namespace, mb.policy.Target.Name}
		byTarget[t] = append(byTarget[t], k)
		if q := mb.metric.Queue; q != "" {
			byQueue[q] = append(byQueue[q], k)
		}
	}
	got, pods := make([]hits, len(j.members)), make([]hits, len(j.members))
	for _, s := range j.vec {
		to := got
		if isPods(s) {
			to = pods
		}
		ns, hasNS := s.Metric[namespaceLabel]
		name, hasName := s.Metric[targetLabel]
		q, hasQueue := s.Metric[queueLabel]
		hasQueue = hasQueue && len(byQueue) > 0 // a queue label routes only where some pair has a queue
		switch {
		case hasNS && hasName:
			for _, k := range byTarget[targetKey{string(ns), string(name)}] {
				// With a queue label too, a pair that has a queue takes only its own queue's series.
				if mq := j.members[k].metric.Queue; hasQueue && mq != "" && mq != string(q) {
					continue
				}
				to[k].add(s)
			}
		case hasQueue:
			for _, k := range byQueue[string(q)] {
				// A queue of the same name in another namespace is another queue.
				if hasNS && j.members[k].policy.Target.Namespace != string(ns) {
					continue
				}
				to[k].add(s)
			}
		default:
			return false
		}
	}
	for k, mb := range j.members {
		c.settle(j, mb, got[k], pods[k], at, res)
	}
	return true
}

// settleEach records a per-target query's result: every series of it belongs to every pair of the job.
func (c *Client) settleEach(j *job, at time.Time, res *Result) {
	if j.err != nil {
		for _, mb := range j.members {
			invalid(res, mb, j.err.Error(), j.quoted())
		}
		return
	}
	var got, pods hits
	for _, s := range j.vec {
		if isPods(s) {
			pods.add(s)
		} else {
			got.add(s)
		}
	}
	for _, mb := range j.members {
		c.settle(j, mb, got, pods, at, res)
	}
}

// settle validates the series that went to one pair, and those of the count of the pods its reading covers, and
// records its observation.
func (c *Client) settle(j *job, mb member, h, pods hits, at time.Time, res *Result) {
	if why := c.one(h, at); why != "" {
		invalid(res, mb, why, j.quoted())
		return
	}
	o := &res.Obs[mb.p][mb.m]
	o.Value, o.Valid, o.Reason = float64(h.first.Value), true, ""
	if len(j.warns) > 0 {
		o.Warning = strings.Join(j.warns, "; ") // a partial response may have left out any series of the batch
	}
	if mb.metric.PodsQuery == "" {
		return
	}
	if pods.n == 0 { // the reading has series, the count has none: no pod is covered
		o.PodsKnown = true
		return
	}
	why := c.one(pods, at)
	if n := float64(pods.first.Value); why == "" && n >= 0 && n <= math.MaxInt32 && n == math.Trunc(n) {
		o.Pods, o.PodsKnown = int32(n), true
		return
	}
	if why == "" {
		why = fmt.Sprintf("%g is not a count", float64(pods.first.Value))
	}
	// Without the count, the reading may cover fewer pods than are ready: it is doubtful (no scale-down), as a
	// reading Prometheus warned about is.
	o.Warning = strings.TrimPrefix(o.Warning+"; pods covered unknown: "+why, "; ")
	res.Warnings = append(res.Warnings, fmt.Sprintf("%s %s: pods covered unknown: %s (query: %s)", mb.policy.Target, mb.metric.Name, why, j.quoted()))
}

// one returns what is wrong with the series that went to one pair, or "" when there is exactly one and it is good.
func (c *Client) one(h hits, at time.Time) string {
	switch h.n {
	case 0:
		return "empty result"
	case 1:
		return c.check(h.first, at)
	}
	return fmt.Sprintf("%d series, want 1 (%s, %s…)", h.n, h.first.Metric, h.second.Metric)
}

// check returns what is wrong with a sample, or "".
func (c *Client) check(s *model.Sample, at time.Time) string {
	v := float64(s.Value)
	switch {
	case s.Histogram != nil:
		return "the sample is a native histogram, want a number"
	case math.IsNaN(v):
		return "value is NaN"
	case math.IsInf(v, 1):
		return "value is +Inf"
	case math.IsInf(v, -1):
		return "value is -Inf"
	}
	if ts := s.Timestamp.Time(); ts.Before(at.Add(-c.maxAge)) {
		return fmt.Sprintf("stale sample from %s, %s before the evaluation time (max age %s)",
			ts.UTC().Format(time.RFC3339), at.Sub(ts).Round(time.Second), c.maxAge)
	}
	return ""
}

// invalid records why a pair has no reading: "shop/web cpu: empty result (query: ...)".
func invalid(res *Result, mb member, why, query string) {
	o := &res.Obs[mb.p][mb.m]
	o.Value, o.Valid = 0, false
	o.Reason = fmt.Sprintf("%s %s: %s (query: %s)", mb.policy.Target, mb.metric.Name, why, query)
}
