//go:build unix

// Package cputime reads the CPU time the process has used, which
// benchmarks report next to wall time: on a shared machine CPU time is the
// steadier of the two.
package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time (user and system, all threads) the process has
// used.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
