package policy

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// ParseDuration accepts the Prometheus forms ("30s", "5m", "1h30m", "1d") and Go's ("1.5s", "250ms").
// A bare number is refused: a unit must always be given.
func ParseDuration(s string) (time.Duration, error) {
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: want a number with a unit, such as 30s, 5m or 1h", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad duration %q: must not be negative", s)
	}
	return d, nil
}

// FormatDuration prints d in the shortest Prometheus form ("90s" becomes "1m30s").
func FormatDuration(d time.Duration) string {
	return model.Duration(d).String()
}
