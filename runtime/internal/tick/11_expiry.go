package tick

import (
	"context"
	"fmt"
	"strings"

	"nudge/runtime/policy"
)

// expiry ends a send expired (SPEC §9 `expire after`) when it could not go
// out by its deadline (expires_at: due time plus the duration, inclusive):
// decided after it (a late event, a trigger due long ago), or deferred
// past it by quiet hours. The dispatch re-check (17_dispatch.go) expires
// the sends still waiting at the deadline.
func (t *tick) expiry(ctx context.Context) error {
	if !t.feat.expire {
		return nil // no send has an expires_at
	}
	_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = `+policy.Expired.SQL()+`,
    reason = 'expired at ' || strftime(expires_at, '%Y-%m-%d %H:%M:%S') || CASE WHEN status = `+policy.Scheduled.SQL()+` THEN ' before quiet hours end' ELSE ' before the decision' END
WHERE action = 'send' AND expires_at IS NOT NULL AND status IN (`+policy.SQLList(policy.Pending, policy.Scheduled)+`)
  AND coalesce(scheduled_at, now) > expires_at`)
	return err
}

// lateSQL is the condition that the open send d (a row of _nudge_dec) ends
// expired at this tick whatever stock, budget and caps say (11_expiry.go's
// expiry decides it from the same facts): its deadline passed before the
// decision, or the quiet hours of its channel hold it past the deadline (a
// transactional send is not held). Stock, budget and caps still judge such
// a send, since their refusals come first (SPEC §9's order), but it takes
// no share of them: only sends recorded pending, scheduled or sent count
// (SPEC §9), and it is recorded expired. join is the clause to put after
// the table aliased d for cond to read the quiet hours' ends ("" when
// none); without expiry in the program, cond is false.
func (t *tick) lateSQL(d string) (join, cond string) {
	if !t.feat.expire {
		return "", "false"
	}
	var rows []string
	for _, s := range t.channelSettles() {
		if s.scheduled {
			rows = append(rows, fmt.Sprintf("(%s, %s, %s)", timestampSQL(s.now), quoteString(s.channel), timestampSQL(s.end)))
		}
	}
	out := d + ".now"
	if len(rows) > 0 {
		join = " LEFT JOIN (VALUES " + strings.Join(rows, ", ") + ") _late_q(now, channel, out_at) ON _late_q.now = " + d + ".now AND _late_q.channel = " + d + ".channel"
		out = "CASE WHEN " + d + ".transactional THEN " + d + ".now ELSE coalesce(_late_q.out_at, " + d + ".now) END"
	}
	return join, "coalesce(" + out + " > " + d + ".expires_at, false)"
}
