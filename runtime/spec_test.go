package runtime

import (
	"context"
	"os"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	"nudge/runtime/demodata"
	"nudge/stdlib"
)

// compileFile loads, checks and compiles a rule file with the real front end.
func compileFile(t testing.TB, path string) *compiler.Program {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := lang.LoadSources([]lang.Source{{Name: path, Src: src}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		t.Fatalf("%s: %v", path, diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if prog == nil || diags.HasErrors() {
		t.Fatalf("%s: compile: %v", path, diags)
	}
	return prog
}

// demoDB opens a database with n demo members.
func demoDB(t testing.TB, path string, n int) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: n, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestSpecRulesOnDemoData runs the SPEC §3 example file, compiled by the real
// compiler, over demo data and checks the tick's invariants.
func TestSpecRulesOnDemoData(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	ctx := context.Background()
	prog := compileFile(t, "testdata/spec.nudge")
	db := demoDB(t, "", 3000)
	now := demodata.DefaultNow

	dry, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Run(ctx, prog, RunOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if brief(dry.Decisions) != brief(res.Decisions) {
		t.Errorf("the dry run and the real run decided differently")
	}
	if len(res.Decisions) == 0 {
		t.Fatal("no decisions on demo data")
	}
	for _, s := range res.Rules {
		t.Logf("%-20s trigger=%-5t candidates=%-5d firings=%-5d %v", s.Rule, s.Trigger, s.Candidates, s.Firings, s.Statuses)
	}
	for _, st := range res.Timings {
		t.Logf("  %-18s %v", st.Step, st.Took)
	}
	valid := map[string]bool{"pending": true, "scheduled": true, "held_out": true, "no_consent": true, "capped": true, "gave_up": true, "applied": true}
	for _, d := range res.Decisions {
		if !valid[d.Status] {
			t.Errorf("%s %s: status %q", d.Rule, d.MemberID, d.Status)
		}
	}
	// Every decision is for a member of the program's brand.
	if n := count(t, db, `SELECT count(*) FROM outbox o JOIN members m USING (member_id) WHERE m.brand <> 'acme' OR o.brand <> 'acme'`); n != 0 {
		t.Errorf("%d decisions for members outside brand acme", n)
	}
	// Caps hold: at most 1 sms per member per day, 6 sends per 7 days.
	if n := count(t, db, `SELECT count(*) FROM (SELECT member_id FROM outbox WHERE action = 'send' AND channel = 'sms'
		AND status IN ('pending', 'scheduled', 'sent') GROUP BY member_id HAVING count(*) > 1)`); n != 0 {
		t.Errorf("%d members got more than one sms", n)
	}
	// Idempotence: the same now again decides nothing.
	again, err := db.Run(ctx, prog, RunOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Decisions) != 0 {
		t.Errorf("a second run at the same now decided %d things", len(again.Decisions))
	}
	// An hour later only what became due in that hour can fire.
	later, err := db.Run(ctx, prog, RunOptions{Now: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range later.Decisions {
		if d.DueAt != nil && !d.DueAt.After(now) {
			t.Errorf("%s %s: an event due at %v fired again an hour later", d.Rule, d.MemberID, d.DueAt)
		}
	}
}
