package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
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

	// the per-day table adds up to the outbox the ticks wrote
	var perDay int64
	for _, d := range res.Days {
		for _, c := range d.Statuses {
			perDay += c
		}
	}
	if err := db.SQL().QueryRow(`SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if perDay != n {
		t.Errorf("per-day decisions %d, outbox rows of the same ticks %d", perDay, n)
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

// TestInterrupt cancels the context after two steps: the simulation stops
// cleanly and reports the steps done.
func TestInterrupt(t *testing.T) {
	path, prog := demoFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, prog, Options{Source: path, From: demodata.DefaultNow.Add(-24 * time.Hour), To: demodata.DefaultNow,
		Step: time.Hour, Progress: func(done, total int) {
			if done == 2 {
				cancel()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Steps != 2 || res.Total != 25 {
		t.Fatalf("interrupted %v, steps %d of %d", res.Interrupted, res.Steps, res.Total)
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
