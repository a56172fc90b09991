package policy

// Holdout (SPEC §5, policy 1): `holdout P%` keeps a member in the rule's
// control group when md5 of the rule's name and the member id, mod 10000,
// is below P*100. The hash reads no brand: it keeps the control groups of
// files written before brands.

// HeldOutSQL is the condition that the member whose id member (SQL) names
// is in the control group of the rule named rule (SQL) with holdout
// percent pct (SQL).
func HeldOutSQL(rule, member, pct string) string {
	return "md5_number(" + rule + " || chr(31) || " + member + ") % 10000 < " + pct + " * 100"
}

// HeldOutReasonSQL is the reason of a held_out send, for the percentage
// pct (SQL).
func HeldOutReasonSQL(pct string) string { return "'holdout ' || " + pct + " || '%'" }
