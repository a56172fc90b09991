package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"nudge/runtime/demodata"
)

// TestCancelStopsTick: a tick of many rules whose context is cancelled
// (SIGTERM, ctrl-C) stops at once, between or inside its statements, and
// leaves the database as it was: no run, no decision, no watermark; the
// next tick decides as if the cancelled one had never started. (Before
// the rules were evaluated in batches, one statement held every rule and
// DuckDB, planning it for seconds, did not notice the cancellation.)
func TestCancelStopsTick(t *testing.T) {
	ctx := context.Background()
	db := demoDB(t, "", 300)
	now := demodata.DefaultNow
	prog := compileSource(t, manyRulesSource(1500, false))
	tables := []string{"runs", "outbox", "rule_state", "rule_members", "rule_evals"}
	before := map[string]int64{}
	for _, tb := range tables {
		before[tb] = count(t, db, "SELECT count(*) FROM "+tb)
	}

	for _, after := range []time.Duration{0, 300 * time.Millisecond, 1 * time.Second, 2 * time.Second} {
		cctx, cancel := context.WithCancel(ctx)
		timer := time.AfterFunc(after, cancel)
		start := time.Now()
		_, err := db.Run(cctx, prog, RunOptions{Now: now})
		took := time.Since(start)
		timer.Stop()
		cancel()
		if err == nil {
			// The tick finished (and committed) before the cancellation:
			// the checks below assume an untouched database.
			t.Logf("cancel after %v: the tick finished first (%v)", after, took)
			return
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel after %v: error = %v, want context.Canceled", after, err)
		}
		// A statement being prepared is not interrupted: the tick stops
		// after the one under way, each a bounded batch of rules.
		if took > after+3*time.Second {
			t.Errorf("cancel after %v: the tick returned after %v", after, took)
		}
		for _, tb := range tables {
			if n := count(t, db, "SELECT count(*) FROM "+tb); n != before[tb] {
				t.Errorf("cancel after %v: %s has %d rows, had %d", after, tb, n, before[tb])
			}
		}
	}

	// The next tick decides what a tick on the untouched database does.
	fresh := demoDB(t, "", 300)
	want, err := fresh.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.RunID != want.RunID || len(got.Rules) != len(want.Rules) {
		t.Fatalf("after the cancelled ticks: run %d with %d rules, want run %d with %d", got.RunID, len(got.Rules), want.RunID, len(want.Rules))
	}
	for i := range want.Rules {
		if got.Rules[i].Firings != want.Rules[i].Firings || got.Rules[i].Candidates != want.Rules[i].Candidates {
			t.Errorf("rule %s: %+v, want %+v", want.Rules[i].Rule, got.Rules[i], want.Rules[i])
		}
	}
	for _, tb := range []string{"outbox", "rule_state", "rule_members"} {
		if g, w := count(t, db, "SELECT count(*) FROM "+tb), count(t, fresh, "SELECT count(*) FROM "+tb); g != w {
			t.Errorf("%s: %d rows, want %d", tb, g, w)
		}
	}
}

// TestTickPanicSurfaces: a panic inside a tick's step (a bug) reaches the
// caller, with the tick's transaction rolled back, instead of hanging the
// process on the connection the transaction holds; the database stays
// usable and the next tick decides as if the failed one never ran.
func TestTickPanicSurfaces(t *testing.T) {
	ctx := context.Background()
	db := demoDB(t, "", 300)
	prog := compileSource(t, manyRulesSource(3, false))
	db.onStatement = func(q string, _ time.Duration) {
		if strings.Contains(q, "_nudge_scope") {
			panic("a bug in a step")
		}
	}
	got := make(chan any, 1)
	go func() {
		defer func() { got <- recover() }()
		db.Run(ctx, prog, RunOptions{Now: demodata.DefaultNow})
	}()
	select {
	case r := <-got:
		if r != "a bug in a step" {
			t.Fatalf("the tick ended with %v, want the step's panic", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the tick hung after a panic in a step")
	}
	db.onStatement = nil
	if n := count(t, db, "SELECT count(*) FROM runs"); n != 0 {
		t.Errorf("the failed tick left %d runs", n)
	}
	if _, err := db.Run(ctx, prog, RunOptions{Now: demodata.DefaultNow}); err != nil {
		t.Fatalf("the tick after the panic: %v", err)
	}
	if n := count(t, db, "SELECT count(*) FROM runs"); n != 1 {
		t.Errorf("after the next tick, %d runs, want 1", n)
	}
}
