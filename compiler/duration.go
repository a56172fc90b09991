package compiler

import (
	"fmt"
	"math"
	"time"

	"nudge/lang/ast"
)

// Units of Go durations for limits, caps and lags: months count as 30 days
// and years as 365 days, as caps do.
var goUnits = map[ast.Unit]time.Duration{
	ast.Minute: time.Minute, ast.Hour: time.Hour, ast.Day: 24 * time.Hour,
	ast.Week: 7 * 24 * time.Hour, ast.Month: 30 * 24 * time.Hour, ast.Year: 365 * 24 * time.Hour,
}

// goDuration converts n units of unit to a time.Duration; ok is false when
// the result is negative, not a number or past time.Duration's range (about
// 292 years). The checker keeps durations within check.MaxDurationYears, so
// a checked program never meets the limit.
func goDuration(n float64, unit time.Duration) (d time.Duration, ok bool) {
	v := n * float64(unit)
	if math.IsNaN(v) || v < 0 || v >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(v), true
}

// durationIn converts a duration literal to a Go duration with months and
// years of the given lengths, reporting one that does not fit.
func (rc *ruleCompiler) durationIn(d *ast.DurationLit, month, year time.Duration) time.Duration {
	unit := goUnits[d.Unit]
	switch d.Unit {
	case ast.Month:
		unit = month
	case ast.Year:
		unit = year
	}
	v, ok := goDuration(durationCount(d), unit)
	if !ok {
		rc.errorf(d, "duration %s %ss is out of range (at most about 292 years)", fmt.Sprint(durationCount(d)), d.Unit)
	}
	return v
}

// durationOf converts a duration literal to a Go duration for limits: months
// count as 30 days and years as 365 days, as caps do.
func (rc *ruleCompiler) durationOf(d *ast.DurationLit) time.Duration {
	return rc.durationIn(d, goUnits[ast.Month], goUnits[ast.Year])
}

// intervalRange reports whether n units fit DuckDB's INTERVAL: months and
// days are 32-bit, the time part is 64-bit microseconds.
func intervalRange(n float64, unit ast.Unit) error {
	var limit float64
	switch unit {
	case ast.Year:
		limit = math.MaxInt32 / 12
	case ast.Month:
		limit = math.MaxInt32
	case ast.Week:
		limit = math.MaxInt32 / 7
	case ast.Day:
		limit = math.MaxInt32
	case ast.Hour:
		limit = math.MaxInt64 / float64(time.Hour/time.Microsecond)
	default:
		limit = math.MaxInt64 / float64(time.Minute/time.Microsecond)
	}
	if n > limit {
		return fmt.Errorf("duration %v %ss does not fit a SQL interval (at most %.0f %ss)", n, unit, math.Floor(limit), unit)
	}
	return nil
}
