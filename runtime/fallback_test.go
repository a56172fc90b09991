package runtime

import (
	"context"
	"testing"
	"time"
)

// TestFallbackRefusedEverywhere: a send that every channel of its fallback
// refuses is recorded on the first channel it was tried on (consent
// allowing it) with that channel's own refusal (SPEC §9), not the last
// one's; with no consent on any channel, on the first channel, no_consent.
// sms is capped (a cap of 0), wechat is capped once the member had a wechat
// send today, and email is always over the budget.
func TestFallbackRefusedEverywhere(t *testing.T) {
	prog := compileSource(t, `brand "acme"
import "crm"
cap sms to 0 per 1 day
cap wechat to 1 per 1 day
cost email 5
rule greet
  if queued
  then send coupon "G" via sms else wechat else email
  budget 1 per day
rule early
  if booked
  then send news "E" via wechat
  priority 5
`)
	db := fixture(t, `member_id,brand,consent_sms,consent_wechat,consent_email
m1,acme,true,true,true
m2,acme,false,true,true
m3,acme,false,false,true
m4,acme,false,false,false
m5,acme,true,true,false
`, `member_id,brand,type,ts,store
m1,acme,queued,2024-11-11 09:00:00,A
m1,acme,booked,2024-11-11 09:00:00,A
m2,acme,queued,2024-11-11 09:00:00,A
m2,acme,booked,2024-11-11 09:00:00,A
m3,acme,queued,2024-11-11 09:00:00,A
m4,acme,queued,2024-11-11 09:00:00,A
m5,acme,queued,2024-11-11 09:00:00,A
`)
	res, err := db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-11 10:00"), Lookback: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	type verdict struct{ channel, status, reason string }
	want := map[string]verdict{
		// sms capped, wechat taken by early, email over budget: sms's cap.
		"m1": {"sms", "capped", "cap sms 0 per 1d"},
		// no sms consent: wechat is the first tried, and capped.
		"m2": {"wechat", "capped", "cap wechat 1 per 1d"},
		// only email has consent: its own refusal.
		"m3": {"email", "over_budget", "budget 1 per day spent"},
		// no consent anywhere: the first channel.
		"m4": {"sms", "no_consent", "no consent_sms"},
		// sms capped, wechat free: taken.
		"m5": {"wechat", "pending", ""},
	}
	got := map[string]verdict{}
	for _, d := range res.Decisions {
		if d.Rule == "greet" {
			got[d.MemberID] = verdict{d.Channel, d.Status, d.Reason}
		}
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: got %+v, want %+v", id, got[id], w)
		}
	}
}
