package runtime

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TimeRunsBackwardError refuses a committed tick whose now is earlier than
// the latest tick already committed for its brand. The outbox, the rules'
// limits and watermarks, caps and tags already count that later tick: a
// tick before it would read them as if they lay in its past (a cap used up
// by sends decided "later", a trigger event already consumed), and its own
// decisions would land behind the watermarks. Repeating the latest tick's
// now is allowed: it records nothing new.
type TimeRunsBackwardError struct {
	Brand string
	Now   time.Time // the refused tick's now
	Last  time.Time // the latest committed tick's now
}

func (e *TimeRunsBackwardError) Error() string {
	return fmt.Sprintf("time cannot run backwards: now %s is before %s, the last committed tick of brand %s; "+
		"a committed tick is never earlier than the last one (its caps, limits and watermarks already count it). "+
		"To see what the rules decide at an earlier time, use a dry run (nudge run --dry-run --now ...), "+
		"or replay the history in a scratch copy of the database with nudge simulate --from ... --to ...",
		e.Now.Format("2006-01-02 15:04:05"), e.Last.Format("2006-01-02 15:04:05"), e.Brand)
}

// lastTick returns the now of the latest committed tick of brand, and
// false when the brand has none.
func lastTick(ctx context.Context, q queryer, brand string) (time.Time, bool, error) {
	var last sql.NullTime
	if err := q.QueryRowContext(ctx, `SELECT max(now) FROM runs WHERE brand = $brand::VARCHAR`, sql.Named("brand", brand)).Scan(&last); err != nil {
		return time.Time{}, false, fmt.Errorf("reading the run log: %w", err)
	}
	if !last.Valid {
		return time.Time{}, false, nil
	}
	return naive(last.Time), true, nil
}

// checkTickTime refuses a committed tick of brand at now when an earlier
// committed tick of the brand was later (TimeRunsBackwardError). A dry
// run writes nothing and may look at any time.
func checkTickTime(ctx context.Context, q queryer, brand string, now time.Time, dryRun bool) error {
	if dryRun {
		return nil
	}
	last, ok, err := lastTick(ctx, q, brand)
	if err != nil || !ok || !now.Before(last) {
		return err
	}
	return &TimeRunsBackwardError{Brand: brand, Now: now, Last: last}
}
