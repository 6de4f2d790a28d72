package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings expected on stdout and stderr
	}{
		{"no command", nil, 2, "", "usage: podpilot"},
		{"unknown command", []string{"launch"}, 2, "", `unknown command "launch"`},
		{"version", []string{"version"}, 0, "podpilot dev", ""},
		{"run with a bad flag value", []string{"run", "--leader-elect=maybe"}, 2, "", `invalid boolean value "maybe" for -leader-elect`},
		{"run with a stray argument", []string{"run", "--dry-run", "false"}, 2, "", `unexpected argument "false" (a boolean flag's value goes after "="`},
		{"run with a bad config", []string{"run", "--config", "../../policy/testdata/minimal.good.yaml"}, 2, "", `minimal.good.yaml:1:1: target: unknown field "target"`},
		{"validate the example config", []string{"validate", "../../config.example.yaml"}, 0, "examples/policies/web.yaml: ok", ""},
		{"validate the shipped policies", []string{"validate", "../../deploy/policies"}, 0, "deploy/policies/shop-web.yaml: ok", ""},
		{"validate examples", []string{"validate", "../../examples/policies"}, 0, "web.yaml: ok (shop/web", ""},
		{"validate without paths", []string{"validate"}, 2, "", "usage: podpilot validate"},
		{"validate bad", []string{"validate", "../../policy/testdata/zero-target.bad.yaml", "../../policy/testdata/min-over-max.bad.yaml"}, 1, "",
			"zero-target.bad.yaml:7:5: metrics[0].utilization: must be greater than 0, got 0\n"},
		{"validate counts all errors", []string{"validate", "../../policy/testdata/zero-target.bad.yaml", "../../policy/testdata/min-over-max.bad.yaml"}, 1, "", "3 error(s)"},
		{"validate duplicate", []string{"validate", "../../policy/testdata/dup"}, 1, "", "one policy per target"},
		{"validate missing file", []string{"validate", "nope.yaml"}, 1, "", "nope.yaml: stat nope.yaml: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("podpilot %v = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q", tt.args, code, out.String(), errb.String(), tt.code, tt.out, tt.err)
			}
		})
	}
}
