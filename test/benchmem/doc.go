// Package benchmem reports a benchmark's resident memory (RSS now and its peak) from /proc/self/status, for the
// load benchmarks of the metrics and controller packages.
package benchmem
