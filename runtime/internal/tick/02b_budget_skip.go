package tick

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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
	var earliest, latest time.Time // of the periods' bounds
	for i, r := range t.prog.Rules {
		cost, ok := t.budgetSkippable(i)
		if !ok {
			continue
		}
		lo, hi := policy.BudgetPeriod(r.Budget.Per, t.now)
		rows.add(r.Name, i, r.Budget.Amount, lo.Format(timestampLayout), hi.Format(timestampLayout), cost)
		rules = append(rules, r.Name)
		if earliest.IsZero() || lo.Before(earliest) {
			earliest = lo
		}
		if hi.After(latest) {
			latest = hi
		}
	}
	if len(rows.rows) > 0 {
		// (The amounts and costs compare as DECIMAL(18,4), as in
		// stockAndBudget. The literal bounds of all the periods are a
		// filter DuckDB applies while scanning the outbox, in time order,
		// so that only the periods' row groups are read; the join with
		// each rule's period alone was applied after reading them all.)
		q := `
SELECT b.ri, CAST(b.amount AS DECIMAL(18,4)) < coalesce(u.spent, 0) + CAST(b.mincost AS DECIMAL(18,4)),
       CAST(b.amount AS DECIMAL(18,4)) - coalesce(u.spent, 0), b.mincost
FROM ` + rows.sql() + ` b
LEFT JOIN (
    SELECT b.rule, sum(` + policy.SendCostSQL(t.prog, "o.") + `) AS spent
    FROM outbox o JOIN ` + rows.sql() + ` b ON o.rule = b.rule AND o.fired_at >= b.lo AND o.fired_at < b.hi
    WHERE o.fired_at >= ` + timestampSQL(earliest) + ` AND o.fired_at < ` + timestampSQL(latest) + `
      AND o.rule IN (` + quoteStrings(rules) + `) AND ` + afterScan(policy.CountedSendSQL("o.")+" AND o.brand = "+t.brandSQL()) + `
    GROUP BY b.rule
) u ON u.rule = b.rule`
		res, err := t.tx.QueryContext(ctx, q, rows.arg())
		if err != nil {
			return err
		}
		defer res.Close()
		var room []budgetRoom // of the rules whose budget has room
		for res.Next() {
			var ri int
			var exhausted bool
			var left, least float64
			if err := res.Scan(&ri, &exhausted, &left, &least); err != nil {
				return err
			}
			from, _ := policy.BudgetPeriod(t.prog.Rules[ri].Budget.Per, t.now)
			if exhausted {
				t.plans[ri].budgetFrom = from
			} else if least > 0 {
				room = append(room, budgetRoom{ri, from, left, least})
			}
		}
		if err := res.Err(); err != nil {
			return err
		}
		res.Close()
		for _, b := range room {
			if err := t.planBudgetThreshold(ctx, b); err != nil {
				return err
			}
		}
	}
	for i, r := range t.prog.Rules {
		p := &t.plans[i]
		pv, ok := prevs[r.Name]
		if r.Trigger || !ok || !pv.budgetFrom.Valid || !p.continuous {
			// (A rule evaluated anew evaluates every member.)
			continue
		}
		// (Skipping the refusals of the same period after the same
		// member or an earlier one, or all, it skips all those the
		// previous evaluation skipped.)
		from := Naive(pv.budgetFrom.Time)
		same := from.Equal(p.budgetFrom) && (p.budgetAfter == nil || pv.budgetAfter.Valid && *p.budgetAfter <= pv.budgetAfter.String)
		if !same {
			// (A threshold skip skips only the members after its
			// threshold that are not held out: the earlier one's
			// threshold bounds those it skipped from below, and this
			// one's, in the same period, those it skips again from
			// above. Bounds on the member id, they spare the scope the
			// holdout hashes of the rule's refusals.)
			p.readdFrom = from
			if pv.budgetAfter.Valid {
				after := pv.budgetAfter.String
				p.readdAfter = &after
			}
			if p.budgetAfter != nil && from.Equal(p.budgetFrom) {
				p.readdUpTo = p.budgetAfter
			}
		}
	}
	return nil
}

// budgetRoom is a rule (ri) whose budget has room this tick: its period
// starts at from, left is the amount less the cost of its counted sends
// of the period, least the least a send of it costs.
type budgetRoom struct {
	ri          int
	from        time.Time
	left, least float64
}

// budgetMargin is how many refused members more than twice the sends that
// fit a budget's room a threshold skip keeps (planBudgetThreshold).
const budgetMargin = 16

// planBudgetThreshold plans the skip of a rule whose budget has room for
// k more sends at most (the room over the least cost): the sends of one
// tick compete in the order of the member ids (competitionOrder), so once
// the sends let through fill the room, every later one is over_budget.
// The tick retries the first 2k + budgetMargin refused members of the
// period whose refusal was neither capped nor for want of consent (those
// seldom compete: blocked skips them), in member id order, and skips the
// refused members after the last of them (evalPlan.budgetAfter). Whether
// that changed nothing is known only once the budget step has let sends
// through: checkBudgetSkips requires that the sends let through filled
// the room for sure and all came before the skipped members; otherwise
// the tick fails with errBudgetSkip and the runtime runs it again with
// NoBudgetSkip.
func (t *tick) planBudgetThreshold(ctx context.Context, b budgetRoom) error {
	k := int64(math.Ceil(b.left / b.least))
	if k < 0 {
		k = 0
	}
	var after string
	err := t.tx.QueryRowContext(ctx, `
SELECT member_id FROM rule_members
WHERE rule = $rule::VARCHAR AND brand = $brand::VARCHAR AND NOT last_effective AND NOT last_capped AND last_no_consent IS NOT TRUE
  AND last_fired_at >= $from::TIMESTAMP
ORDER BY member_id LIMIT 1 OFFSET $n::BIGINT`, sql.Named("rule", t.prog.Rules[b.ri].Name), sql.Named("brand", t.brand), sql.Named("from", b.from), sql.Named("n", 2*k+budgetMargin-1)).Scan(&after)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // too few refusals to spare any
	}
	if err != nil {
		return err
	}
	p := &t.plans[b.ri]
	p.budgetFrom, p.budgetAfter, p.budgetLeast = b.from, &after, b.least
	return nil
}

// checkBudgetSkips is the proof of the threshold skips of the tick
// (planBudgetThreshold), run after the budget step: for each such rule,
// the sends of it the step let through (the rows of _nudge_money that are
// neither oos nor ob) left less than the least cost of a send in the
// budget, and all came before the members skipped. Then every skipped
// member's send would have been over_budget. It returns errBudgetSkip
// otherwise, or when the tick judged no send of the rule.
func (t *tick) checkBudgetSkips(ctx context.Context, judged bool) error {
	skips := jsonRows{param: "skips", columns: []string{"ri INTEGER", "after VARCHAR", "least DOUBLE"}}
	for i, p := range t.plans {
		if p.budgetAfter != nil {
			skips.add(i, *p.budgetAfter, p.budgetLeast)
		}
	}
	if len(skips.rows) == 0 {
		return nil
	}
	if !judged {
		return errBudgetSkip{}
	}
	var failed int64
	if err := t.tx.QueryRowContext(ctx, `
SELECT count(*) FROM `+skips.sql()+` s
LEFT JOIN (
    SELECT m.ri, any_value(m.amount) AS amount, any_value(m.spent) AS spent,
           sum(m.cost) FILTER (WHERE NOT m.oos AND NOT m.ob AND NOT m.late) AS used,
           max(d.member_id) FILTER (WHERE NOT m.oos AND NOT m.ob AND NOT m.late) AS last
    FROM _nudge_money m JOIN _nudge_dec d ON d.rowid = m.id
    GROUP BY m.ri
) v ON v.ri = s.ri
WHERE NOT coalesce(v.amount < v.spent + coalesce(v.used, 0) + CAST(s.least AS DECIMAL(18,4)) AND coalesce(v.last <= s.after, true), false)`, skips.arg()).Scan(&failed); err != nil {
		return err
	}
	if failed > 0 {
		return errBudgetSkip{}
	}
	t.budgetChecked = true
	return nil
}

// errBudgetSkip: a threshold skip of the tick may have changed a decision
// (checkBudgetSkips); the runtime runs the tick again with NoBudgetSkip.
type errBudgetSkip struct{}

func (errBudgetSkip) Error() string {
	return "a budget's room was not filled before the refusals skipped"
}

// IsBudgetSkipError reports whether err is a tick's errBudgetSkip.
func IsBudgetSkipError(err error) bool { return errors.As(err, new(errBudgetSkip)) }

// budgetSkipsChecked fails the tick when a threshold skip was planned and
// the budget step did not prove it (it judged no send: see
// checkBudgetSkips).
func (t *tick) budgetSkipsChecked(ctx context.Context) error {
	if t.budgetChecked {
		return nil
	}
	return t.checkBudgetSkips(ctx, false)
}

// budgetSkippable reports whether rule i's refusals may be skipped while
// its budget is exhausted (see above), and the least a send of it costs.
func (t *tick) budgetSkippable(i int) (float64, bool) {
	r := t.prog.Rules[i]
	if r.Trigger || r.Budget == nil || r.StopAfter > 0 || !t.plans[i].continuous || t.mode.has(Lanes|NoBudgetSkip) {
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
	if p.budgetAfter != nil {
		cond = append(cond, "rm.member_id > "+quoteString(*p.budgetAfter))
	}
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
	return t.Format(timestampLayout)
}
