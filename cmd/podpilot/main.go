// Command podpilot is a Kubernetes autoscaler: a leader-elected daemon (run), an offline simulator (simulate),
// a policy checker (validate) and a recorder of Prometheus metrics (record).
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	_ "time/tzdata" // time zones for the schedule algorithm: the image is FROM scratch
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"run":      {"run the autoscaler in a cluster", runCmd},
		"simulate": {"replay recorded metrics through policies and score them", simulateCmd},
		"validate": {"check policy files strictly and print every error", validate},
		"record":   {"pull the series a policy uses from Prometheus into a recording", recordCmd},
		"version":  {"print the version", func(_ []string, out, _ io.Writer) int { fmt.Fprintln(out, "podpilot", version); return 0 }},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "podpilot: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: podpilot <command> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'podpilot <command> -h' for a command's flags.")
}
