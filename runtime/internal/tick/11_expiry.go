package tick

import (
	"context"

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
