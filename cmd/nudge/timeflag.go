package main

import (
	"fmt"
	"time"
)

// timestampLayouts are the forms SPEC §7 accepts for --now and every other
// timestamp flag. Times are naive local times in the data's zone, so they are
// parsed as UTC wall-clock values and stored without zone conversion.
var timestampLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTimestamp parses a timestamp flag value; flag names the flag for the error.
func parseTimestamp(flag, value string) (time.Time, error) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, value); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError("--%s: cannot read %q as a timestamp; use 2024-11-11T12:00:00, 2024-11-11 12:00:00, 2024-11-11 12:00 or 2024-11-11", flag, value)
}

// nowOrWallClock returns the --now value, or the current local wall-clock
// time (as a naive timestamp) when the flag is empty.
func nowOrWallClock(flagValue string) (time.Time, error) {
	if flagValue == "" {
		n := time.Now()
		return time.Date(n.Year(), n.Month(), n.Day(), n.Hour(), n.Minute(), n.Second(), 0, time.UTC), nil
	}
	return parseTimestamp("now", flagValue)
}

// formatTimestamp prints a naive timestamp the way nudge shows them.
func formatTimestamp(t time.Time) string {
	return t.Format("2006-01-02 15:04:05")
}

var _ = fmt.Sprintf
