// Package metrics is podpilot's input side: it reads what the policies measure out of Prometheus and hands it
// over as policy.Observation values, and it reads and writes recordings of those series for the simulator.
//
// It owns:
//   - the Prometheus client (Client, built by New from a Config): HTTP, authentication, TLS and extra headers come
//     from prometheus/common/config, queries from client_golang's api/prometheus/v1;
//   - rendering the policies' query templates, for one target or for a batch of targets at once (Fetch);
//   - routing a batched result back to its targets by the series' namespace and target labels (or queue label);
//   - validating results: an empty result, NaN, ±Inf, a stale sample, several series for one target, a failed or
//     timed-out query and a result that is not a vector each make an invalid Observation whose Reason names the
//     target, the metric and the query; an invalid reading is never a zero;
//   - the count of the pods a reading covers (Observation.Pods), for metrics that have a PodsQuery (the default
//     qps template): read in the reading's own query (the two joined with `or`, each labelled podpilot_part), so
//     that both come from one snapshot of Prometheus' storage. A reading with series whose count has none covers
//     no pod (Pods 0, known); a count that cannot be read (NaN, several series, not a whole number) leaves it
//     unknown and the reading doubtful: it carries the warning in Observation.Warning, as a reading Prometheus
//     warned about does, so it scales nothing down;
//   - range queries (Client.Range), for `podpilot record` and for history on start, and recordings: Record pulls
//     a policy's metrics, RecordReplay adds the counts a replay needs (the target's spec replicas and ready pods,
//     from kube-state-metrics by default, and the pods each reading covered), so that a replay starts where the
//     Deployment was and holds scale-downs on the readings the daemon held them on.
//
// It must not decide anything about replicas: it reads no metric targets, tolerances or behaviour, never turns
// a missing reading into a number, and imports no podpilot package but policy (for the policy, metric and
// observation types and the template variables); controller and simulate import it, not the other way round.
//
// Staleness. Prometheus stamps an instant query's samples with the evaluation time, whatever the age of the raw
// data behind them, so against Prometheus itself the timestamp check never fires. Freshness comes from the
// templates, whose rate windows (and last_over_time, where a template uses it) only see recent samples, and from
// the lookback delta, which every instant query sets to MaxAge: a bare gauge, such as the queue default, whose
// exporter stopped reads as no series once its last sample is older than MaxAge (or when Prometheus marks it
// stale). Prometheus before 2.43 ignores the parameter and looks back its own five minutes. The timestamp check
// catches backends that do return the raw samples' older timestamps.
//
// Batching. Pairs of (policy, metric) that share a template text and window are read with one query, rendered
// with policy.NewVars over their sorted, deduplicated namespaces, names and queues. The default templates label
// each series with namespace and target (or queue), so a pass over any number of targets on the default
// templates costs one query per template (qps's carries the pods it covers too). A template whose
// batched series carry none of those labels is read once per target, for the rest of the Client's life.
package metrics
