package harness

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcessLogAndStop(t *testing.T) {
	p := StartProcess(t, "echo", exec.Command("sh", "-c", "echo starting; echo 'listening on 127.0.0.1:1234'; echo oops >&2; exec sleep 60"))
	if got := p.WaitForLine(t, 5*time.Second, "listening on "); got != "listening on 127.0.0.1:1234" {
		t.Errorf("WaitForLine = %q; want the listening line", got)
	}
	Eventually(t, 5*time.Second, "stderr in the log", func() (bool, string) {
		return strings.Contains(p.Log(), "oops"), p.Log()
	})
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s; SIGTERM should have ended sleep at once", d)
	}
	<-p.Done()
	if ee, ok := p.Err().(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("exit = %v; want killed by SIGTERM", p.Err())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestProcessStopEscalatesToKill(t *testing.T) {
	old := StopTimeout
	StopTimeout = 300 * time.Millisecond
	t.Cleanup(func() { StopTimeout = old })
	p := StartProcess(t, "stubborn", exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"))
	p.WaitForLine(t, 5*time.Second, "ready")
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if ee, ok := p.Err().(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("exit = %v; want killed by SIGKILL after ignoring SIGTERM", p.Err())
	}
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, "the third call", func() (bool, string) {
		n++
		return n == 3, ""
	})
	if n != 3 {
		t.Errorf("cond called %d times; want 3", n)
	}
}

// up.sh's env file reads back exactly, whatever the paths hold: the lines come from up.sh's own env_line.
func TestEnvRoundTrip(t *testing.T) {
	src, err := os.ReadFile("../cluster/up.sh")
	if err != nil {
		t.Fatal(err)
	}
	var def string
	for _, l := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(l, "env_line() {") {
			def = l
		}
	}
	if def == "" {
		t.Fatal("up.sh defines no env_line")
	}
	want := map[string]string{"KUBECONFIG": "/tmp/my cache/it's $HOME/kubeconfig", "PODPILOT_NODE_NAME": "kwok-node-0", "PODPILOT_KUBECTL": `a\b "c"`}
	script := def + "\n"
	for _, k := range []string{"KUBECONFIG", "PODPILOT_NODE_NAME", "PODPILOT_KUBECTL"} {
		script += "env_line " + k + " \"$" + k + "\"\n"
	}
	cmd := exec.Command("bash", "-c", script)
	for k, v := range want {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := parseEnv(bytes.NewReader(out)); !maps.Equal(got, want) {
		t.Errorf("read back %q from\n%s\nwant %q", got, out, want)
	}
}
