package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/podpilot/podpilot/controller"
	"github.com/podpilot/podpilot/policy"
)

// expandConfigs replaces each daemon configuration file among paths (a file with a top-level prometheus or
// policies field) by the policy paths it names, after checking the configuration itself.
func expandConfigs(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if !isDaemonConfig(p) {
			out = append(out, p)
			continue
		}
		cfg, err := controller.LoadConfig(p)
		if err != nil {
			return nil, err
		}
		out = append(out, cfg.Policies...)
	}
	return out, nil
}

func isDaemonConfig(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, prom := top["prometheus"]
	_, pols := top["policies"]
	_, target := top["target"]
	return (prom || pols) && !target
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "print nothing when every file is valid")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: podpilot validate [-q] PATH...\n\nChecks policy files (or directories of *.yaml files) strictly and prints every error as\nfile:line:col: field: message. Exits 0 only when every file is valid.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	paths, err := expandConfigs(fs.Args())
	if err != nil {
		printErr(stderr, "podpilot validate", err)
		return 1
	}
	ps, err := policy.Load(paths, policy.Builtin())
	if err != nil {
		var es policy.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d error(s)\n", len(es))
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	if !*quiet {
		for _, p := range ps {
			fmt.Fprintf(stdout, "%s: ok (%s, %d metric(s), replicas %d-%d)\n", p.File, p.Target, len(p.Metrics), p.MinReplicas, p.MaxReplicas)
		}
	}
	return 0
}
