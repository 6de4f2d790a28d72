package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binaries built once per test binary, into a temp dir that Main removes.
var build struct {
	mu   sync.Mutex
	dir  string
	main bool              // Main is running the tests
	bins map[string]string // package -> binary
	errs map[string]error
}

// Main runs the tests and then removes the binaries the harness built. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
func Main(m *testing.M) int {
	build.mu.Lock()
	build.main = true
	build.mu.Unlock()
	code := m.Run()
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// Build builds the repository's main package pkg (such as "./test/workload" or "./cmd/podpilot") once per test
// binary and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	build.mu.Lock()
	defer build.mu.Unlock()
	if !build.main {
		t.Fatal("harness.Build needs harness.Main: add func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }")
	}
	if bin, ok := build.bins[pkg]; ok {
		return bin
	}
	if err, ok := build.errs[pkg]; ok {
		t.Fatalf("build %s: %v (failed earlier)", pkg, err)
	}
	if build.dir == "" {
		dir, err := os.MkdirTemp("", "podpilot-e2e-bin-")
		if err != nil {
			t.Fatal(err)
		}
		build.dir, build.bins, build.errs = dir, map[string]string{}, map[string]error{}
	}
	bin := filepath.Join(build.dir, filepath.Base(pkg))
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = Root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		build.errs[pkg] = fmt.Errorf("%v\n%s", err, out)
		t.Fatalf("go build %s: %v", pkg, build.errs[pkg])
	}
	t.Logf("built %s in %.1fs", pkg, time.Since(start).Seconds())
	build.bins[pkg] = bin
	return bin
}

// Workload is a running synthetic workload exporter (test/workload).
type Workload struct {
	Addr string // host:port of /metrics
	*Process
}

// StartWorkload builds the exporter once per test binary, starts it with args (listening on a free 127.0.0.1
// port unless args give --listen) and returns it once it has printed its address.
func StartWorkload(t testing.TB, args ...string) *Workload {
	t.Helper()
	bin := Build(t, "./test/workload")
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(strings.TrimLeft(a, "-"), "listen") }) {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	p := StartProcess(t, "workload", exec.Command(bin, args...))
	line := p.WaitForLine(t, 30*time.Second, "listening on ")
	return &Workload{Addr: strings.TrimPrefix(line, "listening on "), Process: p}
}

// SetDemand makes target (namespace/name) see a constant demand of rps requests per second from now on.
func (w *Workload) SetDemand(t testing.TB, target string, rps float64) {
	t.Helper()
	w.post(t, "demand", target, rps)
}

// Hide leaves out the usage series of n of target's ready pods from now on, as when scrapes of those pods fail.
func (w *Workload) Hide(t testing.TB, target string, n int) {
	t.Helper()
	w.post(t, "hide", target, float64(n))
}

func (w *Workload) post(t testing.TB, path, target string, value float64) {
	t.Helper()
	u := fmt.Sprintf("http://%s/%s?target=%s&value=%g", w.Addr, path, url.QueryEscape(target), value)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(u, "", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", u, resp.Status)
	}
}
