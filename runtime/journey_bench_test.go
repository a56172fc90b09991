package runtime

import (
	"context"
	"testing"
	"time"

	"nudge/compiler"
)

// logJourneys logs where the program's journeys stand for brand acme and
// returns how many instances are active (members inside a journey).
func logJourneys(b *testing.B, db *DB, prog *compiler.Program) int64 {
	b.Helper()
	counts, err := db.JourneyCounts(context.Background(), prog, "acme")
	if err != nil {
		b.Fatal(err)
	}
	var active int64
	for _, c := range counts {
		b.Logf("  journey %-16s entered %8d active %8d exited %8d completed %8d", c.Journey, c.Entered, c.Active, c.Exited, c.Completed)
		active += c.Active
	}
	return active
}

// stepTook is how long the tick's step named step took (0 when it did not
// run).
func stepTook(res *RunResult, step string) time.Duration {
	for _, s := range res.Timings {
		if s.Step == step {
			return s.Took
		}
	}
	return 0
}
