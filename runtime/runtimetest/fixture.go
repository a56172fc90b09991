package runtimetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	"nudge/lang/check"
	"nudge/runtime"
	"nudge/stdlib"
)

// Fixture is a program ticked over members and events in a fresh
// in-memory database: what the journey tests of runtime's packages and of
// the REPL start from.
type Fixture struct {
	// Source is the program's text, loaded as the file "j.nudge".
	Source string
	// Members and Events are CSV text imported before the first tick
	// (either may be empty).
	Members, Events string
	// Ticks are the instants of the ticks, "2006-01-02 15:04", in order.
	Ticks []string
	// Lookback is each tick's RunOptions.Lookback (0: the default).
	Lookback time.Duration
}

// Ticked is a database where a Fixture's ticks ran.
type Ticked struct {
	DB      *runtime.DB
	Program *compiler.Program
	// Info is the checker's result for the source (compiler.WhyJourneys
	// explains journeys from it).
	Info *check.Info
	// File is the source written to a temporary directory as j.nudge,
	// for tests that load the program themselves.
	File string
}

// Run compiles the source, opens the database (closed when the test
// ends), imports the members and events and runs the ticks; any failure
// ends the test.
func (f Fixture) Run(t testing.TB) *Ticked {
	t.Helper()
	ctx := context.Background()
	p, diags := lang.LoadSources([]lang.Source{{Name: "j.nudge", Src: []byte(f.Source)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if prog == nil || diags.HasErrors() {
		t.Fatalf("compile: %v", diags)
	}
	file := filepath.Join(t.TempDir(), "j.nudge")
	if err := os.WriteFile(file, []byte(f.Source), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := runtime.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	Import(t, db, "members", f.Members)
	Import(t, db, "events", f.Events)
	for _, at := range f.Ticks {
		if _, err := db.Run(ctx, prog, runtime.RunOptions{Now: At(t, at), Lookback: f.Lookback}); err != nil {
			t.Fatalf("tick at %s: %v", at, err)
		}
	}
	return &Ticked{DB: db, Program: prog, Info: p.Info, File: file}
}

// Import loads CSV text into members or events (nothing when csv is
// empty).
func Import(t testing.TB, db *runtime.DB, table, csv string) {
	t.Helper()
	if csv == "" {
		return
	}
	f := filepath.Join(t.TempDir(), table+".csv")
	if err := os.WriteFile(f, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(context.Background(), table, []string{f}); err != nil {
		t.Fatalf("import %s: %v", table, err)
	}
}

// At parses an instant written "2006-01-02 15:04".
func At(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
