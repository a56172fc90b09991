package tick

import "nudge/runtime/policy"

// consentRefusal is the second refusal of a send (policies): the member m
// may be sent on none of the action's channels (the channel and its
// fallbacks, SPEC §9): consent_<channel>, overridden by the member's latest
// opt-in or opt-out event (policy.ConsentOnSQL; a transactional send
// ignores consent_<channel> but not an opt-out), and the send is
// no_consent with the first channel's refusal. The delivery re-check (the
// runtime's dispatch) applies consent again before the send goes out.
func (t *tick) consentRefusal() refusal {
	reason := "CASE WHEN o.chans[a.channel] = false THEN 'unsubscribed from ' || a.channel ELSE " + policy.NoConsentReasonSQL("a.channel") + " END"
	return refusal{policy.NoConsent, "len(" + t.consentingSQL() + ") = 0", reason}
}

// consentingSQL is the list of the action a's channels the member m may
// be sent on at the decision (policy.ConsentingSQL), with the opt-outs o
// of the optOuts CTE and the rule r's transactional.
func (t *tick) consentingSQL() string {
	return policy.ConsentingSQL(t.consent, "a.channels", "o.chans", "r.transactional")
}

// channelSQL is the channel a decision records: of a send, the first of
// its channels consent allows (a fallback's, SPEC §9), else its first
// channel; caps may move it on to a later one (10_caps.go, fallbackCaps).
func (t *tick) channelSQL() string {
	return "CASE WHEN a.verb = 'send' THEN coalesce(" + t.consentingSQL() + "[1], a.channel) ELSE a.channel END"
}

// optOuts selects the latest opt-in or opt-out per channel of each member
// a rule fired for, at the instant it fired (policy.OptOutsSQL). When
// there are many firings, only those of members with such events are made
// distinct (policy.OptOutsAmongSQL): few members have any, and a first
// evaluation fires for most of the base. A few firings are joined with
// those events as they are: the join reads only their members' events,
// where finding the members with any reads every opt-in and opt-out of the
// brand.
func (t *tick) optOuts() string {
	if t.firings <= fewFirings {
		return policy.OptOutsSQL(`(SELECT DISTINCT member_id, now FROM _nudge_fire)`, t.brandSQL())
	}
	return policy.OptOutsAmongSQL("_nudge_fire", t.brandSQL())
}

// fewFirings is the most firings optOuts joins with the opt-ins and
// opt-outs without first finding the members that have any.
const fewFirings = 10_000

// expiresAtSQL is the last instant a send of the firing f of rule r may go
// out (SPEC §9 `expire after`): its due time (a state rule's: the tick)
// plus the rule's expiry; NULL when the rule has none.
const expiresAtSQL = "CASE WHEN r.expire_us > 0 THEN coalesce(f.due_at, f.now) + to_microseconds(r.expire_us) END"
