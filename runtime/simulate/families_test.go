package simulate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"nudge/runtime/demodata"
)

// TestReplayMatchesTicksFamilies: rounds evaluate a program of rule
// families (a rule per store, runtime/internal/tick/04d_rule_families.go)
// over the lanes as ticks evaluate it over the members: the same days and
// the same database at the end. (That a family decides what its rules
// decide one by one is runtime's TestRuleFamiliesMatchPerRule.)
func TestReplayMatchesTicksFamilies(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a replayed day over a demo database")
	}
	var b strings.Builder
	b.WriteString("brand \"acme\"\nimport \"crm\"\ncap sms to 2 per 1 day\n")
	for _, s := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"} {
		fmt.Fprintf(&b, "rule visit_%s if visited at store %q then send coupon \"%s-V\" via sms\n", s, s, s)
		fmt.Fprintf(&b, "rule regular_%s if count(purchased at store %q in last 365 days) >= 1 then send voucher \"%s-R\" via email\n  limit once per member every 6 hours\n", s, s, s)
	}
	src := demoSource(t, 600, 5)
	compareRoundsAndTicks(t, src, compileProgram(t, b.String()), demodata.DefaultNow.Add(-36*time.Hour), demodata.DefaultNow, time.Hour, 200)
}
