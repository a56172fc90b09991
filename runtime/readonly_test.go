package runtime

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenReadOnly: report's and why's opens never write the file, work on
// a file mode 0444 (as root, where the mode stops nothing, the unchanged
// bytes and the refused writes prove it), let several readers hold the file
// at once, and refuse, naming the way out, a file they cannot read as this
// nudge's.
func TestOpenReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "n.duckdb")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO members (member_id, brand, consent_sms) VALUES ('m1', 'acme', true), ('m2', 'acme', true)`,
		`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, channel, status, effective, fired_at, idempotency_key, run_id)
		 VALUES ('f1', 0, 'r', 'acme', 'm1', 'k1', 'send', 'sms', 'sent', true, TIMESTAMP '2024-11-01 10:00', 'f1-0', 1),
		        ('f2', 0, 'r', 'acme', 'm2', 'k2', 'send', 'sms', 'sent', true, TIMESTAMP '2024-11-01 10:00', 'f2-0', 1)`,
		// The file's own macro as an older nudge may have left it: the
		// readers' temp macros must hide it on every connection.
		`CREATE OR REPLACE MACRO nudge_days_since(a, b) AS -1`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	count := func(db *DB, q string) int {
		t.Helper()
		var n int
		if err := db.sql.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	// Two readers at once; the stdlib macros are there; writes are refused.
	r1, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := r1.sql.QueryRowContext(ctx, `SELECT current_setting('access_mode')`).Scan(&mode); err != nil || mode != "read_only" {
		t.Errorf("access_mode = %q, %v; want read_only", mode, err)
	}
	if n := count(r1, `SELECT count(*) FROM members`) + count(r2, `SELECT count(*) FROM outbox`); n != 4 {
		t.Errorf("the readers see %d rows, want 4", n)
	}
	if n := count(r2, `SELECT nudge_days_since(TIMESTAMP '2024-11-01 00:00', TIMESTAMP '2024-11-03 00:00')`); n != 2 {
		t.Errorf("nudge_days_since = %d, want 2", n)
	}
	// Every connection has the macros: the first (which checked the
	// schema) and those opened after it, held at once.
	var conns []*sql.Conn
	for range 3 {
		c, err := r2.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var n int
		if err := c.QueryRowContext(ctx, `SELECT nudge_days_since(TIMESTAMP '2024-11-01 00:00', TIMESTAMP '2024-11-04 00:00')`).Scan(&n); err != nil || n != 3 {
			t.Errorf("connection %d: nudge_days_since = %d, %v; want 3", i, n, err)
		}
		c.Close()
	}
	if _, err := r1.sql.ExecContext(ctx, `INSERT INTO members (member_id, brand) VALUES ('m3', 'acme')`); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write through the read-only open: %v; want it refused", err)
	}
	r1.Close()
	r2.Close()

	// The scratch database of why: the member's rows, writable in memory.
	s, err := OpenScratch(ctx, path, []string{"m1"})
	if err != nil {
		t.Fatal(err)
	}
	// m1's rows only: not m2's sent row (why runs the whole brand when a
	// stock or a budget makes the other members' sends count).
	if n := count(s, `SELECT count(*) FROM outbox`); n != 1 {
		t.Errorf("the scratch outbox has %d rows, want m1's 1", n)
	}
	if n := count(s, `SELECT count(*) FROM members`); n != 2 {
		t.Errorf("the scratch database reads %d members, want the file's 2", n)
	}
	if _, err := s.sql.ExecContext(ctx, `INSERT INTO outbox SELECT * REPLACE ('k9' AS dedupe_key) FROM outbox`); err != nil {
		t.Errorf("writing the scratch outbox: %v", err)
	}
	if _, err := s.sql.ExecContext(ctx, `INSERT INTO outbox SELECT * REPLACE (NULL AS firing_id) FROM outbox`); err == nil {
		t.Error("the scratch outbox lost its constraints")
	}
	s.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("reading the database changed its file")
	}
	if _, err := os.Stat(path + ".wal"); err == nil {
		t.Error("reading the database left a write-ahead log")
	}

	// Files a read-only open cannot take.
	old := filepath.Join(dir, "old.duckdb")
	db, err = openWith(ctx, old, migrations[:5], "")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	other := filepath.Join(dir, "other.duckdb")
	plain, err := sql.Open("duckdb", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Exec(`CREATE TABLE x (a INTEGER)`); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	for _, c := range []struct{ name, path, want string }{
		{"older schema", old, "has schema version 5 and this nudge reads version"},
		{"older schema", old, "run `nudge migrate --db " + old + "` first"},
		{"not nudge's", other, "is not a nudge database"},
		{"missing", filepath.Join(dir, "none.duckdb"), "none.duckdb does not exist"},
		{"no file", "", "give --db FILE"},
	} {
		for open, fn := range map[string]func() (*DB, error){
			"OpenReadOnly": func() (*DB, error) { return OpenReadOnly(ctx, c.path) },
			"OpenScratch":  func() (*DB, error) { return OpenScratch(ctx, c.path, []string{"m1"}) },
		} {
			db, err := fn()
			if err == nil {
				db.Close()
				t.Errorf("%s %s: opened", open, c.name)
				continue
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s: %v; want %q", open, c.name, err, c.want)
			}
		}
	}
	db, err = Open(ctx, old) // what nudge migrate does
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = OpenReadOnly(ctx, old); err != nil {
		t.Errorf("after the upgrade: %v", err)
	} else {
		db.Close()
	}
}
