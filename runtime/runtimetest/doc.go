// Package runtimetest holds what the tests of nudge's runtime and the
// packages over it share (as net/http/httptest does for net/http): Main,
// the TestMain that runs a package's tests with DuckDB on one thread, and
// Fixture, a program ticked over members and events in a fresh database,
// with the unpaid-order journey many journey tests run (UnpaidJourney).
//
// Only tests (_test.go files) import it; production code must not, and
// TestImporters fails when a non-test file does. Package runtime's own
// internal tests (package runtime) cannot import it, since it imports
// runtime: they read the shared journey text from testdata (see
// UnpaidJourneyFile), and an external test package (package runtime_test)
// may import it.
package runtimetest
