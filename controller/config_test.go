package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	promconfig "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

// config.example.yaml documents every field with its default: loading it gives the defaults, apart from the
// policy path it points at the examples with.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	c, err := LoadConfig("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.Abs("../examples/policies"); len(c.Policies) != 1 || mustAbs(c.Policies[0]) != want {
		t.Errorf("policies = %v; want the examples directory", c.Policies)
	}
	c.Policies = DefaultConfig().Policies
	if diff := cmp.Diff(DefaultConfig(), c, cmpopts.IgnoreUnexported(promconfig.HTTPClientConfig{}, promconfig.ProxyConfig{}), cmpopts.IgnoreTypes(yaml.Node{})); diff != "" {
		t.Errorf("config.example.yaml differs from the defaults (-default +file):\n%s", diff)
	}
	// Every field of Config appears in the example.
	data, _ := os.ReadFile("../config.example.yaml")
	for _, f := range []string{"address:", "timeout:", "maxAge:", "http:", "policies:", "interval:", "reload:", "listen:", "dryRun:",
		"level:", "format:", "enabled:", "namespace:", "name:", "leaseDuration:", "renewDeadline:", "retryPeriod:", "kubeconfig:", "qps:", "burst:"} {
		if !strings.Contains(string(data), f) {
			t.Errorf("config.example.yaml does not document %s", f)
		}
	}
}

func mustAbs(p string) string {
	a, _ := filepath.Abs(p)
	return a
}

func TestLoadConfigErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown field", "prometheus: {adress: x}\n", []string{`c.yaml:1:14: prometheus.adress: unknown field "adress"`}},
		{"bad duration", "interval: soon\n", []string{`c.yaml:1:11: interval: bad duration "soon"`}},
		{"bad http block", "prometheus:\n  http:\n    basic_auth: {username: u, password: p, password_file: f}\n", []string{"c.yaml:3:5: prometheus.http:", "at most one of basic_auth password"}},
		{"http errors on their own lines", "prometheus:\n  http:\n    basic_auth:\n      username: u\n# a comment\n\n      bogus: 1\n    follow: yes\nlisten: \":1\"\n",
			[]string{"c.yaml:7:7: prometheus.http: field bogus not found in type config.plain\n" + f + ":8:5: prometheus.http: field follow not found in type config.plain"}},
		{"http behind an anchor", "prometheus:\n  http: &h\n    basic_auth: {username: u}\n    bogus: 1\n", []string{"c.yaml:4:5: prometheus.http: field bogus not found in type config.plain"}},
		{"http with CRLF and a blank line", "prometheus:\r\n  http:\r\n    basic_auth: {username: u}\r\n\r\n    bogus: 1\r\n", []string{"c.yaml:5:5: prometheus.http: field bogus not found in type config.plain"}},
		{"http error in a flow block", "listen: \":1\"\nprometheus: {http: {bogus: 1}}\n", []string{"c.yaml:2:20: prometheus.http: field bogus not found in type config.plain"}},
		{"bad values", "interval: 0s\nlisten: nowhere\nlog: {level: loud}\nleaderElection: {leaseDuration: 5s, renewDeadline: 10s}\n",
			[]string{"c.yaml:1:1: interval: must be at least 1s", `c.yaml:2:1: listen: want host:port, got "nowhere"`,
				`c.yaml:3:7: log.level: want debug, info, warn or error, got "loud"`, "c.yaml:4:1: leaderElection: want leaseDuration > renewDeadline"}},
		{"bad values in blocks", "kube:\n  qps: 10\n  burst: -1\nprometheus:\n  maxAge: 0s\n",
			[]string{"c.yaml:3:3: kube.burst: must be positive, got -1", "c.yaml:5:3: prometheus.maxAge: must be more than 0s, got 0s"}},
		{"address without a scheme", "prometheus: {address: prometheus.monitoring.svc:9090}\n",
			[]string{`c.yaml:1:14: prometheus.address: want an http:// or https:// URL`}},
		{"port out of range", "listen: \":99999\"\n", []string{`c.yaml:1:1: listen: want a port from 0 to 65535, got "99999"`}},
		{"errors in line order", "listen: nowhere\ninterval: 0s\n", []string{"c.yaml:1:1: listen: want host:port, got \"nowhere\"\n" + f + ":2:1: interval:"}},
		{"empty block keeps defaults", "leaderElection:\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(f, []byte(tt.body), 0o644)
			c, err := LoadConfig(f)
			if tt.want == nil {
				if err != nil || !c.LeaderElection.Enabled || c.LeaderElection.Name != "podpilot" {
					t.Errorf("LoadConfig = %+v, %v; want the defaults", c.LeaderElection, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadConfig succeeded; want %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
