package tick

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// stockAndBudget refuses the open sends past a content's stock (`stock
// "CONTENT" N`) as out_of_stock and, of the others, those past their
// rule's budget (`budget AMOUNT per day|week|month`) as over_budget (SPEC
// §9: stock, then budget). The sends compete in one order
// (competitionOrder); a send is judged against the earlier sends that were
// let through and will not end expired at this tick (lateSQL):
//
//   - stock: the brand's counted sends of the content ever, plus the
//     earlier open sends of the content let through, reach N;
//   - budget: the cost (policy.SendCostSQL) of the rule's counted sends
//     fired in the calendar period of the tick's now, plus that of its
//     earlier open sends let through and its own, exceeds AMOUNT.
//
// A send refused by one does not use the other, so the verdicts depend on
// each other; as for caps, a statement recomputes every verdict from the
// previous ones (window functions with running sums over the order) until
// nothing changes: the verdicts of the first k sends are final after k
// rounds, and in practice two or three rounds settle a tick.
func (t *tick) stockAndBudget(ctx context.Context) error {
	if !t.feat.stock && !t.feat.budget {
		return nil
	}
	competing, err := t.moneyCompetitors(ctx)
	if err != nil {
		return err
	}
	var stocks []string
	var contents []string
	for _, s := range t.prog.Stocks {
		if !competing.contents[s.Content] {
			continue
		}
		stocks = append(stocks, fmt.Sprintf("(%s, %d, %s)", quoteString(s.Content), s.Count, quoteString(policy.OutOfStockReason(s.Content, s.Count))))
		contents = append(contents, s.Content)
	}
	var budgets, budgetRules, periods []string
	var budgetLo, budgetHi time.Time // the earliest start and latest end of their periods
	budget := func(ri int, name string, b *compiler.Budget) {
		if !competing.rules[ri] {
			return
		}
		start, end := policy.BudgetPeriod(b.Per, t.now)
		if !slices.Contains(budgetRules, name) {
			// One period per budget: a journey's send steps share it.
			budgetRules = append(budgetRules, name)
			periods = append(periods, fmt.Sprintf("(%s, %s, %s)", quoteString(name), timestampSQL(start), timestampSQL(end)))
		}
		if budgetLo.IsZero() || start.Before(budgetLo) {
			budgetLo = start
		}
		budgetHi = latest(budgetHi, end)
		budgets = append(budgets, fmt.Sprintf("(%d, %s, CAST(%s AS DECIMAL(18,4)), %s, %s, %s)", ri, quoteString(name),
			fmt.Sprint(b.Amount), timestampSQL(start), timestampSQL(end), quoteString(policy.OverBudgetReason(b))))
	}
	for i, r := range t.prog.Rules {
		if r.Budget != nil {
			budget(i, r.Name, r.Budget)
		}
	}
	// A journey's budget covers the sends of all its send steps (each a
	// pseudo-rule of its own ri, 04a_journeys.go), which share it.
	for node, ri := range t.journeyRI {
		if j := t.prog.Journeys[node.journey]; j.Budget != nil {
			budget(ri, j.Name, j.Budget)
		}
	}
	if len(stocks) == 0 && len(budgets) == 0 {
		// Only journeys have budgets, and the tick made no pseudo-rule of
		// theirs (a replay's round runs no journey step).
		return t.checkBudgetSkips(ctx, false)
	}
	stockT := "(SELECT CAST(NULL AS VARCHAR) AS content, CAST(NULL AS BIGINT) AS cnt, CAST(NULL AS VARCHAR) AS reason WHERE false) s"
	stockUse := "(SELECT CAST(NULL AS VARCHAR) AS content, CAST(0 AS BIGINT) AS n WHERE false) su"
	if len(stocks) > 0 {
		stockT = "(VALUES " + strings.Join(stocks, ", ") + ") s(content, cnt, reason)"
		stockUse = `(SELECT content, count(*) AS n FROM outbox
        WHERE ` + inStrings("content", contents) + ` AND ` + afterScan(policy.CountedSendSQL("")+" AND brand = "+t.brandSQL()) + `
        GROUP BY content) su`
	}
	budgetT := "(SELECT CAST(NULL AS INTEGER) AS ri, CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS DECIMAL(18,4)) AS amount, CAST(NULL AS TIMESTAMP) AS lo, CAST(NULL AS TIMESTAMP) AS hi, CAST(NULL AS VARCHAR) AS reason WHERE false) b"
	budgetUse := "(SELECT CAST(NULL AS VARCHAR) AS rule, CAST(0 AS DECIMAL(18,4)) AS spent WHERE false) bu"
	if len(budgets) > 0 {
		budgetT = "(VALUES " + strings.Join(budgets, ", ") + ") b(ri, rule, amount, lo, hi, reason)"
		// What each budget spent in its period before the tick, summed
		// once per budget (a journey's steps share theirs), not per ri.
		budgetUse = `(SELECT p.rule, sum(` + policy.SendCostSQL(t.prog, "o.") + `) AS spent
        FROM outbox o JOIN (VALUES ` + strings.Join(periods, ", ") + `) p(rule, lo, hi) ON o.rule = p.rule AND o.fired_at >= p.lo AND o.fired_at < p.hi
        WHERE ` + inStrings("o.rule", budgetRules) + ` AND o.fired_at >= ` + timestampSQL(budgetLo) + ` AND o.fired_at < ` + timestampSQL(budgetHi) + `
          AND ` + policy.CountedSendSQL("o.") + ` AND o.brand = ` + t.brandSQL() + `
        GROUP BY p.rule) bu`
	}
	// _nudge_money: the open sends under a stock or a budget, in
	// competition order (ord), with what was used before the tick; a late
	// send (lateSQL: it ends expired) is judged but takes no share.
	lateJoin, late := t.lateSQL("d")
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_money AS
SELECT d.rowid AS id, row_number() OVER (ORDER BY `+competitionOrder("d")+`) AS ord,
       d.content, s.cnt, coalesce(su.n, 0) AS stock_used, s.reason AS stock_reason,
       b.ri, b.rule AS budget_rule, b.amount, coalesce(bu.spent, 0) AS spent, b.reason AS budget_reason,
       `+policy.SendCostSQL(t.prog, "d.")+` AS cost,
       `+late+` AS late, false AS oos, false AS ob
FROM _nudge_dec d`+lateJoin+`
LEFT JOIN `+stockT+` ON s.content = d.content
LEFT JOIN `+stockUse+` ON su.content = d.content
LEFT JOIN `+budgetT+` ON b.ri = d.ri
LEFT JOIN `+budgetUse+` ON bu.rule = b.rule
WHERE d.action = 'send' AND (d.status IS NULL OR (d.transactional AND d.status = `+policy.Pending.SQL()+`))
  AND (s.cnt IS NOT NULL OR b.amount IS NOT NULL)`); err != nil {
		return err
	}
	for round := 0; ; round++ {
		if round == maxCapRounds {
			return errors.New("stock and budget did not settle")
		}
		n, err := t.exec(ctx, `
UPDATE _nudge_money SET oos = v.oos, ob = v.ob
FROM (
    SELECT id, oos, NOT oos AND coalesce(amount < spent + spent_before + cost, false) AS ob
    FROM (
        SELECT id, amount, spent, cost,
               coalesce(cnt <= stock_used + coalesce(sum(CASE WHEN oos OR ob OR late THEN 0 ELSE 1 END) OVER (
                   PARTITION BY content ORDER BY ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), false) AS oos,
               coalesce(sum(CASE WHEN oos OR ob OR late THEN 0 ELSE cost END) OVER (
                   PARTITION BY budget_rule ORDER BY ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS spent_before
        FROM _nudge_money
    )
) v
WHERE _nudge_money.id = v.id AND (_nudge_money.oos <> v.oos OR _nudge_money.ob <> v.ob)`)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if err := t.checkBudgetSkips(ctx, true); err != nil {
		return err
	}
	// The refused sends in the order of their rows: DuckDB updates rows
	// in the order the join gives them, and updates scattered over the
	// table cost several times more (the decisions are in the order of
	// the firings, not of the competition).
	_, err = t.exec(ctx, `
UPDATE _nudge_dec SET status = CASE WHEN m.oos THEN `+policy.OutOfStock.SQL()+` ELSE `+policy.OverBudget.SQL()+` END,
    reason = CASE WHEN m.oos THEN m.stock_reason ELSE m.budget_reason END
FROM (SELECT id, oos, stock_reason, budget_reason FROM _nudge_money WHERE oos OR ob ORDER BY id) m
WHERE _nudge_dec.rowid = m.id;
DROP TABLE _nudge_money`)
	return err
}

// moneyCompetitors are the contents under a stock and the rules (ri) under
// a budget that some open send of the tick has.
type moneyCompetitors struct {
	contents map[string]bool
	rules    map[int]bool
}

// moneyCompetitors reads which stocks and budgets the tick's open sends
// (the rows of _nudge_dec stockAndBudget judges) compete for: only those
// need the outbox's count of a content's sends or sum of a rule's costs,
// which read the brand's whole history of them. A tick with no such send
// (most ticks of the service) reads none.
func (t *tick) moneyCompetitors(ctx context.Context) (moneyCompetitors, error) {
	c := moneyCompetitors{contents: map[string]bool{}, rules: map[int]bool{}}
	if !t.prog.Competes() {
		return c, nil
	}
	rows, err := t.tx.QueryContext(ctx, `
SELECT DISTINCT coalesce(content, ''), ri FROM _nudge_dec d
WHERE d.action = 'send' AND (d.status IS NULL OR (d.transactional AND d.status = `+policy.Pending.SQL()+`))`)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var content string
		var ri int
		if err := rows.Scan(&content, &ri); err != nil {
			return c, err
		}
		c.contents[content] = true
		c.rules[ri] = true
	}
	return c, rows.Err()
}

// competitionOrder is the order in which the open sends of one tick (the
// rows of _nudge_dec aliased d) compete for a stock or a budget (SPEC §9):
// the decision's instant (a replay's earlier ticks first), priority,
// rule name, member id, due time, then the step (a journey's sends due
// together go in the order of its steps: their ri follow the steps), the
// triggering event and the action, which makes it total.
func competitionOrder(d string) string {
	return d + ".now, " + d + ".priority DESC, " + d + ".rule, " + d + ".member_id, " + d + ".due_at NULLS FIRST, " +
		d + ".ri, " + d + ".trigger_seq NULLS FIRST, " + d + ".firing_id, " + d + ".action_index"
}
