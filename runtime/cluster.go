package runtime

import (
	"context"
	"database/sql"
	"fmt"

	"nudge/runtime/internal/eventorder"
)

// Clustering the events a tick consumed.
//
// An incremental tick reads events in two ways: by seq (what arrived since
// a rule's watermark) and by type and time (the events of a few types that
// crossed a window edge; the history of the members it re-evaluates, of the
// types its rules read). Once every rule of a tick has consumed a stretch
// of events (seq up to the tick's watermark), their order no longer matters
// to the first kind: clustering rewrites that stretch in the clustered
// order (package eventorder) for the second. A rule whose watermark is
// below the clustered seqs (one of another brand, or one not run since)
// reads them all, which is correct, only slower. Clustering is a
// transaction of its own after the tick's commit: a process killed during
// it leaves the events as they were. An import of at least
// eventorder.MinEvents events onto clustered ones writes them in that order
// itself (import.go), so that a tick has none to rewrite.

// DefaultClusterMinEvents is the fewest consumed, not yet clustered events
// that a tick clusters (eventorder.MinEvents).
const DefaultClusterMinEvents = eventorder.MinEvents

// clusteredSeqSQL is the highest seq up to which the events are clustered
// (0: none are).
const clusteredSeqSQL = eventorder.ClusteredSeqSQL

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
` + eventorder.Sorted(`SELECT * FROM events WHERE seq > $from::BIGINT AND seq <= $upto::BIGINT`), args},
			{`DELETE FROM events WHERE seq > $from::BIGINT AND seq <= $upto::BIGINT AND rowid <= $last::BIGINT`, append(args, sql.Named("last", last))},
			{eventorder.MarkClusteredSQL, args[1:]},
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
