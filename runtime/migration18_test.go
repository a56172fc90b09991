package runtime

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMigration18StoresRuleMembersByRule checks that migration 18 keeps
// rule_members' rows, columns, defaults and constraints and stores the rows
// by brand, rule and member_id.
func TestMigration18StoresRuleMembersByRule(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.duckdb")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	before := queryStrings(t, db, `SELECT sql FROM duckdb_tables() WHERE table_name = 'rule_members'`)
	for _, q := range []string{
		`INSERT INTO rule_members VALUES
			('winback', 'm2', 'acme', NULL, TIMESTAMP '2024-11-01', false, true, false),
			('birthday', 'm9', 'bistro', TIMESTAMP '2024-11-02', TIMESTAMP '2024-11-02', true, false, NULL),
			('winback', 'm1', 'acme', TIMESTAMP '2024-11-03', TIMESTAMP '2024-11-03', true, false, false),
			('birthday', 'm3', 'acme', NULL, TIMESTAMP '2024-11-04', false, false, true),
			('coupon', 'm1', 'acme', TIMESTAMP '2024-11-05', TIMESTAMP '2024-11-05', true, false, false)`,
		`DELETE FROM schema_migrations WHERE version = 18`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rows := queryStrings(t, db, `SELECT * FROM rule_members`)
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db, `SELECT count(*) FROM schema_migrations WHERE version = 18`); n != 1 {
		t.Errorf("migration 18 recorded %d times", n)
	}
	if after := queryStrings(t, db, `SELECT sql FROM duckdb_tables() WHERE table_name = 'rule_members'`); !slices.Equal(after, before) {
		t.Errorf("rule_members after migration 18:\n%s\nwant:\n%s", after, before)
	}
	stored := queryStrings(t, db, `SELECT * FROM rule_members ORDER BY rowid`)
	want := []string{
		"acme|birthday|m3", "acme|coupon|m1", "acme|winback|m1", "acme|winback|m2", "bistro|birthday|m9",
	}
	if got := queryStrings(t, db, `SELECT brand, rule, member_id FROM rule_members ORDER BY rowid`); !slices.Equal(got, want) {
		t.Errorf("rule_members stored as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	slices.Sort(rows)
	slices.Sort(stored)
	if !slices.Equal(rows, stored) {
		t.Errorf("rule_members rows after migration 18:\n%s\nwant:\n%s", strings.Join(stored, "\n"), strings.Join(rows, "\n"))
	}
}
