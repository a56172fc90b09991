package tick

import "nudge/runtime/policy"

// consentRefusal is the second refusal of a send (policies): the member m
// has no consent for the action's channel (policy.ConsentSQL) and the send
// is no_consent. The delivery re-check (the runtime's dispatch) applies
// consent again before the send goes out.
func (t *tick) consentRefusal() refusal {
	return refusal{policy.NoConsent, "(" + policy.ConsentSQL(t.consent, "a.channel") + ") IS NOT TRUE", policy.NoConsentReasonSQL("a.channel")}
}
