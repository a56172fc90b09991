package tick

import (
	"testing"

	"nudge/internal/tickform"
)

// TestScopeCopySince: a type of a scope's copy is bounded only when every
// form that reads it reads it after a bound at now, and then by the
// earliest of their bounds.
func TestScopeCopySince(t *testing.T) {
	const month, year = "$now::TIMESTAMP - INTERVAL 3 MONTH", "$now::TIMESTAMP - INTERVAL 365 DAY"
	var c scopeCopy
	c.addReads(tickform.Forms{ScopeEventReads: map[string][]string{"visited": nil, "purchased": {"amount"}, "paid": nil},
		ScopeEventsSince: map[string]string{"visited": month, "purchased": year, "paid": year}}, "")
	c.addReads(tickform.Forms{ScopeEventReads: map[string][]string{"visited": nil, "purchased": nil},
		ScopeEventsSince: map[string]string{"visited": year}}, "") // purchased without a bound (days since last)
	c.addReads(tickform.Forms{ScopeEventReads: map[string][]string{"visited": nil}, ScopeEventsSince: map[string]string{"visited": month}}, "")
	// After the candidates: bounded when their earliest ts is known.
	c.addReads(tickform.Forms{ScopeEventReads: map[string][]string{"paid": {"order_id"}},
		ScopeEventsSince: map[string]string{"paid": tickform.CandidatesFrom}}, "TIMESTAMP '2024-11-01 00:00:00'")
	c.addReads(tickform.Forms{ScopeEventReads: map[string][]string{"booked": nil},
		ScopeEventsSince: map[string]string{"booked": tickform.CandidatesFrom}}, "")
	for e, want := range map[string]string{
		"visited":   " AND ts > least(" + month + ", " + year + ")",
		"purchased": "",
		"paid":      " AND ts > least(" + year + ", TIMESTAMP '2024-11-01 00:00:00')",
		"booked":    "",
		"queued":    "", // not read: never bounded
	} {
		if got := c.sinceSQL(e); got != want {
			t.Errorf("%s: %q, want %q", e, got, want)
		}
	}
	if got := c.reads["purchased"]; len(got) != 1 || got[0] != "amount" {
		t.Errorf("purchased columns %v, want [amount]", got)
	}
}
