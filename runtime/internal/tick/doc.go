// Package tick is the tick of SPEC §5, step by step: one file per step,
// named in the order the steps run, each step one or a few set-based SQL
// statements over the tick's temp tables in the tick's transaction. The
// runtime (package runtime) opens the transaction, makes a Tick (New) and
// calls Run, then commits and dispatches; a replay (replay.go) runs the
// same policy steps, from limits to tags, over the candidates of many
// ticks at once.
//
//	00_arrivals.go     events that waited for their member get new seqs
//	01_setup.go        the program's rules, actions and caps as tables
//	02_plan.go         per rule: incremental or full, watermarks, retry tables
//	03_scope.go        the members to re-evaluate, and copies of their rows
//	04_evaluate.go     every rule's query into _nudge_cand (stratum by stratum)
//	05_limits.go       limits (before evaluation) and dedupe: the firings
//	06_decide.go       one decision per action; the refusals of 07-09
//	07_holdout.go      held_out
//	08_consent.go      no_consent
//	09_unanswered.go   gave_up (stop after N unanswered)
//	10_caps.go         capped (a set-based greedy fixed point)
//	11_quiet.go        scheduled (quiet hours) or pending
//	12_refusals.go     repeated refusals are not recorded again
//	13_outbox.go       the outbox rows and rule_members
//	14_tags.go         member_tags
//	15_watermarks.go   rule_state and rule_evals
//	16_runlog.go       the runs row and the summaries
//	17_dispatch.go     after the commit: the delivery re-check (consent,
//	                   quiet hours) before the runtime's dispatch
//	                   (runtime/dispatch.go) hands due messages to sinks
//
// After dispatch the runtime may cluster the events (runtime/cluster.go).
//
// What each policy means (its SQL, its constants, its status) lives in
// package policy, which `nudge why` and `nudge simulate` use too. A new
// policy is a file there and a step file here, listed in Run (tick.go)
// or, for a refusal of a send, in refusals (06_decide.go).
//
// The package must not open, commit or roll back the transaction, deliver
// to sinks, or define what a policy means (package policy does); it works
// in the transaction it is given, through temp tables it drops before the
// commit (DropTemps).
//
// A tick's Mode says how it evaluates: incrementally (the zero Mode, see
// 02_plan.go), Full, PerRule (to name the rule whose query failed), or
// Lanes (a replay's round).
package tick
