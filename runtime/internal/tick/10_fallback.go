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
// every channel keeps its last channel's refusal.
func (t *tick) fallbackCaps(ctx context.Context) error {
	budgets := t.prog.HasBudgets()
	if (len(t.prog.Caps) == 0 && !budgets) || !t.hasFallback() {
		return nil
	}
	for round := 0; ; round++ {
		if round > 16 {
			return fmt.Errorf("fallback channels did not settle")
		}
		n, err := t.exec(ctx, `
UPDATE _nudge_dec SET channel = ok_channels[list_position(ok_channels, channel) + 1], status = NULL, capped = false, reason = NULL
WHERE status IN (`+policy.SQLList(policy.Capped, policy.OverBudget)+`) AND len(ok_channels) > coalesce(list_position(ok_channels, channel), len(ok_channels))`)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if budgets {
			if err := t.stockAndBudget(ctx); err != nil {
				return err
			}
		}
		if err := t.applyCaps(ctx); err != nil {
			return err
		}
	}
}

// hasFallback reports whether some send of the program has fallback channels.
func (t *tick) hasFallback() bool {
	for _, a := range t.prog.Sends() {
		if len(a.Else) > 0 {
			return true
		}
	}
	return false
}
