package repl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"nudge/runtime"
)

func TestRunLineMode(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.nudge")
	if err := os.WriteFile(rules, []byte(`import "crm"
segment gold = member.tier = "gold"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := runtime.Open(ctx, filepath.Join(dir, "test.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO members (member_id, brand, name, tier) VALUES
		('m1', 'acme', 'Ann', 'gold'), ('m2', 'acme', 'Ben', 'silver')`); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	err = Run(ctx, Config{
		DB:    db,
		Paths: []string{rules},
		In:    strings.NewReader("gold\n:quit\n"),
		Out:   &out,
		Now:   &now,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `loaded 1 file: 0 rules, 1 segment

1 member match at 2024-11-11 12:00:00
member_id  name  member.tier
---------  ----  -----------
m1         Ann   gold
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestRunOpensDatabase(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), Config{
		DBPath: filepath.Join(t.TempDir(), "new.duckdb"),
		In:     strings.NewReader(`\sql SELECT count(*) AS n FROM members` + "\n"),
		Out:    &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 row\nn\n-\n0\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestRunTUI drives the full-screen program through a pipe: type a
// condition, run it, quit.
func TestRunTUI(t *testing.T) {
	t.Setenv(HistoryEnv, filepath.Join(t.TempDir(), "history"))
	ctx := context.Background()
	db, err := runtime.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO members (member_id, brand, name, city) VALUES
		('m1', 'acme', 'Ann', '长沙'), ('m2', 'acme', 'Ben', 'Paris')`); err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DB: db, In: inR, Out: &out, Force: "tui"})
	}()
	type step struct {
		keys string
		want string
	}
	for _, s := range []step{
		{"", "nudge repl: try an idea"},
		{`member.city = "长沙"` + "\r", "1 member match"},
		{":quit\r", ""},
	} {
		if s.keys != "" {
			if _, err := inW.WriteString(s.keys); err != nil {
				t.Fatal(err)
			}
		}
		if s.want == "" {
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(ansi.Strip(out.String()), s.want) {
			if time.Now().After(deadline) {
				t.Fatalf("screen never showed %q; output:\n%s", s.want, ansi.Strip(out.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitTUIExit(t, done)
	inW.Close()
	hist, err := os.ReadFile(os.Getenv(HistoryEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(hist), "member.city = \"长沙\"\n:quit\n"; got != want {
		t.Errorf("history file %q, want %q", got, want)
	}
}

func TestDefaultHistoryPath(t *testing.T) {
	t.Setenv(HistoryEnv, "/tmp/x/history")
	if got := DefaultHistoryPath(); got != "/tmp/x/history" {
		t.Errorf("with %s: %q", HistoryEnv, got)
	}
	t.Setenv(HistoryEnv, "")
	t.Setenv("XDG_CONFIG_HOME", "/tmp/cfg")
	t.Setenv("HOME", "/tmp/home")
	if got := DefaultHistoryPath(); got != "/tmp/cfg/nudge/history" {
		t.Errorf("default: %q", got)
	}
}

// TestRunTUIWelcome: the first screen says what loading the rule files
// said, also when the history cannot be read (which it says too).
func TestRunTUIWelcome(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(HistoryEnv, dir) // a directory: reading it fails
	rules := filepath.Join(dir, "rules.nudge")
	if err := os.WriteFile(rules, []byte("import \"crm\"\nsegment gold = member.tier = \"gold\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := runtime.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DB: db, Paths: []string{rules}, In: inR, Out: &out, Force: "tui"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for _, want := range []string{"loaded 1 file: 0 rules, 1 segment", "read history " + dir} {
		for !strings.Contains(ansi.Strip(out.String()), want) {
			if time.Now().After(deadline) {
				t.Fatalf("screen never showed %q; output:\n%s", want, ansi.Strip(out.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := inW.WriteString(":quit\r"); err != nil {
		t.Fatal(err)
	}
	waitTUIExit(t, done)
}

// waitTUIExit waits for the TUI's Run, sent on done, to return after
// :quit, and fails the test on its error or after 10 seconds.
func waitTUIExit(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(":quit did not leave the TUI")
	}
}
