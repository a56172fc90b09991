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
	t.Parallel()
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

// TestCappedRetryAfterOptIn: a state-rule firing capped on every channel
// its member consents to is not retried while the caps are full for sure,
// unless the member's channels change: an opt-in to a fallback channel
// (a subscribed event) makes the next tick try it, incrementally as in
// full (SPEC §9 opt-out loop).
func TestCappedRetryAfterOptIn(t *testing.T) {
	t.Parallel()
	const src = `brand "acme"
import "crm"
cap sms to 1 per 30 days
rule nag
  if days since last purchased > 3
  then send reminder "come-back" via sms else wechat
  limit once per member every 1 day
`
	inc, full := timeline(t, src, `
		INSERT INTO members (member_id, brand, consent_sms, consent_wechat) VALUES ('m1', 'acme', true, false);
		INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES (1, 'm1', 'acme', 'purchased', TIMESTAMP '2024-03-01 09:00:00', 10)`,
		4, 8, func(db *DB, day int) {
			if day == 7 {
				importEvents(t, db, "member_id,brand,type,ts,channel\nm1,acme,subscribed,2024-03-07 20:00:00,wechat\n")
			}
		})
	want := `day 4: m1 sms pending 
day 5: m1 sms capped cap sms 1 per 30d
day 7: m1 wechat pending 
day 8: m1 wechat pending 
`
	if full != want {
		t.Errorf("full evaluation:\n%s\nwant:\n%s", full, want)
	}
	if inc != full {
		t.Errorf("incremental:\n%s\nfull:\n%s", inc, full)
	}
}

// TestNoConsentRetryAfterOptIn: a state-rule firing refused for want of
// consent on every channel is not decided again while the member stays
// without one, and an opt-in (a subscribed event) makes the next tick
// send, incrementally as in full (SPEC §9 opt-out loop; the opt-ins are
// what the limits' blocked condition reads).
func TestNoConsentRetryAfterOptIn(t *testing.T) {
	t.Parallel()
	const src = `brand "acme"
import "crm"
rule nag
  if days since last purchased > 3
  then send reminder "come-back" via sms
`
	inc, full := timeline(t, src, `
		INSERT INTO members (member_id, brand, consent_sms) VALUES ('m1', 'acme', false), ('m2', 'acme', false);
		INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES
		  (1, 'm1', 'acme', 'purchased', TIMESTAMP '2024-03-01 09:00:00', 10),
		  (2, 'm2', 'acme', 'purchased', TIMESTAMP '2024-03-01 09:00:00', 10)`,
		4, 7, func(db *DB, day int) {
			if day == 6 {
				importEvents(t, db, "member_id,brand,type,ts,channel\nm1,acme,subscribed,2024-03-06 20:00:00,sms\n")
			}
		})
	want := `day 4: m1 sms no_consent no consent_sms
day 4: m2 sms no_consent no consent_sms
day 6: m1 sms pending 
`
	if full != want {
		t.Errorf("full evaluation:\n%s\nwant:\n%s", full, want)
	}
	if inc != full {
		t.Errorf("incremental:\n%s\nfull:\n%s", inc, full)
	}
}
