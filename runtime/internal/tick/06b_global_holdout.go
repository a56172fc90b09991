package tick

import "nudge/runtime/policy"

// globalHoldout is the first refusal of a send (policies), before the
// rule's holdout: the member is in the program's global control group
// (`holdout P% of members`, policy.GlobalHeldOutSQL) and the send is
// held_out with the reason "global control group". Without a global
// control group it never holds, nor for a transactional rule's send
// (SPEC §9).
func (t *tick) globalHoldout() refusal {
	if !t.feat.globalHoldout {
		return refusal{policy.HeldOut, "false", "NULL"}
	}
	return refusal{policy.HeldOut, "NOT coalesce(r.transactional, false) AND " + policy.GlobalHeldOutSQL(t.brandSQL(), "f.member_id", t.prog.GlobalHoldout), quoteString(policy.GlobalHoldoutReason)}
}
