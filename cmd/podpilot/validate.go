package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/podpilot/podpilot/policy"
)

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
	ps, err := policy.Load(fs.Args(), policy.Builtin())
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
