// Package runtime owns everything that touches the database file at run time:
// opening it (versioned migrations, the process lock), importing members and
// events, evaluating compiled rules at ticks, applying the policies of SPEC §5
// (limits, dedupe, holdout, consent, stop-after, caps, quiet hours), writing
// the outbox, and dispatching sends to sinks.
//
// A tick is one transaction. Rules are evaluated set-based: each rule's query
// (compiler.Rule.SQL) feeds an INSERT ... SELECT into a per-tick candidate
// table, and every policy is a SQL statement over that table; Go never loops
// over members. Dispatch runs after the commit and is at-least-once: every
// send carries an idempotency key so a receiver can make it exactly-once.
//
// Times are naive wall-clock times in the data's zone (SPEC §5). The package
// represents them as time.Time values in UTC whose wall clock is the naive
// time; Run normalises RunOptions.Now the same way.
package runtime
