package tick

import (
	"context"
	"fmt"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// Skipping the refusals of an exhausted budget.
//
// A state rule whose latest firing for a member was refused (not
// effective) is retried at every tick while its condition holds (see
// 02_plan.go); when the rule's budget (`budget AMOUNT per day|week|month`)
// is exhausted, every retry is refused over_budget and, being a repeated
// refusal, not recorded (repeats). A tick skips those retries when the
// budget is exhausted for sure: the cost of the rule's counted sends fired
// in the calendar period of now, plus the least a send of the rule can
// cost, exceeds the amount, so that any send of the rule this tick is
// over_budget whatever the others of the tick (stockAndBudget refuses a
// send when the amount is below spent + earlier sends let through + its
// cost). That changes no decision, as long as nothing before the budget
// would refuse the retry differently in a way that is recorded: the skip
// applies only to rules that do not stop after unanswered sends (gave_up is
// effective), whose actions do not tag (a stratum's tags are applied before
// the repeats are dropped), whose members are not held out now (checked
// in the skip), and whose costs are not negative. A refusal for want of
// consent, of stock or by caps would not be recorded either.
//
// The skip leaves the member's rule_members row as it was (a full
// evaluation would note the repeated refusal at now), so the member falls
// out of the scope's part of refused firings retried since t0. To find
// them again, the skip is limited to members whose latest firing is in
// the budget period of now (last_fired_at >= its start S), and
// rule_evals.budget_from records S for the evaluation that skipped. A
// later tick that does not skip the same set (the budget has room again,
// because a send of the rule failed, expired or was cancelled, or the
// amount grew; or a new period began) adds to the scope the refused
// members of the rule whose latest firing is in [S, t0): a superset of
// those the previous evaluation skipped. A member refused before S was
// not skipped, and the argument of 02_plan.go holds for it as before.
// A replay (replay.go) starts only from evaluations that skipped nothing.

// planBudgetSkips decides, per state rule with a budget, whether this
// tick skips its refusals (evalPlan.budgetFrom) and whether it must retry
// those an earlier evaluation skipped (evalPlan.readdFrom).
func (t *tick) planBudgetSkips(ctx context.Context, prevs map[string]previousRun) error {
	rows := jsonRows{param: "budgets", columns: []string{"rule VARCHAR", "ri INTEGER", "amount DOUBLE", "lo TIMESTAMP", "hi TIMESTAMP", "mincost DOUBLE"}}
	var rules []string
	for i, r := range t.prog.Rules {
		cost, ok := t.budgetSkippable(i)
		if !ok {
			continue
		}
		lo, hi := policy.BudgetPeriod(r.Budget.Per, t.now)
		rows.add(r.Name, i, r.Budget.Amount, lo.Format("2006-01-02 15:04:05.999999"), hi.Format("2006-01-02 15:04:05.999999"), cost)
		rules = append(rules, r.Name)
	}
	if len(rows.rows) > 0 {
		// (The amounts and costs compare as DECIMAL(18,4), as in
		// stockAndBudget.)
		q := `
SELECT b.ri, CAST(b.amount AS DECIMAL(18,4)) < coalesce(u.spent, 0) + CAST(b.mincost AS DECIMAL(18,4))
FROM ` + rows.sql() + ` b
LEFT JOIN (
    SELECT b.rule, sum(` + policy.SendCostSQL(t.prog, "o.") + `) AS spent
    FROM outbox o JOIN ` + rows.sql() + ` b ON o.rule = b.rule AND o.fired_at >= b.lo AND o.fired_at < b.hi
    WHERE o.rule IN (` + quoteStrings(rules) + `) AND ` + afterScan(policy.CountedSendSQL("o.")+" AND o.brand = "+t.brandSQL()) + `
    GROUP BY b.rule
) u ON u.rule = b.rule`
		res, err := t.tx.QueryContext(ctx, q, rows.arg())
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var ri int
			var exhausted bool
			if err := res.Scan(&ri, &exhausted); err != nil {
				return err
			}
			if exhausted {
				t.plans[ri].budgetFrom, _ = policy.BudgetPeriod(t.prog.Rules[ri].Budget.Per, t.now)
			}
		}
		if err := res.Err(); err != nil {
			return err
		}
	}
	for i, r := range t.prog.Rules {
		p := &t.plans[i]
		pv, ok := prevs[r.Name]
		if r.Trigger || !ok || !pv.budgetFrom.Valid || !p.continuous {
			// (A rule evaluated anew evaluates every member.)
			continue
		}
		if from := Naive(pv.budgetFrom.Time); !from.Equal(p.budgetFrom) {
			p.readdFrom = from
		}
	}
	return nil
}

// budgetSkippable reports whether rule i's refusals may be skipped while
// its budget is exhausted (see above), and the least a send of it costs.
func (t *tick) budgetSkippable(i int) (float64, bool) {
	r := t.prog.Rules[i]
	if r.Trigger || r.Budget == nil || r.StopAfter > 0 || !t.plans[i].continuous || t.mode.has(Lanes) {
		return 0, false
	}
	for _, c := range t.prog.Costs {
		if c < 0 {
			return 0, false
		}
	}
	for _, c := range t.prog.ContentCosts {
		if c.Amount < 0 {
			return 0, false
		}
	}
	least, sends := 0.0, 0
	for _, a := range r.Actions {
		switch a.Verb {
		case "tag", "untag":
			return 0, false
		case "send":
			if c := leastSendCost(t.prog, a); sends == 0 || c < least {
				least = c
			}
			sends++
		}
	}
	return least, sends > 0
}

// leastSendCost is the least policy.SendCostSQL gives a send of the
// action a: on the cheapest of its channels, plus its content's costs.
func leastSendCost(p *compiler.Program, a compiler.Action) float64 {
	ch := -1.0
	for _, c := range append([]string{a.Channel}, a.Else...) {
		if v := p.Costs[c]; ch < 0 || v < ch {
			ch = v
		}
	}
	cost := max(ch, 0)
	for _, c := range p.ContentCosts {
		if c.Kind == a.Kind && c.Content == a.Content {
			cost += c.Amount
		}
	}
	return cost
}

// budgetBlocked is the condition of blocked (over rm, rule_members) that
// rule i skips a member whose retry its exhausted budget would refuse:
// "" when it skips none.
func (t *tick) budgetBlocked(i int) string {
	p := t.plans[i]
	if p.budgetFrom.IsZero() {
		return ""
	}
	r := t.prog.Rules[i]
	cond := []string{"NOT rm.last_effective", "rm.last_fired_at >= " + timestampSQL(p.budgetFrom)}
	if r.Holdout > 0 {
		cond = append(cond, "NOT ("+policy.HeldOutSQL("rm.rule", "rm.member_id", fmt.Sprint(r.Holdout))+")")
	}
	if t.feat.globalHoldout && !r.Transactional {
		cond = append(cond, "NOT ("+policy.GlobalHeldOutSQL(t.brandSQL(), "rm.member_id", t.prog.GlobalHoldout)+")")
	}
	return "(" + strings.Join(cond, " AND ") + ")"
}

// nullTime is t for a jsonRows TIMESTAMP column: NULL when zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format("2006-01-02 15:04:05.999999")
}
