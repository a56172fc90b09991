package tick

import (
	"context"
	"database/sql"
	"errors"

	"nudge/runtime/policy"
)

// maxCapRounds bounds the cap fixed-point iteration (see applyCaps).
const maxCapRounds = 1000

// applyCaps marks open sends that would exceed a cap as capped. Sends of a
// member compete in a fixed order (priority desc, rule name, due time,
// the step of a journey, action); a send is allowed when, for every cap that covers its channel,
// the member's counted sends in the cap's window plus the allowed sends
// before it (but those that end expired at this tick: lateSQL) stay below
// the cap. A capped send does not count against later
// ones, which makes the greedy verdict depend on earlier verdicts: the
// statement below recomputes every verdict from the previous ones until
// nothing changes. The first k sends of every member are final after k
// rounds, so it ends after at most (max sends per member) + 1 rounds; almost
// always one or two.
func (t *tick) applyCaps(ctx context.Context) error {
	if !t.feat.caps {
		return nil
	}
	// A tick whose decisions have no open send (most quiet ticks of the
	// service) has nothing to cap: not even the outbox is read.
	var open bool
	if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM _nudge_dec WHERE action = 'send' AND status IS NULL)`).Scan(&open); err != nil {
		return err
	}
	if !open {
		return nil
	}
	// _nudge_capuse: per cap and member with an open send, the member's
	// counted sends in the cap's window before the decision. The outbox is
	// read first for those members only (sends), in the longest window
	// (the outbox is in time order), one scan per counted status
	// (scansPerValue), and only their sends meet the caps and the nows.
	// Joined with the caps first, DuckDB paired every send of the window
	// with every cap that covers its channel before dropping the other
	// members' (docs/performance.md, "Cap use reads the open members'
	// sends first").
	_, maxPer := t.capWindows()
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_capuse AS
WITH d AS MATERIALIZED (SELECT DISTINCT member_id, now FROM _nudge_dec WHERE action = 'send' AND status IS NULL),
sends AS MATERIALIZED (
`+scansPerValue("o.status", policy.Literals(policy.Counted...), func(cond string) string {
		return `    SELECT o.member_id, o.channel, o.fired_at FROM outbox o
    WHERE o.fired_at > $lo::TIMESTAMP - to_microseconds($maxper::BIGINT) AND o.fired_at <= $hi::TIMESTAMP
      AND o.transactional IS NOT TRUE AND o.action = 'send' AND ` + cond + ` AND o.brand = ` + t.brandSQL() + `
      AND o.member_id IN (SELECT member_id FROM d)`
	})+`)
SELECT c.ci, s.member_id, count(*) AS n
FROM sends s JOIN d ON d.member_id = s.member_id
JOIN _nudge_caps c ON c.channel IS NULL OR c.channel = s.channel
WHERE s.fired_at > d.now - to_microseconds(c.per_us) AND s.fired_at <= d.now
GROUP BY c.ci, s.member_id`, sql.Named("lo", t.lo()), sql.Named("hi", t.hi()), sql.Named("maxper", maxPer.Microseconds())); err != nil {
		return err
	}
	// A member's only open send needs no competition: it is capped when a
	// cap is already full (a cap of 0 always is).
	if _, err := t.exec(ctx, `
UPDATE _nudge_dec SET capped = true, reason = v.reason
FROM (
    SELECT d.id, arg_min(c.label, c.ci) AS reason
    FROM (SELECT rowid AS id, member_id, channel, count(*) OVER (PARTITION BY member_id) AS n
          FROM _nudge_dec WHERE action = 'send' AND status IS NULL) d
    JOIN _nudge_caps c ON c.channel IS NULL OR c.channel = d.channel
    LEFT JOIN _nudge_capuse u ON u.ci = c.ci AND u.member_id = d.member_id
    WHERE d.n = 1 AND coalesce(u.n, 0) >= c.cnt
    GROUP BY d.id
) v
WHERE _nudge_dec.rowid = v.id`); err != nil {
		return err
	}
	// Members with several open sends compete; ord is the order. A late
	// send (lateSQL: it ends expired) is judged but takes no room.
	lateJoin, late := t.lateSQL("d")
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_open AS
SELECT id, member_id, channel, ord, late FROM (
    SELECT d.rowid AS id, d.member_id, d.channel, `+late+` AS late,
           row_number() OVER (PARTITION BY d.member_id ORDER BY d.priority DESC, d.rule, d.due_at NULLS FIRST, d.ri, d.trigger_seq NULLS FIRST, d.action_index) AS ord,
           count(*) OVER (PARTITION BY d.member_id) AS n
    FROM _nudge_dec d`+lateJoin+` WHERE d.action = 'send' AND d.status IS NULL)
WHERE n > 1`); err != nil {
		return err
	}
	for round := 0; ; round++ {
		if round == maxCapRounds {
			return errors.New("caps did not settle")
		}
		n, err := t.exec(ctx, `
UPDATE _nudge_dec SET capped = v.capped, reason = v.reason
FROM (
    SELECT id, bool_or(used >= cnt) AS capped, arg_min(label, ci) FILTER (WHERE used >= cnt) AS reason
    FROM (
        SELECT o.id, c.ci, c.cnt, c.label,
               coalesce(u.n, 0) + coalesce(sum(CASE WHEN d.capped OR o.late THEN 0 ELSE 1 END) OVER (
                   PARTITION BY o.member_id, c.ci ORDER BY o.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS used
        FROM _nudge_open o
        JOIN _nudge_dec d ON d.rowid = o.id
        JOIN _nudge_caps c ON c.channel IS NULL OR c.channel = o.channel
        LEFT JOIN _nudge_capuse u ON u.ci = c.ci AND u.member_id = o.member_id
    )
    GROUP BY id
) v
WHERE _nudge_dec.rowid = v.id AND (_nudge_dec.capped <> v.capped OR _nudge_dec.reason IS DISTINCT FROM v.reason)`)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = `+policy.Capped.SQL()+` WHERE capped`)
	return err
}
