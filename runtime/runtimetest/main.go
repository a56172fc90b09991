package runtimetest

import (
	"os"
	"testing"

	"nudge/runtime"
)

// Main is a package's TestMain: it runs the tests with DuckDB on one
// thread (see OneThread) and exits with their status.
func Main(m *testing.M) {
	OneThread()
	os.Exit(m.Run())
}

// OneThread sets runtime.ThreadsEnv to 1 unless it is set: the tests'
// databases are small and their ticks many short statements, which cost
// less CPU on one thread, so a suite fits a small machine. A TestMain that
// runs the tests some other way (testscript.Main) calls it first.
func OneThread() {
	if os.Getenv(runtime.ThreadsEnv) == "" {
		os.Setenv(runtime.ThreadsEnv, "1")
	}
}
