package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/runtime/demodata"
)

// TestIncrementalMatchesFull is the proof of incremental evaluation: two
// copies of a demo database go through the same random history (new, late
// and future-dated events; members edited; failed
// sends; opt-ins and opt-outs; steps of minutes to a month, a repeated
// now, a step back in time)
// and tick the example rules after each change, one copy incrementally,
// the other evaluating every member at every tick (RunOptions.EvaluateAll)
// and reading the outbox back to the oldest capped refusal instead of the
// retry horizon (internal/tick/02_plan.go), so the same history also
// proves that the horizon changes no decision: the history runs over
// months, past the examples' longest cap window of 30 days.
// Every tick must decide the same ("-" lines: only the full evaluation
// decided them, "+": only the incremental one), and the outbox, tags and limits must end
// equal.
func TestIncrementalMatchesFull(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	if testing.Short() {
		t.Skip("long: many ticks over a demo database")
	}
	t.Run("examples", func(t *testing.T) {
		steps := []time.Duration{0, 10 * time.Minute, time.Hour, time.Hour, 3 * time.Hour, 14 * time.Hour, 24 * time.Hour, 25 * time.Hour, 72 * time.Hour, 31 * 24 * time.Hour}
		db := incrementalMatchesFull(t, compileExamples(t), steps, 28)
		historyCovers(t, db, 60*24*time.Hour)
	})
	t.Run("stress", func(t *testing.T) {
		steps := []time.Duration{0, 20 * time.Minute, time.Hour, time.Hour, 5 * time.Hour, 11 * time.Hour, 24 * time.Hour, 49 * time.Hour, 5 * 24 * time.Hour}
		db := incrementalMatchesFull(t, compileFile(t, "testdata/incremental.nudge"), steps, 28)
		historyCovers(t, db, 14*24*time.Hour)
	})
}

// historyCovers fails unless the history of TestIncrementalMatchesFull on
// db exercised what the comparison is about: ticks spanning at least span
// (past the rules' longest cap window, so that the retry horizon is
// crossed), capped refusals and sends given up after unanswered ones.
func historyCovers(t *testing.T, db *DB, span time.Duration) {
	t.Helper()
	var days float64
	if err := db.sql.QueryRow(`SELECT (epoch(max(now)) - epoch(min(now))) / 86400 FROM runs`).Scan(&days); err != nil {
		t.Fatal(err)
	}
	if want := span.Hours() / 24; days < want {
		t.Errorf("the history spans %.1f days, want at least %.0f", days, want)
	}
	for _, st := range []string{"capped", "gave_up"} {
		if n := count(t, db, `SELECT count(*) FROM outbox WHERE status = '`+st+`'`); n == 0 {
			t.Errorf("no %s decision in the history: the test proves nothing of them", st)
		}
	}
}

func incrementalMatchesFull(t *testing.T, prog *compiler.Program, steps []time.Duration, ticks int) *DB {
	db := differential(t, prog, steps, ticks, func(inc, full *DB) {
		// The incremental side clusters the events its ticks consumed
		// (cluster.go) once 400 have gathered, every two or three ticks, so
		// the two also differ in the events' layout (clustered, and a tail
		// not clustered yet) and the scans' filters that follow from it.
		inc.clusterMin = 400
		full.unboundedRetry = true
	}, RunOptions{EvaluateAll: true})
	var clustered int64
	if err := db.sql.QueryRow(`SELECT ` + clusteredSeqSQL).Scan(&clustered); err != nil {
		t.Fatal(err)
	}
	if clustered == 0 {
		t.Error("the incremental side clustered no events")
	}
	return db
}

// differential runs two copies of a demo database (configured by setup:
// the first is ticked with default options, the second with other)
// through the same random history and fails on the first tick where
// their decisions differ, or when their outbox, tags and limits end up
// different. It returns the first copy.
func differential(t *testing.T, prog *compiler.Program, steps []time.Duration, ticks int, setup func(first, second *DB), other RunOptions) *DB {
	ctx := context.Background()
	dir := t.TempDir()
	first := demoDB(t, filepath.Join(dir, "first.duckdb"), 2500)
	second := demoDB(t, filepath.Join(dir, "second.duckdb"), 2500)
	setup(first, second)
	rng := rand.New(rand.NewPCG(7, 11))
	now := demodata.DefaultNow.Add(-48 * time.Hour)
	var scoped, state int
	for i := range ticks {
		step := steps[rng.IntN(len(steps))]
		if i == 25 {
			step = -5 * time.Hour // time goes back once
		}
		now = now.Add(step)
		var ops []string
		if rng.IntN(3) > 0 {
			path := filepath.Join(dir, fmt.Sprintf("events%d.csv", i))
			writeEvents(t, path, rng, now, 20+rng.IntN(200))
			for _, db := range []*DB{first, second} {
				if _, err := db.Import(ctx, "events", []string{path}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Events of members not imported yet (W...), who arrive two ticks
		// later, within the lookback or not, but for one who never does
		// (SPEC §5, arrivals.go). (The random history is left as it was.)
		if i%8 == 2 {
			path := filepath.Join(dir, fmt.Sprintf("waiting%d.csv", i))
			var b strings.Builder
			b.WriteString("member_id,brand,type,ts,store,amount,order_id\n")
			for j := range 6 {
				typ := []string{"queued", "order_placed", "purchased"}[j%3]
				fmt.Fprintf(&b, "W%03d%d,acme,%s,%s,A,%d,w%d-%d\n", i, j%5, typ, now.Add(-time.Duration(j*25)*time.Minute).Format("2006-01-02 15:04:05"), 50+j, i, j)
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, db := range []*DB{first, second} {
				if _, err := db.Import(ctx, "events", []string{path}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Opt-ins and opt-outs (SPEC §9), some late or future-dated, from
		// their own random source so the rest of the history is unchanged.
		if i%4 == 3 {
			path := filepath.Join(dir, fmt.Sprintf("optouts%d.csv", i))
			writeOptOuts(t, path, rand.New(rand.NewPCG(uint64(i), 13)), now, 25)
			for _, db := range []*DB{first, second} {
				if _, err := db.Import(ctx, "events", []string{path}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i%8 == 4 {
			ops = append(ops, fmt.Sprintf(`INSERT INTO members (member_id, brand, consent_sms, consent_app_push, consent_email, consent_wechat)
				SELECT DISTINCT member_id, 'acme', true, true, true, true FROM events WHERE member_id LIKE 'W%03d%%' AND member_id <> 'W%03d4'`, i-2, i-2))
		}
		if rng.IntN(6) == 0 {
			ops = append(ops, fmt.Sprintf(`UPDATE members SET consent_sms = NOT coalesce(consent_sms, false), tier = 'silver'
				WHERE hash(member_id || '%d') %% 40 = 0`, i))
		}
		if rng.IntN(5) == 0 {
			ops = append(ops, fmt.Sprintf(`UPDATE outbox SET status = 'failed'
				WHERE status IN ('pending', 'scheduled') AND hash(firing_id || '%d') %% 5 = 0`, i))
		}
		if rng.IntN(4) == 0 {
			ops = append(ops, `UPDATE outbox SET status = 'sent', sent_at = fired_at WHERE status = 'pending'`)
		}
		for _, op := range ops {
			for _, db := range []*DB{first, second} {
				if _, err := db.sql.ExecContext(ctx, op); err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(op, "UPDATE members") || strings.HasPrefix(op, "INSERT INTO members") {
					if err := db.MembersChanged(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		a, err := first.Run(ctx, prog, RunOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		opts := other
		opts.Now = now
		b, err := second.Run(ctx, prog, opts)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := brief(a.Decisions), brief(b.Decisions); got != want {
			t.Fatalf("tick %d at %s (step %v, ops %d): the two sides decide differently (-: only the second, +: only the first):\n%s", i, now, step, len(ops), diffLines(strings.Split(want, "\n"), strings.Split(got, "\n")))
		}
		var inc []string
		for _, s := range a.Rules {
			if s.Incremental {
				scoped++
				inc = append(inc, s.Rule)
			}
			if !s.Trigger {
				state++
			}
		}
		for _, s := range b.Rules {
			if s.Incremental && other.EvaluateAll {
				t.Fatalf("rule %s was evaluated incrementally with EvaluateAll", s.Rule)
			}
		}
		t.Logf("tick %2d at %s (%v): %d decisions; incremental: %s", i, now.Format("2006-01-02 15:04"), step, len(a.Decisions), strings.Join(inc, " "))
	}
	t.Logf("capped refusals on record: %d; capped in outbox %d; %s", count(t, first, `SELECT count(*) FROM rule_members WHERE last_capped`), count(t, first, `SELECT count(*) FROM outbox WHERE status = 'capped'`), dump(t, first, `SELECT rule, count(*) FROM outbox WHERE status = 'capped' GROUP BY ALL`))
	// Some trigger rule fired on an event that waited for its member.
	if n := count(t, first, `SELECT count(*) FROM outbox WHERE member_id LIKE 'W%' AND trigger_seq IS NOT NULL`); n == 0 {
		t.Error("no trigger rule fired for a member who arrived after its events: the history tests nothing of them")
	}
	// The test proves nothing unless most evaluations were incremental.
	if scoped < state/2 {
		t.Errorf("only %d of %d state-rule evaluations were incremental", scoped, state)
	}
	// (acme's: the second side may also hold another brand's, see
	// TestBrandsDoNotCross.)
	for _, q := range []string{
		`SELECT rule, member_id, dedupe_key, action_index, status, coalesce(reason, ''), fired_at, CAST(vals AS VARCHAR) FROM outbox WHERE brand = 'acme' ORDER BY ALL`,
		// last_fired_at and last_capped also note refusals that are not
		// recorded, which only the full evaluation repeats.
		`SELECT rule, member_id, last_effective_at, last_effective FROM rule_members WHERE brand = 'acme' ORDER BY ALL`,
		`SELECT member_id, tag, tagged_at FROM member_tags WHERE brand = 'acme' ORDER BY ALL`,
	} {
		if got, want := dump(t, first, q), dump(t, second, q); got != want {
			t.Errorf("%s\ndiffers:\n%s", q, diffLines(strings.Split(want, "\n"), strings.Split(got, "\n")))
		}
	}
	return first
}

// writeEvents writes n events of acme demo members around now: most due
// within the last hour, some late (days old), some in the future.
func writeEvents(t *testing.T, path string, rng *rand.Rand, now time.Time, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("member_id,brand,type,ts,store,sku,amount,order_id\n")
	types := []string{"purchased", "purchased", "visited", "queued", "booked", "browsed", "order_placed", "paid"}
	for range n {
		m := fmt.Sprintf("M%08d", 1+rng.IntN(2000))
		typ := types[rng.IntN(len(types))]
		ts := now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
		late := false
		switch rng.IntN(10) {
		case 0:
			ts = now.Add(-time.Duration(rng.IntN(400*24)) * time.Hour) // late
			late = true
		case 1:
			ts = now.Add(time.Duration(1+rng.IntN(48)) * time.Hour) // future-dated
		}
		amount := fmt.Sprintf("%.2f", 10+rng.Float64()*300)
		sku := []string{"TB-10PK", "FROG", "X1"}[rng.IntN(3)]
		// (Few orders per member, so that payments often match an order.)
		order := fmt.Sprintf("o%s-%d", m, rng.IntN(2))
		fmt.Fprintf(&b, "%s,acme,%s,%s,%s,%s,%s,%s\n", m, typ, ts.Format("2006-01-02 15:04:05"), []string{"A", "B"}[rng.IntN(2)], sku, amount, order)
		if late && typ == "order_placed" {
			// A late order paid within the hour: only a copy of the
			// payments that reaches back to the late order sees it.
			fmt.Fprintf(&b, "%s,acme,paid,%s,A,%s,%s,%s\n", m, ts.Add(30*time.Minute).Format("2006-01-02 15:04:05"), sku, amount, order)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeOptOuts writes n subscribed and unsubscribed events of random demo
// members on random channels around now.
func writeOptOuts(t *testing.T, path string, rng *rand.Rand, now time.Time, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("member_id,brand,type,ts,channel\n")
	for range n {
		typ := []string{"subscribed", "unsubscribed", "unsubscribed"}[rng.IntN(3)]
		ts := now.Add(time.Duration(rng.IntN(7200)-5400) * time.Second)
		fmt.Fprintf(&b, "M%08d,acme,%s,%s,%s\n", 1+rng.IntN(2000), typ, ts.Format("2006-01-02 15:04:05"), []string{"sms", "wechat", "app_push"}[rng.IntN(3)])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dump(t *testing.T, db *DB, q string) string {
	t.Helper()
	rows, err := db.sql.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals...)
	}
	return b.String()
}

// nagSource is one rule that a cap of one sms per 30 days refuses from its
// second firing on.
const nagSource = `brand "acme"
import "crm"
cap sms to 1 per 30 days
rule nag
  if days since last purchased > 3
  then send reminder "come-back" via sms
  limit once per member every 1 day
  stop after 1 unanswered
`

// nagTimeline ticks nagSource daily from day 4 to day 13 after member m1's
// purchase, incrementally and with EvaluateAll, calling before (when set)
// before each tick, and returns both decision logs.
func nagTimeline(t *testing.T, before func(db *DB, day int)) (incremental, full string) {
	return timeline(t, nagSource, `
		INSERT INTO members (member_id, brand, consent_sms) VALUES ('m1', 'acme', true);
		INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES (1, 'm1', 'acme', 'purchased', TIMESTAMP '2024-03-01 09:00:00', 10)`,
		4, 13, before)
}

// timeline runs setup (SQL) on a new database and ticks src daily at 10:00
// from 2024-03-01 plus the days first to last, incrementally and with
// EvaluateAll, calling before (when set) before each tick, and returns both
// decision logs, a line per decision.
func timeline(t *testing.T, src, setup string, first, last int, before func(db *DB, day int)) (incremental, full string) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "timeline.nudge")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := compileFile(t, path)
	day0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	var got [2]string
	for k, all := range []bool{false, true} {
		db, err := Open(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.sql.ExecContext(ctx, setup); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for d := first; d <= last; d++ {
			if before != nil {
				before(db, d)
			}
			res, err := db.Run(ctx, prog, RunOptions{Now: day0.AddDate(0, 0, d), EvaluateAll: all})
			if err != nil {
				t.Fatal(err)
			}
			for _, dec := range res.Decisions {
				fmt.Fprintf(&b, "day %d: %s %s %s %s\n", d, dec.MemberID, dec.Channel, dec.Status, dec.Reason)
			}
		}
		got[k] = b.String()
	}
	return got[0], got[1]
}

// TestRefusedRetry: a firing refused with one send capped and the other
// without consent is retried at the next ticks (the caps may have room),
// while one refused for want of consent on every channel is not retried
// incrementally, and neither shows in the outbox again until it fires.
func TestRefusedRetry(t *testing.T) {
	t.Parallel()
	const src = `brand "acme"
import "crm"
cap sms to 1 per 2 days
rule hello
  if days since last purchased > 3
  then send reminder "a" via sms and send reminder "b" via email
  limit once per member every 1 day
`
	inc, full := timeline(t, src, `
		INSERT INTO members (member_id, brand, consent_sms, consent_email) VALUES ('m1', 'acme', true, false), ('m2', 'acme', false, false);
		INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES
			(1, 'm1', 'acme', 'purchased', TIMESTAMP '2024-03-01 09:00:00', 10),
			(2, 'm2', 'acme', 'purchased', TIMESTAMP '2024-03-01 09:00:00', 10)`, 4, 9, nil)
	want := `day 4: m1 sms pending 
day 4: m1 email no_consent no consent_email
day 4: m2 sms no_consent no consent_sms
day 4: m2 email no_consent no consent_email
day 5: m1 sms capped cap sms 1 per 2d
day 5: m1 email no_consent no consent_email
day 6: m1 sms pending 
day 6: m1 email no_consent no consent_email
day 7: m1 sms capped cap sms 1 per 2d
day 7: m1 email no_consent no consent_email
day 8: m1 sms pending 
day 8: m1 email no_consent no consent_email
day 9: m1 sms capped cap sms 1 per 2d
day 9: m1 email no_consent no consent_email
`
	if full != want {
		t.Errorf("full evaluation:\n%s\nwant:\n%s", full, want)
	}
	if inc != full {
		t.Errorf("incremental:\n%s\nfull:\n%s", inc, full)
	}
}

// TestCappedRetry: a capped state-rule firing is retried only when it may
// not be refused again. Each case's log is checked for the full evaluation
// of SPEC §5 and the incremental one must equal it.
func TestCappedRetry(t *testing.T) {
	t.Parallel()
	// pendingBecomes is a before hook that, on day d, gives every pending
	// send the status st (as dispatch would).
	pendingBecomes := func(d int, st string) func(db *DB, day int) {
		return func(db *DB, day int) {
			if day == d {
				if _, err := db.sql.Exec(`UPDATE outbox SET status = $1 WHERE status = 'pending'`, st); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, tc := range []struct {
		name   string
		before func(db *DB, day int)
		want   string
	}{{
		// When an earlier send's response window closes unanswered, the
		// rule gives up (gave_up is recorded once and uses up the limit)
		// though the cap is still full; while m1 stays silent it is not
		// recorded again.
		name: "gives up after an unanswered send",
		want: `day 4: m1 sms pending 
day 5: m1 sms capped cap sms 1 per 30d
day 11: m1 sms gave_up 1 unanswered sends
`,
	}, {
		// A failed send no longer counts against the cap (nor as unanswered):
		// the retry goes out.
		name:   "a failed send frees the cap",
		before: pendingBecomes(7, "failed"),
		want: `day 4: m1 sms pending 
day 5: m1 sms capped cap sms 1 per 30d
day 7: m1 sms pending 
day 8: m1 sms capped cap sms 1 per 30d
`,
	}, {
		// So does one that expired before it was dispatched.
		name:   "an expired send frees the cap",
		before: pendingBecomes(7, "expired"),
		want: `day 4: m1 sms pending 
day 5: m1 sms capped cap sms 1 per 30d
day 7: m1 sms pending 
day 8: m1 sms capped cap sms 1 per 30d
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			inc, full := nagTimeline(t, tc.before)
			if full != tc.want {
				t.Errorf("full evaluation:\n%s\nwant:\n%s", full, tc.want)
			}
			if inc != full {
				t.Errorf("incremental:\n%s\nfull:\n%s", inc, full)
			}
		})
	}
}

// TestNewDayScope: on a new day a rule on the member's birthday is
// evaluated only for the members whose birthday came or went (still
// firing on the day), while a rule on a calendar date re-evaluates
// everyone on the days its date atom changes, and only then.
func TestNewDayScope(t *testing.T) {
	t.Parallel()
	const src = `brand "acme"
import "crm"
rule bday
  if birthday_in(0 days)
  then send coupon "BDAY" via sms
  limit once per member every 365 days
rule launch
  if days_since(2024-03-05) = 0 and member.tier = "gold"
  then send news "launch" via sms
`
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "day.nudge")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := compileFile(t, path)
	db, err := Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO members (member_id, brand, consent_sms, birthday, tier) VALUES
		('m1', 'acme', true, DATE '1990-03-03', 'gold'), ('m2', 'acme', true, DATE '1985-03-05', 'silver'), ('m3', 'acme', true, DATE '1970-07-01', 'gold')`); err != nil {
		t.Fatal(err)
	}
	var log []string
	for d := 1; d <= 6; d++ {
		res, err := db.Run(ctx, prog, RunOptions{Now: time.Date(2024, 3, d, 10, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Rules {
			log = append(log, fmt.Sprintf("day %d %s incremental=%v firings=%d", d, s.Rule, s.Incremental, s.Firings))
		}
	}
	want := []string{
		// The first tick evaluates everyone.
		"day 1 bday incremental=false firings=0", "day 1 launch incremental=false firings=0",
		"day 2 bday incremental=true firings=0", "day 2 launch incremental=true firings=0",
		"day 3 bday incremental=true firings=1", "day 3 launch incremental=true firings=0",
		"day 4 bday incremental=true firings=0", "day 4 launch incremental=true firings=0",
		// Mar 5: the calendar atom changed for everyone.
		"day 5 bday incremental=true firings=1", "day 5 launch incremental=false firings=2",
		"day 6 bday incremental=true firings=0", "day 6 launch incremental=false firings=0",
	}
	if !slices.Equal(log, want) {
		t.Errorf("ticks:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}
