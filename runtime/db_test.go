package runtime

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// helperEnv selects the helper-process mode when the test binary re-executes
// itself (see TestHelperProcess).
const helperEnv = "NUDGE_RUNTIME_HELPER"

// TestHelperProcess is not a test: it is the body of child processes the
// tests start by re-executing the test binary with helperEnv set.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	path := os.Getenv("NUDGE_RUNTIME_DB")
	var err error
	switch mode {
	case "hold":
		err = helperHold(path)
	case "open":
		var db *DB
		if db, err = Open(context.Background(), path); err == nil {
			err = db.Close()
		}
	case "ticks":
		err = helperTicks(path)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperHold opens the database, says "ready" and waits to be killed.
func helperHold(path string) error {
	db, err := Open(context.Background(), path)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return nil
}

// startHelper starts the test binary in helper mode and waits for its
// "ready" line.
func startHelper(t *testing.T, mode, path string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "NUDGE_RUNTIME_DB="+path)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper did not start: %q %v", line, err)
	}
	return cmd
}

func TestOpenTwiceAndMacros(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	for i := range 2 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i+1, err)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil || v != latestVersion() {
			t.Errorf("open %d: schema version %d, %v; want %d", i+1, v, err, latestVersion())
		}
		if n := count(t, db, `SELECT count(*) FROM schema_migrations`); n != int64(len(migrations)) {
			t.Errorf("open %d: %d migration rows", i+1, n)
		}
		// A stdlib macro is callable.
		if n := count(t, db, `SELECT nudge_days_since(TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-03 12:00')`); n != 2 {
			t.Errorf("nudge_days_since = %d", n)
		}
		db.Close()
	}
}

func TestMigrationUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")

	// A file at schema version 1 with a tick's outbox rows in it.
	db, err := openWith(ctx, path, migrations[:1], "")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, status, effective, fired_at, idempotency_key, run_id)
		 VALUES ('f1', 0, 'r', 'acme', 'm1', 'k1', 'send', 'pending', true, TIMESTAMP '2024-11-01', 'f1-0', 1),
		        ('f2', 0, 'r', 'acme', 'm1', 'k2', 'send', 'capped', false, TIMESTAMP '2024-11-02', 'f2-0', 2),
		        ('f3', 0, 'r', 'acme', 'm2', 'k1', 'send', 'pending', true, TIMESTAMP '2024-11-01', 'f3-0', 1),
		        ('f4', 0, 'r', 'acme', 'm2', 'k2', 'send', 'no_consent', false, TIMESTAMP '2024-11-02', 'f4-0', 2),
		        ('f4', 1, 'r', 'acme', 'm2', 'k2', 'send', 'no_consent', false, TIMESTAMP '2024-11-02', 'f4-1', 2),
		        ('f5', 0, 'r', 'acme', 'm3', 'k2', 'send', 'capped', false, TIMESTAMP '2024-11-02', 'f5-0', 2),
		        ('f5', 1, 'r', 'acme', 'm3', 'k2', 'send', 'no_consent', false, TIMESTAMP '2024-11-02', 'f5-1', 2)`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	// Opening it upgrades it, filling rule_members from the outbox.
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := db.SchemaVersion(ctx); v != latestVersion() {
		t.Errorf("after upgrade: version %d, want %d", v, latestVersion())
	}
	// m2's latest firing was refused for want of consent on every send (4);
	// m3's had one send capped.
	got := strings.Join(queryStrings(t, db, `SELECT rule, member_id, last_effective_at, last_fired_at, last_effective, last_no_consent FROM rule_members ORDER BY member_id`), "\n")
	want := "r|m1|2024-11-01 00:00:00|2024-11-02 00:00:00|false|false\n" +
		"r|m2|2024-11-01 00:00:00|2024-11-02 00:00:00|false|true\n" +
		"r|m3|<nil>|2024-11-02 00:00:00|false|false"
	if got != want {
		t.Errorf("rule_members =\n%s\nwant\n%s", got, want)
	}
	db.Close()

	// A later step applies once; opening again applies nothing twice.
	next := append(append([]migration(nil), migrations...), migration{latestVersion() + 1, "test step", `CREATE TABLE upgraded (x INTEGER); INSERT INTO upgraded VALUES (42);`})
	for range 2 {
		db, err = openWith(ctx, path, next, "")
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, `SELECT count(*) FROM upgraded`); n != 1 {
			t.Errorf("step applied %d times", n)
		}
		db.Close()
	}

	// An older nudge refuses a newer file.
	_, err = Open(ctx, path)
	newer := fmt.Sprintf("has schema version %d, newer than this nudge knows (%d)", latestVersion()+1, latestVersion())
	if err == nil || !strings.Contains(err.Error(), newer) {
		t.Errorf("error = %v, want %q", err, newer)
	}
}

// latestVersion is the newest schema version (versions may have gaps).
func latestVersion() int { return migrations[len(migrations)-1].version }

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.duckdb")
	cmd := startHelper(t, "hold", path)
	_, err := Open(context.Background(), path)
	want := fmt.Sprintf("database %s is in use by another process (pid %d, ", path, cmd.Process.Pid)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v\nwant prefix %q", err, want)
	}
}

// TestOpenNotDuckDB: a --db file that is not a DuckDB database is named as
// such, and left as it was.
func TestOpenNotDuckDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.duckdb")
	if err := os.WriteFile(path, []byte("shopping list\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	want := fmt.Sprintf("database %s: the file is not a DuckDB database; ", path)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v\nwant prefix %q", err, want)
	}
	if b, _ := os.ReadFile(path); string(b) != "shopping list\n" {
		t.Fatalf("the file changed: %q", b)
	}
}

// TestCheckpointThreshold: a database file checkpoints its write-ahead log
// at checkpointThreshold, not at DuckDB's default (see its doc).
func TestCheckpointThreshold(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "n.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := strings.Join(queryStrings(t, db, `SELECT current_setting('checkpoint_threshold')`), "")
	if want := "61.0 MiB"; got != want {
		t.Errorf("checkpoint_threshold = %q, want %q (%s)", got, want, checkpointThreshold)
	}
}
