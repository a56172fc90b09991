package why

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// optOuts reads the members' latest opt-in or opt-out per channel at now
// (policy.OptOutsSQL): member \x00 channel -> true (subscribed) or false
// (unsubscribed).
func optOuts(ctx context.Context, q queryer, brand string, now time.Time, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := scan(ctx, q, `SELECT member_id, unnest(map_keys(chans)), unnest(map_values(chans)) FROM (`+
		policy.OptOutsSQL("(SELECT unnest($ids::VARCHAR[]) AS member_id, $now::TIMESTAMP AS now)", "$brand::VARCHAR")+`)`,
		[]any{sql.Named("ids", ids), sql.Named("now", now), sql.Named("brand", brand)}, func(r *sql.Rows) error {
			var id, ch string
			var sub bool
			if err := r.Scan(&id, &ch, &sub); err != nil {
				return err
			}
			out[id+"\x00"+ch] = sub
			return nil
		})
	return out, err
}

// deliveryPolicies are the consent lines of rule r's sends for member
// (each channel of a fallback in turn, with the opt-outs and a service
// message's exemption, policy.ConsentOnSQL), which channel a fallback
// takes and why the ones before it are not, and the rule's `expire
// after` and `transactional`.
func deliveryPolicies(r *compiler.Rule, sends []compiler.Action, member string, consent map[string]string, optouts map[string]bool) []Policy {
	var ps []Policy
	if r.Transactional {
		ps = append(ps, Policy{"transactional", true, "transactional: a service message, no consent_<channel>, caps or quiet hours (an opt-out still refuses it)"})
	}
	allows := func(ch string) (bool, string) {
		if sub, ok := optouts[member+"\x00"+ch]; ok {
			if sub {
				return true, "subscribed to " + ch + " (latest opt-in event)"
			}
			return false, "unsubscribed from " + ch + " (latest opt-out event)"
		}
		v, ok := consent[member+"\x00"+ch]
		if !ok {
			v = "null"
		}
		if r.Transactional {
			return true, fmt.Sprintf("consent_%s = %s (not needed: transactional)", ch, v)
		}
		return v == "true", fmt.Sprintf("consent_%s = %s", ch, v)
	}
	seen := map[string]bool{}
	for _, a := range sends {
		chans := a.Channels()
		for _, ch := range chans {
			if seen[ch] {
				continue
			}
			seen[ch] = true
			ok, text := allows(ch)
			ps = append(ps, Policy{"consent", ok, text})
		}
		if len(chans) < 2 {
			continue
		}
		var refused []string
		taken := ""
		for _, ch := range chans {
			if ok, text := allows(ch); ok {
				taken = ch
				break
			} else {
				refused = append(refused, ch+": "+text)
			}
		}
		text := "fallback " + strings.Join(chans, " else ") + ": "
		switch {
		case taken == "":
			text += "no channel has consent (recorded on " + chans[0] + ")"
		case len(refused) == 0:
			text += taken + " taken (caps may move it on to the next channel with consent)"
		default:
			text += taken + " taken; not " + strings.Join(refused, "; ")
		}
		ps = append(ps, Policy{"fallback", taken != "", text})
	}
	if r.Expire > 0 {
		ps = append(ps, Policy{"expiry", true, "expire after " + policy.FmtDuration(r.Expire) + ": a send not dispatched by its due time plus " + policy.FmtDuration(r.Expire) + " ends expired"})
	}
	return ps
}
