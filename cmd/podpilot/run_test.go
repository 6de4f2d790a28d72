package main

import (
	"flag"
	"fmt"
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

// configFile writes a configuration file with body beside an empty policies directory, and returns its path.
func configFile(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "policies"), 0o755)
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte(body), 0o644)
	return file
}

// --dry-run overrides the file both ways; left out, the file's value stands.
func TestDryRunFlag(t *testing.T) {
	file := configFile(t, "dryRun: true\npolicies: [policies]\n")
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
	file := configFile(t, "policies: [policies]\nprometheus:\n  http:\n    basic_auth: {username: file-user, password_file: pass}\n")
	tests := []struct {
		args           []string
		user, passFile string
	}{
		{nil, "file-user", filepath.Join(filepath.Dir(file), "pass")},
		{[]string{"--prometheus-basic-auth-user", "flag-user"}, "flag-user", filepath.Join(filepath.Dir(file), "pass")},
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

// The flags apply before validation: a flag mends the file's value, and an error in a value a flag set names the
// flag, not the file.
func TestFlagsBeforeValidate(t *testing.T) {
	file := configFile(t, "policies: [policies]\nlisten: nowhere\ninterval: 0s\nleaderElection: {namespace: \"\"}\n")
	tests := []struct {
		name string
		args []string
		want string // the whole error; "" for none
	}{
		{"the file's errors with their lines", nil, file + ":2:1: listen: want host:port, got \"nowhere\"\n" + file + ":3:1: interval: must be at least 1s, got 0s\n" +
			file + ":4:1: leaderElection: namespace and name are required when enabled"},
		{"flags mend them", []string{"--listen", ":9090", "--interval", "30s", "--leader-elect=false"}, ""},
		{"a bad flag is named", []string{"--listen", "elsewhere", "--interval", "30s", "--leader-elect=false", "--prometheus-url", "prometheus:9090"},
			"--prometheus-url: prometheus.address: want an http:// or https:// URL such as http://prometheus-operated.monitoring.svc:9090, got \"prometheus:9090\"\n" +
				"--listen: listen: want host:port, got \"elsewhere\""},
		{"a flag with the file's other fields", []string{"--listen", ":9090", "--interval", "30s", "--leader-election-name", "lease"},
			file + ":4:1: leaderElection (with --leader-election-name): namespace and name are required when enabled"},
		{"every flag of the field is named", []string{"--listen", ":9090", "--interval", "30s", "--leader-elect", "--leader-election-name", "lease"},
			file + ":4:1: leaderElection (with --leader-elect and --leader-election-name): namespace and name are required when enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadRun(t, file, tt.args...)
			if got := fmt.Sprint(err); (err == nil) != (tt.want == "") || err != nil && got != tt.want {
				t.Errorf("load %v:\n%v\nwant:\n%s", tt.args, err, tt.want)
			}
		})
	}
}
