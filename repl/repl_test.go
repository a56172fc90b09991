package repl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"nudge/runtime"
	"nudge/runtime/serve"
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

// helperEnv selects the helper-process mode when the test binary re-executes
// itself (see TestHelperProcess).
const helperEnv = "NUDGE_REPL_HELPER"

// TestHelperProcess is not a test: it is the body of the other nudge
// process of TestSessionLeavesFileToWriters, started by re-executing the
// test binary with helperEnv set. "write" opens the database for writing,
// adds a member (NUDGE_REPL_MEMBER, of tier NUDGE_REPL_TIER) and leaves;
// "hold" opens it, says "ready" and waits to be killed; "serve" does too
// after leaving the note nudge serve leaves beside the file.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	err := func() error {
		ctx := context.Background()
		db, err := runtime.Open(ctx, os.Getenv("NUDGE_REPL_DB"))
		if err != nil {
			return err
		}
		defer db.Close()
		switch mode {
		case "write":
			_, err = db.SQL().ExecContext(ctx, `INSERT INTO members (member_id, brand, name, tier) VALUES ($1, 'acme', 'Cy', $2)`,
				os.Getenv("NUDGE_REPL_MEMBER"), os.Getenv("NUDGE_REPL_TIER"))
			return err
		case "hold", "serve":
			if mode == "serve" {
				// As nudge serve does: a note beside the file.
				if err := serve.WriteNote(os.Getenv("NUDGE_REPL_DB"), "http://127.0.0.1:7300"); err != nil {
					return err
				}
			}
			fmt.Println("ready")
			time.Sleep(time.Minute)
			return nil
		}
		return fmt.Errorf("unknown helper mode %q", mode)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helper returns the test binary as another process in mode (see
// TestHelperProcess) on the database at path, env added to its environment.
func helper(mode, path string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "NUDGE_REPL_DB="+path)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// TestSessionLeavesFileToWriters: a REPL session on a database file holds
// the file only while an input runs, so another process (here a second
// process of the test binary, standing for `nudge run` from cron) opens it
// for writing while the session waits for input, after a condition, a
// `\sql` query and a dry run alike. The session keeps what was typed, and
// sees what the writer wrote (in `\sql` too, whose copies were made before).
// While the other process holds the file, an input fails with a message
// that names the file and says to try again; the session goes on after.
func TestSessionLeavesFileToWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.duckdb")
	db, err := runtime.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO members (member_id, brand, name, tier) VALUES
		('m1', 'acme', 'Ann', 'gold'), ('m2', 'acme', 'Ben', 'silver')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	var out syncBuffer
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DBPath: path, In: inR, Out: &out, Now: &now, Force: "lines"})
	}()
	// say types input and waits until the output, from where it was, shows
	// want.
	say := func(input, want string) {
		t.Helper()
		from := len(out.String())
		if _, err := inW.WriteString(input + "\n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String()[from:], want) {
			if time.Now().After(deadline) {
				t.Fatalf("after %q the output never showed %q:\n%s", input, want, out.String()[from:])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	write := func(after, member, tier string) {
		t.Helper()
		if b, err := helper("write", path, "NUDGE_REPL_MEMBER="+member, "NUDGE_REPL_TIER="+tier).CombinedOutput(); err != nil {
			t.Fatalf("another process could not write the file while the session waited after %s: %v\n%s", after, err, b)
		}
	}

	say(`segment gold = member.tier = "gold"`, "1 member match")
	say(`\sql SELECT count(*) AS n FROM members`, "n\n-\n2\n")
	write("a condition and \\sql", "m3", "gold")
	say("gold", "2 members match")
	say(`\sql SELECT count(*) AS n FROM members`, "n\n-\n3\n")

	say(`rule hi if gold then tag "hi"`, "rule hi defined")
	write("a rule declared", "m4", "silver")
	say(":run", "2 decisions at 2024-11-11 12:00:00 (dry run)")
	say(`\sql SELECT count(*) AS n FROM members`, "n\n-\n4\n")
	write(":run", "m5", "gold")
	say("gold", "3 members match")

	for _, h := range []struct{ mode, want string }{
		{"hold", "error: the database " + path + " is busy: another process (pid %d, "},
		{"serve", "error: the database " + path + " is busy: nudge serve (process %d at http://127.0.0.1:7300) holds it"},
	} {
		hold := helper(h.mode, path)
		stdout, err := hold.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		hold.Stderr = os.Stderr
		if err := hold.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
			hold.Process.Kill()
			hold.Wait()
			t.Fatalf("%s: the holder did not start: %q %v", h.mode, line, err)
		}
		say("gold", fmt.Sprintf(h.want, hold.Process.Pid))
		if h.mode == "hold" && !strings.HasSuffix(strings.TrimSpace(out.String()), "try again in a moment") {
			t.Errorf("the busy error does not say to try again:\n%s", out.String())
		}
		hold.Process.Kill()
		hold.Wait()
		os.Remove(serve.NotePath(path))
		say("gold", "3 members match")
	}

	say(":quit", "")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(":quit did not end the session")
	}
}

// TestSessionLeavesFileUnchanged: a session over a database file, from its
// start to :quit, through an input that reads it (a condition) and the dry
// runs that write in a transaction they roll back (:run, :why), leaves the
// file's bytes and modification time as they were and no write-ahead log,
// on a file of mode 0444 (as root, whom the mode does not stop, the dry
// runs open it for writing and must still write nothing; as another user
// they run on a copy in memory).
func TestSessionLeavesFileUnchanged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.duckdb")
	db, err := runtime.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO members (member_id, brand, name, tier, consent_sms) VALUES
		('m1', 'acme', 'Ann', 'gold', true), ('m2', 'acme', 'Ben', 'silver', true)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	in := `segment gold = member.tier = "gold"
rule hi if gold then send hi "Hi" via sms
:run
:why m1
:quit
`
	err = Run(ctx, Config{DBPath: path, In: strings.NewReader(in), Out: &out, Now: &now, Force: "lines"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 member match", "1 decision at 2024-11-11 12:00:00 (dry run)", "member m1 at 2024-11-11 12:00 (brand acme)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the session did not say %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "error") {
		t.Errorf("the session failed:\n%s", out.String())
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the session changed the file (%d bytes before, %d after)", len(before), len(after))
	}
	if st2, err := os.Stat(path); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("the session changed the file's modification time: %v, then %v (%v)", st.ModTime(), st2.ModTime(), err)
	}
	if _, err := os.Stat(path + ".wal"); err == nil {
		t.Error("the session left a write-ahead log")
	}
}

// TestInputWaitsForHeldFile: an input typed while another process (a
// second process of the test binary, standing for a `nudge run`) holds the
// database file waits for it, saying so once on Err, and runs when the
// holder lets go; the file is held only after the session started, so
// it is the input, not the start, that waits.
func TestInputWaitsForHeldFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "held.duckdb")
	db, err := runtime.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO members (member_id, brand, name, tier) VALUES ('m1', 'acme', 'Ann', 'gold')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	var out, errOut syncBuffer
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DBPath: path, In: inR, Out: &out, Err: &errOut, Now: &now, Force: "lines", Wait: time.Minute})
	}()
	await := func(buf *syncBuffer, want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(buf.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("never showed %q; output:\n%s\nerrors:\n%s", want, out.String(), errOut.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := inW.WriteString(`member.tier = "gold"` + "\n"); err != nil {
		t.Fatal(err)
	}
	await(&out, "1 member match")

	hold := helper("hold", path)
	stdout, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	hold.Stderr = os.Stderr
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		hold.Process.Kill()
		hold.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the holder did not start: %q %v", line, err)
	}
	from := len(out.String())
	if _, err := inW.WriteString(`member.tier = "gold"` + "\n"); err != nil {
		t.Fatal(err)
	}
	await(&errOut, fmt.Sprintf("nudge: waiting for %s, held by another process (pid %d, ", path, hold.Process.Pid))
	if got := out.String()[from:]; got != "" {
		t.Errorf("while waiting the session printed:\n%s", got)
	}
	hold.Process.Kill()
	hold.Wait()
	await(&out, "1 member match at 2024-11-11 12:00:00\nmember_id  name  member.tier\n---------  ----  -----------\nm1         Ann   gold\n\n1 member match")
	if _, err := inW.WriteString(":quit\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(":quit did not end the session")
	}
	if n := strings.Count(errOut.String(), "waiting"); n != 1 {
		t.Errorf("said %d times that it waits, want once:\n%s", n, errOut.String())
	}
}
