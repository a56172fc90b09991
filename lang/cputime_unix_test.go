//go:build unix

package lang_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system, all threads) the process has
// used: on a shared machine files per CPU-second is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
