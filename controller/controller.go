package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// MetricSource reads every metric of the given policies at one instant.
type MetricSource interface {
	Fetch(ctx context.Context, ps []*policy.Policy, at time.Time) metrics.Result
}

// Workload is what the controller reads of a target.
type Workload struct {
	Spec            int32 // spec.replicas (the scale subresource's)
	Ready           int32 // status.readyReplicas
	ResourceVersion string
	Paused          bool   // podpilot.io/paused: "true", or a pin
	Pin             *int32 // podpilot.io/paused-replicas
	// PinOverridden says that someone other than podpilot set the count after the pin was last set, or at a time
	// the Deployment's managedFields do not give (pinOverridden). A leader whose first sight of the target finds
	// it pinned leaves the count as it is then.
	PinOverridden bool
	HPA           string // name of a HorizontalPodAutoscaler targeting it, if any
	// NoScaleIn and NoScaleOut: podpilot.io/paused-scale-in or paused-scale-out is "true". The target is decided
	// as ever, but not scaled that way (policy.Input's fields of the same names).
	NoScaleIn, NoScaleOut bool
}

// Cluster is the controller's view of Kubernetes.
type Cluster interface {
	// Workload reads a target (from a cache). A missing target is an error that IsNotFound reports.
	Workload(t policy.Target) (Workload, error)
	// Fresh reads a target directly from the API server (not a cache), after a conflict.
	Fresh(ctx context.Context, t policy.Target) (Workload, error)
	// Scale patches the target's scale subresource to replicas, on the condition that it is still at the
	// resourceVersion w was read at. A concurrent change fails with an error that IsConflict reports.
	Scale(ctx context.Context, t policy.Target, w Workload, replicas int32) error
	// Event records a Kubernetes Event on the target.
	Event(t policy.Target, warning bool, reason, message string)
}

// ErrNotLeader is returned for a write attempted without leadership.
var ErrNotLeader = errors.New("not the leader: no write")

// errDryRun keeps a decision from being applied in dry-run mode.
var errDryRun = errors.New("dry run: not applied")

// Options configure a Controller.
type Options struct {
	Interval time.Duration // pass period; default 15s
	DryRun   bool
	Retries  int // conflict retries per target and pass; default 3
	// FillWait is how long a pass waits (real time, as the queries' timeouts) for the backfills it started before
	// it decides without them; one that takes longer goes on beside the passes, and a later pass merges it.
	// Default 2s.
	FillWait time.Duration
}

// Controller runs passes over the targets of a policy store.
type Controller struct {
	opts    Options
	log     *zap.Logger
	clock   clock.WithTicker
	source  MetricSource
	cluster Cluster
	store   *Store
	m       *Metrics

	mu      sync.Mutex
	targets map[string]*target // by "namespace/name"
	fills   sync.WaitGroup     // backfills in flight
	fillers chan struct{}      // a slot for each backfill that may read Prometheus at once (maxFills)
	// seen is what /decisions shows: each target's latest outcome, taken after every pass and Reset, so that
	// reading it never waits for a pass's queries and writes.
	seen atomic.Pointer[[]Seen]
}

// Backfiller reads a target's metrics over a past range, to give algorithms that look back (predictive) their
// history when the controller starts leading, with the pods each reading covered and the target's ready pods
// where Prometheus has them, so that readings that covered fewer pods than were ready are marked.
type Backfiller interface {
	RecordReplay(ctx context.Context, p *policy.Policy, start, end time.Time, step time.Duration, d metrics.Deployment) (*metrics.Recording, []string, error)
}

// target is the controller's memory of one target.
type target struct {
	policy   *policy.Policy // the policy the memory below was built under
	hist     policy.History
	past     [][]policy.Sample // earlier readings, for algorithms that look back
	filled   bool              // past was backfilled from Prometheus (or there was nothing to fill)
	fillAt   time.Time         // after a failed backfill: the next try, not before
	fillWait time.Duration     // the wait after the last failed backfill (0: none failed)
	fill     *fill             // the backfill in flight, if any
	lastEval time.Time
	pinned   int32              // the paused-replicas pin last applied (-1: none)
	unpinned bool               // a pass of this leader has seen the target without a pin
	last     Outcome            // of the last pass the target was due at
	at       time.Time          // that pass's time
	warned   map[string]warning // lasting conditions reported, by Event reason
}

// warning is a lasting condition's Warning: what it was about (the metrics, the HPA) and when it was emitted.
type warning struct {
	what string
	at   time.Time
}

// warnEvery is how often a lasting condition's Warning is repeated while it lasts.
const warnEvery = 10 * time.Minute

// warn emits a Warning Event for a lasting condition (broken or partial metrics, an HPA owning the target) when
// it starts or changes, and every warnEvery while it lasts, not at every pass: client-go's recorder lets 25
// Events through per object and then one per 5 minutes, so a condition repeated every pass would use that up and
// hide the ScaleFailed that follows.
func (c *Controller) warn(tg *target, t policy.Target, now time.Time, reason, what, msg string) {
	if w, ok := tg.warned[reason]; ok && w.what == what && now.Sub(w.at) < warnEvery {
		return
	}
	if tg.warned == nil {
		tg.warned = map[string]warning{}
	}
	tg.warned[reason] = warning{what: what, at: now}
	c.cluster.Event(t, true, reason, msg)
}

// New returns a controller. m may be nil (no metrics).
func New(opts Options, log *zap.Logger, clk clock.WithTicker, source MetricSource, cluster Cluster, store *Store, m *Metrics) *Controller {
	if opts.Interval == 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.FillWait == 0 {
		opts.FillWait = 2 * time.Second
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Controller{opts: opts, log: log, clock: clk, source: source, cluster: cluster, store: store, m: m, targets: map[string]*target{},
		fillers: make(chan struct{}, maxFills)}
}

// Outcome is what a pass did with one target.
type Outcome struct {
	Target   string
	Decision *policy.Decision // nil when the target was not evaluated
	Scaled   bool
	Skipped  string // why the target was left alone: NotFound, HPAConflict, Paused, NotDue, Error
	Err      error
}

// PassResult summarises one pass.
type PassResult struct {
	Time     time.Time
	Duration time.Duration
	Queries  int
	Outcomes []Outcome
}

// Reset forgets every target's history, as a new leader must (fresh histories hold scale-downs for a window), and
// its per-target gauges and decisions, as a replica that stops leading must: only the leader reports targets.
func (c *Controller) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, tg := range c.targets {
		c.m.forget(key, false)
		tg.forgetPast() // stops its backfill, if one is in flight
	}
	c.targets = map[string]*target{}
	c.seen.Store(nil)
}

// Run runs a pass every interval until ctx ends. lead says whether writes are still allowed (nil), or not
// (ErrNotLeader), or that it could not tell (another error, which fails the write); it is checked before every
// write, so a replica that lost its lease stops writing even in the middle of a pass, and once before each pass's
// decisions, so that one that does not lead reports nothing.
func (c *Controller) Run(ctx context.Context, lead func() error) {
	t := c.clock.NewTicker(c.opts.Interval)
	defer t.Stop()
	defer c.fills.Wait() // the backfills end with ctx: none outlasts Run
	for {
		c.Pass(ctx, lead)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// Pass evaluates every due target once. It reads the clock once.
func (c *Controller) Pass(ctx context.Context, lead func() error) PassResult {
	now := c.clock.Now()
	ps := c.store.Policies()
	res := PassResult{Time: now}

	c.mu.Lock()
	defer c.mu.Unlock()
	keep := make(map[string]bool, len(ps))
	var due []*policy.Policy
	for _, p := range ps {
		key := p.Target.String()
		keep[key] = true
		tg := c.targets[key]
		if tg == nil {
			tg = &target{pinned: -1}
			c.targets[key] = tg
		}
		if tg.policy != nil && tg.policy != p {
			// A reloaded policy keeps the recommendations and scale events (its windows and rate limits still
			// apply to them) but not what its algorithms kept, which a changed list could misread, nor the past
			// readings of metrics that may have changed.
			tg.hist.State = nil
			tg.forgetPast()
			c.m.dropForecast(key) // a metric the edit took out would keep its last forecast error
		}
		if tg.policy != p && p.Interval%c.opts.Interval != 0 {
			c.log.Warn("policy interval is not a multiple of the pass interval: the policy runs on the passes at which it is due",
				zap.String("policy", p.File), zap.Duration("interval", p.Interval), zap.Duration("pass", c.opts.Interval),
				zap.Duration("every", p.Every(c.opts.Interval)))
		}
		tg.policy = p
		if p.Due(tg.lastEval, now, c.opts.Interval) {
			due = append(due, p)
		} else {
			res.Outcomes = append(res.Outcomes, Outcome{Target: key, Skipped: "NotDue"})
		}
	}
	for key, tg := range c.targets {
		if !keep[key] {
			tg.forgetPast()
			delete(c.targets, key)
			c.m.forget(key, true)
		}
	}

	// The backfills the due targets need read Prometheus beside this pass's queries; the pass waits for them
	// only up to FillWait.
	var fills []*fill
	for _, p := range due {
		if f := c.startFill(ctx, p, c.targets[p.Target.String()], now); f != nil {
			fills = append(fills, f)
		}
	}
	fetched := c.source.Fetch(ctx, due, now)
	c.await(ctx, fills)
	res.Queries = fetched.Queries
	for _, w := range fetched.Warnings {
		c.log.Warn("query warning", zap.String("warning", w))
	}
	stopped := false
	if lead != nil && len(due) > 0 {
		// A replica whose elector still believes it leads, but whose lease another holds (it was frozen), decides
		// and reports nothing: no Events or gauges beside the leader's. One that cannot read the Lease goes on,
		// and each write checks again.
		if err := lead(); errors.Is(err, ErrNotLeader) {
			stopped = true
		} else if err != nil && ctx.Err() == nil {
			c.log.Warn("could not check the lease before the pass", zap.Error(err))
		}
	}
	for i, p := range due {
		if stopped || ctx.Err() != nil {
			// The pass was stopped (leadership lost, or shutdown): its readings failed for that reason, not the
			// metrics'. Nothing is decided, recorded or reported, and the target is due again next pass.
			res.Outcomes = append(res.Outcomes, Outcome{Target: p.Target.String(), Skipped: "Stopped"})
			continue
		}
		var obs []policy.Observation
		if i < len(fetched.Obs) {
			obs = fetched.Obs[i]
		}
		out := c.target(ctx, p, obs, now, lead)
		tg := c.targets[p.Target.String()]
		tg.last, tg.at = out, now
		res.Outcomes = append(res.Outcomes, out)
	}
	sort.SliceStable(res.Outcomes, func(i, j int) bool { return res.Outcomes[i].Target < res.Outcomes[j].Target })
	res.Duration = c.clock.Since(now)
	c.m.pass(res)
	seen := c.snapshot()
	c.seen.Store(&seen)
	return res
}

// Seen is a target's latest outcome as /decisions shows it.
type Seen struct {
	Target  string              `json:"target"`
	Time    time.Time           `json:"time"` // of the pass that evaluated the target or skipped it
	Skipped string              `json:"skipped,omitempty"`
	Error   string              `json:"error,omitempty"`
	Current int32               `json:"current"`
	Ready   int32               `json:"ready"`
	Raw     int32               `json:"raw"`
	Desired int32               `json:"desired"`
	Reason  policy.Reason       `json:"reason,omitempty"`
	Stage   policy.Stage        `json:"stage,omitempty"`
	Winner  string              `json:"winner,omitempty"`
	Metrics map[string]*float64 `json:"metrics,omitempty"` // null: invalid
	Scaled  bool                `json:"scaled"`
}

// Decisions returns every target's latest outcome, by target.
func (c *Controller) Decisions() []Seen {
	if s := c.seen.Load(); s != nil {
		return slices.Clone(*s)
	}
	return []Seen{}
}

// snapshot builds Decisions' list. The caller holds c.mu.
func (c *Controller) snapshot() []Seen {
	out := make([]Seen, 0, len(c.targets))
	for key, tg := range c.targets {
		o := tg.last
		s := Seen{Target: key, Time: tg.at, Skipped: o.Skipped, Scaled: o.Scaled}
		if o.Err != nil {
			s.Error = o.Err.Error()
		}
		if d := o.Decision; d != nil {
			s.Current, s.Ready, s.Raw, s.Desired, s.Reason, s.Stage, s.Winner = d.Current, d.Ready, d.Raw, d.Desired, d.Reason, d.Stage, d.Winner
			s.Metrics = map[string]*float64{}
			for _, pr := range d.Proposals {
				if _, dup := s.Metrics[pr.Metric]; pr.Metric == "" || dup {
					continue
				}
				s.Metrics[pr.Metric] = nil
				if pr.Valid {
					v := pr.Value
					s.Metrics[pr.Metric] = &v
				}
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// target runs one target's step: read it, decide, and write when the decision asks, retrying conflicts.
func (c *Controller) target(ctx context.Context, p *policy.Policy, obs []policy.Observation, now time.Time, lead func() error) Outcome {
	key := p.Target.String()
	tg := c.targets[key]
	out := Outcome{Target: key}
	log := c.log.With(zap.String("namespace", p.Target.Namespace), zap.String("target", p.Target.Name), zap.String("policy", p.File))

	w, err := c.cluster.Workload(p.Target)
	switch {
	case IsNotFound(err):
		out.Skipped, out.Err = "NotFound", err
		log.Warn("target not found: skipped", zap.Error(err))
		c.m.targetError(key, "NotFound")
		c.m.undecided(key, -1)
		return out
	case err != nil:
		out.Skipped, out.Err = "Error", err
		log.Error("reading target failed", zap.Error(err))
		c.m.targetError(key, "ReadFailed")
		c.m.undecided(key, -1) // neither podpilot's count nor the target's is known this pass
		return out
	}
	if w.Pin == nil {
		// Seen without a pin (an unpaused target never has one): a pin set later appears while this leader
		// watches, a new one, applied even at the count an earlier pin had (see below).
		tg.pinned, tg.unpinned = -1, true
	}
	switch {
	case w.HPA != "":
		out.Skipped = "HPAConflict"
		msg := fmt.Sprintf("HorizontalPodAutoscaler %s also targets this Deployment: podpilot leaves it alone", w.HPA)
		log.Warn("refused: an HPA owns this target", zap.String("hpa", w.HPA))
		c.warn(tg, p.Target, now, "HPAConflict", w.HPA, msg)
		c.m.targetError(key, "HPAConflict")
		c.m.undecided(key, w.Spec)
		tg.restart() // see below
		return out
	case w.Paused:
		out.Skipped = "Paused"
		c.m.undecided(key, w.Spec)
		// Someone else sets the count while the target is paused (or an HPA owns it): when podpilot takes it back,
		// it starts a fresh history, as a new leader does, so that no scale-down comes before a whole down-window
		// and the cooldowns count from then. The windows it had seen before are about another count, and the
		// readings of the stretch it was left alone go unread: they are backfilled from Prometheus then.
		tg.restart()
		// A pin is applied once per value: after that (or when the target is already at it), the target is
		// held wherever it is, and a manual scale lasts. A pin this leader meets on its first sight of the target
		// may have been applied by an earlier one, and the count set by hand since: the managedFields tell
		// (PinOverridden). One that appears while it watches is new.
		if w.Pin != nil && (*w.Pin == w.Spec || tg.pinned == -1 && !tg.unpinned && w.PinOverridden) {
			if *w.Pin != w.Spec && *w.Pin != tg.pinned {
				log.Info("paused target: someone else set its count after its pin was set (or at a time the managedFields do not give): the pin is not applied again",
					zap.Int32("replicas", w.Spec), zap.Int32("pin", *w.Pin))
			}
			tg.pinned = *w.Pin
		}
		if w.Pin != nil && *w.Pin != w.Spec && *w.Pin != tg.pinned {
			if err := c.write(ctx, p, w, *w.Pin, lead); errors.Is(err, errDryRun) {
				tg.pinned = *w.Pin
				log.Info("dry run: would pin the paused target", zap.Int32("from", w.Spec), zap.Int32("to", *w.Pin))
				return out
			} else if errors.Is(err, ErrNotLeader) || ctx.Err() != nil {
				out.Skipped, out.Err = "Stopped", err // as for any write: the next leader pins it
				return out
			} else if err != nil {
				out.Err = err
				log.Error("pinning a paused target failed", zap.Int32("replicas", *w.Pin), zap.Error(err))
				return out
			}
			tg.pinned = *w.Pin
			log.Info("paused target pinned", zap.Int32("from", w.Spec), zap.Int32("to", *w.Pin))
			c.cluster.Event(p.Target, false, "Paused", fmt.Sprintf("paused: pinned from %d to %d replicas", w.Spec, *w.Pin))
		}
		log.Debug("paused: left alone")
		return out
	}
	delete(tg.warned, "HPAConflict")

	tg.lastEval = now
	c.backfill(p, tg, now, log)
	h := tg.hist
	lookback := p.Lookback()
	var in policy.Input
	defer func() { tg.past = policy.AppendPast(tg.past, in, lookback) }() // the readings as the last attempt saw them
	for attempt := 0; ; attempt++ {
		in = policy.Input{Now: now, Current: w.Spec, Ready: w.Ready, Metrics: obs, Past: tg.past, NoScaleIn: w.NoScaleIn, NoScaleOut: w.NoScaleOut}
		cur := w
		d, nh, err := p.Step(in, h, func(to int32) error { return c.write(ctx, p, cur, to, lead) })
		out.Decision = &d
		if IsConflict(err) && attempt < c.opts.Retries {
			log.Info("scale conflict: reading again", zap.Int("attempt", attempt+1), zap.Error(err))
			c.m.conflict(key)
			fresh, ferr := c.cluster.Fresh(ctx, p.Target)
			switch {
			case ferr != nil:
				err = fmt.Errorf("reading the target again after a conflict: %w", ferr)
			case fresh.Paused || fresh.HPA != "":
				// The change that conflicted may be the one that paused the target or gave it to an HPA: it is not
				// written, and the next pass finds it so in the cache and leaves it alone (or pins it).
				out.Skipped = "Paused"
				if fresh.HPA != "" {
					out.Skipped = "HPAConflict"
				}
				log.Info("scale conflict: the target was paused or taken by an HPA meanwhile: not written",
					zap.Bool("paused", fresh.Paused), zap.String("hpa", fresh.HPA))
				c.m.undecided(key, fresh.Spec) // as for a target skipped from the start
				return out
			default:
				w = fresh // its ready pods too: a reading covers fewer of them than the cache said, perhaps
				continue
			}
		}
		if err != nil && (errors.Is(err, ErrNotLeader) || ctx.Err() != nil) {
			// The lease was lost or the daemon is stopping: nothing was written, and nothing is reported (a
			// replica that does not lead emits no Events); the next leader decides again.
			out.Skipped, out.Err = "Stopped", err
			return out
		}
		c.report(log, tg, now, p, d, obs, err)
		tg.hist = nh // when the write failed, Step left the scale event out
		if err != nil && !errors.Is(err, errDryRun) {
			out.Err = err
		}
		out.Scaled = d.Scale() && err == nil
		return out
	}
}

// restart starts the target's memory afresh, as for a new leader, when podpilot takes it back from whoever set
// its count meanwhile (a pause, an HPA): a fresh history, and past readings backfilled again.
func (tg *target) restart() {
	tg.hist = policy.History{}
	tg.forgetPast()
}

// forgetPast drops the past readings, which the next evaluation backfills again from Prometheus at once, and
// stops a backfill in flight, which may read what the past no longer is about (another policy).
func (tg *target) forgetPast() {
	if tg.fill != nil {
		tg.fill.cancel()
	}
	tg.past, tg.filled, tg.fillAt, tg.fillWait, tg.fill = nil, false, time.Time{}, 0, nil
}

// backfillRetry is how long after a first failed backfill the next one is tried, and backfillRetryMax the
// longest wait, which the wait doubles to after each further failure: Prometheus may be down, or the range
// may fail for good (a query whose series do not exist yet), and each try costs Prometheus a range query per
// metric.
const (
	backfillRetry    = 5 * time.Minute
	backfillRetryMax = time.Hour
)

// maxFills is how many backfills may read Prometheus at once: a new leader with many targets that look back
// would otherwise send all their range queries together.
const maxFills = 4

// fill is a backfill in flight. Its range queries run beside the passes, so that a slow Prometheus, or one that
// times them out, delays no target's decisions (each range query may take the query timeout, and a long lookback
// is several queries per metric); until it ends, the target is decided without its past, as after a failed one.
type fill struct {
	at   time.Time // the pass it started at
	done chan struct{}
	// Once done: what it read and what that lacks (notes), or why it failed.
	rec    *metrics.Recording
	notes  []string
	err    error
	cancel context.CancelFunc
	slow   bool // a pass has already logged that it goes on without it
}

// startFill starts reading a target's past from Prometheus when its algorithms look back and it has none yet:
// once; after a failure, again backfillRetry later, then after twice as long each time up to backfillRetryMax,
// until one succeeds. A target that the pass will leave alone (paused, owned by an HPA, not found) starts none.
func (c *Controller) startFill(ctx context.Context, p *policy.Policy, tg *target, now time.Time) *fill {
	lookback := p.Lookback()
	bf, ok := c.source.(Backfiller)
	if tg.filled || tg.fill != nil || lookback <= 0 || !ok || now.Before(tg.fillAt) {
		return nil
	}
	if w, err := c.cluster.Workload(p.Target); err != nil || w.Paused || w.HPA != "" {
		return nil
	}
	fctx, cancel := context.WithCancel(ctx)
	f := &fill{at: now, done: make(chan struct{}), cancel: cancel}
	tg.fill = f
	c.fills.Add(1)
	go func() {
		defer c.fills.Done()
		defer close(f.done)
		defer cancel()
		select {
		case c.fillers <- struct{}{}:
			defer func() { <-c.fillers }()
		case <-fctx.Done():
			f.err = fctx.Err()
			return
		}
		d := metrics.Deployment{Ready: metrics.DefaultDeployment.Ready, Optional: true}
		if p.Lookup(metrics.ReadyColumn) >= 0 {
			d.Ready = "" // a metric of that name: no column for the ready pods
		}
		f.rec, f.notes, f.err = bf.RecordReplay(fctx, p, now.Add(-lookback), now.Add(-p.Interval), p.Interval, d)
	}()
	return f
}

// await waits for fills to end, for at most FillWait.
func (c *Controller) await(ctx context.Context, fills []*fill) {
	if len(fills) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.FillWait)
	defer cancel()
	for _, f := range fills {
		select {
		case <-f.done:
		case <-wctx.Done():
			return
		}
	}
}

// backfill merges a target's ended backfill into its past readings. Readings that may be low are marked so:
// those of a metric whose range query Prometheus warned about (a partial response may have left out series), and
// those that covered fewer pods than were ready then (by the metric's podsQuery and kube-state-metrics' ready
// pods, where Prometheus has both). The readings the daemon saw itself from its first good one on are kept as
// they were (with their marks), and the backfill fills in the time before them.
func (c *Controller) backfill(p *policy.Policy, tg *target, now time.Time, log *zap.Logger) {
	f := tg.fill
	if f == nil {
		return
	}
	lookback := p.Lookback()
	select {
	case <-f.done:
	default:
		if !f.slow {
			f.slow = true
			log.Info("history still being read from Prometheus: algorithms that look back go on without it until it ends",
				zap.Duration("lookback", lookback), zap.Duration("since", now.Sub(f.at)))
		}
		return
	}
	tg.fill = nil
	if f.err != nil {
		tg.fillWait = min(max(2*tg.fillWait, backfillRetry), backfillRetryMax)
		tg.fillAt = f.at.Add(tg.fillWait)
		log.Warn("no history from Prometheus: algorithms that look back go on without it, and it is tried again later",
			zap.Duration("lookback", lookback), zap.Time("retryAt", tg.fillAt), zap.Error(f.err))
		return
	}
	rec := f.rec
	tg.filled = true
	past := make([][]policy.Sample, len(p.Metrics))
	for j, m := range p.Metrics {
		low := rec.Warned(m.Name)
		var seen []policy.Sample // the daemon's own readings since the backfill started (or an earlier one failed)
		if j < len(tg.past) {
			seen = tg.past[j]
		}
		// Those before its first good one were broken, most likely because Prometheus was out of reach, as the
		// failed backfill was: what Prometheus has for that time now fills them in.
		for len(seen) > 0 && math.IsNaN(seen[0].Value) {
			seen = seen[1:]
		}
		k := rec.Lookup(m.Name)
		partial := partialAt(rec, m.Name)
		for i, t := range rec.Times {
			if len(seen) > 0 && !t.Before(seen[0].Time) {
				break
			}
			past[j] = append(past[j], policy.Sample{Time: t, Value: rec.Series[k].Values[i], Low: low || partial(i)})
		}
		past[j] = append(past[j], seen...)
	}
	tg.past = past
	done, msg := log.Info, "history backfilled from Prometheus"
	if len(f.notes) > 0 || len(rec.Warnings) > 0 {
		// A count query that failed or found nothing, or a warning, leaves marks out: worth an operator's look.
		done, msg = log.Warn, "history backfilled from Prometheus, with gaps: its notes and warnings say what it lacks"
	}
	done(msg, zap.Int("samples", len(rec.Times)), zap.Duration("lookback", lookback),
		zap.Time("started", f.at), zap.Strings("warnings", rec.Warnings), zap.Strings("notes", f.notes))
}

// partialAt returns, for metric name of a backfill's recording, whether its reading at a row covered fewer pods
// than were ready: false where the recording lacks either count, or either is missing at that row.
func partialAt(rec *metrics.Recording, name string) func(int) bool {
	pods, ready := rec.Lookup(name+metrics.PodsSuffix), rec.Lookup(metrics.ReadyColumn)
	if pods < 0 || ready < 0 {
		return func(int) bool { return false }
	}
	return func(i int) bool {
		n, r := rec.Series[pods].Values[i], rec.Series[ready].Values[i]
		return n < r // NaN compares false
	}
}

// write applies a replica count unless in dry-run or without leadership.
func (c *Controller) write(ctx context.Context, p *policy.Policy, w Workload, to int32, lead func() error) error {
	if c.opts.DryRun {
		return errDryRun
	}
	if lead != nil {
		if err := lead(); err != nil {
			return err // ErrNotLeader, or a Lease that could not be read: a failed write, reported as one
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("no write after the pass was stopped: %w", err)
	}
	return c.cluster.Scale(ctx, p.Target, w, to)
}

// report logs, records metrics and emits Events for one decision.
func (c *Controller) report(log *zap.Logger, tg *target, now time.Time, p *policy.Policy, d policy.Decision, obs []policy.Observation, err error) {
	key := p.Target.String()
	c.m.decision(key, d)
	c.m.forecast(key, d)
	var bad, badNames []string
	for i, o := range obs {
		if ok, why := o.Usable(); !ok && i < len(p.Metrics) {
			bad = append(bad, p.Metrics[i].Name+": "+why)
			badNames = append(badNames, p.Metrics[i].Name)
			c.m.invalid(key, p.Metrics[i].Name)
		}
	}
	if len(obs) < len(p.Metrics) {
		bad = append(bad, "no readings")
		badNames = append(badNames, "no readings")
	}
	for _, pr := range d.Proposals {
		// A usable reading that gave no proposal (no ready pod to average it over) holds scale-downs too.
		if !pr.Valid && pr.Metric != "" && !slices.Contains(badNames, pr.Metric) {
			bad = append(bad, pr.Metric+": "+pr.Note)
			badNames = append(badNames, pr.Metric)
		}
	}
	fields := []zap.Field{zap.Int32("from", d.Current), zap.Int32("to", d.Desired), zap.Int32("ready", d.Ready),
		zap.Int32("raw", d.Raw), zap.String("reason", string(d.Reason)), zap.String("stage", string(d.Stage)), zap.String("winner", d.Winner)}
	for _, pr := range d.Proposals {
		if pr.Valid {
			fields = append(fields, zap.Float64("metric."+pr.Metric, pr.Value))
		}
	}
	switch {
	case d.Scale() && err == nil:
		log.Info("scaled", fields...)
		c.m.scaled(key, d)
		c.cluster.Event(p.Target, false, "Scaled", fmt.Sprintf("scaled from %d to %d: %s (%s)", d.Current, d.Desired, d.Reason, explain(d)))
	case d.Scale() && errors.Is(err, errDryRun):
		log.Info("dry run: would scale", fields...)
	case d.Scale():
		log.Error("scale failed", append(fields, zap.Error(err))...)
		c.m.targetError(key, "ScaleFailed")
		c.cluster.Event(p.Target, true, "ScaleFailed", fmt.Sprintf("scaling from %d to %d failed: %v", d.Current, d.Desired, err))
	default:
		log.Debug("hold", fields...)
	}
	if len(bad) > 0 {
		log.Warn("invalid metrics", zap.Strings("metrics", bad), zap.String("reason", string(d.Reason)))
		what := fmt.Sprintf("holding at %d", d.Desired)
		if d.Desired > d.Current {
			what = fmt.Sprintf("scaling up to %d on the others", d.Desired)
		}
		c.warn(tg, p.Target, now, "MetricUnavailable", strings.Join(badNames, ","),
			fmt.Sprintf("%s; %s (no scale-down on a broken metric)", strings.Join(bad, "; "), what))
	} else {
		delete(tg.warned, "MetricUnavailable")
	}
	doubtful := false
	for _, o := range obs {
		if ok, _ := o.Usable(); ok && o.Doubtful(d.Ready) {
			doubtful = true
		}
	}
	if !doubtful {
		// Only readings that are all whole again end the condition: a decision that held on them and one that did
		// not (the recommendation moved above the count) alternate while the same pods are missing.
		delete(tg.warned, "MetricPartial")
	}
	if d.Reason == policy.MetricPartial {
		var part, names []string
		why := "no scale-down while pods' metrics are missing"
		for i, o := range obs {
			if ok, _ := o.Usable(); !ok || i >= len(p.Metrics) {
				continue
			}
			if o.Partial(d.Ready) {
				part = append(part, fmt.Sprintf("%s: %d of %d ready pods report", p.Metrics[i].Name, o.Pods, d.Ready))
				names = append(names, p.Metrics[i].Name)
			}
			if o.Warning != "" {
				part = append(part, fmt.Sprintf("%s: query warning: %s", p.Metrics[i].Name, o.Warning))
				names = append(names, p.Metrics[i].Name+" warned")
				why = "no scale-down on a reading that may be low"
			}
		}
		log.Warn("partial metrics", zap.Strings("metrics", part))
		c.warn(tg, p.Target, now, "MetricPartial", strings.Join(names, ","),
			fmt.Sprintf("%s; holding at %d (%s)", strings.Join(part, "; "), d.Desired, why))
	}
}

// explain says what moved the count, for Events.
func explain(d policy.Decision) string {
	s := fmt.Sprintf("raw %d from %s", d.Raw, d.Winner)
	for _, st := range d.Steps {
		s += fmt.Sprintf(", %s %d→%d", st.Stage, st.From, st.To)
	}
	return s
}
