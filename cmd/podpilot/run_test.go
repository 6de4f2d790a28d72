package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

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
		var f daemonFlags
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.register(fs)
		if err := fs.Parse(append([]string{"--config", file}, tt.args...)); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.load()
		if err != nil || cfg.DryRun != tt.want {
			t.Errorf("%v: dryRun %v, %v; want %v", tt.args, cfg.DryRun, err, tt.want)
		}
	}
}
