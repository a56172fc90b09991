package runtime

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nudge/compiler"
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

// CheckTickTime refuses a committed tick of prog at now (zero: the
// machine's clock, as Run takes it) when an earlier committed tick of its
// brand (resolved as Run resolves it) was later: TimeRunsBackwardError.
// Run itself does not refuse such a tick: the runtime evaluates it
// consistently (incremental.go re-evaluates everyone after time went back),
// which tests and tools replaying history rely on. Commands that commit
// ticks on a user's database (nudge run, --watch) call this first; a dry
// run writes nothing and needs no check. DuckDB lets one process write a
// database file, so no other tick commits between the check and the run.
func (db *DB) CheckTickTime(ctx context.Context, prog *compiler.Program, optBrand string, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}
	now = naive(now)
	brand, err := resolveBrand(ctx, db.sql, prog.Brand, optBrand)
	if err != nil {
		return err
	}
	last, ok, err := lastTick(ctx, db.sql, brand)
	if err != nil || !ok || !now.Before(last) {
		return err
	}
	return &TimeRunsBackwardError{Brand: brand, Now: now, Last: last}
}
