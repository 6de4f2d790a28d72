package benchmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Report adds MB-RSS (resident memory now) and MB-peak-RSS (its peak) to b's results; nothing where there is no
// /proc.
func Report(b *testing.B) {
	if rss, hwm := statusKB("VmRSS"), statusKB("VmHWM"); rss > 0 {
		b.ReportMetric(rss/1024, "MB-RSS")
		b.ReportMetric(hwm/1024, "MB-peak-RSS")
	}
}

// statusKB reads a "kB" field of /proc/self/status (0 where there is none).
func statusKB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb
		}
	}
	return 0
}
