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
// of six gold members, two get the cashback and two are refused
// over_budget until the budget has room again.
const budgetSource = `brand "acme"
import "crm"
cost cashback "C" 5
rule promo
  if member.tier = "gold"
  then send cashback "C" via sms
  budget 10 per month
`

// TestBudgetRefusalSkip is the differential case of the skip of the
// refusals of an exhausted budget (internal/tick/02b_budget_skip.go): a
// daily tick from March 1 to April 3, incrementally and with EvaluateAll,
// must decide the same when the budget is freed by a failed send (m3 gets
// the cashback on March 6), by an expired one (m4 on March 11, after a
// tick in the same period that did not skip), and by a new month (the
// refusals of March retried on April 1); and the incremental side must
// have skipped the retries while the budget was exhausted.
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
		db, err := Open(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.sql.ExecContext(ctx, `INSERT INTO members (member_id, brand, tier, consent_sms)
			SELECT 'm' || i, 'acme', 'gold', true FROM range(1, 7) r(i) WHERE i <= 6`); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for d := 0; d <= 33; d++ {
			var op string
			switch d {
			case 5: // m1's send failed: 5 of the 10 are free again
				op = `UPDATE outbox SET status = 'failed' WHERE member_id = 'm1'`
			case 10: // m2's send expired undelivered
				op = `UPDATE outbox SET status = 'expired' WHERE member_id = 'm2' AND status = 'pending'`
			}
			if op != "" {
				if _, err := db.sql.ExecContext(ctx, op); err != nil {
					t.Fatal(err)
				}
			}
			res, err := db.Run(ctx, prog, RunOptions{Now: day0.AddDate(0, 0, d), EvaluateAll: all})
			if err != nil {
				t.Fatal(err)
			}
			for _, dec := range res.Decisions {
				fmt.Fprintf(&b, "day %d: %s %s %s %s\n", d, dec.MemberID, dec.Channel, dec.Status, dec.Reason)
			}
			if d >= 2 && d <= 4 || d >= 12 && d <= 30 {
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
		"day 0: m1 sms pending", "day 0: m2 sms pending", "day 0: m3 sms over_budget",
		"day 5: m3 sms pending",  // freed by m1's failed send
		"day 10: m4 sms pending", // freed by m2's cancelled send
		"day 31: m5 sms pending", "day 31: m6 sms pending", // April
	} {
		if !strings.Contains(logs[0], want+" ") && !strings.Contains(logs[0], want+"\n") {
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
