package tick

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// The tick's last step runs after its transaction committed: the runtime's
// dispatch (runtime/dispatch.go) hands the due messages to the sinks, each
// sink each message once, within the caps per sink. Before it delivers
// anything it runs the delivery re-check below.

// Recheck is the delivery re-check of SPEC §5 and §9, the one place it
// lives: every dispatch runs it over the brand's due sends (pending, or
// scheduled with scheduled_at <= now) before delivering any. In order:
//
//   - consent: a send whose member's consent_<channel> is not true at now
//     (withdrawn since the decision; a member no longer in members has
//     none) ends no_consent, final, with the reason "consent_<channel>
//     withdrawn before delivery". It is not re-routed and the firing keeps
//     its use of the rule's limit: the member said no after it fired.
//   - opt-outs and service messages: consent above is the member's latest
//     opt-in or opt-out on the channel at now, else consent_<channel>; a
//     transactional send needs no consent_<channel> but is refused by an
//     opt-out (reason "unsubscribed from <channel> before delivery").
//   - expiry: a send still due after its expires_at (`expire after`, SPEC
//     §9; still failing at the deadline, or held past it) ends expired.
//   - quiet hours: when now falls in quiet hours no send goes out (hold):
//     the due sends keep their status and go at the first dispatch after
//     the quiet period, however late the run; transactional sends go. Their rows are left as they
//     are, so that the outbox does not depend on when dispatches ran (a
//     crash that skips one changes nothing but delivery times).
//
// Caps are re-checked per sink as the sends are offered (the runtime's capRoom).
// memberCols are the columns of members. runs are the runs whose due sends
// the dispatch offers (the outbox rows of other runs are left as they are).
// Recheck returns how many sends it refused, whether sends are held and
// how many due sends wait for that reason.
func Recheck(ctx context.Context, q queryer, brand string, now time.Time, memberCols []string, quiet []compiler.Quiet, runs RunRange) (refused int, hold bool, waiting int, err error) {
	chans := policy.ConsentChannels(memberCols)
	consent := policy.ConsentOnSQL(chans, "d.channel", "o.chans", "d.transactional")
	due := `(SELECT rowid AS id, member_id, channel, coalesce(transactional, false) AS transactional, $now::TIMESTAMP AS now FROM outbox
    WHERE brand = $brand::VARCHAR AND ` + runs.SQL() + ` AND ` + DueSendSQL + `)`
	r, err := q.ExecContext(ctx, `
UPDATE outbox SET status = `+policy.NoConsent.SQL()+`,
    reason = CASE WHEN v.optout IS NOT NULL THEN `+policy.UnsubscribedReasonSQL("outbox.channel")+` ELSE `+policy.WithdrawnReasonSQL("outbox.channel")+` END
FROM (
    SELECT d.id, o.chans[d.channel] AS optout
    FROM `+due+` d
    LEFT JOIN members m ON m.brand = $brand::VARCHAR AND m.member_id = d.member_id
    LEFT JOIN (`+policy.OptOutsSQL("(SELECT DISTINCT member_id, now FROM "+due+")", "$brand::VARCHAR")+`) o ON o.member_id = d.member_id
    WHERE (`+consent+`) IS NOT TRUE
) v
WHERE outbox.rowid = v.id`,
		sql.Named("brand", brand), sql.Named("now", now))
	if err != nil {
		return 0, false, 0, fmt.Errorf("re-checking consent: %w", err)
	}
	n, _ := r.RowsAffected()
	refused = int(n)
	r, err = q.ExecContext(ctx, `
UPDATE outbox SET status = `+policy.Expired.SQL()+`, reason = 'expired at ' || strftime(expires_at, '%Y-%m-%d %H:%M:%S') || ' before delivery'
WHERE brand = $brand::VARCHAR AND `+runs.SQL()+` AND `+DueSendSQL+` AND expires_at < $now::TIMESTAMP`, sql.Named("brand", brand), sql.Named("now", now))
	if err != nil {
		return 0, false, 0, fmt.Errorf("re-checking expiry: %w", err)
	}
	n, _ = r.RowsAffected()
	refused += int(n)
	// With quiet hours for one channel, the runtime's dispatch holds back
	// each send by its channel's quiet hours (policy.QuietFor) instead.
	if _, _, hold = policy.QuietEnd(now, quiet); hold && !policy.QuietPerChannel(quiet) {
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE brand = $brand::VARCHAR AND `+runs.SQL()+` AND transactional IS NOT TRUE AND `+DueSendSQL,
			sql.Named("brand", brand), sql.Named("now", now)).Scan(&waiting); err != nil {
			return 0, false, 0, err
		}
	} else {
		hold = false
	}
	return refused, hold, waiting, nil
}

// RunRange is the outbox rows of the runs From to To (both included; the
// run ids of the run log): a dispatch round's due sends are those of the
// runs it looked at.
type RunRange struct{ From, To int64 }

// AllRuns is every run (run ids start at 1).
var AllRuns = RunRange{From: 0, To: math.MaxInt64}

// SQL is the condition that an outbox row is in r. The bounds are
// literals, so that DuckDB skips the outbox's row groups outside them (the
// rows are appended in run order).
func (r RunRange) SQL() string {
	return fmt.Sprintf("run_id BETWEEN %d AND %d", r.From, r.To)
}

// DueSendSQL is the condition that an outbox row is a send due at $now.
const DueSendSQL = `action = 'send' AND ` + DueSQL

// DueSQL is the condition that an outbox row waits for delivery at $now:
// pending, or scheduled for then or earlier.
const DueSQL = `(status = ` + pendingSQL + ` OR (status = ` + scheduledSQL + ` AND scheduled_at <= $now::TIMESTAMP))`

// pendingSQL and scheduledSQL are policy.Pending and policy.Scheduled as
// SQL literals (constants, for DueSQL).
const (
	pendingSQL   = "'" + string(policy.Pending) + "'"
	scheduledSQL = "'" + string(policy.Scheduled) + "'"
)
