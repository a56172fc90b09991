package runtimetest

import (
	_ "embed"
	"strings"
)

// UnpaidJourney is SPEC §8's unpaid-order journey, the file
// testdata/unpaid.nudge: `import "crm"`, a blank line, then on line 3 the
// journey unpaid (enter on an order of 50 or more, exit when the order is
// paid, a reminder after 30 minutes, then after 6 hours a 50/50 split
// between a reminder by sms and one by wechat). The tests of package
// runtime, which cannot import this package, read the same file.
//
//go:embed testdata/unpaid.nudge
var UnpaidJourney string

// UnpaidMembers is the CSV of four acme members for UnpaidJourney
// (testdata/unpaid_members.csv): m1 and m2 gold, m3 and m4 silver, all
// consenting to every channel but m4 to app_push.
//
//go:embed testdata/unpaid_members.csv
var UnpaidMembers string

// UnpaidJourneyFor returns UnpaidJourney for a brand: a `brand` line
// first (so the journey is on line 4), with the given step lines (such as
// "holdout 10%") after the journey's exit line.
func UnpaidJourneyFor(brand string, lines ...string) string {
	src := UnpaidJourney
	if len(lines) > 0 {
		const exit = "  exit when paid matching order_id\n"
		src = strings.Replace(src, exit, exit+"  "+strings.Join(lines, "\n  ")+"\n", 1)
	}
	return `brand "` + brand + "\"\n" + src
}
