//go:build !unix

package serve

import "time"

// processCPU is the CPU time the process has used: not read on this
// system (BenchmarkMembersBatch then reports zero).
func processCPU() time.Duration { return 0 }
