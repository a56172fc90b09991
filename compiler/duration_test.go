package compiler

import (
	"math"
	"testing"
	"time"

	"nudge/lang/ast"
)

// TestDurationRanges: conversions refuse what does not fit a time.Duration
// or a DuckDB INTERVAL instead of wrapping around (a cap of 1 per 1000
// years once became a negative period that never capped).
func TestDurationRanges(t *testing.T) {
	year := goUnits[ast.Year]
	for _, c := range []struct {
		name string
		n    float64
		unit time.Duration
		ok   bool
	}{
		{"100 years", 100, year, true},
		{"292 years", 292, year, true},
		{"293 years", 293, year, false},
		{"1000 years", 1000, year, false},
		{"negative", -1, time.Minute, false},
		{"NaN", math.NaN(), time.Minute, false},
		{"infinite", math.Inf(1), time.Minute, false},
	} {
		if _, ok := goDuration(c.n, c.unit); ok != c.ok {
			t.Errorf("goDuration(%s): ok %v, want %v", c.name, ok, c.ok)
		}
	}
	for _, c := range []struct {
		n    float64
		unit ast.Unit
		ok   bool
	}{
		{100, ast.Year, true},
		{math.MaxInt32 / 12, ast.Year, true},
		{math.MaxInt32/12 + 1, ast.Year, false},
		{math.MaxInt32, ast.Day, true},
		{math.MaxInt32 + 1, ast.Day, false},
		{1e11, ast.Minute, true},
		{1e12, ast.Minute, false},
		{99999999999, ast.Year, false},
	} {
		if err := intervalRange(c.n, c.unit); (err == nil) != c.ok {
			t.Errorf("intervalRange(%v %v): %v, want ok %v", c.n, c.unit, err, c.ok)
		}
		if _, err := intervalSQL(&ast.DurationLit{N: &ast.NumberLit{Value: c.n}, Unit: c.unit}); (err == nil) != c.ok {
			t.Errorf("intervalSQL(%v %v): %v, want ok %v", c.n, c.unit, err, c.ok)
		}
	}
}
