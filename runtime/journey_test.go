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
	"nudge/lang"
	"nudge/stdlib"
)

// compileJourneys compiles one program file with journeys.
func compileJourneys(t *testing.T, src string) *compiler.Program {
	t.Helper()
	p, diags := lang.LoadSources([]lang.Source{{Name: filepath.Join(t.TempDir(), "j.nudge"), Src: []byte(src)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		t.Fatalf("%v", diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if prog == nil || diags.HasErrors() {
		t.Fatalf("compile: %v", diags)
	}
	if len(prog.Journeys) == 0 {
		t.Fatal("no journey compiled")
	}
	return prog
}

// journeyPath renders a database's journey decisions, in a stable order,
// without what depends on when ticks ran (fired_at, run ids).
func journeyPath(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.sql.QueryContext(context.Background(), `
SELECT member_id, action, coalesce(content, ''), coalesce(channel, ''), status, strftime(due_at, '%m-%d %H:%M'),
       coalesce(CAST(step AS VARCHAR), '-'), coalesce(variant, '-')
FROM outbox WHERE journey IS NOT NULL
ORDER BY member_id, due_at, CASE action WHEN 'enter' THEN 0 WHEN 'exit' THEN 2 WHEN 'complete' THEN 3 ELSE 1 END, step, content`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var f [8]string
		if err := rows.Scan(&f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7]); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(f[:], " ") + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The unpaid-order journey (SPEC §8) and its members are runtimetest's
// UnpaidJourney and UnpaidMembers: this package's internal tests cannot
// import runtimetest, which imports runtime, so they read its files.
var (
	unpaidJourney = runtimetestFile("unpaid.nudge")
	unpaidMembers = runtimetestFile("unpaid_members.csv")
)

// runtimetestFile reads a file of runtime/runtimetest/testdata.
func runtimetestFile(name string) string {
	b, err := os.ReadFile(filepath.Join("runtimetest", "testdata", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

const unpaidEvents = `member_id,brand,type,ts,amount,order_id
m1,acme,order_placed,2024-11-10 10:00,80,o1
m2,acme,order_placed,2024-11-10 10:00,80,o2
m2,acme,paid,2024-11-10 12:00,80,o2
m3,acme,order_placed,2024-11-10 10:00,20,o3
m4,acme,order_placed,2024-11-10 11:00,99,o4
m4,acme,paid,2024-11-10 13:00,99,o9
m4,acme,paid,2024-11-10 20:00,99,o4
`

// TestJourneyUnpaid runs SPEC §8's unpaid-order journey: entry on the
// event, waits, a split, an exit by the matching payment (m2's, at 12:00,
// before the split due at 16:30: the exit names the split's line; m4's
// payment of another order does not end it), completion;
// the sends pass the policies (m4 has no app_push consent); a rerun at
// the same now decides nothing.
func TestJourneyUnpaid(t *testing.T) {
	t.Parallel()
	db := fixture(t, unpaidMembers, unpaidEvents)
	prog := compileJourneys(t, unpaidJourney)
	lookback := func(o *RunOptions) { o.Lookback = 48 * time.Hour }
	res := run(t, db, prog, "2024-11-10 10:00", lookback)
	expect(t, "entry", res.Decisions, "unpaid m1 enter applied\nunpaid m2 enter applied\n")
	for _, d := range res.Decisions {
		if d.Journey != "unpaid" || d.Step != nil || d.Variant != "" {
			t.Errorf("enter decision %+v: want journey unpaid, no step, no variant", d)
		}
	}
	res = run(t, db, prog, "2024-11-11 00:00", lookback)
	if again := run(t, db, prog, "2024-11-11 00:00", lookback); len(again.Decisions) != 0 {
		t.Errorf("a rerun at the same now decided:\n%s", brief(again.Decisions))
	}
	got := journeyPath(t, db)
	want := `m1 enter   applied 11-10 10:00 - -
m1 send PAY-1 app_push pending 11-10 10:30 7 -
m1 send PAY-2 sms pending 11-10 16:30 11 sms_only
m1 complete   applied 11-10 16:30 - sms_only
m2 enter   applied 11-10 10:00 - -
m2 send PAY-1 app_push pending 11-10 10:30 7 -
m2 exit   applied 11-10 12:00 9 -
m4 enter   applied 11-10 11:00 - -
m4 send PAY-1 app_push no_consent 11-10 11:30 7 -
m4 send PAY-2 sms pending 11-10 17:30 11 sms_only
m4 complete   applied 11-10 17:30 - sms_only
`
	if got != want {
		t.Errorf("journey path:\n%swant:\n%s", got, want)
	}
	var jsonl strings.Builder
	w := NewDecisionWriter(&jsonl)
	for i := range res.Decisions {
		if err := w.Write(&res.Decisions[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"journey":"unpaid","step":11,"variant":"sms_only"`, `"action":"exit"`, `"journey":"unpaid","step":9}`, `"action":"complete"`} {
		if !strings.Contains(jsonl.String(), frag) {
			t.Errorf("jsonl lacks %s:\n%s", frag, jsonl.String())
		}
	}
	for _, d := range res.Decisions {
		a, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		w := NewDecisionWriter(&b)
		if err := w.Write(&d); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if strings.TrimSpace(b.String()) != string(a) {
			t.Errorf("MarshalJSON and the writer differ:\n%s\n%s", a, b.String())
		}
	}
}

// TestJourneyEnterWhen covers `enter when` (once per member ever by
// default), a held-out entry whose sends are held out, if/else on a member
// field and a tag step.
func TestJourneyEnterWhen(t *testing.T) {
	t.Parallel()
	db := fixture(t, unpaidMembers, "")
	prog := compileJourneys(t, `import "crm"
journey tiers
  enter when member.tier in ("gold", "silver")
  holdout 50%
  tag "in-tiers"
  wait 1 day
  if member.tier = "gold"
    send coupon "GOLD" via sms
  else
    send coupon "SILVER" via sms
  end
end
`)
	run(t, db, prog, "2024-11-10 10:00")
	run(t, db, prog, "2024-11-12 10:00")
	run(t, db, prog, "2024-11-20 10:00")
	got := journeyPath(t, db)
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		if n := strings.Count(got, m+" enter "); n != 1 {
			t.Errorf("%s entered %d times, want once:\n%s", m, n, got)
		}
		if !strings.Contains(got, m+" complete ") {
			t.Errorf("%s did not complete:\n%s", m, got)
		}
	}
	if !strings.Contains(got, "send GOLD sms") || !strings.Contains(got, "send SILVER sms") {
		t.Errorf("if/else did not send both coupons:\n%s", got)
	}
	// Held out entries hold out their sends; the others' sends are pending.
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		f := strings.Fields(line)
		if f[1] != "enter" {
			continue
		}
		sendStatus := "pending"
		if f[2] == "held_out" {
			sendStatus = "held_out"
		}
		if !strings.Contains(got, f[0]+" send ") || !regexpHas(got, f[0]+` send \S+ sms `+sendStatus) {
			t.Errorf("%s entered %s but its send is not %s:\n%s", f[0], f[2], sendStatus, got)
		}
	}
	var tags int
	if err := db.sql.QueryRow(`SELECT count(*) FROM member_tags WHERE tag = 'in-tiers'`).Scan(&tags); err != nil {
		t.Fatal(err)
	}
	if tags != 4 {
		t.Errorf("%d members tagged in-tiers, want 4", tags)
	}
}

func regexpHas(s, pattern string) bool {
	for _, line := range strings.Split(s, "\n") {
		if ok, _ := filepathMatchFields(line, pattern); ok {
			return true
		}
	}
	return false
}

// filepathMatchFields matches line against pattern word by word, \S+
// matching any word.
func filepathMatchFields(line, pattern string) (bool, error) {
	lf, pf := strings.Fields(line), strings.Fields(pattern)
	if len(lf) < len(pf) {
		return false, nil
	}
	for i, p := range pf {
		if p != `\S+` && p != lf[i] {
			return false, nil
		}
	}
	return true, nil
}

// pathJourney exercises every step kind whose path must not depend on the
// tick schedule (SPEC §8 Instants).
const pathJourney = `import "crm"

journey path
  enter on order_placed
  exit when refunded
  wait 2 hours
  send reminder "R1" via sms
  wait until paid matching order_id for at most 1 day
  if paid matching order_id
    send thanks "T" via sms
  else
    split
      30% a
        send reminder "R2" via sms
      70% b
        wait 3 hours
        send reminder "R3" via wechat
    end
  end
  wait until 2024-11-05 00:00
  send notice "N" via app_push
end
`

// randomJourneyEvents draws a history of orders, payments and refunds.
func randomJourneyEvents(r *rand.Rand, members int) string {
	var b strings.Builder
	b.WriteString("member_id,brand,type,ts,order_id\n")
	start := ts("2024-11-01 00:00")
	for m := 0; m < members; m++ {
		t := start.Add(time.Duration(r.IntN(24*60)) * time.Minute)
		for k := 0; k < 1+r.IntN(3); k++ {
			order := fmt.Sprintf("o%d_%d", m, k)
			fmt.Fprintf(&b, "m%d,acme,order_placed,%s,%s\n", m, t.Format("2006-01-02 15:04"), order)
			switch r.IntN(4) {
			case 0:
				fmt.Fprintf(&b, "m%d,acme,paid,%s,%s\n", m, t.Add(time.Duration(r.IntN(40*60))*time.Minute).Format("2006-01-02 15:04"), order)
			case 1:
				fmt.Fprintf(&b, "m%d,acme,paid,%s,other\n", m, t.Add(time.Duration(r.IntN(40*60))*time.Minute).Format("2006-01-02 15:04"))
			case 2:
				fmt.Fprintf(&b, "m%d,acme,refunded,%s,%s\n", m, t.Add(time.Duration(r.IntN(60*60))*time.Minute).Format("2006-01-02 15:04"), order)
			}
			t = t.Add(time.Duration(r.IntN(3*24*60)) * time.Minute)
		}
	}
	return b.String()
}

// randomSchedule draws tick instants from from to to.
func randomSchedule(r *rand.Rand, from, to time.Time) []time.Time {
	var out []time.Time
	for t := from; t.Before(to); t = t.Add(time.Duration(1+r.IntN(36*60)) * time.Minute) {
		out = append(out, t)
	}
	return append(out, to)
}

// TestJourneyPathIndependentOfSchedule runs two journeys (pathJourney and
// pickJourney, whose split ends in `send winner`) over random histories
// under two random tick schedules and one single late tick: the journeys'
// paths (sends, due times, steps, variants, exits, completions, the
// winner's pick and rates) are the same (SPEC §8 Instants).
func TestJourneyPathIndependentOfSchedule(t *testing.T) {
	t.Parallel()
	prog := compileJourneys(t, pathJourney+pickJourney)
	members := "member_id,brand,consent_sms,consent_wechat,consent_app_push\n"
	for m := 0; m < 30; m++ {
		members += fmt.Sprintf("m%d,acme,true,%t,true\n", m, m%3 != 0)
	}
	for seed := uint64(1); seed <= 2; seed++ {
		r := rand.New(rand.NewPCG(seed, 24))
		events := randomJourneyEvents(r, 30)
		end := ts("2024-11-12 00:00")
		var paths []string
		for s := 0; s < 3; s++ {
			db := fixture(t, members, events)
			schedule := []time.Time{end}
			if s < 2 {
				schedule = randomSchedule(r, ts("2024-11-01 00:00"), end)
			}
			for _, now := range schedule {
				if _, err := db.Run(context.Background(), prog, RunOptions{Now: now, Lookback: 30 * 24 * time.Hour}); err != nil {
					t.Fatalf("seed %d: run at %s: %v", seed, now, err)
				}
			}
			paths = append(paths, journeyPath(t, db)+winnerSends(t, db))
		}
		if paths[0] == "" || !strings.Contains(paths[0], " exit ") || !strings.Contains(paths[0], " complete ") || !strings.Contains(paths[0], "R3") ||
			!strings.Contains(paths[0], `"winner":"b"`) {
			t.Errorf("seed %d: the history does not exercise exits, completions, both branches and a winner other than the first:\n%s", seed, paths[0])
		}
		for s := 1; s < 3; s++ {
			if paths[s] != paths[0] {
				t.Errorf("seed %d: schedule %d gives another path than schedule 0\n%s", seed, s, pathDiff(paths[0], paths[s]))
			}
		}
	}
}

// pathDiff lists the lines only in a or only in b.
func pathDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestJourneySendsCompeteInStepOrder: a journey's sends due together (two
// send steps with no wait between) compete for a cap and for the journey's
// budget in the order of its steps. Under a cap of one sms a day every
// member gets the first step's send and not the second; a budget of 2k+1
// sends, which members take in member order, runs out between member k's
// first and second send. (Before, the two were ordered by a hash of the
// instance and step, so about half the members got the second.)
func TestJourneySendsCompeteInStepOrder(t *testing.T) {
	t.Parallel()
	var members, events strings.Builder
	members.WriteString("member_id,brand,consent_sms\n")
	events.WriteString("member_id,brand,type,ts\n")
	for i := range 20 {
		fmt.Fprintf(&members, "m%02d,acme,true\n", i)
		fmt.Fprintf(&events, "m%02d,acme,purchased,2024-11-11 10:00:00\n", i)
	}
	journey := func(policy, option string) *compiler.Program {
		return compileJourneys(t, "brand \"acme\"\nimport \"crm\"\n"+policy+`
journey two_sends
  enter on purchased
`+option+`  send reminder "first" via sms
  send reminder "second" via sms
end
`)
	}
	sends := func(ds []Decision) map[string]string {
		out := map[string]string{}
		for _, d := range ds {
			if d.Action == "send" {
				out[d.MemberID+" "+d.Content] = d.Status
			}
		}
		return out
	}
	t.Run("cap", func(t *testing.T) {
		db := fixture(t, members.String(), events.String())
		got := sends(run(t, db, journey("cap sms to 1 per day\n", ""), "2024-11-11 12:00").Decisions)
		for i := range 20 {
			m := fmt.Sprintf("m%02d", i)
			if got[m+" first"] != "pending" || got[m+" second"] != "capped" {
				t.Errorf("%s: first %s, second %s; want pending, capped", m, got[m+" first"], got[m+" second"])
			}
		}
	})
	for k := range 6 {
		t.Run(fmt.Sprintf("budget %d", 2*k+1), func(t *testing.T) {
			db := fixture(t, members.String(), events.String())
			prog := journey("cost sms 1\n", fmt.Sprintf("  budget %d per day\n", 2*k+1))
			got := sends(run(t, db, prog, "2024-11-11 12:00").Decisions)
			m := fmt.Sprintf("m%02d", k)
			if got[m+" first"] != "pending" || got[m+" second"] != "over_budget" {
				t.Errorf("%s: first %s, second %s; want pending, over_budget", m, got[m+" first"], got[m+" second"])
			}
		})
	}
}
