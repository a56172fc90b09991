package policy

// Holdout (SPEC §5, policy 1): `holdout P%` keeps a member in the rule's
// control group when md5 of the rule's name and the member id, mod 10000,
// is below P*100. The hash reads no brand: it keeps the control groups of
// files written before brands.

// HeldOutSQL is the condition that the member whose id member (SQL) names
// is in the control group of the rule named rule (SQL) with holdout
// percent pct (SQL).
func HeldOutSQL(rule, member, pct string) string {
	return BucketSQL(rule+" || chr(31) || "+member) + " < " + pct + " * 100"
}

// BucketSQL is the holdout bucket of the string s (SQL): md5_number(s) %
// 10000, computed from the hash's two 64-bit halves (hi * 2^64 + lo, and
// 2^64 mod 10000 = 1616), the same value without DuckDB's 128-bit modulo,
// which costs microseconds a row where this costs nanoseconds.
func BucketSQL(s string) string {
	return "((((md5_number(" + s + ") >> 64)::UBIGINT % 10000) * 1616 + (md5_number(" + s + ") & 18446744073709551615)::UBIGINT % 10000) % 10000)"
}

// HeldOutReasonSQL is the reason of a held_out send, for the percentage
// pct (SQL).
func HeldOutReasonSQL(pct string) string { return "'holdout ' || " + pct + " || '%'" }
