package runtime

import (
	"strings"
	"testing"
	"time"
)

// differentialJourneys is a small program whose journeys (an `enter on`
// one with an exit, a wait until and a split; an `enter when` one with a
// re-entry limit and an if) compete with a state rule for a cap.
const differentialJourneys = `brand "acme"
import "crm"
cap sms to 2 per 1 day

rule buyer
  if count(purchased in last 2 days) >= 1
  then send coupon "B" via sms
  limit once per member every 1 day

rule any_purchase
  if purchased
  then tag "bought"

journey unpaid
  enter on order_placed
  exit when paid
  wait 30 minutes
  send reminder "PAY-1" via sms
  wait until refunded for at most 6 hours
  split
    50% a
      send reminder "PAY-2" via sms
    50% b
      send reminder "PAY-2" via wechat
  end
end

journey visitors
  enter when visited in last 1 hour
  limit once per member every 2 days
  send coupon "V" via app_push
  wait 1 day
  if not purchased
    send coupon "V2" via sms
  end
end
`

// TestIncrementalMatchesFullJourneys is TestIncrementalMatchesFull for
// journeys, short: the incremental side's journey step touches only the
// instances with something to do, the full side every active instance.
func TestIncrementalMatchesFullJourneys(t *testing.T) {
	t.Parallel()
	steps := []time.Duration{0, 20 * time.Minute, time.Hour, 3 * time.Hour, 5 * time.Hour, 11 * time.Hour, 14 * time.Hour}
	prog := compileJourneys(t, differentialJourneys)
	db := incrementalMatchesFull(t, prog, steps, 6)
	got := dump(t, db, `SELECT journey, action, count(*) FROM outbox WHERE journey IS NOT NULL GROUP BY ALL ORDER BY ALL`)
	t.Logf("journey decisions: %s", got)
	for _, want := range []string{"unpaid enter", "unpaid send", "unpaid exit", "unpaid complete", "visitors enter", "visitors send", "visitors complete"} {
		if !strings.Contains(got, want) {
			t.Errorf("the history has no %s decision: it tests nothing of them", want)
		}
	}
}
