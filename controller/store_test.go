package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/podpilot/podpilot/policy"
)

// Hot reload: a good edit takes effect; a broken edit is rejected with an error and a metric, and the last good
// version stays in force; a removed file takes its policy with it.
func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) { os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644) }
	write("web.yaml", webPolicy)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	s := NewStore([]string{dir}, policy.Builtin(), zap.NewNop(), m)
	if err := s.Reload(); err != nil || len(s.Policies()) != 1 || !s.Loaded() {
		t.Fatalf("first load: %v, %d policies", err, len(s.Policies()))
	}
	max := func() int32 { return s.Policies()[0].MaxReplicas }

	write("web.yaml", strings.Replace(webPolicy, "maxReplicas: 20", "maxReplicas: 30", 1))
	if err := s.Reload(); err != nil || max() != 30 {
		t.Errorf("good edit: %v, maxReplicas %d; want 30", err, max())
	}
	write("web.yaml", strings.Replace(webPolicy, "maxReplicas: 20", "maxReplicas: -3", 1))
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "web.yaml:4:1: maxReplicas: must be at least 1, got -3") || max() != 30 {
		t.Errorf("broken edit: %v, maxReplicas %d; want an error and the last good 30", err, max())
	}
	if n := testutil.ToFloat64(m.reloadErrors.WithLabelValues(filepath.Join(dir, "web.yaml"))); n != 1 {
		t.Errorf("reload error metric = %v; want 1", n)
	}
	if r := s.Rejected(); len(r) != 1 {
		t.Errorf("Rejected = %v", r)
	}
	// Unchanged bytes are not parsed again: no second error.
	s.Reload()
	if n := testutil.ToFloat64(m.reloadErrors.WithLabelValues(filepath.Join(dir, "web.yaml"))); n != 1 {
		t.Errorf("an unchanged broken file counted again: %v", n)
	}
	// A second file claiming the same target is refused; a new target is added.
	write("web2.yaml", webPolicy)
	write("api.yaml", strings.Replace(webPolicy, "name: web", "name: api", 1))
	err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), "one policy per target") || len(s.Policies()) != 2 {
		t.Errorf("duplicate and new: %v, %d policies; want the duplicate refused and 2 policies", err, len(s.Policies()))
	}
	os.Remove(filepath.Join(dir, "api.yaml"))
	os.Remove(filepath.Join(dir, "web2.yaml"))
	s.Reload()
	if len(s.Policies()) != 1 || testutil.ToFloat64(m.policyCount) != 1 {
		t.Errorf("after removal: %d policies", len(s.Policies()))
	}
}
