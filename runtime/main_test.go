package runtime

import (
	"os"
	"testing"
)

// TestMain runs the package's tests with DuckDB on one thread
// (NUDGE_THREADS, unless set): their databases are small and their ticks
// many short statements, which cost less CPU on one thread, so the suite
// fits a small machine. TestThreads covers the variable itself.
func TestMain(m *testing.M) {
	if os.Getenv(ThreadsEnv) == "" {
		os.Setenv(ThreadsEnv, "1")
	}
	os.Exit(m.Run())
}
