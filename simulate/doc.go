// Package simulate replays recorded metrics offline through podpilot's real policies and scores them. It owns the
// replay metric source (which never looks past the policy's own "now"), an in-memory scaler with a pod start-up
// delay, the closed-loop workload model, scoring against a clairvoyant lower bound, parameter sweeps, and the
// reports (table, JSON, CSV, plot). It reimplements no decision logic: every step is policy.Policy.Step, the
// function the controller calls.
//
// Rules chosen where the issue was silent (the README states them too):
//   - A policy decides on the passes (Config.Pass, the daemon's pass period) at which it is due, by
//     policy.Policy.Due, the daemon's own rule; with no pass, every interval.
//   - The model advances in steps of the pass, refined to the greatest whole-second divisor it shares with the
//     scrape interval and then the demand's own step (closed-loop) where that is at least a quarter of the finer
//     of the two (tickFor), so that demand between decisions is scored. A decision at t changes the spec
//     replicas at t; new pods count as ready from the first step at or after t + start-up delay; a scale-down
//     removes pods that are not ready first.
//   - Metric pipeline: the policy at step i sees the average of the true metric over the window's steps ending
//     max(1, scrape/step) steps earlier, so it never sees the state its own decision creates. A metric with a
//     podsQuery covers the pods ready through that whole window, so new pods make a reading partial for a window.
//   - Demand between samples holds the last sample (recordings report per-interval totals, not curves).
//   - Replay: a metric's reading at t is its latest sample at or before t, if no older than maxAge (default twice
//     the recording's step); an older one is stale, hence invalid. A gap in the recording is therefore a metric
//     outage for the policy, and in closed-loop mode the demand holds through it. Gaps are listed in the report.
//     With the recording's ready column and a metric's NAME:pods sample of the same time (podpilot record writes
//     both), a reading that covered k fewer pods than were ready covers k fewer of the replay's ready pods: it is
//     partial where the daemon's was, whatever count the replay runs. The counts are never demand (but a
//     one-column trace is, whatever its name), and a column a policy metric is named after is that metric's.
//   - Overload is demand above ready capacity (ready replicas × capacity); unserved work is that excess over
//     time. The SLO is utilization above a level for request workloads, and queue wait (backlog over drain
//     rate) above a time for queue workloads (a policy with a queue metric).
//   - A sweep's frontier and read-off weigh cost against overload, and against SLO-violation seconds for a queue
//     workload (Summary.Miss): its consumers may take in more than they serve while the backlog waits less than
//     the SLO, which is what a queue is for.
//   - The clairvoyant lower bound is ceil(demand / capacity) clamped to the policy's bounds, at every step.
//   - A warm-up (Config.Warmup, --warmup) is simulated like any other stretch, so that policies decide and
//     algorithms that look back gather their history, but neither scored nor reported: every score, the lower
//     bound's included, counts from its end, and a scale event's direction is compared only with scored ones.
package simulate
