package benchmem

import (
	"runtime"
	"testing"
)

// A running process has a resident size and a peak at least as large.
func TestStatusKB(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	rss, hwm := statusKB("VmRSS"), statusKB("VmHWM")
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %g kB, VmHWM %g kB; want 0 < RSS ≤ peak", rss, hwm)
	}
	if v := statusKB("NoSuchField"); v != 0 {
		t.Errorf("a missing field reads %g; want 0", v)
	}
}
