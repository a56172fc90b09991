package runtime

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"sync"
	"time"

	"nudge/runtime/internal/tick"
	"nudge/runtime/policy"
)

// A dispatch round starts by finding where in the outbox its due messages
// are (dueProbe), so that it reads only the outbox's newest row groups when
// little is due: the rows are appended run after run, and DuckDB skips the
// row groups whose run ids lie outside a range. A row becomes due only when
// a tick writes it (pending, or scheduled for the end of quiet hours), or
// when its scheduled time comes; dispatch alone changes a due row's status
// afterwards. So after one round has looked at every row, the next need
// look only at the runs that hold rows still waiting, the runs it has not
// seen, and the scheduled rows once their time has come. dueMarks
// remembers that per database handle: the first round of a handle reads
// the whole outbox. Whatever made an older row due again behind
// dispatch's back would have to forget the marks (nothing does: the
// migrations run before a handle's first round).

// dueMarks remembers, per brand and sink configuration (dueKey), what the
// last dispatch round found (dueMark).
type dueMarks struct {
	mu sync.Mutex
	m  map[string]dueMark
}

// dueMark is what a dispatch round found about the rows it may deliver (a
// brand's sends when it has send sinks, the notifies it has a named sink
// for).
type dueMark struct {
	// live is the lowest run id with a row that is pending or due
	// (math.MaxInt64: none).
	live int64
	// later is the lowest run id with a row scheduled after the round's
	// now, and wake the earliest scheduled_at of such rows (MaxInt64 and
	// the zero time: none).
	later int64
	wake  time.Time
	// seen is the highest run id of the outbox the round saw.
	seen int64
}

// get returns the mark of key, and false when no round of this handle
// looked at the whole outbox for it yet.
func (d *dueMarks) get(key string) (dueMark, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.m[key]
	return m, ok
}

func (d *dueMarks) set(key string, m dueMark) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]dueMark{}
	}
	d.m[key] = m
}

// mineSQL is the condition that an outbox row is one a round may deliver:
// of the brand, a send when there are send sinks ($sends), a notify of a
// named sink ($names).
const mineSQL = `brand = $brand::VARCHAR AND ((action = 'send' AND $sends::BOOLEAN) OR (action = 'notify' AND list_contains($names::VARCHAR[], content)))`

// mineArgs are the parameters of mineSQL and of tick.DueSQL at now.
func mineArgs(brand string, sends bool, names []string, now time.Time) []any {
	if names == nil {
		names = []string{} // (a nil slice binds as NULL)
	}
	return []any{sql.Named("brand", brand), sql.Named("sends", sends), sql.Named("names", names), sql.Named("now", now)}
}

// dueKey tells apart the configurations whose rounds deliver different
// rows: the brand, whether there are send sinks, the notify sinks' names.
func dueKey(brand string, sends bool, names []string) string {
	s := "n"
	if sends {
		s = "s"
	}
	return brand + "\x00" + s + "\x00" + strings.Join(names, "\x00")
}

// dueRound is where a round's due rows are: in the runs of all, which
// split into the backlog (the runs the previous round saw) and the fresh
// runs (written since).
type dueRound struct {
	due     int64         // rows due at now
	all     tick.RunRange // every due row is in these runs
	backlog tick.RunRange // the runs the previous round saw (empty when there was none)
	fresh   tick.RunRange // the runs written since
}

// emptyRange is a RunRange that holds no run.
var emptyRange = tick.RunRange{From: 0, To: -1}

// dueProbe finds the rows of brand due at now that the round may deliver
// (sends when sends, the notifies of names) and where they are, and
// remembers for the next round where to look.
func (db *DB) dueProbe(ctx context.Context, brand string, now time.Time, sends bool, names []string) (dueRound, error) {
	key := dueKey(brand, sends, names)
	prev, known := db.due.get(key)
	from := tick.AllRuns.From
	if known {
		from = min(prev.live, prev.seen+1)
		if !now.Before(prev.wake) {
			from = min(from, prev.later)
		}
	}
	scheduled := `status = ` + policy.Scheduled.SQL() + ` AND scheduled_at > $now::TIMESTAMP`
	var live, later, seen sql.NullInt64
	var wake sql.NullTime
	var due int64
	r := tick.RunRange{From: from, To: math.MaxInt64}
	err := db.sql.QueryRowContext(ctx, `
SELECT min(run_id) FILTER (WHERE `+mineSQL+` AND (status = `+policy.Pending.SQL()+` OR status = `+policy.Scheduled.SQL()+`) AND NOT (`+scheduled+`)),
       min(run_id) FILTER (WHERE `+mineSQL+` AND `+scheduled+`),
       min(scheduled_at) FILTER (WHERE `+mineSQL+` AND `+scheduled+`),
       max(run_id),
       count(*) FILTER (WHERE `+mineSQL+` AND `+tick.DueSQL+`)
FROM outbox WHERE `+r.SQL(), mineArgs(brand, sends, names, now)...).Scan(&live, &later, &wake, &seen, &due)
	if err != nil {
		return dueRound{}, err
	}
	next := dueMark{live: math.MaxInt64, later: math.MaxInt64, seen: prev.seen}
	if live.Valid {
		next.live = live.Int64
	}
	if seen.Valid {
		next.seen = max(next.seen, seen.Int64)
	}
	if later.Valid {
		next.later, next.wake = later.Int64, naive(wake.Time)
	}
	if known && from > prev.later {
		// The rows scheduled before from were not read: they wait still.
		next.later = min(next.later, prev.later)
		if !later.Valid || prev.wake.Before(next.wake) {
			next.wake = prev.wake
		}
	}
	db.due.set(key, next)

	out := dueRound{due: due, all: tick.RunRange{From: from, To: next.seen}, backlog: emptyRange, fresh: emptyRange}
	switch {
	case !known:
		out.backlog = out.all
	case from > prev.seen:
		out.fresh = out.all
	default:
		out.backlog = tick.RunRange{From: from, To: prev.seen}
		out.fresh = tick.RunRange{From: prev.seen + 1, To: next.seen}
	}
	return out, nil
}

// dueSince reports whether a row the round may deliver (mineSQL) of a run
// after run seen is due at now.
func (db *DB) dueSince(ctx context.Context, brand string, now time.Time, sends bool, names []string, seen int64) (bool, error) {
	var n int64
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE `+tick.RunRange{From: seen + 1, To: math.MaxInt64}.SQL()+` AND `+mineSQL+` AND `+tick.DueSQL,
		mineArgs(brand, sends, names, now)...).Scan(&n)
	return n > 0, err
}
