package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	nrt "nudge/runtime"
)

// parseTimestamp parses a timestamp flag value (runtime.ParseTimestamp);
// flag names the flag for the error. 0001-01-01 00:00:00 is refused: it is
// Go's zero time, which the commands read as "flag not given" (the wall
// clock, an open period), so it could never mean itself.
func parseTimestamp(flag, value string) (time.Time, error) {
	t, err := nrt.ParseTimestamp(value)
	if err != nil {
		return time.Time{}, usageError("--%s: %v", flag, err)
	}
	if t.IsZero() {
		return time.Time{}, usageError("--%s: %q is 0001-01-01 00:00:00, which nudge reads as no time at all; give a real date such as 2024-11-11", flag, value)
	}
	return t, nil
}

// nowFlagValue returns the --now value of c, or the zero time when the
// flag is not given: the caller then takes the database's wall clock
// (wallClock). --now "" (an unset variable in a script) is an error, not
// the wall clock.
func nowFlagValue(c *cobra.Command, flagValue string) (time.Time, error) {
	if !c.Flags().Changed("now") {
		return time.Time{}, nil
	}
	return parseTimestamp("now", flagValue)
}

// wallClock returns now, or when it is zero the current time as a naive
// local time in the database's time zone.
func wallClock(ctx context.Context, db *nrt.DB, now time.Time) (time.Time, error) {
	if !now.IsZero() {
		return now, nil
	}
	t, err := db.WallClock(ctx)
	if err != nil {
		return time.Time{}, problemError("%v", err)
	}
	return t, nil
}

// futureSlack is how far after the wall clock a committed run's --now may
// be without --allow-future.
const futureSlack = 24 * time.Hour

// checkFuture refuses a committed run's --now more than a day after the
// database's wall clock unless allow (--allow-future): such a tick uses up
// limits and caps "in the future" and its watermarks pass events not yet
// seen, so every correct tick after it is suppressed or refused as running
// backwards. A mistyped year must not do that silently.
func checkFuture(ctx context.Context, db *nrt.DB, now time.Time, allow bool) error {
	if allow {
		return nil
	}
	wall, err := db.WallClock(ctx)
	if err != nil {
		return problemError("%v", err)
	}
	if now.After(wall.Add(futureSlack)) {
		return usageError("--now %s is more than a day after the wall clock (%s in the database's time zone); "+
			"a committed tick there would use up limits and caps ahead of time and make every earlier tick impossible. "+
			"Check the date; to run in the future on purpose (a scratch database), add --allow-future, "+
			"or look without writing with --dry-run", formatTimestamp(now), formatTimestamp(wall))
	}
	return nil
}

// formatTimestamp prints a naive timestamp the way nudge shows them.
func formatTimestamp(t time.Time) string {
	return t.Format("2006-01-02 15:04:05")
}
