package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition.
const PollInterval = 250 * time.Millisecond

// Eventually checks cond every PollInterval until it reports true, and returns how long that took. If timeout
// passes first, it fails the test with what it waited for and the last detail cond gave, such as
// "readyReplicas 1 of 2". cond should return quickly (bounded I/O). Like t.Fatal, call it from the test's own
// goroutine.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, detail string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, detail)
		}
		time.Sleep(PollInterval)
	}
}

// Stopwatch logs how long each phase of a test took, and all of them again when the test ends.
type Stopwatch struct {
	t     testing.TB
	start time.Time
	last  time.Time
	laps  []string
}

// NewStopwatch starts timing the test's phases.
func NewStopwatch(t testing.TB) *Stopwatch {
	now := time.Now()
	s := &Stopwatch{t: t, start: now, last: now}
	t.Cleanup(func() {
		t.Logf("phase timings:\n%s\n  %-40s %6.1fs", strings.Join(s.laps, "\n"), "total", time.Since(s.start).Seconds())
	})
	return s
}

// Lap ends the current phase, named what, and logs its duration.
func (s *Stopwatch) Lap(what string) {
	now := time.Now()
	line := fmt.Sprintf("  %-40s %6.1fs", what, now.Sub(s.last).Seconds())
	s.laps = append(s.laps, line)
	s.last = now
	s.t.Logf("phase done:%s", line)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Root returns the repository's top folder: PODPILOT_ROOT, or the nearest folder above the working directory
// with a go.mod (go test runs a test in its package's folder).
func Root(t testing.TB) string {
	t.Helper()
	if r := os.Getenv("PODPILOT_ROOT"); r != "" {
		return r
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s: set PODPILOT_ROOT to the repository", dir)
		}
	}
}
