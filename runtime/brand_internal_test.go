package runtime

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/runtime/demodata"
)

// TestBrandsDoNotCross proves brand isolation in ticks (SPEC §5): two
// copies of a demo database go through the random history of
// TestIncrementalMatchesFull, ticking acme's example rules; the second
// copy also holds a second brand, bistro, with the same member ids (its
// sms consents the opposite of acme's), a copy of acme's events and the
// outbox, rule_members, tags and watermarks of its own ticks of the same
// rules every nine days over the same months. Acme's every decision,
// outbox row, limit and tag must be the same on both.
func TestBrandsDoNotCross(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	if testing.Short() {
		t.Skip("long: many ticks over a demo database")
	}
	steps := []time.Duration{0, 10 * time.Minute, time.Hour, 3 * time.Hour, 14 * time.Hour, 24 * time.Hour, 72 * time.Hour, 9 * 24 * time.Hour}
	differential(t, compileExamples(t), steps, 12, func(first, second *DB) {
		addBistro(t, first, second, compileExamples(t), demodata.DefaultNow.Add(-72*time.Hour), demodata.DefaultNow.AddDate(0, 0, 60), 9*24*time.Hour)
	}, RunOptions{})
}

// TestBrandsDoNotCrossInReplays: acme's ticks replayed in rounds decide the
// same with and without the bistro of TestBrandsDoNotCross in the database.
// The rules add to the examples tight caps shared by several rules, short
// limits, a rule that gives up after unanswered sends and purchases and
// visits due all day (as runtime/simulate's TestReplayMatchesTicks), so
// that the replay's own reads (the rounds' pairs, repeated refusals, the
// lanes' copies) meet bistro's rows of the same rules and members.
func TestBrandsDoNotCrossInReplays(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	if testing.Short() {
		t.Skip("long: a replayed day over a demo database")
	}
	ctx := context.Background()
	dir := t.TempDir()
	first, second := demoDB(t, dir+"/first.duckdb", 400), demoDB(t, dir+"/second.duckdb", 400)
	prog := func() *compiler.Program {
		p := compileExamples(t)
		extra := compileFile(t, writeFile(t, dir, "stress.nudge", brandStressSource))
		p.Rules = append(p.Rules, extra.Rules...)
		p.Caps, p.Quiet = extra.Caps, extra.Quiet
		// Rounds run no journey step (a program with journeys is
		// simulated tick by tick: TestSimulateJourneys).
		p.Journeys = nil
		return p
	}
	// A day's ticks every two hours (a replay covers one date), with
	// events due all day, ingested before it.
	prev := demodata.DefaultNow.Add(-9*time.Hour - 30*time.Minute)
	var ev strings.Builder
	ev.WriteString("member_id,brand,type,ts,amount\n")
	rng := rand.New(rand.NewPCG(3, 5))
	for range 800 {
		ts := prev.Add(time.Duration(rng.IntN(23*3600)) * time.Second)
		fmt.Fprintf(&ev, "M%08d,acme,%s,%s,%.2f\n", 1+rng.IntN(400), []string{"purchased", "visited"}[rng.IntN(2)], ts.Format(time.DateTime), 10+rng.Float64()*200)
	}
	acmeEvents := writeFile(t, dir, "acme.csv", ev.String())
	bistroEvents := writeFile(t, dir, "bistro.csv", strings.ReplaceAll(ev.String(), ",acme,", ",bistro,"))
	for _, db := range []*DB{first, second} {
		if _, err := db.Import(ctx, "events", []string{acmeEvents}); err != nil {
			t.Fatal(err)
		}
	}
	addBistro(t, first, second, prog(), prev.AddDate(0, 0, -6), prev.AddDate(0, 0, -1), 5*24*time.Hour)
	if _, err := second.Import(ctx, "events", []string{bistroEvents}); err != nil {
		t.Fatal(err)
	}
	var ticks []time.Time
	for k := 2; k <= 22; k += 2 {
		ticks = append(ticks, prev.Add(time.Duration(k)*time.Hour))
	}
	bistro := prog()
	bistro.Brand = "bistro"
	acme := prog()
	var got [2]string
	replayed := 0
	for i, db := range []*DB{first, second} {
		var b strings.Builder
		if i == 1 {
			// The bistro's day, before acme's.
			if _, err := db.Run(ctx, bistro, RunOptions{Now: prev, NoBudgetSkip: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Replay(ctx, bistro, RunOptions{}, prev, ticks); err != nil {
				t.Fatal(err)
			}
		}
		// (A replay starts after a tick that skipped no budget refusal,
		// as simulate's do.)
		if _, err := db.Run(ctx, acme, RunOptions{Now: prev, NoBudgetSkip: true}); err != nil {
			t.Fatal(err)
		}
		rs, err := db.Replay(ctx, acme, RunOptions{}, prev, ticks)
		if err != nil {
			t.Fatal(err)
		}
		// (A replay reports counts per tick; its decisions are in the
		// outbox.)
		for _, r := range rs {
			for _, s := range r.Rules {
				if s.Firings > 0 || s.Repeats > 0 {
					fmt.Fprintf(&b, "%s %s: %d firings %d repeats %v\n", r.Now.Format("15:04"), s.Rule, s.Firings, s.Repeats, s.Statuses)
					replayed += int(s.Firings)
				}
			}
		}
		for _, q := range []string{
			`SELECT rule, member_id, dedupe_key, action_index, status, coalesce(reason, ''), fired_at, scheduled_at FROM outbox WHERE brand = 'acme' ORDER BY ALL`,
			`SELECT rule, member_id, last_effective_at, last_fired_at, last_effective, last_capped FROM rule_members WHERE brand = 'acme' ORDER BY ALL`,
			`SELECT member_id, tag, tagged_at FROM member_tags WHERE brand = 'acme' ORDER BY ALL`,
		} {
			b.WriteString(dump(t, db, q))
		}
		got[i] = b.String()
	}
	if got[0] != got[1] {
		t.Errorf("acme's replay decides differently beside the bistro (-: without, +: with):\n%s",
			diffLines(strings.Split(got[0], "\n"), strings.Split(got[1], "\n")))
	}
	t.Logf("%d firings in the replayed ticks", replayed)
	if replayed < 100 {
		t.Errorf("only %d decisions in the replayed ticks: the test proves little", replayed)
	}
}

// brandStressSource is the stress rule file of runtime/simulate's
// TestReplayMatchesTicks.
const brandStressSource = `brand "acme"
import "crm"
cap sms to 2 per 1 day
cap wechat to 1 per 6 hours
quiet hours 22:00 to 08:00

rule hourly_visitor
  if visited in last 3 hours
  then send coupon "V-1" via wechat and tag "seen"
  limit once per member every 4 hours

rule buyer_nudge
  if count(purchased in last 2 days) >= 1
  then send coupon "B-2" via sms and send voucher "B-3" via wechat
  limit once per member every 12 hours
  stop after 2 unanswered

rule any_purchase
  if purchased
  then send coupon "P-1" via sms
`

// addBistro adds to second the brand bistro: acme's members under the same
// ids with the opposite sms consent, a copy of acme's events (seqs after
// acme's; first reserves the same seqs so that later imports number alike
// on both), and bistro's ticks of the rules of bistro (a program of
// acme's rules) every step from from to to.
func addBistro(t *testing.T, first, second *DB, bistro *compiler.Program, from, to time.Time, step time.Duration) {
	t.Helper()
	ctx := context.Background()
	off := count(t, second, `SELECT max(seq) FROM events`)
	for _, q := range []string{
		`INSERT INTO members SELECT * REPLACE ('bistro' AS brand, NOT coalesce(consent_sms, false) AS consent_sms) FROM members WHERE brand = 'acme'`,
		`INSERT INTO events SELECT * REPLACE ('bistro' AS brand, seq + $off::BIGINT AS seq) FROM events WHERE brand = 'acme' ORDER BY seq`,
	} {
		if _, err := second.sql.ExecContext(ctx, q, sql.Named("off", off)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, db := range []*DB{first, second} {
		if _, err := db.sql.ExecContext(ctx, `UPDATE counters SET value = $off::BIGINT * 2 WHERE name = 'event_seq'`, sql.Named("off", off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := second.MembersChanged(ctx); err != nil {
		t.Fatal(err)
	}
	bistro.Brand = "bistro"
	fired := 0
	for now := from; !now.After(to); now = now.Add(step) {
		res, err := second.Run(ctx, bistro, RunOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		fired += len(res.Decisions)
	}
	if fired < 500 {
		t.Fatalf("the bistro's ticks decided only %d times", fired)
	}
}
