package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/podpilot/podpilot/controller"
)

// loadRun parses podpilot run's flags over the configuration file and loads them as run does.
func loadRun(t *testing.T, file string, args ...string) (controller.Config, error) {
	t.Helper()
	var f daemonFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(append([]string{"--config", file}, args...)); err != nil {
		t.Fatal(err)
	}
	return f.load()
}

// --dry-run overrides the file both ways; left out, the file's value stands.
func TestDryRunFlag(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "policies"), 0o755)
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("dryRun: true\npolicies: [policies]\n"), 0o644)
	tests := []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--dry-run=false"}, false},
		{[]string{"--dry-run"}, true},
	}
	for _, tt := range tests {
		cfg, err := loadRun(t, file, tt.args...)
		if err != nil || cfg.DryRun != tt.want {
			t.Errorf("%v: dryRun %v, %v; want %v", tt.args, cfg.DryRun, err, tt.want)
		}
	}
}

// The basic-auth flags override their own field of the file's basic_auth and keep the other.
func TestBasicAuthFlags(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "policies"), 0o755)
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("policies: [policies]\nprometheus:\n  http:\n    basic_auth: {username: file-user, password_file: pass}\n"), 0o644)
	tests := []struct {
		args           []string
		user, passFile string
	}{
		{nil, "file-user", filepath.Join(dir, "pass")},
		{[]string{"--prometheus-basic-auth-user", "flag-user"}, "flag-user", filepath.Join(dir, "pass")},
		{[]string{"--prometheus-basic-auth-password-file", "/run/p"}, "file-user", "/run/p"},
	}
	for _, tt := range tests {
		cfg, err := loadRun(t, file, tt.args...)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		ba := cfg.HTTP.BasicAuth
		if ba == nil || ba.Username != tt.user || ba.PasswordFile != tt.passFile {
			t.Errorf("%v: basic_auth %+v; want user %s, password file %s", tt.args, ba, tt.user, tt.passFile)
		}
	}
}
