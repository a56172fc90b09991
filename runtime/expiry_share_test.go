package runtime

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestExpiredTakesNoShare: a send that ends expired at its decision (its
// event's deadline passed before the tick, or its channel's quiet hours
// hold it past the deadline) takes no share of a stock, a budget or a cap
// in the tick: only sends recorded pending, scheduled or sent count (SPEC
// §9). It is still judged by them, their refusals coming first. A
// transactional send is not held by quiet hours, so it is not late.
func TestExpiredTakesNoShare(t *testing.T) {
	t.Parallel()
	const members = "member_id,brand,consent_sms,consent_wechat\nm1,acme,true,true\nm2,acme,true,true\n"
	for _, tc := range []struct {
		name, src, events, now, want string
	}{
		{"stock decided after the deadline", `
rule r
  if queued
  then send coupon "S" via sms
  expire after 1 hour
stock "S" 1`, "m1,acme,queued,2024-11-11 08:00\nm2,acme,queued,2024-11-11 09:30\n", "2024-11-11 10:00",
			"r m1 expired\nr m2 pending"},
		{"budget decided after the deadline", `
rule r
  if queued
  then send coupon "S" via sms
  expire after 1 hour
  budget 1 per day
cost sms 1`, "m1,acme,queued,2024-11-11 08:00\nm2,acme,queued,2024-11-11 09:30\n", "2024-11-11 10:00",
			"r m1 expired\nr m2 pending"},
		{"over budget comes before expired", `
rule r
  if queued
  then send coupon "S" via sms
  expire after 1 hour
  budget 1 per day
cost sms 2`, "m1,acme,queued,2024-11-11 08:00\nm2,acme,queued,2024-11-11 09:30\n", "2024-11-11 10:00",
			"r m1 over_budget\nr m2 over_budget"},
		{"cap decided after the deadline", `
rule a
  if queued
  then send coupon "S" via sms
  expire after 1 hour
rule b
  if queued
  then send greeting "G" via sms
  expire after 3 hours
cap sms to 1 per 1 day`, "m1,acme,queued,2024-11-11 08:00\n", "2024-11-11 10:00",
			"a m1 expired\nb m1 pending"},
		{"stock held past the deadline by its channel's quiet hours", `
rule a
  if queued
  then send coupon "S" via sms
  expire after 1 hour
rule b
  if queued
  then send coupon "S" via wechat
quiet hours 21:00 to 09:00 for sms
stock "S" 1`, "m1,acme,queued,2024-11-11 21:30\n", "2024-11-11 22:00",
			"a m1 expired\nb m1 pending"},
		{"a transactional send is not held by quiet hours", `
rule a
  if queued
  then send reminder "S" via sms
  expire after 1 hour
  transactional
rule b
  if queued
  then send coupon "S" via wechat
quiet hours 21:00 to 09:00
stock "S" 1`, "m1,acme,queued,2024-11-11 21:30\n", "2024-11-11 22:00",
			"a m1 pending\nb m1 out_of_stock"},
	} {
		for _, full := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/full=%v", tc.name, full), func(t *testing.T) {
				prog := compileSource(t, "brand \"acme\"\nimport \"crm\"\n"+tc.src+"\n")
				db := fixture(t, members, "member_id,brand,type,ts\n"+tc.events)
				var got []string
				for _, d := range run(t, db, prog, tc.now, func(o *RunOptions) { o.EvaluateAll = full }).Decisions {
					got = append(got, d.Rule+" "+d.MemberID+" "+d.Status)
				}
				slices.Sort(got)
				if g := strings.Join(got, "\n"); g != tc.want {
					t.Errorf("decisions:\n%s\nwant:\n%s", g, tc.want)
				}
			})
		}
	}
}
