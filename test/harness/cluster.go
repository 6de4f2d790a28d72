package harness

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a control plane started by test/cluster/up.sh.
type Cluster struct {
	Dir        string            // up.sh's state dir: kubeconfig, env, pids, logs/
	Kubeconfig string            // the admin kubeconfig (system:masters)
	Server     string            // the apiserver's URL
	Env        map[string]string // the variables of Dir/env, such as PODPILOT_APISERVER_PORT
}

// StartCluster runs up.sh in a temp dir and registers down.sh as a cleanup. When the test has failed, the
// cleanup prints the tail of every component's log first. If the test binary dies without running its cleanups
// (a go test -timeout panic), up.sh's watcher stops the cluster.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	root := Root(t)
	dir := t.TempDir()
	c := &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}

	// The control-plane binaries are built once into a cache (deps.sh does it on a new machine); a first run
	// without them builds them here, which takes about ten minutes on two cores.
	start := time.Now()
	if out, err := script(20*time.Minute, filepath.Join(root, "test/cluster/build.sh")); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("built the control plane in %.0fs", d.Seconds())
	}

	out, err := script(3*time.Minute, filepath.Join(root, "test/cluster/up.sh"), dir)
	// Registered whatever happened: up.sh stops what it started when it fails, and down.sh is idempotent.
	t.Cleanup(func() { c.stop(t, root) })
	if err != nil {
		t.Fatalf("up.sh %s: %v\n%s", dir, err, out)
	}
	t.Logf("up.sh:\n%s", strings.TrimRight(string(out), "\n"))

	c.Env = readEnv(t, filepath.Join(dir, "env"))
	c.Server = c.Env["PODPILOT_API_SERVER"]
	return c
}

func (c *Cluster) stop(t testing.TB, root string) {
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(c.Dir, "logs", "*.log"))
		sort.Strings(logs)
		for _, l := range logs {
			if fi, err := os.Stat(l); err == nil && fi.Size() > 0 {
				printTail(t, strings.TrimSuffix(filepath.Base(l), ".log"), l)
			}
		}
	}
	if out, err := script(2*time.Minute, filepath.Join(root, "test/cluster/down.sh"), c.Dir); err != nil {
		t.Errorf("down.sh %s: %v\n%s", c.Dir, err, out)
	}
}

// script runs a test/cluster script with a time limit and returns its output. At the limit it gets SIGTERM, so
// that up.sh stops what it started; SIGKILL follows 30 s later. A watcher started by up.sh stops the cluster if
// this test binary dies without cleaning up (PODPILOT_OWNER_PID).
func script(timeout time.Duration, path string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "PODPILOT_OWNER_PID="+strconv.Itoa(os.Getpid()))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	return cmd.CombinedOutput()
}

// readEnv reads up.sh's env file.
func readEnv(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("read cluster env: %v", err)
	}
	defer f.Close()
	return parseEnv(f)
}

// parseEnv reads "export KEY='value'" lines, as up.sh's env_line writes them: single-quoted, where a quote
// inside closes the quotes, is escaped with a backslash and opens them again. An unquoted value is taken as it is.
func parseEnv(r io.Reader) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
		}
		env[k] = v
	}
	return env
}

// RESTConfig returns the admin client configuration.
func (c *Cluster) RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("load %s: %v", c.Kubeconfig, err)
	}
	return cfg
}

// Client returns an admin clientset.
func (c *Cluster) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(t))
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}

// KubectlTimeout bounds every kubectl call.
const KubectlTimeout = time.Minute

// Kubectl runs kubectl as the admin and returns its stdout; a failure fails the test with kubectl's output.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	return c.kubectl(t, "", args...)
}

// Apply applies YAML manifests (kubectl apply -f -).
func (c *Cluster) Apply(t testing.TB, yaml string) {
	t.Helper()
	c.kubectl(t, yaml, "apply", "-f", "-")
}

// KubectlPath is the kubectl that build.sh built with the control plane (the same version), so that the tests need
// none on PATH.
func (c *Cluster) KubectlPath() string {
	if p := c.Env["PODPILOT_KUBECTL"]; p != "" {
		return p
	}
	return "kubectl" // a state dir from an older up.sh
}

func (c *Cluster) kubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.KubectlPath(), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
