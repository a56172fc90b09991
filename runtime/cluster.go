package runtime

import (
	"context"
	"database/sql"
	"fmt"
	"nudge/runtime/internal/tick"
)

// Clustering the events table.
//
// Events are appended in ingest order, and an incremental tick reads them in
// two ways: by seq (what arrived since a rule's watermark) and by type and
// time (the events of a few types that crossed a window edge; the history of
// the members it re-evaluates, of the types its rules read). In ingest order
// every row group holds every type, so the second kind decodes every row of
// every type. Once every rule of a tick has consumed a stretch of events
// (seq up to the tick's watermark), their order no longer matters to the
// first kind: clustering rewrites that stretch sorted by brand, type and ts,
// so that DuckDB skips the row groups of other brands and types by their
// minimum and maximum, and a time window of one type reads one row group.
// Every other (brand, type) block is sorted by descending ts: a row group
// where one block ends and the next begins then spans the latest (or the
// earliest) events of both, not all of time, and a window elsewhere skips
// it. The measurements are in docs/performance.md, "Clustered events".
//
// The stretch keeps its seqs: a later scan by seq (above every clustered
// seq) still skips it by the row groups' maximum. A rule whose watermark is
// below the clustered seqs (one of another brand, or one not run since)
// reads them all, which is correct, only slower. Clustering is a
// transaction of its own after the tick's commit: a process killed during
// it leaves the events as they were.

// DefaultClusterMinEvents is the fewest consumed, not yet clustered events
// that a tick clusters. A sorted stretch helps only when most types span
// several row groups (DuckDB's are 122,880 rows); below that, a one-hour
// window of one type reads a row group per block edge and the types the
// scope copies share row groups with those it does not, so sorting, which
// costs a pass over every column once, does not pay (docs/performance.md).
const DefaultClusterMinEvents = 2_000_000

// clusteredSeqSQL is the highest seq up to which the events are clustered
// (0: none are): tick.ClusteredSeqSQL.
const clusteredSeqSQL = tick.ClusteredSeqSQL

// clusterEvents sorts the events with seqs after the clustered ones up to
// upto (the tick's watermark) by brand, type and ts, when there are at least
// db.clusterMin of them. It reports whether it did.
func (db *DB) clusterEvents(ctx context.Context, upto int64) (bool, error) {
	done := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var from, n int64
		if err := tx.QueryRowContext(ctx, `SELECT `+clusteredSeqSQL).Scan(&from); err != nil {
			return err
		}
		if upto-from < db.clusterMin {
			return nil // fewer seqs than events: no count needed
		}
		args := []any{sql.Named("from", from), sql.Named("upto", upto)}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE seq > $from::BIGINT AND seq <= $upto::BIGINT`, args...).Scan(&n); err != nil {
			return err
		}
		if n < db.clusterMin {
			return nil
		}
		// The sorted copy is appended first and the rows it copies deleted
		// after: rows a transaction appends have row ids above every
		// committed row's until it commits, so the committed ones are those
		// up to the largest row id before the append (cheaper than sorting
		// into a temp table, deleting, then inserting it).
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(rowid), -1) FROM events`).Scan(&last); err != nil {
			return err
		}
		for _, s := range []struct {
			sql  string
			args []any
		}{
			// (An INSERT keeps the order of its query.)
			{`INSERT INTO events
SELECT * EXCLUDE (_nudge_block) FROM (
    SELECT *, dense_rank() OVER (ORDER BY brand, type) AS _nudge_block
    FROM events WHERE seq > $from::BIGINT AND seq <= $upto::BIGINT)
ORDER BY brand, type, CASE WHEN _nudge_block % 2 = 1 THEN epoch_us(ts) ELSE -epoch_us(ts) END, seq`, args},
			{`DELETE FROM events WHERE seq > $from::BIGINT AND seq <= $upto::BIGINT AND rowid <= $last::BIGINT`, append(args, sql.Named("last", last))},
			{`INSERT INTO counters VALUES ('events_clustered', $upto::BIGINT)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, args[1:]},
		} {
			if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
				return err
			}
		}
		var copies int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE seq > $from::BIGINT AND seq <= $upto::BIGINT`, args...).Scan(&copies); err != nil {
			return err
		}
		if copies != n {
			return fmt.Errorf("clustering events %d to %d left %d rows of %d; nothing was changed", from+1, upto, copies, n)
		}
		done = true
		return nil
	})
	if err != nil || !done {
		return done, err
	}
	// Until a checkpoint, the deleted rows' row groups stay in the table,
	// and their minimum and maximum still admit every type: the next ticks
	// read them too.
	_, err = db.sql.ExecContext(ctx, `CHECKPOINT`)
	return true, err
}
