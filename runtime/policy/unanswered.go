package policy

import (
	"database/sql"
	"strings"
	"time"

	"nudge/internal/sqlquote"
)

// Unanswered sends (SPEC §5, policy 4): `stop after N unanswered` gives up
// on a member after N of the rule's sends in a row got no response.

// ResponseWindow is how long after a send any event of the member counts
// as a response (`stop after N unanswered`).
const ResponseWindow = 7 * 24 * time.Hour

// AnswerWindowSQL is the start of the response window of the send o (an
// outbox alias): when it was scheduled for, else when it fired.
func AnswerWindowSQL(o string) string { return "coalesce(" + o + ".scheduled_at, " + o + ".fired_at)" }

// ClosedResponseSQL is the condition that o is a counted send whose
// response window ($resp long, ResponseArg) closed by the instant at (SQL).
func ClosedResponseSQL(o, at string) string {
	return o + ".action = 'send' AND " + o + ".status IN (" + CountedSQL + ") AND " + o + ".fired_at <= " + at +
		" - to_microseconds($resp::BIGINT) AND " + AnswerWindowSQL(o) + " <= " + at + " - to_microseconds($resp::BIGINT)"
}

// ResponseArg binds $resp, the response window in microseconds.
func ResponseArg() sql.NamedArg { return sql.Named("resp", ResponseWindow.Microseconds()) }

// StopAfterSQL is `stop after N unanswered` as one query, shared by the
// tick's policies and by `nudge why`. pairs is a query of (ri INTEGER, rule
// VARCHAR, member_id VARCHAR, now TIMESTAMP): a rule that stops after
// unanswered sends, a member it fires for and the instant it fires at. The
// result has per pair's (ri, member_id):
//
//   - n, the rule's unanswered sends to the member since the member's last
//     event (the latest with ts <= now): sends (status Counted, one per
//     firing) whose response window, ResponseWindow from
//     coalesce(scheduled_at, fired_at), closed by now and started at or
//     after that event. Any event in the window would be that last event
//     or later, so such a send got no response; and a later event starts
//     the count again, so the sends counted are the consecutive
//     unanswered ones. The rule gives up when n reaches N;
//   - again, whether the rule already gave up on the member (a gave_up
//     send fired at or after that last event): the give-up is recorded
//     once, and further firings while the member stays silent are not
//     recorded (see the tick's repeated refusals).
//
// events is the table the member's events are read from; rules lists the
// stopping rules (literals: a table filter on the outbox's rule, applied
// before its member ids are read). Its parameters are StopAfterArgs'.
func StopAfterSQL(pairs, events string, rules []string) string {
	q := make([]string, len(rules))
	for i, r := range rules {
		q[i] = sqlquote.Checked(r)
	}
	return `
    WITH p AS (` + pairs + `),
    sends AS (
        SELECT p.ri, p.member_id, p.now, o.firing_id, o.status, coalesce(o.scheduled_at, o.fired_at) AS at, o.fired_at
        FROM p JOIN outbox o ON o.rule = p.rule AND o.member_id = p.member_id AND o.rule IN (` + strings.Join(q, ", ") + `)
                             AND o.fired_at <= $hi::TIMESTAMP AND o.fired_at <= p.now
        WHERE o.brand = $brand::VARCHAR AND o.action = 'send' AND o.status IN (` + SQLList(append(Counted, GaveUp)...) + `)
    ),
    last AS (
        SELECT s.member_id, s.now, max(e.ts) AS ts
        FROM (SELECT DISTINCT member_id, now FROM sends) s
        JOIN ` + events + ` e ON e.member_id = s.member_id AND e.ts <= s.now
        WHERE e.brand = $brand::VARCHAR
        GROUP BY s.member_id, s.now
    )
    SELECT s.ri, s.member_id,
           count(DISTINCT s.firing_id) FILTER (WHERE s.status <> ` + GaveUp.SQL() + ` AND s.at + to_microseconds($resp::BIGINT) <= s.now
                                                 AND (l.ts IS NULL OR s.at >= l.ts)) AS n,
           coalesce(bool_or(s.status = ` + GaveUp.SQL() + ` AND (l.ts IS NULL OR s.fired_at >= l.ts)), false) AS again
    FROM sends s LEFT JOIN last l ON l.member_id = s.member_id AND l.now = s.now
    GROUP BY s.ri, s.member_id`
}

// StopAfterArgs are the parameters of StopAfterSQL: the brand and the
// latest instant of the pairs.
func StopAfterArgs(brand string, hi time.Time) []any {
	return []any{sql.Named("brand", brand), ResponseArg(), sql.Named("hi", hi)}
}

// GaveUpReasonSQL is the reason of a gave_up send with n (SQL) unanswered
// sends.
func GaveUpReasonSQL(n string) string { return n + " || ' unanswered sends'" }
