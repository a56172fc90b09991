package tick

import (
	"context"
	"fmt"

	"nudge/runtime/policy"
)

// fallbackCaps moves a send that a cap or its budget refused on one
// channel on to the next of its fallback channels that consent allows
// (SPEC §9: each channel in turn goes through consent, budget and caps;
// the first that passes is used), and runs stock and budget (when the
// program has budgets: a channel's cost counts toward them) and caps
// again, until no such send has a channel left to try. A send refused on
// every channel it was tried on is recorded on the first of them with that
// channel's own refusal (SPEC §9); one that no channel's consent allows is
// no_consent on its first channel (consentRefusal).
func (t *tick) fallbackCaps(ctx context.Context) error {
	if (!t.feat.caps && !t.feat.budget) || !t.feat.fallback {
		return nil
	}
	// _nudge_fbfirst: each moved send's first refusal (its decision's
	// rowid, channel, status and reason).
	refused := `status IN (` + policy.SQLList(policy.Capped, policy.OverBudget) + `)`
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_fbfirst (id BIGINT, channel VARCHAR, status VARCHAR, reason VARCHAR)`); err != nil {
		return err
	}
	for round := 0; ; round++ {
		if round > 16 {
			return fmt.Errorf("fallback channels did not settle")
		}
		movable := refused + ` AND len(ok_channels) > coalesce(list_position(ok_channels, channel), len(ok_channels))`
		if _, err := t.exec(ctx, `INSERT INTO _nudge_fbfirst SELECT rowid, channel, status, reason FROM _nudge_dec
WHERE `+movable+` AND rowid NOT IN (SELECT id FROM _nudge_fbfirst)`); err != nil {
			return err
		}
		n, err := t.exec(ctx, `
UPDATE _nudge_dec SET channel = ok_channels[list_position(ok_channels, channel) + 1], status = NULL, capped = false, reason = NULL
WHERE `+movable)
		if err != nil {
			return err
		}
		if n == 0 {
			_, err := t.exec(ctx, `
UPDATE _nudge_dec SET channel = f.channel, status = f.status, reason = f.reason, capped = f.status = `+policy.Capped.SQL()+`
FROM _nudge_fbfirst f
WHERE _nudge_dec.rowid = f.id AND _nudge_dec.`+refused+`;
DROP TABLE _nudge_fbfirst`)
			return err
		}
		if t.feat.budget {
			if err := t.stockAndBudget(ctx); err != nil {
				return err
			}
		}
		if err := t.applyCaps(ctx); err != nil {
			return err
		}
	}
}
