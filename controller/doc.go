// Package controller is podpilot's live loop. Every interval it runs one pass over all targets: observe (the
// Deployment from an informer cache, the metrics from Prometheus), decide (policy.Policy.Step, the decision path
// the simulator shares), act (patch deployments/scale carrying the resourceVersion it read). It also owns the
// per-target histories, the policy store with hot reload, leader election, Kubernetes Events, its own Prometheus
// metrics and the health endpoints. It holds no scaling math.
//
// Choices made where the issue was silent (the README states them too):
//   - A new leader does not persist or read decision history: it starts every target with a fresh history, which
//     policy.Evaluate seeds so that nothing scales down before a full down-window, and no cooldown is cut short.
//     This needs no extra RBAC and cannot load a stale or forged state.
//   - Targets are read from a Deployment informer, not with one GET of the scale subresource per target per pass:
//     the Deployment's resourceVersion is the scale's, so the patch still carries the version that was read, and a
//     conflict (someone changed the Deployment since) reads the Deployment again from the API server and decides
//     again, unless that read shows it paused or taken by an HPA (the change may have been the pause itself).
//   - The caches hold every Deployment and HPA in the cluster, so they keep only what a pass reads: managedFields,
//     kubectl's last-applied annotation and the pod template are dropped as objects enter them (slim). That is
//     1.8 KB a Deployment instead of 9.9 KB for one with two containers (BenchmarkCache): 18 MB of the 256Mi limit for
//     10,000 of them, where it would be 99 MB.
//   - Policy files: a path that cannot be listed keeps the policies loaded from it; a new file claiming a target
//     already in force is the one rejected, whatever the names' order, and when the file in force is renamed, a
//     duplicate rejected before does not take the target over from it.
//   - Pausing: the annotation podpilot.io/paused: "true" leaves a target alone; podpilot.io/paused-replicas: "N"
//     also scales it to N once and then holds it there. A leader whose first sight of a target finds it pinned
//     (after a change of leader) does not apply the pin when the managedFields say that someone else set the
//     count after it, or cannot say when (the scale subresource records no time): a manual scale outlasts the
//     leader, and no state is persisted for it. A pin that appears while the leader watches is applied (one
//     taken off and set again too, even to the same count). podpilot.io/paused-scale-in and paused-scale-out
//     hold one direction (KEDA's annotations of those names): the target is decided, and not moved that way.
//   - A Deployment that any HorizontalPodAutoscaler in its namespace targets is refused, reported, and left alone.
//     A target taken back from a pause or an HPA starts a fresh history, as under a new leader.
//   - Leadership is checked against the Lease itself before every write and before each pass's decisions (one GET
//     each), so a replica frozen past its lease neither writes nor reports; a Lease that cannot be read fails
//     the write as a ScaleFailed, and the pass goes on.
//   - Backfills (the past that predictive, burst and target-tracking's floor look back on) run beside the passes,
//     at most maxFills at once; a pass waits up to Options.FillWait for those it started and then decides without
//     them, so a slow range query delays no target's scale-up, and a later pass merges the result.
//   - Lasting conditions (broken or partial metrics, an HPA) are Warned when they start or change and every 10
//     minutes while they last (warn); a partial one lasts while any reading is partial or warned, whatever the
//     decisions on it, so that client-go's per-object Event budget is left for ScaleFailed. Every
//     per-target series goes when the target's policy does; the gauges also when this replica stops leading.
package controller
