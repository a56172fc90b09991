package tick

import (
	"context"

	"nudge/runtime/policy"
)

// transactional settles the open sends of `transactional` rules (SPEC §9)
// before caps and quiet hours, which do not hold them back: pending. They
// do not count toward caps either (10_caps.go reads outbox.transactional),
// and the delivery re-check lets them out in quiet hours. Expiry still
// applies (11_expiry.go).
func (t *tick) transactional(ctx context.Context) error {
	if !t.feat.transactional {
		return nil
	}
	_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = `+policy.Pending.SQL()+` WHERE status IS NULL AND action = 'send' AND transactional`)
	return err
}
