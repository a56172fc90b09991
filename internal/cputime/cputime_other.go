//go:build !unix

// Package cputime reads the CPU time the process has used, which
// benchmarks report next to wall time: on a shared machine CPU time is the
// steadier of the two.
package cputime

import "time"

// Process is the CPU time the process has used: not read on this system
// (benchmarks then report zeros).
func Process() time.Duration { return 0 }
