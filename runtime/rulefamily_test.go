package runtime

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// familiesSource is a program of rule families (internal/tick/
// 04d_rule_families.go): each shape written once per store (stores of the
// demo data, and one no event names), as a chain writes a rule per store.
// The shapes cover trigger rules with a condition on the event, state
// rules over a window, an absence, a rule with a limit and a member field
// that varies with the store.
func familiesSource() string {
	var b strings.Builder
	b.WriteString("brand \"acme\"\nimport \"crm\"\n")
	for _, s := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "Z"} {
		fmt.Fprintf(&b, "rule queued_%s if queued at store %q then send coupon \"%s-10OFF\" via sms\n", s, s, s)
		fmt.Fprintf(&b, "rule spent_%s if purchased at store %q where amount > 150 then send coupon \"%s-VIP\" via sms\n", s, s, s)
		fmt.Fprintf(&b, "rule visited_%s if visited at store %q in last 2 days then send coupon \"%s-BACK\" via email\n  limit once per member every 1 day\n", s, s, s)
		fmt.Fprintf(&b, "rule lapsed_%s if purchased at store %q in last 400 days and not purchased at store %q in last 3 days then send reminder \"%s-MISS\" via sms\n", s, s, s, s)
		fmt.Fprintf(&b, "rule booked_%s if booked at store %q and member.tier != %q then tag \"booked_%s\"\n", s, s, "gold", s)
	}
	return b.String()
}

// TestRuleFamiliesMatchPerRule: a program of rule families decides exactly
// what it decides when every rule is evaluated in a statement of its own,
// through the random history of TestIncrementalMatchesFull; and its ticks
// did evaluate families.
func TestRuleFamiliesMatchPerRule(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	if testing.Short() {
		t.Skip("long: many ticks over a demo database")
	}
	prog := compileSource(t, familiesSource())
	var families atomic.Int64
	steps := []time.Duration{10 * time.Minute, time.Hour, 3 * time.Hour, 14 * time.Hour, 24 * time.Hour}
	differential(t, prog, steps, 10, func(first, second *DB) {
		first.onStatement = func(q string, _ time.Duration) {
			if strings.Contains(q, "_nudge_family") {
				families.Add(1)
			}
		}
		second.perRule = true
	}, RunOptions{})
	if families.Load() == 0 {
		t.Error("no tick evaluated a rule family: the test proves nothing")
	}
}
