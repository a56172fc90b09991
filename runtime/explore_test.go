package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nudge/runtime/demodata"
)

func TestExploreTick(t *testing.T) {
	p := os.Getenv("EXPLORE_DB")
	if p == "" {
		return
	}
	ctx := context.Background()
	db, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	prog := compileFile(t, "testdata/spec.nudge")
	at := demodata.DefaultNow.Add(2 * time.Hour)
	csv := filepath.Join(t.TempDir(), "new.csv")
	b := &testing.B{}
	_ = b
	q := fmt.Sprintf(`COPY (
		SELECT member_id, brand, (['queued', 'purchased', 'browsed', 'order_placed'])[1 + (hash(member_id) %% 4)::INTEGER] AS type,
		       $now::TIMESTAMP - to_microseconds((hash(member_id || 'ts') %% 3600000000)::BIGINT) AS ts,
		       'A' AS store, 'TB-10PK' AS sku, 59.0 AS amount, 'o' || member_id AS order_id
		FROM (SELECT member_id, brand FROM members WHERE brand = 'acme' ORDER BY hash(member_id) LIMIT 10000)
	) TO %s (HEADER)`, quoteString(csv))
	if _, err := db.sql.ExecContext(ctx, q, namedNow(at)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, "events", []string{csv}); err != nil {
		t.Fatal(err)
	}
	conn, _ := db.sql.Conn(ctx)
	defer conn.Close()
	tx, _ := conn.BeginTx(ctx, nil)
	defer tx.Rollback()
	tk := &tick{tx: tx, prog: prog, brand: "acme", now: at, lookback: DefaultLookback}
	tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM runs`).Scan(&tk.runID)
	members, _ := tableColumns(ctx, tx, "members")
	for _, c := range members {
		if len(c.name) > 8 && c.name[:8] == "consent_" {
			tk.consent = append(tk.consent, c.name[8:])
		}
	}
	step := func(name string, fn func(context.Context) error) {
		st := time.Now()
		if err := fn(ctx); err != nil {
			t.Fatal(name, err)
		}
		t.Log(name, time.Since(st))
	}
	step("setup", tk.setup)
	step("evaluate", tk.evaluate)
	var n int64
	tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_cand`).Scan(&n)
	t.Log("candidates", n, tk.candidates)
	if _, err := tx.ExecContext(ctx, `PRAGMA enable_profiling='query_tree'; PRAGMA profiling_output='/tmp/prof_fire.txt'`); err != nil {
		t.Fatal(err)
	}
	step("fire", tk.fire)
	tx.ExecContext(ctx, `PRAGMA profiling_output='/tmp/prof_pol.txt'`)
	step("policies", tk.policies)
	tx.ExecContext(ctx, `PRAGMA profiling_output='/tmp/prof_caps.txt'`)
	step("caps", tk.applyCaps)
	step("quiet", tk.quietHours)
	tx.ExecContext(ctx, `PRAGMA profiling_output='/tmp/prof_rep.txt'`)
	step("repeats", tk.repeats)
	tx.ExecContext(ctx, `PRAGMA profiling_output='/tmp/prof_out.txt'`)
	step("outbox", tk.writeOutbox)
	tx.ExecContext(ctx, `PRAGMA profiling_output='/tmp/prof_rm.txt'`)
	step("rule members", tk.ruleMembers)
	tx.ExecContext(ctx, `PRAGMA disable_profiling`)
}
