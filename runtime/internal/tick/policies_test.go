package tick

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// oneConnection opens an in-memory DuckDB of one connection, so that a
// setting a statement leaves behind is seen by the next.
func oneConnection(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestBuildRightRestoresOptimizer: the optimizer buildRight turns off for
// its statement is on again after it, also when the statement failed (the
// transaction is then rolled back and the connection goes back to the
// pool) or its context was cancelled.
func TestBuildRightRestoresOptimizer(t *testing.T) {
	db := oneConnection(t)
	for _, c := range []struct {
		name    string
		q       string
		cancel  bool
		wantErr bool
	}{
		{"ok", "CREATE TEMP TABLE ok AS SELECT 1 AS x", false, false},
		{"failed", "CREATE TEMP TABLE bad AS SELECT * FROM no_such_table", false, true},
		{"cancelled", "CREATE TEMP TABLE late AS SELECT 1 AS x", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.cancel {
				cancel()
			}
			_, err = (&tick{tx: tx}).buildRight(ctx, c.q)
			if (err != nil) != c.wantErr {
				t.Errorf("error %v, want one: %v", err, c.wantErr)
			}
			tx.Rollback()
			var disabled string
			if err := db.QueryRow(`SELECT current_setting('disabled_optimizers')`).Scan(&disabled); err != nil {
				t.Fatal(err)
			}
			if disabled != "" {
				t.Errorf("disabled_optimizers = %q after the statement, want none", disabled)
			}
		})
	}
}

// TestStateDedupeKeyIsStrftime: the dedupe key of a state firing at the
// tick's instant (a literal, stateDedupeKey) is the text DuckDB formats
// for any other instant (strftime), which firing ids already persisted
// were made of.
func TestStateDedupeKeyIsStrftime(t *testing.T) {
	db := oneConnection(t)
	for _, now := range []time.Time{
		time.Date(2024, 11, 11, 10, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999_999_000, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 60_000, time.UTC),
	} {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		tk := &tick{tx: tx, now: now}
		var literal, formatted string
		if err := tx.QueryRow(`SELECT `+tk.stateDedupeKeySQL("$at::TIMESTAMP")+`, strftime($at::TIMESTAMP, '`+stateDedupeKeyFormat+`')`,
			sql.Named("at", now)).Scan(&literal, &formatted); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if literal != formatted {
			t.Errorf("%v: dedupe key %q, strftime gives %q", now, literal, formatted)
		}
	}
}
