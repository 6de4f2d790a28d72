package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// The timeout sent to Prometheus must be one it parses: Prometheus 2.42 answered "1.5s" with
// `bad_data: invalid parameter "timeout"`, failing every query (found by the end-to-end tier).
func TestServerTimeoutParses(t *testing.T) {
	for _, d := range []time.Duration{1500 * time.Millisecond, 2 * time.Second, 250 * time.Millisecond, 1200 * time.Microsecond, 90 * time.Second, 5*time.Second + time.Nanosecond} {
		got := serverTimeout(d)
		if _, err := model.ParseDuration(got.String()); err != nil {
			t.Errorf("serverTimeout(%s) = %s, which Prometheus cannot parse: %v", d, got, err)
		}
		if got < d || got > d+time.Second {
			t.Errorf("serverTimeout(%s) = %s; want at least d and less than a second more", d, got)
		}
	}
}
