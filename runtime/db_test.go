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
	t.Parallel()
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

// latestMigration is the version of the last migration (versions may
// have gaps: each branch takes its own number).
func latestMigration() int { return migrations[len(migrations)-1].version }

func TestOpenTwiceAndMacros(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	for i := range 2 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i+1, err)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil || v != latestMigration() {
			t.Errorf("open %d: schema version %d, %v; want %d", i+1, v, err, latestMigration())
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
	t.Parallel()
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
	if v, _ := db.SchemaVersion(ctx); v != latestMigration() {
		t.Errorf("after upgrade: version %d, want %d", v, latestMigration())
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
	next := append(append([]migration(nil), migrations...), migration{latestMigration() + 1, "test step", `CREATE TABLE upgraded (x INTEGER); INSERT INTO upgraded VALUES (42);`})
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
	newer := fmt.Sprintf("has schema version %d, newer than this nudge knows (%d)", latestMigration()+1, latestMigration())
	if err == nil || !strings.Contains(err.Error(), newer) {
		t.Errorf("error = %v, want %q", err, newer)
	}
}

// TestMigrationBrandKey: a file written before migration 5 (members keyed
// by member_id alone) upgrades with its data kept, after which two brands
// can hold the same member id (and, until migration 17 dropped the outbox's
// key, the same firing key).
func TestMigrationBrandKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	var before []migration
	for _, m := range migrations {
		if m.version <= 4 {
			before = append(before, m)
		}
	}
	db, err := openWith(ctx, path, before, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO members (member_id, brand, name, phone, tier, consent_sms, attrs) VALUES
		   ('m01', 'acme', 'Ann', '111', 'gold', true, '{"vip": 1}'), ('m02', 'bistro', 'Bo', NULL, NULL, NULL, NULL)`,
		`INSERT INTO events (seq, member_id, brand, type, ts) VALUES (1, 'm01', 'acme', 'visited', TIMESTAMP '2024-11-01 09:00')`,
		`INSERT INTO member_tags VALUES ('acme', 'm01', 'vip', TIMESTAMP '2024-11-01 10:00', 'r')`,
		`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, channel, status, effective, fired_at, attempts, idempotency_key, run_id)
		 VALUES ('f1', 0, 'r', 'acme', 'm01', 'k1', 'send', 'sms', 'sent', true, TIMESTAMP '2024-11-01 10:00', 1, 'f1-0', 1)`,
		`INSERT INTO rule_members VALUES ('r', 'm01', 'acme', TIMESTAMP '2024-11-01 10:00', TIMESTAMP '2024-11-01 10:00', true, false, false)`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The old key: another brand's m01 is refused.
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO members (member_id, brand) VALUES ('m01', 'bistro')`); err == nil {
		t.Fatal("before the upgrade, two brands could hold m01: the test builds the wrong schema")
	}
	db.Close()

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.SchemaVersion(ctx); v < 5 {
		t.Fatalf("after upgrade: version %d", v)
	}
	for q, want := range map[string]string{
		`SELECT member_id, brand, name, phone, tier, consent_sms, attrs FROM members ORDER BY ALL`:                                                        "m01|acme|Ann|111|gold|true|{\"vip\":1}\nm02|bistro|Bo|<nil>|<nil>|<nil>|<nil>",
		`SELECT seq, member_id, brand, type FROM events`:                                                                                                  "1|m01|acme|visited",
		`SELECT brand, member_id, tag FROM member_tags`:                                                                                                   "acme|m01|vip",
		`SELECT firing_id, rule, brand, member_id, dedupe_key, status, attempts, idempotency_key FROM outbox`:                                             "f1|r|acme|m01|k1|sent|1|f1-0",
		`SELECT rule, member_id, brand, last_effective, last_capped, last_no_consent FROM rule_members`:                                                   "r|m01|acme|true|false|false",
		`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'members' AND constraint_type = 'PRIMARY KEY' AND len(constraint_column_names) = 2`: "1",
	} {
		if got := strings.Join(queryStrings(t, db, q), "\n"); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", q, got, want)
		}
	}
	// Now the same member id and the same firing key under another brand
	// are other rows, and the members' key still holds within a brand.
	for _, q := range []string{
		`INSERT INTO members (member_id, brand, name) VALUES ('m01', 'bistro', 'Cy')`,
		`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, status, effective, fired_at, idempotency_key, run_id)
		 VALUES ('f2', 0, 'r', 'bistro', 'm01', 'k1', 'send', 'pending', true, TIMESTAMP '2024-11-01 10:00', 'f2-0', 2)`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO members (member_id, brand) VALUES ('m01', 'acme')`); err == nil || !strings.Contains(err.Error(), "constraint") {
		t.Errorf("a second acme m01: %v, want a constraint violation", err)
	}
	// A default survives the rebuild.
	if n := count(t, db, `SELECT attempts FROM outbox WHERE firing_id = 'f2'`); n != 0 {
		t.Errorf("attempts of a new row = %d, want the default 0", n)
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	cmd := startHelper(t, "hold", path)
	_, err := Open(context.Background(), path)
	want := fmt.Sprintf("database %s is in use by another process (pid %d, ", path, cmd.Process.Pid)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v\nwant prefix %q", err, want)
	}
}

// TestOpenNotDuckDB: a --db file that is not a DuckDB database is named as
// such, and left as it was; a SQLite file too, without DuckDB trying to
// download its sqlite extension (noExtensionDownloads).
func TestOpenNotDuckDB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, content string }{
		{"text", "shopping list\n"},
		{"sqlite", "SQLite format 3\x00" + strings.Repeat("\x00", 4080)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "notes.duckdb")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), path)
			want := fmt.Sprintf("database %s: the file is not a DuckDB database; ", path)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error = %v\nwant prefix %q", err, want)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Fatalf("the file changed: %q", b)
			}
		})
	}
}

// TestOpenFileProblems: a --db that is a directory, in a missing
// directory, or a CSV file (which DuckDB would open as a database with a
// view of it) is named by what is wrong, the same for every open, and
// nothing is created or changed.
func TestOpenFileProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csv := filepath.Join(dir, "members.csv")
	if err := os.WriteFile(csv, []byte("member_id,brand\nm1,acme\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opens := map[string]func(string) error{
		"Open":         func(p string) error { _, err := Open(context.Background(), p); return err },
		"OpenReadOnly": func(p string) error { _, err := OpenReadOnly(context.Background(), p); return err },
		"OpenScratch":  func(p string) error { _, err := OpenScratch(context.Background(), p, nil); return err },
	}
	for _, tc := range []struct{ name, path, want string }{
		{"directory", dir, "database " + dir + " is a directory: give --db a database file"},
		{"missing directory", filepath.Join(dir, "x", "y", "n.duckdb"), "database " + filepath.Join(dir, "x", "y", "n.duckdb") + ": directory " + filepath.Join(dir, "x") + " does not exist"},
		{"file as directory", filepath.Join(csv, "n.duckdb"), "database " + filepath.Join(csv, "n.duckdb") + ": " + csv + " is a file, not a directory"},
		{"csv", csv, "database " + csv + ": the file is not a DuckDB database; give --db a nudge database file, or a new file name to create one"},
	} {
		for name, open := range opens {
			if err := open(tc.path); err == nil || err.Error() != tc.want {
				t.Errorf("%s: %s: error = %v\nwant %s", tc.name, name, err, tc.want)
			}
		}
	}
	if b, _ := os.ReadFile(csv); string(b) != "member_id,brand\nm1,acme\n" {
		t.Errorf("the CSV file changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Errorf("a directory was created")
	}
}

// TestNoExtensionDownloads: every connection, to a file or in memory, has
// DuckDB's automatic install and load of extensions turned off, and reading
// a URL fails without a download.
func TestNoExtensionDownloads(t *testing.T) {
	t.Parallel()
	for _, path := range []string{filepath.Join(t.TempDir(), "n.duckdb"), ":memory:"} {
		db, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(queryStrings(t, db, `SELECT current_setting('autoinstall_known_extensions') || ' ' || current_setting('autoload_known_extensions')`), "")
		if got != "false false" {
			t.Errorf("%s: autoinstall, autoload = %q, want false false", path, got)
		}
		_, err = db.sql.ExecContext(context.Background(), `SELECT * FROM read_csv('https://example.invalid/x.csv')`)
		if err == nil || strings.Contains(err.Error(), "download") {
			t.Errorf("%s: reading a URL: %v, want a refusal without a download", path, err)
		}
		db.Close()
	}
}

// TestCheckpointThreshold: a database file checkpoints its write-ahead log
// at checkpointThreshold, not at DuckDB's default (see its doc).
func TestCheckpointThreshold(t *testing.T) {
	t.Parallel()
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
