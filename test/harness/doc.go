// Package harness runs the real components of podpilot's end-to-end tests: a local Kubernetes control plane
// without containers (test/cluster/up.sh: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// with one fake node), Prometheus, the synthetic workload exporter (test/workload) and any other binary, such as
// podpilot itself. Every process binds 127.0.0.1 on a free port, writes its log to a file, and is stopped by pid
// when the test ends, on success and on failure; when the test has failed, the tail of every log is printed.
//
// The end-to-end tests that use it carry the build tag e2e and call Main from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
//
// The harness needs the tier's dependencies installed (test/cluster/deps.sh) and finds the repository from the
// working directory (or PODPILOT_ROOT).
package harness
