package tick

import "nudge/runtime/policy"

// holdout is the first refusal of a send (policies): the member is in the
// rule's control group (policy.HeldOutSQL) and the send is held_out.
func (t *tick) holdout() refusal {
	return refusal{policy.HeldOut, "r.holdout > 0 AND " + policy.HeldOutSQL("f.name", "f.member_id", "r.holdout"), policy.HeldOutReasonSQL("r.holdout")}
}
