package tick

import (
	"context"
	"fmt"
)

// fallbackCaps moves a send that a cap refused on one channel on to the
// next of its fallback channels that consent allows (SPEC §9: each channel
// in turn goes through consent and caps; the first that passes is used),
// and runs caps again, until no capped send has a channel left to try. A
// send capped on every channel keeps its first capped channel's refusal
// (recorded on the channel it was first capped on).
func (t *tick) fallbackCaps(ctx context.Context) error {
	if len(t.prog.Caps) == 0 || !t.hasFallback() {
		return nil
	}
	for round := 0; ; round++ {
		if round > 16 {
			return fmt.Errorf("fallback channels did not settle")
		}
		n, err := t.exec(ctx, `
UPDATE _nudge_dec SET channel = ok_channels[list_position(ok_channels, channel) + 1], status = NULL, capped = false, reason = NULL
WHERE status = 'capped' AND len(ok_channels) > coalesce(list_position(ok_channels, channel), len(ok_channels))`)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := t.applyCaps(ctx); err != nil {
			return err
		}
	}
}

// hasFallback reports whether some send of the program has fallback channels.
func (t *tick) hasFallback() bool {
	for _, r := range t.prog.Rules {
		for _, a := range r.Actions {
			if len(a.Else) > 0 {
				return true
			}
		}
	}
	return false
}
