package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// promBinary caches the path prometheusBinary finds, once per test binary.
var promBinary struct {
	sync.Mutex
	path string
}

// prometheusBinary is the Prometheus the harness runs: $PODPILOT_PROMETHEUS, or the Prometheus 3 that
// test/cluster/build.sh builds into the cache (the third path it prints).
func prometheusBinary(t testing.TB) string {
	if p := os.Getenv("PODPILOT_PROMETHEUS"); p != "" {
		return p
	}
	promBinary.Lock()
	defer promBinary.Unlock()
	if promBinary.path != "" {
		return promBinary.path
	}
	out, err := script(20*time.Minute, filepath.Join(Root(t), "test/cluster/build.sh"))
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	fields := strings.Split(lines[len(lines)-1], "\t") // build.sh separates the paths with tabs: they may hold spaces
	if len(fields) != 3 {
		t.Fatalf("build.sh printed %q last; want the Kubernetes and kwok folders and the Prometheus binary", lines[len(lines)-1])
	}
	promBinary.path = fields[2]
	return promBinary.path
}

// Prometheus is a Prometheus server started for one test.
type Prometheus struct {
	URL string // http://127.0.0.1:PORT
	*Process
	args []string
}

// StartPrometheus starts Prometheus on a free 127.0.0.1 port with a temp TSDB, scraping the given host:port
// targets' /metrics every second, waits until it is ready and returns it. It is stopped by pid when the test ends.
func StartPrometheus(t testing.TB, targets ...string) *Prometheus {
	t.Helper()
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: e2e
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p := &Prometheus{URL: "http://" + addr, args: []string{
		"--config.file=" + configPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--web.listen-address=" + addr,
		"--log.level=info",
	}}
	p.start(t)
	return p
}

// Restart stops Prometheus (SIGTERM) and starts it again on the same address with the same data, as after an
// outage; it returns once it is ready.
func (p *Prometheus) Restart(t testing.TB) {
	t.Helper()
	if err := p.Process.Stop(); err != nil {
		t.Logf("stopping prometheus: %v", err)
	}
	p.start(t)
}

func (p *Prometheus) start(t testing.TB) {
	t.Helper()
	p.Process = StartProcess(t, "prometheus", exec.Command(prometheusBinary(t), p.args...))
	client := &http.Client{Timeout: 2 * time.Second}
	Eventually(t, time.Minute, "prometheus ready at "+p.URL+"/-/ready", func() (bool, string) {
		select {
		case <-p.Done():
			t.Fatalf("prometheus exited (%v); its log:\n%s", p.Err(), tail(p.LogPath, TailLines))
		default:
		}
		resp, err := client.Get(p.URL + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// Query runs an instant query at time at (the server's now if at is zero) through the HTTP API and returns the
// vector it gives. An error result, a non-vector result or a transport error is an error.
func (p *Prometheus) Query(query string, at time.Time) (model.Vector, error) {
	v := url.Values{"query": {query}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %s: %w", query, resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", query, resp.Status, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", query, r.Data.ResultType)
	}
	var vec model.Vector
	if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	return vec, nil
}
