package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// budgetSource is one state rule whose budget pays for two sends a month:
// of forty gold members, two get the cashback and the others are refused
// over_budget until the budget has room again.
const budgetSource = `brand "acme"
import "crm"
cost cashback "C" 5
rule promo
  if member.tier = "gold"
  then send cashback "C" via sms
  budget 10 per month
`

// TestBudgetRefusalSkip is the differential case of the skips of the
// refusals of a budget (internal/tick/02b_budget_skip.go): a daily tick
// from March 1 to April 3, incrementally and with EvaluateAll, must decide
// the same when the budget is freed by a failed send (room for one: the
// threshold skip retries the first refusals only, and m03 gets the
// cashback on March 6), by an expired one after the members the
// threshold skip would retry stopped matching (the skip is not proved and
// the tick runs again without it: m26 on March 11; and on March 16, when
// the one of them that matches again does not fill the room), and by a new month
// (the refusals of March retried on April 1); and the incremental side
// must have skipped the retries while the budget was exhausted.
func TestBudgetRefusalSkip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "budget.nudge")
	if err := os.WriteFile(path, []byte(budgetSource), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := compileFile(t, path)
	day0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	var logs [2]string
	var retried [2]int64 // candidates of promo on the days the budget stayed exhausted
	for k, all := range []bool{false, true} {
		db := fortyGoldMembers(t)
		var b strings.Builder
		for d := 0; d <= 33; d++ {
			var ops []string
			switch d {
			case 5: // m01's send failed: 5 of the 10 are free again
				ops = []string{`UPDATE outbox SET status = 'failed' WHERE member_id = 'm01'`}
			case 10: // the first refusals stop matching; m02's send expired undelivered
				ops = []string{`UPDATE members SET tier = 'silver' WHERE member_id BETWEEN 'm04' AND 'm25'`,
					`UPDATE outbox SET status = 'expired' WHERE member_id = 'm02' AND status = 'pending'`}
			case 15: // two sends fail, and of the first refusals one matches again
				ops = []string{`UPDATE members SET tier = 'gold' WHERE member_id = 'm20'`,
					`UPDATE outbox SET status = 'failed' WHERE member_id IN ('m03', 'm26')`}
			}
			for _, op := range ops {
				if _, err := db.sql.ExecContext(ctx, op); err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(op, "UPDATE members") {
					if err := db.MembersChanged(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			res, err := db.Run(ctx, prog, RunOptions{Now: day0.AddDate(0, 0, d), EvaluateAll: all})
			if err != nil {
				t.Fatal(err)
			}
			for _, dec := range res.Decisions {
				fmt.Fprintf(&b, "day %d: %s %s %s %s\n", d, dec.MemberID, dec.Channel, dec.Status, dec.Reason)
			}
			if d >= 1 && d <= 4 || d >= 16 && d <= 30 {
				for _, s := range res.Rules {
					retried[k] += s.Candidates
				}
			}
		}
		logs[k] = b.String()
	}
	if logs[0] != logs[1] {
		t.Fatalf("incremental and full decide differently (-: only full, +: only incremental):\n%s", diffLines(strings.Split(logs[1], "\n"), strings.Split(logs[0], "\n")))
	}
	t.Logf("decisions:\n%s", logs[0])
	for _, want := range []string{
		"day 0: m01 sms pending", "day 0: m02 sms pending", "day 0: m03 sms over_budget",
		"day 5: m03 sms pending",                             // freed by m01's failed send
		"day 10: m26 sms pending",                            // freed by m02's expired send
		"day 15: m20 sms pending", "day 15: m27 sms pending", // room for two, one retried
		"day 31: m28 sms pending", "day 31: m29 sms pending", // April
	} {
		if !strings.Contains(logs[0], want+" ") {
			t.Errorf("no %q in the decisions", want)
		}
	}
	if retried[1] == 0 {
		t.Error("the full evaluation retried no refusal while the budget was exhausted: the history tests nothing")
	}
	if retried[0] != 0 {
		t.Errorf("the incremental evaluation retried %d refusals while the budget was exhausted (full: %d)", retried[0], retried[1])
	}
}

// fortyGoldMembers is a database in memory holding the members m01-m40 of
// brand acme, gold, who consent to SMS.
func fortyGoldMembers(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.sql.Exec(`INSERT INTO members (member_id, brand, tier, consent_sms)
		SELECT printf('m%02d', i), 'acme', 'gold', true FROM range(1, 41) r(i)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestBudgetThresholdReadd is the differential case of a threshold skip
// that follows another with a later threshold (02b_budget_skip.go): the
// members between the two thresholds, skipped by the earlier one, are
// retried. Forty gold members, a budget of two sends a month: on day 2,
// m04-m20 visit (and stop matching) and m01's send fails, so the room for
// one send goes to m03 under a threshold skip at m20; on day 3, m02's send
// fails, and the threshold is m21, whom the earlier skip skipped and who
// is the first member who still matches: m21 gets the cashback.
func TestBudgetThresholdReadd(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "budget.nudge")
	src := strings.Replace(budgetSource, `if member.tier = "gold"`, `if member.tier = "gold" and not visited in last 30 days`, 1)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := compileFile(t, path)
	day0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	var logs [2]string
	var skipped int64 // the incremental side's rule_evals rows recording a threshold skip
	for k, all := range []bool{false, true} {
		db := fortyGoldMembers(t)
		var b strings.Builder
		for d := 0; d <= 4; d++ {
			switch d {
			case 2:
				var csv strings.Builder
				csv.WriteString("member_id,brand,type,ts\n")
				for i := 4; i <= 20; i++ {
					fmt.Fprintf(&csv, "m%02d,acme,visited,2024-03-03 09:00:00\n", i)
				}
				importEvents(t, db, csv.String())
				if _, err := db.sql.ExecContext(ctx, `UPDATE outbox SET status = 'failed' WHERE member_id = 'm01'`); err != nil {
					t.Fatal(err)
				}
			case 3:
				if _, err := db.sql.ExecContext(ctx, `UPDATE outbox SET status = 'failed' WHERE member_id = 'm02'`); err != nil {
					t.Fatal(err)
				}
			}
			res, err := db.Run(ctx, prog, RunOptions{Now: day0.AddDate(0, 0, d), EvaluateAll: all})
			if err != nil {
				t.Fatal(err)
			}
			for _, dec := range res.Decisions {
				fmt.Fprintf(&b, "day %d: %s %s %s\n", d, dec.MemberID, dec.Channel, dec.Status)
			}
			if !all && (d == 2 || d == 3) {
				skipped += count(t, db, `SELECT count(*) FROM rule_evals WHERE budget_after IS NOT NULL`)
			}
		}
		logs[k] = b.String()
	}
	if logs[0] != logs[1] {
		t.Fatalf("incremental and full decide differently (-: only full, +: only incremental):\n%s", diffLines(strings.Split(logs[1], "\n"), strings.Split(logs[0], "\n")))
	}
	for _, want := range []string{"day 2: m03 sms pending", "day 3: m21 sms pending"} {
		if !strings.Contains(logs[0], want+"\n") {
			t.Errorf("no %q in the decisions:\n%s", want, logs[0])
		}
	}
	if skipped != 2 {
		t.Errorf("the incremental side recorded %d threshold skips on days 2 and 3, want 2: the history tests nothing", skipped)
	}
}

// TestMigration16AfterSeventeen: a database that has migration 17 but not
// 16 (numbers are reserved ahead: 16 came after 17 was released) gets 16
// when it is opened.
func TestMigration16AfterSeventeen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.duckdb")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE rule_evals DROP COLUMN budget_after`, `ALTER TABLE rule_evals DROP COLUMN budget_from`,
		`INSERT INTO rule_evals VALUES ('r', 'acme', TIMESTAMP '2024-11-01', 'h', '0|3')`,
		`DELETE FROM schema_migrations WHERE version = 16`} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db, `SELECT count(*) FROM duckdb_columns() WHERE table_name = 'rule_evals' AND column_name IN ('budget_from', 'budget_after')`); n != 2 {
		t.Errorf("rule_evals has %d of budget_from and budget_after after reopening", n)
	}
	if n := count(t, db, `SELECT count(*) FROM schema_migrations WHERE version = 16`); n != 1 {
		t.Errorf("migration 16 recorded %d times", n)
	}
	// The rebuilt table keeps its rows and its key.
	if got := strings.Join(queryStrings(t, db, `SELECT rule, brand, eval_now, eval_hash, members_sum, budget_from, budget_after FROM rule_evals`), "\n"); got != "r|acme|2024-11-01 00:00:00|h|0|3|<nil>|<nil>" {
		t.Errorf("rule_evals after migration 16 = %q", got)
	}
	if n := count(t, db, `SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'rule_evals' AND constraint_type = 'PRIMARY KEY' AND constraint_column_names = ['rule', 'brand']`); n != 1 {
		t.Errorf("rule_evals has %d primary keys on (rule, brand) after migration 16", n)
	}
}
