package runtime_test

import (
	"testing"

	"nudge/runtime/runtimetest"
)

// TestMain runs the package's tests with DuckDB on one thread.
func TestMain(m *testing.M) { runtimetest.Main(m) }
