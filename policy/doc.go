// Package policy is podpilot's domain core: the per-service policy files (types, strict loading, defaults and
// validation), the query templates, the algorithm interface and registry, the behaviour stages (tolerance,
// stabilization, cooldown, rate limits, bounds), and the one decision function, Policy.Evaluate, that both the
// controller and the simulator call.
//
// Evaluate is pure: time, observations, current and ready replicas and the history come in; the decision and the
// new history go out. Nothing here reads a clock, does I/O beyond reading policy files, or keeps package-level
// mutable state, and the package imports no client-go, Prometheus client, zap or other podpilot package.
//
// Choices made where the issue was silent:
//   - A fresh History is seeded as the Kubernetes HPA seeds its own (a recommendation of the current count) plus a
//     scale event at the start, so a restarted daemon or a new leader scales nothing down before a full window or
//     cooldown has passed. This is how podpilot keeps a former leader's stabilization and cooldowns without
//     persisting state.
//   - Metric readings are aggregates from Prometheus, not per-pod values. HPA's unready-pod rule is reproduced
//     exactly from them (pods not ready = spec replicas - ready pods); its missing-pod rule needs per-pod data and
//     is not. What the aggregates allow instead: a reading may say how many pods it covers (Observation.Pods, from
//     a metric's PodsQuery), and one that covers fewer than the ready pods never scales down (MetricPartial), for
//     every algorithm. External AverageValue metrics use spec replicas where HPA uses status replicas; they differ
//     only while a scale is in flight.
//   - A fallback never scales a target in: it holds at least the fallback count.
//   - Combining several algorithms takes the largest valid proposal.
package policy
