package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	nrt "nudge/runtime"
	"nudge/runtime/demodata"
	"nudge/stdlib"
)

// demoFile writes a small demo database to a file and compiles the
// examples.
func demoFile(t *testing.T) (string, *compiler.Program) {
	t.Helper()
	return demoSource(t, 600, 7), examplesProgram(t)
}

// demoSource writes a demo database of n members (seed) to a new file and
// returns its path.
func demoSource(tb testing.TB, n int, seed int64) string {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "demo.duckdb")
	db, err := nrt.Open(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: n, Seed: seed}); err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// examplesProgram compiles the example rule files.
func examplesProgram(tb testing.TB) *compiler.Program {
	tb.Helper()
	prog, diags, err := lang.Load([]string{"../../examples"}, stdlib.Env())
	if err != nil || diags.HasErrors() {
		tb.Fatal(err, diags)
	}
	cp, diags := compiler.Compile(prog.Info)
	if diags.HasErrors() {
		tb.Fatal(diags)
	}
	compiler.AttachLoop(prog.Info, cp)
	return cp
}

func jsonLines(t *testing.T, ds []nrt.Decision) []string {
	t.Helper()
	var out []string
	for _, d := range ds {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// TestLastStepEqualsRun replays two days at 6-hour steps and checks that
// the decisions of the last step are exactly those the ordinary runtime
// makes on the database file itself when it is ticked at the same times
// (the production path: a file database, decisions read back), and that
// the simulation left the file untouched.
func TestLastStepEqualsRun(t *testing.T) {
	ctx := context.Background()
	path, prog := demoFile(t)
	from := demodata.DefaultNow.Add(-48 * time.Hour)
	to := demodata.DefaultNow
	var simLast []nrt.Decision
	var progress []int
	res, err := Run(ctx, prog, Options{Source: path, From: from, To: to, Step: 6 * time.Hour,
		LastDecisions: func(d nrt.Decision) error { simLast = append(simLast, d); return nil },
		Progress:      func(done, total int) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 9 || res.Total != 9 || res.Interrupted || len(progress) != 9 {
		t.Fatalf("steps %d/%d interrupted %v progress %v", res.Steps, res.Total, res.Interrupted, progress)
	}
	if len(simLast) == 0 {
		t.Fatal("the last step decided nothing: the test proves nothing")
	}

	db, err := nrt.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.SQL().QueryRow(`SELECT count(*) FROM outbox`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the source outbox has %d rows after the simulation (%v)", n, err)
	}
	var runLast []nrt.Decision
	for now := from; !now.After(to); now = now.Add(6 * time.Hour) {
		r, err := db.Run(ctx, prog, nrt.RunOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		runLast = r.Decisions
	}
	a, b := jsonLines(t, simLast), jsonLines(t, runLast)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("last step: simulate made %d decisions, run %d\nsimulate:\n%s\nrun:\n%s", len(a), len(b), strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	t.Logf("last step: %d decisions equal", len(a))

	// the per-day table (of rules; the journeys' totals are res.Journeys,
	// checked below) adds up to the rules' outbox rows the ticks wrote
	var perDay int64
	for _, d := range res.Days {
		for _, c := range d.Statuses {
			perDay += c
		}
	}
	if err := db.SQL().QueryRow(`SELECT count(*) FROM outbox WHERE journey IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if perDay != n {
		t.Errorf("per-day decisions %d, outbox rows of the same ticks %d", perDay, n)
	}
	// the journeys' totals add up to their outbox rows (SPEC §8: simulate
	// includes journeys), and the total cost counts every send
	var jrows int64
	for _, j := range res.Journeys {
		jrows += j.Entered + j.Exited + j.Completed + j.Sends + j.Capped + j.Refused
	}
	if err := db.SQL().QueryRow(`SELECT count(*) FROM outbox WHERE journey IS NOT NULL AND action IN ('enter', 'exit', 'complete', 'send')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(res.Journeys) != len(prog.Journeys) || jrows != n || n == 0 {
		t.Errorf("journeys' totals %+v count %d rows, the outbox has %d", res.Journeys, jrows, n)
	}
	var cost float64
	for _, r := range res.Rules {
		cost += r.Cost
	}
	for _, j := range res.Journeys {
		cost += j.Cost
	}
	if math.Abs(cost-res.Cost) > 1e-9 {
		t.Errorf("total cost %.2f, the rules' and journeys' %.2f", res.Cost, cost)
	}
	var txt bytes.Buffer
	if err := res.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"simulated 9 of 9 ticks", "members hit by several rules", "bought anyway"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, txt.String())
		}
	}
}

// TestInterrupt cancels the context after some steps: the simulation stops
// cleanly and reports the steps done. Tick by tick it stops after the step
// at hand; a day replayed in rounds (one transaction) is either done whole
// or, cancelled while it runs, not at all.
func TestInterrupt(t *testing.T) {
	path, prog := demoFile(t)
	for _, tc := range []struct {
		name       string
		tickByTick bool
		cancelAt   int
		steps      int
	}{
		{"tick by tick", true, 2, 2},
		{"before a replay", false, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := Run(ctx, prog, Options{Source: path, From: demodata.DefaultNow.Add(-24 * time.Hour), To: demodata.DefaultNow,
				Step: time.Hour, TickByTick: tc.tickByTick, Progress: func(done, total int) {
					if done == tc.cancelAt {
						cancel()
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Interrupted || res.Steps != tc.steps || res.Total != 25 {
				t.Fatalf("interrupted %v, steps %d of %d", res.Interrupted, res.Steps, res.Total)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"missing db", Options{Source: "/nonexistent/x.duckdb", From: demodata.DefaultNow, To: demodata.DefaultNow}, "simulate: database /nonexistent/x.duckdb"},
		{"to before from", Options{Source: "x", From: demodata.DefaultNow, To: demodata.DefaultNow.Add(-time.Hour)}, "is before --from"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), &compiler.Program{}, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestReplayMatchesTicks simulates the same days twice, once replaying each
// day's ticks in rounds (the default) and once tick by tick, and requires
// the same per-day figures and the same database at the end: every outbox
// row (run ids included), rule_members, tags, watermarks and the run log's
// decisions. The examples run with a rule file made to stress what rounds
// must get right: tight caps shared by several rules (capped refusals
// retried when a send leaves the window), a short limit that runs out
// within the day, a rule that gives up after unanswered sends, and a tag;
// hourly over a day and a half (a whole day, two date changes), and every
// 25 minutes over 14 hours (one date change). Stocks and budgets that run
// out within the day: TestReplayMatchesTicksMoney.
func TestReplayMatchesTicks(t *testing.T) {
	src := demoSource(t, 800, 11)
	stress := examplesProgram(t)
	extra := compileProgram(t, `brand "acme"
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

rule stocked_visit
  if count(visited in last 2 hours) >= 1
  then send voucher "SV-1" via email
  priority 2
  budget 3 per day

stock "V-1" 40
cost voucher "SV-1" 0.5
`)
	stress.Rules = append(stress.Rules, extra.Rules...)
	stress.Caps = extra.Caps
	stress.Quiet = extra.Quiet
	// Members compete for stocks and budgets (the examples' and these),
	// which rounds settle in the tick's order.
	stress.Stocks = append(stress.Stocks, extra.Stocks...)
	stress.ContentCosts = append(stress.ContentCosts, extra.ContentCosts...)
	// Rounds run no journey step (a program with journeys is simulated
	// tick by tick: TestSimulateJourneys).
	stress.Journeys = nil
	t.Run("hourly", func(t *testing.T) {
		compareRoundsAndTicks(t, src, stress, demodata.DefaultNow.Add(-36*time.Hour+30*time.Minute), demodata.DefaultNow, time.Hour, 200)
	})
	t.Run("every 25 minutes, a cap of 0", func(t *testing.T) {
		// A cap of 0 refuses without any send: no retry horizon (blocked
		// then has no clause on the refusal's age).
		zero := *stress
		zero.Caps = append(slices.Clone(stress.Caps), compiler.Cap{Channel: "app_push", Count: 0, Per: 2 * time.Hour})
		compareRoundsAndTicks(t, src, &zero, demodata.DefaultNow.Add(-14*time.Hour), demodata.DefaultNow, 25*time.Minute, 100)
	})
}

// TestReplayDeclines: a program with a rule that reads tags has no lane
// form, nor does one with strata (a rule reading tags other rules write
// within the tick), and simulate runs its every tick one by one. (Stocks
// and budgets replay: TestReplayMatchesTicks.)
func TestReplayDeclines(t *testing.T) {
	src := demoSource(t, 200, 3)
	for name, rules := range map[string]string{
		"reads tags": `
rule tagged_buyer
  if tagged "vip" and count(purchased in last 30 days) >= 1
  then send coupon "T-1" via sms
`,
		"strata": `
rule wave2
  if count(purchased in last 90 days) >= 1 and not tagged "reached"
  then send coupon "W2" via sms
rule wave1
  if count(purchased in last 30 days) >= 1
  then tag "reached" and send coupon "W1" via email
`,
	} {
		t.Run(name, func(t *testing.T) {
			prog := compileProgram(t, "brand \"acme\"\nimport \"crm\"\n"+rules)
			res, err := Run(context.Background(), prog, Options{Source: src, From: demodata.DefaultNow.Add(-5 * time.Hour), To: demodata.DefaultNow, Step: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if res.Steps != 6 || res.Replayed != 0 {
				t.Fatalf("steps %d, replayed in rounds %d; want 6 and 0", res.Steps, res.Replayed)
			}
		})
	}
}

// compareRoundsAndTicks simulates from..to in rounds and tick by tick and
// compares the per-day figures and the databases left (see
// TestReplayMatchesTicks); the tick-by-tick side must decide at least
// minDecisions. It returns the tick-by-tick result.
func compareRoundsAndTicks(t *testing.T, src string, prog *compiler.Program, from, to time.Time, step time.Duration, minDecisions int64) *Result {
	ctx := context.Background()
	dir := t.TempDir()
	run := func(name string, tickByTick bool) *Result {
		res, err := Run(ctx, prog, Options{Source: src, From: from, To: to, Step: step, TickByTick: tickByTick,
			Keep: filepath.Join(dir, name+".duckdb")})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	rounds, ticks := run("rounds", false), run("ticks", true)
	if rounds.Steps != ticks.Steps || rounds.Steps != len(steps(from, to, step)) {
		t.Fatalf("steps: rounds %d, ticks %d", rounds.Steps, ticks.Steps)
	}
	if rounds.Replayed < rounds.Steps-6 || ticks.Replayed != 0 {
		t.Fatalf("replayed in rounds: %d of %d ticks, and %d tick by tick", rounds.Replayed, rounds.Steps, ticks.Replayed)
	}
	if a, b := fmt.Sprint(rounds.Days), fmt.Sprint(ticks.Days); a != b {
		t.Errorf("per-day figures differ:\nrounds %s\nticks  %s", a, b)
	}
	var decisions int64
	for _, d := range ticks.Days {
		for _, n := range d.Statuses {
			decisions += n
		}
	}
	t.Logf("%d decisions, %d ticks (%d replayed in rounds)", decisions, rounds.Steps, rounds.Replayed)
	if decisions < minDecisions {
		t.Errorf("only %d decisions: the test proves little", decisions)
	}
	sameDatabases(t, filepath.Join(dir, "rounds.duckdb"), filepath.Join(dir, "ticks.duckdb"))
	return ticks
}

// sameDatabases requires the database files rounds and ticks to hold the
// same runtime state: every outbox row (run ids included), rule_members,
// tags, watermarks, evaluation records and the run log's decisions.
func sameDatabases(t *testing.T, rounds, ticks string) {
	t.Helper()
	sameRows(t, rounds, ticks,
		"SELECT * FROM %s.outbox",
		"SELECT * FROM %s.rule_members",
		"SELECT * FROM %s.member_tags",
		"SELECT rule, brand, wm_seq, wm_now, last_run_at FROM %s.rule_state",
		"SELECT rule, brand, eval_now, eval_hash, members_sum FROM %s.rule_evals",
		"SELECT id, now, brand, rules, firings, decisions, statuses FROM %s.runs")
}

// sameRows requires each query (%s standing for the database) to return
// the same rows, as a multiset, from the database files a and b.
func sameRows(t *testing.T, a, b string, queries ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := nrt.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, path := range map[string]string{"a": a, "b": b} {
		if _, err := db.SQL().ExecContext(ctx, "ATTACH '"+path+"' AS "+name+" (READ_ONLY)"); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range queries {
		var onlyA, onlyB int64
		if err := db.SQL().QueryRowContext(ctx, fmt.Sprintf("SELECT (SELECT count(*) FROM ("+q+" EXCEPT ALL "+q+")), (SELECT count(*) FROM ("+q+" EXCEPT ALL "+q+"))",
			"a", "b", "b", "a")).Scan(&onlyA, &onlyB); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if onlyA+onlyB > 0 {
			t.Errorf("%s: %d rows only in %s, %d only in %s", fmt.Sprintf(q, "*"), onlyA, filepath.Base(a), onlyB, filepath.Base(b))
		}
	}
}

// compileProgram compiles a rule file's text with the real front end.
func compileProgram(t *testing.T, src string) *compiler.Program {
	t.Helper()
	p, diags := lang.LoadSources([]lang.Source{{Name: "stress.nudge", Src: []byte(src)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		t.Fatalf("stress.nudge: %v", diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if prog == nil || diags.HasErrors() {
		t.Fatalf("stress.nudge: compile: %v", diags)
	}
	return prog
}
