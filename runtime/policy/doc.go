// Package policy is the one home of the policies of SPEC §5 and of the
// statuses they give: what each policy means as SQL (consent, holdout,
// `stop after N unanswered` and its response window, caps, quiet hours,
// limits) and its constants, defined once. The tick (runtime/internal/tick)
// and its replay apply them, the delivery re-check (runtime's dispatch)
// re-applies consent, quiet hours and caps, `nudge why` (runtime/why)
// explains them member by member, and `nudge simulate` and `report` count
// what they decided.
//
// The SQL fragments read the runtime's tables (outbox, members, events,
// rule_members) under the aliases their arguments name. The package must
// not run statements, read the tick's temp tables or hold state: it says
// what a policy means, the tick decides when to apply it. A new policy is
// a new file here with its SQL and its status, and a step of the tick that
// applies it.
package policy
