package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TailLines is how many lines of each log a failed test prints.
const TailLines = 40

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
var StopTimeout = 10 * time.Second

// Process is a binary the test started, with its stdout and stderr in one log file.
type Process struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done

	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts cmd (its Stdout and Stderr must be unset) with its output in a log file named after name,
// and registers a cleanup that stops it by pid (SIGTERM, then SIGKILL after StopTimeout) and, when the test has
// failed, prints the log's tail. The process also gets SIGKILL if the test binary dies first.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	if cmd.Stdout != nil || cmd.Stderr != nil {
		t.Fatalf("StartProcess(%s): cmd.Stdout and cmd.Stderr must be unset: the harness captures them", name)
	}
	p := &Process{Name: name, LogPath: filepath.Join(t.TempDir(), name+".log"), cmd: cmd, done: make(chan struct{})}
	f, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatalf("StartProcess(%s): %v", name, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("StartProcess(%s): start %s: %v", name, cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d): %s", name, cmd.Process.Pid, strings.Join(cmd.Args, " "))
	t.Cleanup(func() {
		select {
		case <-p.done:
			t.Logf("%s (pid %d) had already exited: %v", name, p.PID(), p.err)
		default:
		}
		if t.Failed() {
			printTail(t, name, p.LogPath)
		}
		if err := p.Stop(); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return p
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns how the process exited (nil for status 0); call it after Done is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the process, by pid.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop stops the process by pid: SIGTERM, then SIGKILL if it is still running after StopTimeout. It returns an
// error only if the process cannot be stopped; how it exited is Err. Calling it again does nothing.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(StopTimeout):
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.stopErr = fmt.Errorf("%s (pid %d) still running 5 s after SIGKILL", p.Name, p.PID())
		}
	})
	return p.stopErr
}

// Log returns everything the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// WaitForLine waits up to timeout for a line of the log that starts with prefix and returns the line. It fails
// the test at once if the process exits first.
func (p *Process) WaitForLine(t testing.TB, timeout time.Duration, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		exited := false
		select {
		case <-p.done:
			exited = true // read the log once more: the line may have been written just before the exit
		default:
		}
		if line, ok := findLine(p.LogPath, prefix); ok {
			return line
		}
		if exited {
			t.Fatalf("%s exited (%v) before printing a line starting with %q; its log:\n%s", p.Name, p.err, prefix, tail(p.LogPath, TailLines))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no line starting with %q within %s; its log:\n%s", p.Name, prefix, timeout, tail(p.LogPath, TailLines))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func findLine(path, prefix string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text(), true
		}
	}
	return "", false
}

// tail returns the last n lines of a file, or why it cannot.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func printTail(t testing.TB, name, path string) {
	t.Logf("---- last %d lines of %s (%s) ----\n%s\n---- end of %s ----", TailLines, name, path, tail(path, TailLines), name)
}
