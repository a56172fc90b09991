package parser

import (
	"fmt"
	"strings"
	"testing"

	"nudge/lang/diag"
)

func writeMessage(b *strings.Builder, kind, src string, d diag.List) {
	fmt.Fprintf(b, "%s %q\n", kind, src)
	if len(d) == 0 {
		b.WriteString("  ok\n")
		return
	}
	fmt.Fprintf(b, "  %s: %s\n", d[0].Span.Start, d[0].Message)
}

// TestMessages records the first diagnostic for many small invalid inputs
// (conditions as typed at the REPL, then declarations) in
// testdata/messages.golden, so changes in wording are reviewed.
func TestMessages(t *testing.T) {
	var b strings.Builder
	for _, src := range []string{
		"visited in last", "member.", "a and", "count(", "count(purchased", "sum(purchased.amount in last 3)",
		"a between 1", "a in (", "a in ()", "a is", "not", "(a", "a)", "days since purchased", "tagged vip",
		"purchased at least times", "purchased exactly 3", "a = ", "f(1,", "x not followed by", "x not followed by y",
		"x not followed by y within", "member.city = 长沙", "a b", "purchased where", "1 +", "a >= >= b", "rule x",
		"purchased at store", "purchased at store \"A\" at", "visited in last 3 days ever",
	} {
		_, d := ParseCondition("repl", []byte(src))
		writeMessage(&b, "cond", src, d)
	}
	for _, src := range []string{
		"rule r if a then send coupon \"x\" via sms and",
		"rule r if a then send coupon \"x\" via sms priority",
		"rule r if a then send coupon \"x\" via sms holdout 5",
		"rule r if a then send coupon \"x\" via sms stop after 3",
		"rule r if a then send coupon \"x\" via sms limit once",
		"rule r if a then send coupon \"x\" via sms limit once per member every 3",
		"rule r if a then send coupon \"x\" via sms limit twice",
		"rule r \"t\" \"u\" if a then tag \"x\"",
		"rule r if a then tag x",
		"rule r if a then send \"x\" via sms",
		"rule r if a",
		"rule r then tag \"x\"",
		"rule",
		"segment",
		"segment s",
		"segment s =",
		"cap",
		"cap sms",
		"cap sms to 1",
		"cap sms to 1 per",
		"quiet hours 22:00",
		"quiet 22:00 to 08:00",
		"event e",
		"event e {",
		"event e { a }",
		"event { a text }",
		"member { a text b }",
		"brand acme",
		"import crm",
		"brand",
	} {
		_, d := ParseFile("f", []byte(src))
		writeMessage(&b, "file", src, d)
	}
	checkGolden(t, "testdata/messages.golden", []byte(b.String()))
}
