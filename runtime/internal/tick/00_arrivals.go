package tick

import (
	"context"
	"database/sql"
	"time"
)

// Events of members not yet imported (SPEC §5): such an event is not
// consumed by the trigger rules that pass it while its member is missing
// (their queries join members); it is considered once the member arrives,
// if that is within the lookback after the event.
//
// Import notes such events in waiting_events. The tick after their member
// arrived gives those within the lookback (ts > now - lookback) new seqs,
// above every seq handed out, in their old order; the tick's watermark then
// covers them, and every trigger rule, whose wm_seq is below them, considers
// each of them once, as an event ingested at that moment: the watermarks
// need no third case, and the incremental scope (members with events of
// seq above a rule's watermark), the compiler's forms and `nudge why` need
// nothing new. The old seqs were never a dedupe key (no rule could fire
// on them without the member), and seq keeps its meaning of the order in
// which events reached the rules. The tick forgets the waiting events that
// arrived and those past the lookback (their member can no longer come in
// time). Arrival is noticed by ticks, so the lookback is counted to the
// first tick of the brand after the member's import. A replay in rounds
// declines while a waiting event's member has arrived (replay.go): the tick
// run instead admits it.

// LastEventSeqSQL is the highest event seq handed out: the counter, unless
// rows were written behind its back (the demo generator), then their max.
// Only seqs from the counter up can exceed it, so the max reads those: the
// row groups below are skipped by their maximum seq.
const LastEventSeqSQL = `greatest((SELECT value FROM counters WHERE name = 'event_seq'), (SELECT coalesce(max(seq), 0) FROM events
    WHERE seq >= (SELECT coalesce(max(value), 0) FROM counters WHERE name = 'event_seq')))`

// countWaitingSQL is the number of events of the brand waiting for their
// member.
const countWaitingSQL = `(SELECT count(*) FROM waiting_events WHERE brand = $brand::VARCHAR)`

// arrivedSQL is the condition that the waiting event w's member is in
// members.
const arrivedSQL = `EXISTS (SELECT 1 FROM members m WHERE m.brand = w.brand AND m.member_id = w.member_id)`

// admitArrivals gives the brand's waiting events whose member arrived and
// whose ts is after now - lookback new seqs, and forgets those and the
// ones past the lookback. It returns how many events it admitted and the
// highest seq then (0 when none).
func admitArrivals(ctx context.Context, q queryer, brand string, now time.Time, lookback time.Duration) (admitted, maxSeq int64, err error) {
	args := []any{sql.Named("brand", brand), sql.Named("lo", now.Add(-lookback))}
	var base int64
	if err := q.QueryRowContext(ctx, `SELECT `+LastEventSeqSQL).Scan(&base); err != nil {
		return 0, 0, err
	}
	if _, err := q.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_arrived AS
SELECT w.seq, $base::BIGINT + row_number() OVER (ORDER BY w.seq) AS new_seq
FROM waiting_events w
WHERE w.brand = $brand::VARCHAR AND w.ts > $lo::TIMESTAMP AND `+arrivedSQL, append(args, sql.Named("base", base))...); err != nil {
		return 0, 0, err
	}
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_arrived`).Scan(&admitted); err != nil {
		return 0, 0, err
	}
	if admitted > 0 {
		maxSeq = base + admitted
		if _, err := q.ExecContext(ctx, `UPDATE events SET seq = a.new_seq FROM _nudge_arrived a WHERE events.seq = a.seq AND events.brand = $brand::VARCHAR`,
			sql.Named("brand", brand)); err != nil {
			return 0, 0, err
		}
		if _, err := q.ExecContext(ctx, `UPDATE counters SET value = $max::BIGINT WHERE name = 'event_seq'`, sql.Named("max", maxSeq)); err != nil {
			return 0, 0, err
		}
	}
	// (The arrived ones past the lookback go by their ts; the others are
	// in _nudge_arrived, so members is read once.)
	_, err = q.ExecContext(ctx, `DELETE FROM waiting_events w
WHERE w.brand = $brand::VARCHAR AND (w.ts <= $lo::TIMESTAMP OR w.seq IN (SELECT seq FROM _nudge_arrived))`, args...)
	if err != nil {
		return 0, 0, err
	}
	if _, err := q.ExecContext(ctx, `DROP TABLE IF EXISTS _nudge_arrived`); err != nil {
		return 0, 0, err
	}
	return admitted, maxSeq, nil
}

// AdmitArrivals does in tx what a tick of the brand at now would do first
// with the events waiting for their member (see admitArrivals), for tools
// that explain a tick (`nudge why`) and then roll tx back. It returns how
// many events it admitted. now is naive; lookback is positive.
func AdmitArrivals(ctx context.Context, tx *sql.Tx, brand string, now time.Time, lookback time.Duration) (int64, error) {
	var waiting int64
	if err := tx.QueryRowContext(ctx, `SELECT `+countWaitingSQL, sql.Named("brand", brand)).Scan(&waiting); err != nil || waiting == 0 {
		return 0, err
	}
	n, _, err := admitArrivals(ctx, tx, brand, now, lookback)
	return n, err
}

// arrivals is the tick's first step when events wait for their member.
func (t *tick) arrivals(ctx context.Context) error {
	_, maxSeq, err := admitArrivals(ctx, t.tx, t.brand, t.now, t.lookback)
	if err != nil {
		return err
	}
	t.maxSeq = max(t.maxSeq, maxSeq)
	return nil
}
