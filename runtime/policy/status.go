package policy

import "strings"

// Status is the status of a decision (an outbox row), SPEC §7. Decision
// and summary types keep it as a plain string in their fields (their JSON
// and map forms); its values are these.
type Status string

// The statuses.
const (
	Pending   Status = "pending"    // waits for dispatch (new, or retried after a failed attempt)
	Scheduled Status = "scheduled"  // waits for the end of quiet hours
	Sent      Status = "sent"       // every sink it goes to has it
	Failed    Status = "failed"     // its last delivery attempt failed: final
	HeldOut   Status = "held_out"   // in the rule's control group (holdout)
	NoConsent Status = "no_consent" // the member has no consent for the channel
	Capped    Status = "capped"     // a cap on the channel is full
	GaveUp    Status = "gave_up"    // stop after N unanswered sends
	Applied   Status = "applied"    // a tag or untag, applied at the tick
	Expired   Status = "expired"    // not dispatched by its due time + `expire after` (SPEC §9)
)

// The statuses of the money policies (SPEC §9, money.go).
const (
	OverBudget Status = "over_budget"  // the rule's budget for the period is spent
	OutOfStock Status = "out_of_stock" // the content's stock is used up
)

// Statuses is every status, in the order of SPEC §7, the order in which
// summaries and reports list them.
var Statuses = []Status{Pending, Scheduled, Sent, Failed, HeldOut, NoConsent, Capped, GaveUp, Applied, OverBudget, OutOfStock, Expired}

// Refusals are the statuses a tick's policies refuse a send with, in the
// order the tick applies them (a send gets the first that holds): holdout
// (the global control group's, then the rule's), consent, unanswered,
// stock, budget, caps.
var Refusals = []Status{HeldOut, NoConsent, GaveUp, OutOfStock, OverBudget, Capped}

// Counted are the statuses of the sends that count toward caps and toward
// `stop after N unanswered`: decided to go out, and not failed.
var Counted = []Status{Pending, Scheduled, Sent}

// Ineffective are the statuses of the refusals that do not use up a rule's
// limit (a firing whose sends all have one of them is not effective; see
// the runtime's repeated refusals).
var Ineffective = []Status{Capped, NoConsent, OverBudget, OutOfStock}

// Valid reports whether s is a status.
func Valid(s string) bool {
	for _, x := range Statuses {
		if string(x) == s {
			return true
		}
	}
	return false
}

// SQL is s as a SQL string literal.
func (s Status) SQL() string { return "'" + string(s) + "'" }

// Literals are the statuses as SQL literals.
func Literals(ss ...Status) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = s.SQL()
	}
	return q
}

// SQLList is the statuses as a list of SQL literals, for IN (...).
func SQLList(ss ...Status) string { return strings.Join(Literals(ss...), ", ") }

// CountedSQL is the list of Counted for IN (...).
var CountedSQL = SQLList(Counted...)
