package main

import (
	"time"

	nrt "nudge/runtime"
)

// parseTimestamp parses a timestamp flag value (runtime.ParseTimestamp);
// flag names the flag for the error.
func parseTimestamp(flag, value string) (time.Time, error) {
	t, err := nrt.ParseTimestamp(value)
	if err != nil {
		return time.Time{}, usageError("--%s: %v", flag, err)
	}
	return t, nil
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
