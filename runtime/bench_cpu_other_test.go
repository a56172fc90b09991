//go:build !unix

package runtime

import "time"

// processCPU is the CPU time the process has used: not read on this
// system (NUDGE_BENCH_TRACE=cpu then reports zeros).
func processCPU() time.Duration { return 0 }
