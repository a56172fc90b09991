package ruletest_test

import (
	"os"
	"testing"

	"nudge/runtime"
)

// TestMain runs the package's tests with DuckDB on one thread
// (runtime.ThreadsEnv, unless set): their databases are small and their
// ticks many short statements, which cost less CPU on one thread.
func TestMain(m *testing.M) {
	if os.Getenv(runtime.ThreadsEnv) == "" {
		os.Setenv(runtime.ThreadsEnv, "1")
	}
	os.Exit(m.Run())
}
