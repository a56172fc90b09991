package policy

import (
	"fmt"
	"strings"

	"nudge/compiler"
	"nudge/internal/sqlquote"
)

// Consent (SPEC §5, policy 2): a send needs members.consent_<channel> to be
// true. A channel the members table has no consent column for has no
// consent. The tick refuses such a send no_consent; the delivery re-check
// refuses a due send whose consent was withdrawn since.

// ConsentChannels lists the channels the members table has a
// consent_<CH> column for, in column order, given its column names.
func ConsentChannels(memberCols []string) []string {
	var chans []string
	for _, c := range memberCols {
		if ch, ok := strings.CutPrefix(c, "consent_"); ok {
			chans = append(chans, ch)
		}
	}
	return chans
}

// ConsentSQL is a member m's consent for the channel that channelCol
// names: m.consent_<CH> for a channel of chans, NULL for any other (no
// consent column, so no consent). A send may go out when it IS TRUE.
func ConsentSQL(chans []string, channelCol string) string {
	if len(chans) == 0 {
		return "NULL"
	}
	var whens []string
	for _, ch := range chans {
		whens = append(whens, fmt.Sprintf("WHEN %s THEN m.%s", sqlquote.Checked(ch), sqlquote.CheckedIdent("consent_"+ch)))
	}
	return "CASE " + channelCol + " " + strings.Join(whens, " ") + " END"
}

// NoConsentReasonSQL is the reason of a no_consent send at the tick, for
// the channel channelCol names.
func NoConsentReasonSQL(channelCol string) string { return "'no consent_' || " + channelCol }

// WithdrawnReasonSQL is the reason of a send the delivery re-check refused
// for the channel channelCol names.
func WithdrawnReasonSQL(channelCol string) string {
	return "'consent_' || coalesce(" + channelCol + ", '') || ' withdrawn before delivery'"
}

// NoConsentOnAnySQL returns a condition on members m that holds when the
// member has consent on none of the channels rule r sends on ("" when r
// sends nothing): a refusal of r for want of consent would be refused
// again. chans are the consent channels (ConsentChannels).
func NoConsentOnAnySQL(chans []string, r *compiler.Rule) string {
	has := map[string]bool{}
	for _, c := range chans {
		has[c] = true
	}
	var conds []string
	seen := map[string]bool{}
	for _, a := range r.Actions {
		if a.Verb != "send" {
			continue
		}
		if r.Transactional {
			return "" // consent_<channel> does not hold a service message back
		}
		for _, ch := range a.Channels() {
			if seen[ch] {
				continue
			}
			seen[ch] = true
			if has[ch] {
				conds = append(conds, fmt.Sprintf("m.%s IS NOT TRUE", sqlquote.CheckedIdent("consent_"+ch)))
			}
		}
	}
	if len(seen) == 0 {
		return ""
	}
	if len(conds) == 0 {
		return "true"
	}
	return "(" + strings.Join(conds, " AND ") + ")"
}
