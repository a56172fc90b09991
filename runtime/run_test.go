package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/internal/tickform"
)

// Hand-written rule queries in the shape compiler.Rule documents.
const (
	// if queued at store "A"
	queuedAtA = `SELECT e.member_id, e.seq AS trigger_seq, e.ts AS due_at, e.store AS v0
FROM events e
WHERE e.brand = $brand::VARCHAR AND e.type = 'queued' AND e.store = 'A'
  AND e.ts <= $now::TIMESTAMP
  AND NOT (e.seq <= $wm_seq::BIGINT AND e.ts <= $wm_now::TIMESTAMP)`
	// if member.tier = "gold"
	goldMembers = `SELECT m.member_id, CAST(NULL AS BIGINT) AS trigger_seq, CAST(NULL AS TIMESTAMP) AS due_at, m.tier AS v0
FROM members m WHERE m.brand = $brand::VARCHAR AND m.tier = 'gold'`
	// every member of the brand
	allMembers = `SELECT m.member_id, CAST(NULL AS BIGINT) AS trigger_seq, CAST(NULL AS TIMESTAMP) AS due_at
FROM members m WHERE m.brand = $brand::VARCHAR`
)

const testMembers = `member_id,brand,tier,consent_sms,consent_wechat,consent_app_push
m1,acme,gold,true,true,true
m2,acme,gold,false,true,true
m3,acme,silver,true,,true
m4,acme,silver,true,true,true
`

const testEvents = `member_id,brand,type,ts,store
m1,acme,queued,2024-11-11 09:00,A
m3,acme,queued,2024-11-11 10:00,A
m4,acme,queued,2024-11-09 10:00,A
m2,acme,queued,2024-11-11 11:00,B
`

func ts(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	panic("bad test time " + s)
}

// fixture opens a database loaded with members and events CSV text.
func fixture(t testing.TB, members, events string) *DB {
	t.Helper()
	db := openTest(t)
	dir := t.TempDir()
	ctx := context.Background()
	if members != "" {
		if _, err := db.Import(ctx, "members", []string{writeFile(t, dir, "members.csv", members)}); err != nil {
			t.Fatal(err)
		}
	}
	if events != "" {
		importEvents(t, db, events)
	}
	return db
}

func importEvents(t testing.TB, db *DB, csv string) {
	t.Helper()
	p := writeFile(t, t.TempDir(), "events.csv", csv)
	if _, err := db.Import(context.Background(), "events", []string{p}); err != nil {
		t.Fatal(err)
	}
}

func sendRule(name, sql string, trigger bool, channel string) *compiler.Rule {
	r := &compiler.Rule{
		Name: name, Trigger: trigger, SQL: sql, File: "test.nudge", Line: 1,
		Actions: []compiler.Action{{Verb: "send", Kind: "coupon", Content: "C-" + name, Channel: channel}},
	}
	if trigger {
		r.Watermarks = compiler.Watermarks{Seq: "wm_seq", Now: "wm_now"}
	}
	if strings.Contains(sql, "AS v0") {
		r.Values = []compiler.Value{{Column: "v0", Label: "store"}}
	}
	return r
}

func run(t testing.TB, db *DB, prog *compiler.Program, now string, opts ...func(*RunOptions)) *RunResult {
	t.Helper()
	o := RunOptions{Now: ts(now)}
	for _, f := range opts {
		f(&o)
	}
	res, err := db.Run(context.Background(), prog, o)
	if err != nil {
		t.Fatalf("run at %s: %v", now, err)
	}
	return res
}

// brief renders decisions as "rule member action status" lines.
func brief(ds []Decision) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s %s %s %s", d.Rule, d.MemberID, d.Action, d.Status)
		if d.ScheduledAt != nil {
			fmt.Fprintf(&b, " @%s", d.ScheduledAt.Format("01-02 15:04"))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func expect(t testing.TB, what string, ds []Decision, want string) {
	t.Helper()
	if got := brief(ds); got != want {
		t.Errorf("%s: decisions:\n%swant:\n%s", what, got, want)
	}
}

func TestTriggerRuleWatermarks(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, testEvents)
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("store_a", queuedAtA, true, "app_push")}}

	// First run: only events within the 24h lookback (m4's is 2 days old).
	res := run(t, db, prog, "2024-11-11 12:00")
	expect(t, "first run", res.Decisions, "store_a m1 send pending\nstore_a m3 send pending\n")
	if d := res.Decisions[0]; d.TriggerSeq == nil || *d.TriggerSeq != 1 || string(d.Values) != `{"store":"A"}` || d.FiringID == "" {
		t.Errorf("decision = %+v", d)
	}
	// Same now again: nothing new.
	expect(t, "rerun", run(t, db, prog, "2024-11-11 12:00").Decisions, "")
	// Later: nothing new either.
	expect(t, "later", run(t, db, prog, "2024-11-11 13:00").Decisions, "")

	// A new event and a late one (ingested now, dated before the last run)
	// and a future one.
	importEvents(t, db, "member_id,brand,type,ts,store\nm2,acme,queued,2024-11-11 12:30,A\nm4,acme,queued,2024-11-11 08:00,A\nm1,acme,queued,2024-11-11 15:00,A\n")
	expect(t, "new and late", run(t, db, prog, "2024-11-11 14:00").Decisions,
		"store_a m2 send pending\nstore_a m4 send pending\n")
	expect(t, "again", run(t, db, prog, "2024-11-11 14:30").Decisions, "")
	expect(t, "future event due", run(t, db, prog, "2024-11-11 15:00").Decisions, "store_a m1 send pending\n")
	expect(t, "after", run(t, db, prog, "2024-11-12 15:00").Decisions, "")
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 5 {
		t.Errorf("outbox has %d rows, want 5", n)
	}
}

func TestTriggerRuleLimit(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, "member_id,brand,type,ts,store\nm1,acme,queued,2024-11-11 09:00,A\nm1,acme,queued,2024-11-11 08:00,A\n")
	r := sendRule("store_a", queuedAtA, true, "app_push")
	r.Limit = &compiler.Limit{Every: 7 * 24 * time.Hour}
	prog := &compiler.Program{Rules: []*compiler.Rule{r}}
	res := run(t, db, prog, "2024-11-11 12:00")
	expect(t, "two events, one firing", res.Decisions, "store_a m1 send pending\n")
	if *res.Decisions[0].TriggerSeq != 2 {
		t.Errorf("fired for seq %d, want the earliest event (seq 2)", *res.Decisions[0].TriggerSeq)
	}
	importEvents(t, db, "member_id,brand,type,ts,store\nm1,acme,queued,2024-11-15 09:00,A\nm1,acme,queued,2024-11-19 09:00,A\n")
	expect(t, "within the limit", run(t, db, prog, "2024-11-16 00:00").Decisions, "")
	expect(t, "after the limit", run(t, db, prog, "2024-11-20 00:00").Decisions, "store_a m1 send pending\n")
}

func TestStateRuleLimits(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, "")
	once := sendRule("gold_once", goldMembers, false, "sms")
	weekly := sendRule("gold_weekly", goldMembers, false, "wechat")
	weekly.Limit = &compiler.Limit{Every: 7 * 24 * time.Hour}
	prog := &compiler.Program{Rules: []*compiler.Rule{once, weekly}}

	expect(t, "first", run(t, db, prog, "2024-11-01").Decisions,
		"gold_once m1 send pending\ngold_once m2 send no_consent\ngold_weekly m1 send pending\ngold_weekly m2 send pending\n")
	// m2 had no consent: that firing did not use up the once-ever limit, so
	// the rule tries again; m1's did. The repeated refusal (still no
	// consent) is not recorded again.
	res := run(t, db, prog, "2024-11-02")
	expect(t, "next day", res.Decisions, "")
	if c := res.Rules[0].Candidates; c != 0 {
		t.Errorf("candidates = %d, want 0", c)
	}
	expect(t, "same now", run(t, db, prog, "2024-11-02").Decisions, "")
	expect(t, "a week later", run(t, db, prog, "2024-11-08").Decisions,
		"gold_weekly m1 send pending\ngold_weekly m2 send pending\n")
	// m2 consents: the once-ever rule fires for m2 at last.
	if _, err := db.Import(context.Background(), "members", []string{writeFile(t, t.TempDir(), "c.csv", "member_id,brand,consent_sms\nm2,acme,true\n")}); err != nil {
		t.Fatal(err)
	}
	expect(t, "after consent", run(t, db, prog, "2024-11-09").Decisions, "gold_once m2 send pending\n")
	expect(t, "once ever", run(t, db, prog, "2024-11-10").Decisions, "")
}

func TestConsentAndHoldout(t *testing.T) {
	t.Parallel()
	var members strings.Builder
	members.WriteString("member_id,brand,consent_sms\n")
	for i := range 400 {
		fmt.Fprintf(&members, "u%03d,acme,true\n", i)
	}
	members.WriteString("nocons,acme,false\nnullcons,acme,\n")
	db := fixture(t, members.String(), "")
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		holdout  float64
		min, max int
	}{
		{"none", 0, 0, 0}, {"30%", 30, 90, 150}, {"all", 100, 402, 402},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sendRule("promo", allMembers, false, "sms")
			r.Holdout = tc.holdout
			prog := &compiler.Program{Rules: []*compiler.Rule{r}}
			res, err := db.Run(ctx, prog, RunOptions{Now: ts("2024-11-01"), DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			held := map[string]bool{}
			for _, d := range res.Decisions {
				switch {
				case d.Status == "held_out":
					held[d.MemberID] = true
				case d.MemberID == "nocons" || d.MemberID == "nullcons":
					if d.Status != "no_consent" {
						t.Errorf("%s: status %s, want no_consent", d.MemberID, d.Status)
					}
				case d.Status != "pending":
					t.Errorf("%s: status %s", d.MemberID, d.Status)
				}
			}
			if len(held) < tc.min || len(held) > tc.max {
				t.Errorf("%d held out, want %d..%d", len(held), tc.min, tc.max)
			}
			// Stable: the same members again.
			again, err := db.Run(ctx, prog, RunOptions{Now: ts("2024-12-01"), DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range again.Decisions {
				if (d.Status == "held_out") != held[d.MemberID] {
					t.Fatalf("holdout of %s changed between runs", d.MemberID)
				}
			}
		})
	}
}

func TestStopAfterUnanswered(t *testing.T) {
	t.Parallel()
	// m1 never responds; m4 responds (an event within 7 days of each send).
	db := fixture(t, testMembers, "member_id,brand,type,ts\nm4,acme,browsed,2024-11-03\nm4,acme,browsed,2024-11-12\n")
	r := sendRule("remind", `SELECT member_id, CAST(NULL AS BIGINT) AS trigger_seq, CAST(NULL AS TIMESTAMP) AS due_at
		FROM members WHERE brand = $brand::VARCHAR AND member_id IN ('m1', 'm4')`, false, "sms")
	r.Limit = &compiler.Limit{Every: 10 * 24 * time.Hour}
	r.StopAfter = 2
	prog := &compiler.Program{Rules: []*compiler.Rule{r}}
	expect(t, "day 1", run(t, db, prog, "2024-11-01").Decisions, "remind m1 send pending\nremind m4 send pending\n")
	expect(t, "day 11", run(t, db, prog, "2024-11-11").Decisions, "remind m1 send pending\nremind m4 send pending\n")
	// Day 21: m1's two sends went unanswered for 7 days each: give up.
	expect(t, "day 21", run(t, db, prog, "2024-11-21").Decisions, "remind m1 send gave_up\nremind m4 send pending\n")
}

// TestStopAfterGivesUpOnce: `stop after N unanswered` counts the rule's
// sends since the member's last event; the give-up is recorded once and
// not again while the member stays silent (the periodic rule keeps
// firing), and an event of the member starts the count again. The
// incremental evaluation must decide as the full one.
func TestStopAfterGivesUpOnce(t *testing.T) {
	t.Parallel()
	const src = `brand "acme"
import "crm"
rule remind
  if days since last purchased > 3
  then send reminder "come-back" via sms
  limit once per member every 7 days
  stop after 2 unanswered
`
	day0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	inc, full := timeline(t, src, `
		INSERT INTO members (member_id, brand, consent_sms) VALUES ('m1', 'acme', true);
		INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES (1, 'm1', 'acme', 'purchased', TIMESTAMP '2024-03-01 09:00:00', 10)`,
		4, 61, func(db *DB, day int) {
			if day != 35 {
				return
			}
			// m1 browses on day 34 (no purchase: the condition still holds).
			seq, err := db.NextEventSeq(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.sql.Exec(`INSERT INTO events (seq, member_id, brand, type, ts) VALUES ($1, 'm1', 'acme', 'browsed', $2)`,
				seq, day0.AddDate(0, 0, 34).Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		})
	// Days 4 and 11: reminders. Day 18: both went unanswered, give up.
	// Days 25 and 32: the rule fires again but has given up already: not
	// recorded. Day 34: an event. Day 39 (the limit ran out at 32 + 7):
	// the count starts again, reminders on days 39 and 46, give up on 53,
	// and not again on 60.
	want := `day 4: m1 sms pending 
day 11: m1 sms pending 
day 18: m1 sms gave_up 2 unanswered sends
day 39: m1 sms pending 
day 46: m1 sms pending 
day 53: m1 sms gave_up 2 unanswered sends
`
	if full != want {
		t.Errorf("full evaluation:\n%s\nwant:\n%s", full, want)
	}
	if inc != full {
		t.Errorf("incremental:\n%s\nfull:\n%s", inc, full)
	}
}

func TestCaps(t *testing.T) {
	t.Parallel()
	members := "member_id,brand,consent_sms,consent_wechat\nm1,acme,true,true\nm2,acme,true,true\n"
	rule := func(name, channel string, prio int) *compiler.Rule {
		r := sendRule(name, allMembers, false, channel)
		r.Priority = prio
		r.Limit = &compiler.Limit{Every: time.Hour}
		return r
	}
	for _, tc := range []struct {
		name  string
		rules []*compiler.Rule
		caps  []compiler.Cap
		want  string
	}{
		{
			name:  "priority wins",
			rules: []*compiler.Rule{rule("a_low", "sms", 0), rule("b_high", "sms", 10)},
			caps:  []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}},
			want:  "a_low m1 send capped\na_low m2 send capped\nb_high m1 send pending\nb_high m2 send pending\n",
		},
		{
			name:  "then rule name",
			rules: []*compiler.Rule{rule("b", "sms", 0), rule("a", "sms", 0)},
			caps:  []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}},
			want:  "b m1 send capped\nb m2 send capped\na m1 send pending\na m2 send pending\n",
		},
		{
			name:  "other channel not counted",
			rules: []*compiler.Rule{rule("a", "sms", 0), rule("b", "wechat", 0)},
			caps:  []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}},
			want:  "a m1 send pending\na m2 send pending\nb m1 send pending\nb m2 send pending\n",
		},
		{
			// s2 is capped by the sms cap and so does not use the all cap:
			// s3 goes out, s4 is capped by the all cap.
			name: "a capped send does not count",
			rules: []*compiler.Rule{rule("s1", "sms", 4), rule("s2", "sms", 3),
				rule("s3", "wechat", 2), rule("s4", "wechat", 1)},
			caps: []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}, {Count: 2, Per: 24 * time.Hour}},
			want: "s1 m1 send pending\ns1 m2 send pending\ns2 m1 send capped\ns2 m2 send capped\n" +
				"s3 m1 send pending\ns3 m2 send pending\ns4 m1 send capped\ns4 m2 send capped\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fixture(t, members, "")
			prog := &compiler.Program{Rules: tc.rules, Caps: tc.caps}
			expect(t, "run", run(t, db, prog, "2024-11-01 12:00").Decisions, tc.want)
		})
	}

	// Earlier sends in the window count; after the window they do not.
	t.Run("window", func(t *testing.T) {
		db := fixture(t, members, "")
		caps := []compiler.Cap{{Channel: "sms", Count: 2, Per: 24 * time.Hour}}
		prog := &compiler.Program{Rules: []*compiler.Rule{rule("a", "sms", 0)}, Caps: caps}
		run(t, db, prog, "2024-11-01 10:00")
		run(t, db, prog, "2024-11-01 12:00")
		expect(t, "third in a day", run(t, db, prog, "2024-11-01 14:00").Decisions, "a m1 send capped\na m2 send capped\n")
		// Evaluating every member, the refusals repeat and are not recorded.
		res := run(t, db, prog, "2024-11-01 16:00", func(o *RunOptions) { o.EvaluateAll = true })
		expect(t, "capped again: not recorded again", res.Decisions, "")
		if res.Rules[0].Repeats != 2 {
			t.Errorf("repeats = %d, want 2", res.Rules[0].Repeats)
		}
		// A tick after one that evaluated the rule skips the retries: no
		// counted send left the cap's window since, so the cap is full.
		res = run(t, db, prog, "2024-11-01 18:00")
		expect(t, "capped retry skipped", res.Decisions, "")
		if c, r := res.Rules[0].Candidates, res.Rules[0].Repeats; c != 0 || r != 0 {
			t.Errorf("candidates, repeats = %d, %d; want 0, 0 (the retries are skipped)", c, r)
		}
		expect(t, "capped is retried", run(t, db, prog, "2024-11-02 10:30").Decisions, "a m1 send pending\na m2 send pending\n")
		if d := run(t, db, prog, "2024-11-02 11:30").Decisions; len(d) == 0 || d[0].Reason != "cap sms 2 per 1d" {
			t.Errorf("reason = %+v", d)
		}
	})
}

// TestCapReasonIsFirstFullCap: a send that two full caps refuse names the
// first cap declared in its reason (the order why lists them in), not the
// least label: both for a member's only open send and for sends that
// compete.
func TestCapReasonIsFirstFullCap(t *testing.T) {
	t.Parallel()
	members := "member_id,brand,consent_sms\nm1,acme,true\n"
	rule := func(name string) *compiler.Rule {
		r := sendRule(name, allMembers, false, "sms")
		r.Limit = &compiler.Limit{Every: time.Hour}
		return r
	}
	// "cap all 1 per 7d" sorts before "cap sms 1 per 1d".
	caps := []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}, {Count: 1, Per: 7 * 24 * time.Hour}}
	for _, tc := range []struct {
		name  string
		rules []*compiler.Rule
	}{
		{"only send", []*compiler.Rule{rule("a")}},
		{"competing sends", []*compiler.Rule{rule("a"), rule("b")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fixture(t, members, "")
			prog := &compiler.Program{Rules: tc.rules[:1], Caps: caps}
			expect(t, "first send", run(t, db, prog, "2024-11-01 10:00").Decisions, "a m1 send pending\n")
			prog.Rules = tc.rules
			decs := run(t, db, prog, "2024-11-01 12:00").Decisions
			if len(decs) != len(tc.rules) {
				t.Fatalf("decisions = %+v, want %d", decs, len(tc.rules))
			}
			for _, d := range decs {
				if d.Status != "capped" || d.Reason != "cap sms 1 per 1d" {
					t.Errorf("%s: status %q reason %q, want capped by %q", d.Rule, d.Status, d.Reason, "cap sms 1 per 1d")
				}
			}
		})
	}
}

func TestQuietHours(t *testing.T) {
	t.Parallel()
	night := []compiler.Quiet{{From: 22 * 60, To: 8 * 60}}
	for _, tc := range []struct {
		name, now string
		quiet     []compiler.Quiet
		want      string // "" not quiet
	}{
		{"evening", "2024-11-11 23:00", night, "2024-11-12 08:00"},
		{"at start", "2024-11-11 22:00", night, "2024-11-12 08:00"},
		{"after midnight", "2024-11-12 03:00", night, "2024-11-12 08:00"},
		{"at end", "2024-11-12 08:00", night, ""},
		{"day", "2024-11-12 12:00", night, ""},
		{"same day period", "2024-11-12 12:30", []compiler.Quiet{{From: 12 * 60, To: 14 * 60}}, "2024-11-12 14:00"},
		{"chained periods", "2024-11-12 07:00", append([]compiler.Quiet{{From: 7 * 60, To: 9 * 60}}, night...), "2024-11-12 09:00"},
		{"year end", "2024-12-31 23:30", night, "2025-01-01 08:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end, _, ok := quietEnd(ts(tc.now), tc.quiet)
			got := ""
			if ok {
				got = end.Format("2006-01-02 15:04")
			}
			if got != tc.want {
				t.Errorf("quietEnd(%s) = %q, want %q", tc.now, got, tc.want)
			}
		})
	}

	db := fixture(t, testMembers, "")
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("gold", goldMembers, false, "wechat")}, Quiet: night}
	expect(t, "run in quiet hours", run(t, db, prog, "2024-11-11 23:00").Decisions,
		"gold m1 send scheduled @11-12 08:00\ngold m2 send scheduled @11-12 08:00\n")
}

func TestTagsAndNotify(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, "")
	r := sendRule("gold", goldMembers, false, "sms")
	r.Actions = append(r.Actions, compiler.Action{Verb: "tag", Content: "vip"}, compiler.Action{Verb: "notify", Content: "crm"})
	un := &compiler.Rule{Name: "untag", SQL: `SELECT 'm2' AS member_id, CAST(NULL AS BIGINT) AS trigger_seq, CAST(NULL AS TIMESTAMP) AS due_at`,
		Actions: []compiler.Action{{Verb: "untag", Content: "vip"}}, Limit: &compiler.Limit{Every: time.Hour}}
	prog := &compiler.Program{Rules: []*compiler.Rule{r}}
	res := run(t, db, prog, "2024-11-01")
	expect(t, "actions", res.Decisions,
		"gold m1 send pending\ngold m1 tag applied\ngold m1 notify pending\ngold m2 send no_consent\ngold m2 tag applied\ngold m2 notify pending\n")
	ids := map[string]bool{}
	for _, d := range res.Decisions {
		if d.MemberID == "m1" {
			ids[d.FiringID] = true
		}
	}
	if len(ids) != 1 {
		t.Errorf("actions of one firing have %d firing ids", len(ids))
	}
	if got := strings.Join(queryStrings(t, db, `SELECT member_id, tag, rule FROM member_tags ORDER BY member_id`), " "); got != "m1|vip|gold m2|vip|gold" {
		t.Errorf("tags = %s", got)
	}
	run(t, db, &compiler.Program{Rules: []*compiler.Rule{un}}, "2024-11-02")
	if got := strings.Join(queryStrings(t, db, `SELECT member_id FROM member_tags`), " "); got != "m1" {
		t.Errorf("tags after untag = %s", got)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, testEvents)
	r := sendRule("store_a", queuedAtA, true, "sms")
	r.Actions = append(r.Actions, compiler.Action{Verb: "tag", Content: "queued"})
	prog := &compiler.Program{Rules: []*compiler.Rule{r, sendRule("gold", goldMembers, false, "sms")}}
	tables := `SELECT (SELECT count(*) FROM outbox) || '/' || (SELECT count(*) FROM rule_state) || '/' ||
		(SELECT count(*) FROM runs) || '/' || (SELECT count(*) FROM member_tags)`
	before := queryStrings(t, db, tables)
	dry := run(t, db, prog, "2024-11-11 12:00", func(o *RunOptions) { o.DryRun = true })
	if after := queryStrings(t, db, tables); after[0] != before[0] {
		t.Errorf("dry run changed the tables: %s -> %s", before[0], after[0])
	}
	want := "store_a m1 send pending\nstore_a m1 tag applied\nstore_a m3 send pending\nstore_a m3 tag applied\ngold m1 send pending\ngold m2 send no_consent\n"
	expect(t, "dry run", dry.Decisions, want)
	if !dry.Decisions[0].FiredAt.Equal(ts("2024-11-11 12:00")) {
		t.Errorf("fired_at = %v", dry.Decisions[0].FiredAt)
	}
	// The real run decides the same.
	expect(t, "real run", run(t, db, prog, "2024-11-11 12:00").Decisions, want)
}

func TestBrand(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers+"z1,zeta,gold,true,true,true\n", "")
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("gold", goldMembers, false, "wechat")}}
	ctx := context.Background()
	_, err := db.Run(ctx, prog, RunOptions{Now: ts("2024-11-01")})
	if want := `the database holds several brands (acme, zeta); name one with brand "..." in the rules or --brand`; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	res, err := db.Run(ctx, prog, RunOptions{Now: ts("2024-11-01"), Brand: "zeta"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "zeta", res.Decisions, "gold z1 send pending\n")
	prog.Brand = "acme"
	if _, err := db.Run(ctx, prog, RunOptions{Now: ts("2024-11-01"), Brand: "zeta"}); err == nil || err.Error() != `the rules say brand "acme" but --brand says "zeta"` {
		t.Errorf("error = %v", err)
	}
	res, err = db.Run(ctx, prog, RunOptions{Now: ts("2024-11-01")})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "acme", res.Decisions, "gold m1 send pending\ngold m2 send pending\n")
}

func TestRuleErrorNamesRule(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, "")
	// The rules run in one statement; its failure is traced to the rule.
	prog := &compiler.Program{Rules: []*compiler.Rule{
		sendRule("gold", goldMembers, false, "wechat"),
		sendRule("broken", "SELECT nope FROM members", false, "sms"),
	}}
	_, err := db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-01")})
	if err == nil || !strings.Contains(err.Error(), "rule broken (test.nudge:1)") {
		t.Fatalf("error = %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM runs`); n != 0 {
		t.Errorf("a failed run left %d run rows", n)
	}

	// Scoped rules run together in one statement; when it fails, the tick
	// runs again rule by rule and the error still names the rule.
	db = fixture(t, testMembers, testEvents)
	bad := sendRule("broken_scoped", queuedAtA, true, "sms")
	bad.Tick.ScopedSQL, bad.Events = "SELECT nope FROM "+tickform.ScopeEvents, []string{"queued"}
	good := sendRule("store_a", queuedAtA, true, "app_push")
	good.Tick.ScopedSQL, good.Events = strings.ReplaceAll(queuedAtA, "FROM events", "FROM "+tickform.ScopeEvents), []string{"queued"}
	good.Tick.ScopeEventReads = map[string][]string{"queued": {"store"}}
	prog = &compiler.Program{Rules: []*compiler.Rule{good, bad}}
	_, err = db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-11 12:00")})
	if err == nil || !strings.Contains(err.Error(), "rule broken_scoped (test.nudge:1)") {
		t.Fatalf("error = %v", err)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, "")
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("gold", goldMembers, false, "wechat")}}
	ctx, cancel := context.WithCancel(context.Background())
	ticks := 0
	var fired int
	err := db.Watch(ctx, prog, RunOptions{}, 20*time.Millisecond, func(res *RunResult, err error) {
		if err != nil {
			t.Errorf("tick: %v", err)
			return
		}
		ticks++
		fired += len(res.Decisions)
		if ticks == 3 {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The once-ever limit: the first tick fires for both gold members, the
	// later ones fire nothing.
	if ticks != 3 || fired != 2 {
		t.Errorf("%d ticks fired %d decisions; want 3 ticks, 2 decisions", ticks, fired)
	}
	if n := count(t, db, `SELECT count(*) FROM runs`); n != 3 {
		t.Errorf("%d runs logged, want 3", n)
	}
	if err := db.Watch(context.Background(), prog, RunOptions{Now: ts("2024-01-01")}, time.Second, nil); err == nil {
		t.Error("watch accepted a fixed now")
	}
}

func TestDecisionJSON(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, testEvents)
	r := sendRule("store_a", queuedAtA, true, "sms")
	r.Actions = append(r.Actions, compiler.Action{Verb: "tag", Content: "queued"})
	res := run(t, db, &compiler.Program{Rules: []*compiler.Rule{r}}, "2024-11-11 12:00")
	var lines []string
	for _, d := range res.Decisions[:2] {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	got := strings.Join(lines, "\n")
	id := res.Decisions[0].FiringID
	want := `{"rule":"store_a","member_id":"m1","firing_id":"` + id + `","action":"send","kind":"coupon","content":"C-store_a","channel":"sms","status":"pending","fired_at":"2024-11-11T12:00:00","scheduled_at":null,"due_at":"2024-11-11T09:00:00","trigger_seq":1,"idempotency_key":"` + id + `-0","values":{"store":"A"}}
{"rule":"store_a","member_id":"m1","firing_id":"` + id + `","action":"tag","kind":null,"content":"queued","channel":null,"status":"applied","fired_at":"2024-11-11T12:00:00","scheduled_at":null,"due_at":"2024-11-11T09:00:00","trigger_seq":1,"idempotency_key":"` + id + `-1","values":{"store":"A"}}`
	if got != want {
		t.Errorf("json:\n%s\nwant:\n%s", got, want)
	}
}

func TestEmptyProgram(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, testEvents)
	res := run(t, db, &compiler.Program{}, "2024-11-11 12:00")
	if len(res.Decisions) != 0 || len(res.Rules) != 0 || res.RunID != 1 {
		t.Errorf("empty program: %+v", res)
	}
}

func TestLookback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		lookback time.Duration
		want     string
	}{
		{"default 24h", 0, "store_a m1 send pending\nstore_a m3 send pending\n"},
		{"3h", 3 * time.Hour, "store_a m3 send pending\n"},
		{"2h excludes an event exactly 2h old", 2 * time.Hour, ""},
		{"72h", 72 * time.Hour, "store_a m1 send pending\nstore_a m3 send pending\nstore_a m4 send pending\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fixture(t, testMembers, testEvents)
			prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("store_a", queuedAtA, true, "app_push")}}
			res := run(t, db, prog, "2024-11-11 12:00", func(o *RunOptions) { o.Lookback = tc.lookback })
			expect(t, "first run", res.Decisions, tc.want)
		})
	}
}

// TestParameterLikeLiterals: the rules run in one statement with their
// watermark parameters renamed; a string literal that looks like one is
// data and stays as it is.
func TestParameterLikeLiterals(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, "member_id,brand,type,ts,store\n"+
		"m1,acme,queued,2024-11-11 09:00,$wm_seq::BIGINT\nm3,acme,queued,2024-11-11 09:30,A\n")
	path := writeFile(t, t.TempDir(), "r.nudge", `brand "acme"
import "crm"
rule odd
  if queued at store "$wm_seq::BIGINT"
  then send coupon "X" via app_push
rule plain
  if queued at store "A"
  then send coupon "Y" via app_push
`)
	prog := compileFile(t, path)
	expect(t, "first", run(t, db, prog, "2024-11-11 12:00").Decisions, "odd m1 send pending\nplain m3 send pending\n")
	expect(t, "again", run(t, db, prog, "2024-11-11 13:00").Decisions, "")
}

// TestUnquotableProgramText: a text the tick would write into its SQL
// (here an action's content with a NUL) is refused before anything runs,
// naming the rule.
func TestUnquotableProgramText(t *testing.T) {
	t.Parallel()
	db := fixture(t, testMembers, "")
	r := sendRule("gold", goldMembers, false, "wechat")
	r.Actions[0].Content = "C-\x00"
	_, err := db.Run(context.Background(), &compiler.Program{Rules: []*compiler.Rule{r}}, RunOptions{Now: ts("2024-11-01")})
	if err == nil || !strings.Contains(err.Error(), "test.nudge:1: rule gold: the text") || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("error = %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM runs`); n != 0 {
		t.Errorf("%d runs recorded", n)
	}
}

func TestQuoteFailsLoudly(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	var s string
	err := db.sql.QueryRow("SELECT " + quoteString("a\x00b")).Scan(&s)
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("quoting an unquotable string gave %q, %v; want a failing statement", s, err)
	}
	if q := quoteString("it's"); q != "'it''s'" {
		t.Errorf("quoteString = %s", q)
	}
}
