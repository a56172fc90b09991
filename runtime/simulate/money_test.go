package simulate

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	nrt "nudge/runtime"
	"nudge/runtime/runtimetest"
)

// moneyRules is a program whose stock and budget run out in the middle of
// a replayed day (with moneyMembers and moneyEvents).
const moneyRules = `brand "acme"
import "crm"
cap sms to 1 per 1 day
cap wechat to 1 per 4 hours

rule buyer_sms
  if purchased in last 1 hour
  then send coupon "P-1" via sms
  priority 5

rule stocked_sms
  if count(visited in last 3 hours) >= 1
  then send coupon "S-1" via sms
  limit once per member every 2 hours

rule gift_email
  if browsed in last 1 hour
  then send voucher "G-1" via email
  limit once per member every 2 hours
  budget 2 per day

stock "S-1" 2
cost voucher "G-1" 1
`

const moneyMembers = `member_id,brand,consent_sms,consent_email
a1,acme,true,true
a2,acme,true,true
b1,acme,true,true
b2,acme,true,true
c2,acme,true,true
`

// moneyEvents, with hourly ticks at half past:
//   - the budget (2 a day): a1 browses at 01:00 and 03:10, b1 at 05:00; a
//     tick gives a1 both vouchers and b1 none (over_budget), the
//     competition being settled in the ticks' order across members;
//   - the stock (2): c2 takes one at 02:30; a2, whose SMS of 00:30 fills
//     the SMS cap for the day, is refused by the cap at every tick from
//     05:30 to 07:30, and at each of them takes the last coupon for that
//     tick (before caps, and before b2 in member order): b2, firing from
//     06:30, is out_of_stock until 08:30, when it takes the last coupon.
const moneyEvents = `member_id,brand,type,ts,amount
a1,acme,browsed,2024-11-11 01:00,
a1,acme,browsed,2024-11-11 03:10,
b1,acme,browsed,2024-11-11 05:00,
c2,acme,visited,2024-11-11 02:00,
a2,acme,purchased,2024-11-11 00:10,20
a2,acme,visited,2024-11-11 04:50,
b2,acme,visited,2024-11-11 06:10,
`

// TestReplayMatchesTicksMoney is TestReplayMatchesTicks with a stock and a
// budget that run out within the replayed day (moneyRules): rounds must
// settle the money rules in the ticks' order across members, and the
// capped sends of a stocked rule, repeated, tick by tick (each takes its
// share of the stock at each tick).
func TestReplayMatchesTicksMoney(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "money.duckdb")
	db, err := nrt.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	runtimetest.Import(t, db, "members", moneyMembers)
	runtimetest.Import(t, db, "events", moneyEvents)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 11, 10, 22, 30, 0, 0, time.UTC)
	res := compareRoundsAndTicks(t, src, compileProgram(t, moneyRules), from, from.Add(12*time.Hour), time.Hour, 5)
	var repeats int64
	statuses := map[string]int64{}
	for _, d := range res.Days {
		repeats += d.Repeats
		for s, n := range d.Statuses {
			statuses[s] += n
		}
		t.Logf("%s %s firings %d repeats %d %v", d.Day, d.Rule, d.Firings, d.Repeats, d.Statuses)
	}
	if statuses["out_of_stock"] == 0 || statuses["over_budget"] == 0 || repeats == 0 {
		t.Errorf("statuses %v, %d repeats: the stock and the budget must run out, and capped sends repeat", statuses, repeats)
	}
}
