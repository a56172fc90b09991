package simulate

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	nrt "nudge/runtime"
	"nudge/runtime/runtimetest"
)

// chainRules is a program whose capped refusals repeat tick after tick
// (replay settles such runs of repeats at once: repeatChains) and end for
// each of the reasons a run of them ends, and whose refusals are retried
// for each of the reasons a replay plans a retry (statePairs), with
// chainMembers and chainEvents, ticked at chainHistory and then hourly on
// 2024-11-20 (see chainEvents).
const chainRules = `brand "acme"
import "crm"
cap sms to 1 per 12 hours
cap wechat to 1 per 6 hours
cap email to 1 per 10 hours
quiet hours 22:00 to 08:00 for app_push

rule lapsed_sms
  if purchased in last 30 days and not purchased in last 7 days
  then send coupon "A-1" via sms
  priority 9

rule buyer_sms
  if purchased in last 30 days
  then send coupon "S-1" via sms
  limit once per member every 2 hours
  stop after 2 unanswered

rule refund_first
  if refunded in last 30 days and not refunded in last 7 days
  then send coupon "R-1" via sms
  priority 9

rule refund_sms
  if refunded in last 30 days
  then send coupon "R-2" via sms
  limit once per member every 1 day
  stop after 1 unanswered

rule visit_email
  if count(visited in last 2 days) >= 1
  then send coupon "L-1" via email
  limit once per member every 8 hours
  priority 3

rule visit_email_late
  if count(visited in last 2 days) >= 1
  then send coupon "L-2" via email
  priority 1

rule book_email
  if booked in last 12 hours
  then send coupon "K-1" via email
  priority 3

rule book_email_late
  if booked in last 12 hours
  then send coupon "K-2" via email
  priority 1

rule browse_first
  if browsed in last 1 hour
  then send coupon "B-1" via sms
  priority 4

rule browse_second
  if browsed in last 1 hour
  then send coupon "B-2" via sms
  priority 2

rule queue_push
  if queued in last 5 hours
  then send coupon "Q-1" via app_push
  expire after 1 hour
  priority 6

rule queue_sms
  if queued in last 5 hours
  then send coupon "Q-2" via sms
  priority 5

rule queue_sms_late
  if queued in last 5 hours
  then send coupon "Q-3" via sms
  priority 1

rule cart_sms
  if carted in last 5 hours
  then send coupon "C-1" via sms
  priority 5

rule cart_mixed
  if carted in last 5 hours
  then send coupon "C-2" via sms and send coupon "C-3" via email

rule favorite_sms
  if favorited in last 10 hours
  then send coupon "F-1" via sms
`

const chainMembers = `member_id,brand,consent_sms,consent_email,consent_app_push,consent_wechat
c1,acme,true,false,true,true
f1,acme,false,true,true,true
h1,acme,true,true,true,true
k1,acme,true,true,true,true
l1,acme,true,true,true,true
s1,acme,true,true,true,true
s2,acme,true,true,true,true
x1,acme,true,true,true,true
`

// chainEvents, with chainHistory and hourly ticks at half past on
// 2024-11-20 (the first run one by one, the others replayed). The longest
// cap window (and the retry horizon) is 12 hours, the shortest 6:
//   - s1 (a run of repeats ended by a response window closing): buyer_sms
//     sent on 11-12, 11-13 and 11-19; lapsed_sms takes the day's SMS at
//     00:30 and caps buyer_sms, which repeats from 06:30 (the SMS left the
//     shortest cap window) and at 08:30, the window of its send of 11-13
//     08:00 closed, gives up (2 unanswered), before the SMS leaves its cap
//     window at 12:30; it gives up again at 10:30, its limit (2 hours) run
//     out, not recorded (a repeat, not a capped one), and at 12:30;
//   - s2 (a blocked refusal freed by a response window closing):
//     refund_sms sent on 11-13 and 11-19 05:00, capped at 05:30 behind
//     refund_first and blocked until the window of its send of 11-13
//     08:00 closes (the SMS leaves the shortest window at 11:30): at 08:30
//     it gives up (1 unanswered);
//   - l1 (a run of repeats ended by a limit running out): visit_email
//     sends at 00:30 and caps visit_email_late, which repeats from 06:30;
//     visit_email's limit runs out at 08:30, where it is capped (recorded)
//     until the email leaves its window at 10:30;
//   - k1 (a run of repeats ended by a send leaving a cap window):
//     book_email sends at 00:30 and caps book_email_late, which repeats
//     from 06:30 and sends at 10:30;
//   - h1 (the retry horizon): browse_second is capped at 00:30 behind
//     browse_first, stops meeting its condition at 01:30 and meets it
//     again at 12:30, its refusal then past the horizon;
//   - x1 (a run of repeats ended by the condition): queue_push's send at
//     00:30 is deferred past its expiry by quiet hours (expired), queue_sms
//     takes the SMS and queue_sms_late, capped at 00:30, repeats from
//     01:30 (an expired send frees capped retries as a failed one does,
//     02_plan.go's retryTables) to 04:30, x1's last tick in its window;
//   - c1 (a mixed refusal, retried at the next tick): cart_mixed's SMS is
//     capped behind cart_sms and its email refused for want of consent at
//     00:30, and repeats until 04:30;
//   - f1 (an opt-in): favorite_sms is refused for want of consent at 00:30
//     and sends at 03:30, after f1 subscribed to SMS at 03:00.
const chainEvents = `member_id,brand,type,ts,amount,channel
s1,acme,purchased,2024-11-12 08:00,30,
s2,acme,refunded,2024-11-13 05:10,30,
l1,acme,visited,2024-11-19 23:50,,
h1,acme,browsed,2024-11-20 00:10,,
k1,acme,booked,2024-11-20 00:10,,
h1,acme,browsed,2024-11-20 12:20,,
x1,acme,queued,2024-11-20 00:10,,
c1,acme,carted,2024-11-20 00:10,,
f1,acme,favorited,2024-11-20 00:10,,
f1,acme,subscribed,2024-11-20 03:00,,sms
`

// chainHistory are the ticks before the replayed day: buyer_sms's sends
// to s1 and refund_sms's to s2.
var chainHistory = []time.Time{
	time.Date(2024, 11, 12, 9, 0, 0, 0, time.UTC),
	time.Date(2024, 11, 13, 8, 0, 0, 0, time.UTC),
	time.Date(2024, 11, 19, 5, 0, 0, 0, time.UTC),
}

// TestReplayMatchesTicksChains is TestReplayMatchesTicks for the runs of
// repeated capped refusals a replay settles at once (repeatChains) and
// the retries it plans (statePairs), with history: each run of repeats
// ends at a different kind of change and each refusal is retried for a
// different reason (chainEvents), at the tick ticks do, and the per-tick
// figures, the outbox, rule_members and the run log are those of ticks
// run one by one.
func TestReplayMatchesTicksChains(t *testing.T) {
	prog := compileProgram(t, chainRules)
	var day []time.Time
	for h := range 13 {
		day = append(day, time.Date(2024, 11, 20, h, 30, 0, 0, time.UTC))
	}
	ticks := replayAgainstTicks(t, prog, chainMembers, chainEvents, chainHistory, day)
	t.Logf("ticks:\n%s", strings.Join(ticks, "\n"))
	// What the day must show, tick by tick, for the test to prove
	// anything (the ticks side: the reference).
	for _, want := range []string{
		"00:30 buyer_sms firings 1 map[capped:1]",
		"07:30 buyer_sms repeats 1",
		"08:30 buyer_sms firings 1 map[gave_up:1]",
		"10:30 buyer_sms repeats 1",
		"05:30 refund_sms firings 1 map[capped:1]",
		"08:30 refund_sms firings 1 map[gave_up:1]",
		"09:30 book_email_late repeats 1",
		"10:30 book_email_late firings 1 map[pending:1]",
		"07:30 visit_email_late repeats 1",
		"08:30 visit_email firings 1 map[capped:1]",
		"09:30 visit_email repeats 1",
		"10:30 visit_email firings 1 map[pending:1]",
		"12:30 browse_second firings 1 map[pending:1]",
		"00:30 queue_push firings 1 map[expired:1]",
		"01:30 queue_sms_late repeats 1",
		"04:30 queue_sms_late repeats 1",
		"00:30 cart_mixed firings 1 map[capped:1 no_consent:1]",
		"04:30 cart_mixed repeats 1",
		"03:30 favorite_sms firings 1 map[pending:1]",
	} {
		if !slices.Contains(ticks, want) {
			t.Errorf("the ticks lack %q:\n%s", want, strings.Join(ticks, "\n"))
		}
	}
}

// replayAgainstTicks builds a database of members and events, runs the
// ticks history on it, then the ticks day: the first one by one, the
// others replayed in rounds (runtime.DB.Replay) on one copy and run one by
// one on the other. It requires the same figures at every tick and the
// same databases at the end (sameDatabases), and returns the ticks side's
// figures, a line per tick and rule with any: "15:04 rule repeats N" or
// "15:04 rule firings N map[status:N]" (both when both).
func replayAgainstTicks(t *testing.T, prog *compiler.Program, members, events string, history, day []time.Time) []string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	side := func(name string, rounds bool) []string {
		path := filepath.Join(dir, name+".duckdb")
		db, err := nrt.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		runtimetest.Import(t, db, "members", members)
		runtimetest.Import(t, db, "events", events)
		var results []*nrt.RunResult
		run := func(now time.Time) {
			r, err := db.Run(ctx, prog, nrt.RunOptions{Now: now, SkipDecisions: true, NoBudgetSkip: true})
			if err != nil {
				t.Fatalf("%s: tick at %s: %v", name, now.Format(tsLayout), err)
			}
			results = append(results, r)
		}
		for _, now := range history {
			run(now)
		}
		results = nil
		run(day[0])
		if rounds {
			rs, err := db.Replay(ctx, prog, nrt.RunOptions{}, day[0], day[1:])
			if err != nil {
				t.Fatalf("%s: replay: %v", name, err)
			}
			results = append(results, rs...)
		} else {
			for _, now := range day[1:] {
				run(now)
			}
		}
		var lines []string
		for _, r := range results {
			for _, s := range r.Rules {
				at := r.Now.Format("15:04") + " " + s.Rule
				if s.Repeats > 0 {
					lines = append(lines, fmt.Sprintf("%s repeats %d", at, s.Repeats))
				}
				if s.Firings > 0 || len(s.Statuses) > 0 {
					lines = append(lines, fmt.Sprintf("%s firings %d %v", at, s.Firings, s.Statuses))
				}
			}
		}
		return lines
	}
	rounds, ticks := side("rounds", true), side("ticks", false)
	if a, b := strings.Join(rounds, "\n"), strings.Join(ticks, "\n"); a != b {
		t.Errorf("per-tick figures differ:\nrounds:\n%s\nticks:\n%s", a, b)
	}
	sameDatabases(t, filepath.Join(dir, "rounds.duckdb"), filepath.Join(dir, "ticks.duckdb"))
	return ticks
}
