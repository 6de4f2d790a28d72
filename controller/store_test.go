package controller

import (
	"fmt"
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

// loadedStore loads a store from a temp dir holding files (name, body, ...); write adds or changes one there.
func loadedStore(t *testing.T, files ...string) (s *Store, dir string, write func(name, body string)) {
	t.Helper()
	dir = t.TempDir()
	write = func(name, body string) { os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644) }
	for i := 0; i+1 < len(files); i += 2 {
		write(files[i], files[i+1])
	}
	s = NewStore([]string{dir}, policy.Builtin(), zap.NewNop(), nil)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	return s, dir, write
}

// A new file claiming a target already in force is the one rejected, at its target line, even when its name
// sorts first; once it is gone, its rejection is cleared.
func TestStoreDuplicateKeepsIncumbent(t *testing.T) {
	s, dir, write := loadedStore(t, "shop-web.yaml", webPolicy)
	// "shop-web-v2.yaml" sorts before "shop-web.yaml" ('-' < '.'), and asks for another maxReplicas.
	write("shop-web-v2.yaml", strings.Replace(webPolicy, "maxReplicas: 20", "maxReplicas: 5", 1))
	err := s.Reload()
	v2 := filepath.Join(dir, "shop-web-v2.yaml")
	if ps := s.Policies(); len(ps) != 1 || ps[0].File != filepath.Join(dir, "shop-web.yaml") || ps[0].MaxReplicas != 20 {
		t.Errorf("policies in force = %v; want shop-web.yaml's, unchanged", ps)
	}
	if err == nil || !strings.Contains(err.Error(), v2+":2:1: target: shop/web is already the target of "+filepath.Join(dir, "shop-web.yaml")) {
		t.Errorf("Reload error = %v; want the newcomer rejected at its target line", err)
	}
	if r := s.Rejected(); len(r) != 1 || r[v2] == "" {
		t.Errorf("Rejected = %v; want the newcomer only", r)
	}
	// An unrelated file changing rebuilds the list: the duplicate stays rejected, and is not counted again.
	write("shop-api.yaml", strings.ReplaceAll(webPolicy, "name: web", "name: api"))
	s.Reload()
	if n := testutil.ToFloat64(s.m.reloadErrors.WithLabelValues(v2)); n != 1 {
		t.Errorf("reload errors for the duplicate after an unrelated change = %v; want 1", n)
	}
	// An edit of the duplicate itself is rejected (and counted) again.
	write("shop-web-v2.yaml", strings.Replace(webPolicy, "maxReplicas: 20", "maxReplicas: 6", 1))
	s.Reload()
	if n := testutil.ToFloat64(s.m.reloadErrors.WithLabelValues(v2)); n != 2 {
		t.Errorf("reload errors for the duplicate after its own edit = %v; want 2", n)
	}
	os.Remove(v2)
	s.Reload()
	if r := s.Rejected(); len(r) != 0 {
		t.Errorf("Rejected after the newcomer is removed = %v; want none", r)
	}
}

// Renaming the file in force (to a name that sorts after a rejected duplicate's) keeps the target with it: the
// duplicate that was rejected does not take it over in the reload where the old name is gone.
func TestStoreRenameKeepsTarget(t *testing.T) {
	s, dir, write := loadedStore(t, "a-web.yaml", webPolicy)
	write("m-web-copy.yaml", strings.Replace(webPolicy, "maxReplicas: 20", "maxReplicas: 5", 1))
	if err := s.Reload(); err == nil {
		t.Fatal("the duplicate was not rejected")
	}
	os.Rename(filepath.Join(dir, "a-web.yaml"), filepath.Join(dir, "z-web.yaml"))
	s.Reload()
	if ps := s.Policies(); len(ps) != 1 || ps[0].File != filepath.Join(dir, "z-web.yaml") || ps[0].MaxReplicas != 20 {
		t.Errorf("after the rename: policies in force = %v; want z-web.yaml's (maxReplicas 20)", ps)
	}
	if r := s.Rejected(); len(r) != 1 || r[filepath.Join(dir, "m-web-copy.yaml")] == "" {
		t.Errorf("Rejected = %v; want the copy still", r)
	}
	// With its rival gone, the copy is the only claimant and takes the target.
	os.Remove(filepath.Join(dir, "z-web.yaml"))
	s.Reload()
	if ps := s.Policies(); len(ps) != 1 || ps[0].MaxReplicas != 5 {
		t.Errorf("with only the copy left: policies = %v; want the copy's", ps)
	}
}

// An edit that moves a file onto a target another file holds is rejected like any bad edit: the file's last
// good version, with its own target, stays in force.
func TestStoreRetargetKeepsLastGood(t *testing.T) {
	s, _, write := loadedStore(t, "a.yaml", webPolicy, "b.yaml", strings.Replace(webPolicy, "name: web", "name: api", 1))
	write("b.yaml", webPolicy)
	for i := range 2 { // and it stays so when the next reload assembles the policies again (a.yaml edited)
		if i == 1 {
			write("a.yaml", webPolicy+"# edited\n")
		}
		if err := s.Reload(); i == 0 && (err == nil || !strings.Contains(err.Error(), "b.yaml:2:1: target: shop/web is already the target of")) {
			t.Errorf("Reload = %v; want b.yaml rejected as a duplicate", err)
		}
		var got []string
		for _, p := range s.Policies() {
			got = append(got, p.Target.String()+" from "+filepath.Base(p.File))
		}
		if strings.Join(got, ", ") != "shop/api from b.yaml, shop/web from a.yaml" {
			t.Errorf("policies in force = %v; want b.yaml's last good version (shop/api) kept", got)
		}
	}
}

// A path that cannot be listed says nothing about its files: the policies loaded from it stay in force.
func TestStoreListingFails(t *testing.T) {
	for _, spell := range []string{"%s/web.yaml", "%s/./web.yaml", "%s//web.yaml"} {
		dir := t.TempDir()
		file := fmt.Sprintf(spell, dir)
		os.WriteFile(file, []byte(webPolicy), 0o644)
		reg := prometheus.NewRegistry()
		m := NewMetrics(reg)
		s := NewStore([]string{file}, policy.Builtin(), zap.NewNop(), m)
		if err := s.Reload(); err != nil || len(s.Policies()) != 1 {
			t.Fatalf("%s: first load: %v", file, err)
		}
		// The path is there but cannot be read (a symlink to itself here; an I/O error or a mount being replaced).
		os.Remove(file)
		os.Symlink(filepath.Join(dir, "web.yaml"), file)
		err := s.Reload()
		if err == nil || len(s.Policies()) != 1 {
			t.Errorf("%s: Reload = %v, %d policies; want the error and the policy still in force", file, err, len(s.Policies()))
		}
		if n := testutil.ToFloat64(m.reloadErrors.WithLabelValues(file)); n != 1 {
			t.Errorf("%s: reload error metric for the path = %v; want 1", file, n)
		}
	}
}

// One path that cannot be listed holds only its own policies: a file removed from another path goes, and /readyz
// reports the path, so that a mistyped one shows as an unready pod.
func TestStoreOnePathUnlisted(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "web.yaml")
	os.WriteFile(file, []byte(webPolicy), 0o644)
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	s := NewStore([]string{dir, missing}, policy.Builtin(), zap.NewNop(), nil)
	if err := s.Reload(); err == nil || len(s.Policies()) != 1 {
		t.Fatalf("first load = %v, %d policies; want the missing path's error and web in force", err, len(s.Policies()))
	}
	if err := Ready(s, nil)(); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("ready = %v; want the unlisted path", err)
	}
	os.Remove(file)
	s.Reload()
	if n := len(s.Policies()); n != 0 {
		t.Errorf("%d policies after web.yaml was removed from its listed directory; want 0", n)
	}
	os.WriteFile(missing, []byte(webPolicy), 0o644)
	if err := s.Reload(); err != nil || len(s.Policies()) != 1 || Ready(s, nil)() != nil {
		t.Errorf("once the path exists: %v, %d policies, ready %v; want no error, 1, ready", err, len(s.Policies()), Ready(s, nil)())
	}
}
