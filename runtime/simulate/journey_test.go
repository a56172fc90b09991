package simulate

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	nrt "nudge/runtime"
	"nudge/runtime/demodata"
	"nudge/stdlib"
)

// journeyProgram has rules and journeys that compete for one cap: an
// `enter on` journey with an exit, waits and a split, and an `enter when`
// one, whose entry time is the tick's now.
const journeyProgram = `brand "acme"
import "crm"
cap sms to 2 per 1 day

rule any_purchase
  if purchased
  then send coupon "P-1" via sms

journey unpaid
  enter on order_placed
  exit when paid matching order_id
  wait 30 minutes
  send reminder "PAY-1" via sms
  wait 2 hours
  split
    50% a
      send reminder "PAY-2" via sms
    50% b
      send reminder "PAY-2" via wechat
  end
end

journey recent
  enter when visited in last 2 hours
  limit once per member every 1 day
  send coupon "R-1" via sms
  wait until purchased for at most 3 hours
  if not purchased
    send coupon "R-2" via wechat
  end
end
`

// TestSimulateJourneys: simulate includes journeys (replaying in rounds
// does not run them, so a program with journeys is simulated tick by
// tick), its outbox is the one ticks of run at the same instants write,
// and its last step decides what run decides there.
func TestSimulateJourneys(t *testing.T) {
	ctx := context.Background()
	src := demoSource(t, 150, 5)
	prog := compileProgram(t, journeyProgram)
	from, to := demodata.DefaultNow.Add(-4*time.Hour), demodata.DefaultNow
	dir := t.TempDir()
	var simLast []nrt.Decision
	res, err := Run(ctx, prog, Options{Source: src, From: from, To: to, Step: time.Hour, Keep: filepath.Join(dir, "sim.duckdb"),
		LastDecisions: func(d nrt.Decision) error { simLast = append(simLast, d); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 5 || res.Replayed != 0 {
		t.Fatalf("steps %d, replayed in rounds %d; want 5 and 0", res.Steps, res.Replayed)
	}
	db, err := nrt.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	var runLast []nrt.Decision
	for now := from; !now.After(to); now = now.Add(time.Hour) {
		r, err := db.Run(ctx, prog, nrt.RunOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		runLast = r.Decisions
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if a, b := jsonLines(t, simLast), jsonLines(t, runLast); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("last step: simulate made %d decisions, run %d\nsimulate:\n%s\nrun:\n%s", len(a), len(b), strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	cmp, err := nrt.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer cmp.Close()
	if _, err := cmp.SQL().ExecContext(ctx, "ATTACH '"+filepath.Join(dir, "sim.duckdb")+"' AS sim (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	// Every journey decision kind, and journey sends, in the outbox.
	var kinds string
	if err := cmp.SQL().QueryRowContext(ctx, `SELECT string_agg(DISTINCT action, ',' ORDER BY action) FROM sim.outbox WHERE journey IS NOT NULL`).Scan(&kinds); err != nil {
		t.Fatal(err)
	}
	if kinds != "complete,enter,exit,send" {
		t.Errorf("journey decisions of the simulation: %s; want complete, enter, exit and send", kinds)
	}
	sameRows(t, filepath.Join(dir, "sim.duckdb"), src,
		"SELECT rule, member_id, dedupe_key, action, status, coalesce(reason, ''), fired_at, due_at, journey, step, variant FROM %s.outbox",
		"SELECT brand, journey, member_id, instance_id, entered_at, pc, due_at, variant, held_out, status, ended_at FROM %s.journey_instances",
		"SELECT member_id, tag, tagged_at FROM %s.member_tags")
}

// BenchmarkSimulateJourneys is BenchmarkSimulate with the journeys of
// journeyProgram added to the examples: a program with journeys is
// simulated tick by tick (same environment variables).
func BenchmarkSimulateJourneys(b *testing.B) {
	ctx := context.Background()
	src := os.Getenv("NUDGE_BENCH_DB")
	if src == "" {
		src = demoSource(b, 5000, 1)
	}
	days := 1
	if s := os.Getenv("NUDGE_BENCH_DAYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("NUDGE_BENCH_DAYS=%q: want a whole number of days, at least 1", s)
		}
		days = n
	}
	cp := examplesProgram(b)
	p, diags := lang.LoadSources([]lang.Source{{Name: "journeys.nudge", Src: []byte(journeyProgram)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		b.Fatal(diags)
	}
	jp, diags := compiler.Compile(p.Info)
	if jp == nil || diags.HasErrors() {
		b.Fatal(diags)
	}
	cp.Journeys = append(cp.Journeys, jp.Journeys...)
	to := demodata.DefaultNow
	from := to.Add(-time.Duration(days) * 24 * time.Hour)
	var ticks int
	for b.Loop() {
		res, err := Run(ctx, cp, Options{Source: src, From: from, To: to, Step: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		ticks += res.Steps
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(ticks), "ms/tick")
}

// budgetJourneyProgram is journeyProgram's `recent` journey beside a state
// rule whose budget the first tick spends: every later tick refuses its
// members over_budget again.
const budgetJourneyProgram = `brand "acme"
import "crm"

rule gift
  if count(purchased in last 60 days) >= 1
  then send voucher "G-1" via sms
  budget 1 per day

cost voucher "G-1" 1

journey recent
  enter when visited in last 2 hours
  limit once per member every 1 day
  send coupon "R-1" via sms
end
`

// TestSimulateSkipsSpentBudgets: a program that cannot be replayed in
// rounds (a journey) is simulated as run runs its ticks, skipping the
// retries of a spent budget: the outbox is the one ticks without the skip
// write, and the refusals the skip spared are not counted as repeats.
func TestSimulateSkipsSpentBudgets(t *testing.T) {
	ctx := context.Background()
	src := demoSource(t, 150, 5)
	prog := compileProgram(t, budgetJourneyProgram)
	if nrt.CanReplay(prog) {
		t.Fatal("a program with a journey can be replayed in rounds")
	}
	from, to := demodata.DefaultNow.Add(-5*time.Hour), demodata.DefaultNow
	dir := t.TempDir()
	res, err := Run(ctx, prog, Options{Source: src, From: from, To: to, Step: time.Hour, Keep: filepath.Join(dir, "sim.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	var simRepeats int64
	for _, d := range res.Days {
		if d.Rule == "gift" {
			simRepeats += d.Repeats
		}
	}
	// The reference: the same ticks on a copy of the source, every refusal
	// retried.
	ref := filepath.Join(dir, "ref.duckdb")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ref, data, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := nrt.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var refRepeats, overBudget int64
	for now := from; !now.After(to); now = now.Add(time.Hour) {
		r, err := db.Run(ctx, prog, nrt.RunOptions{Now: now, NoBudgetSkip: true, SkipDecisions: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range r.Rules {
			if s.Rule == "gift" {
				refRepeats += s.Repeats
				overBudget += s.Statuses["over_budget"]
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if overBudget == 0 || refRepeats == 0 {
		t.Fatalf("the reference refused %d over budget and repeated %d: the case does not exhaust the budget", overBudget, refRepeats)
	}
	if simRepeats >= refRepeats {
		t.Errorf("the simulation counted %d repeats of gift, the ticks without the skip %d: the skip did not run", simRepeats, refRepeats)
	}
	sameRows(t, filepath.Join(dir, "sim.duckdb"), ref,
		"SELECT rule, member_id, dedupe_key, action, status, coalesce(reason, ''), fired_at, due_at, journey, step FROM %s.outbox",
		"SELECT journey, member_id, instance_id, entered_at, pc, status FROM %s.journey_instances",
		"SELECT rule, member_id, last_effective_at, last_effective FROM %s.rule_members")
}
