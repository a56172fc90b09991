package tick

import (
	"context"
	"fmt"
	"strings"

	"nudge/runtime/policy"
)

// budget refuses the open sends of a rule past its budget (`budget AMOUNT
// per day|week|month`) as over_budget: the cost (policy.SendCostSQL) of
// the rule's counted sends fired in the calendar period of the tick's now,
// plus the cost of its open sends of this tick up to and including this
// one in the competition order (policy/money.go), exceeds AMOUNT.
// Set-based: one running sum per rule.
func (t *tick) budget(ctx context.Context) error {
	var rows []string
	for i, r := range t.prog.Rules {
		if r.Budget == nil {
			continue
		}
		start, end := policy.BudgetPeriod(r.Budget.Per, t.now)
		rows = append(rows, fmt.Sprintf("(%d, %s, CAST(%s AS DECIMAL(18,4)), %s, %s, %s)", i, quoteString(r.Name),
			fmt.Sprint(r.Budget.Amount), timestampSQL(start), timestampSQL(end), quoteString(policy.OverBudgetReason(r.Budget))))
	}
	if len(rows) == 0 {
		return nil
	}
	budgets := "(VALUES " + strings.Join(rows, ", ") + ") b(ri, rule, amount, lo, hi, reason)"
	_, err := t.exec(ctx, `
UPDATE _nudge_dec SET status = `+policy.OverBudget.SQL()+`, reason = v.reason
FROM (
    SELECT d.rowid AS id, b.reason, b.amount,
           coalesce(u.spent, 0) + sum(`+policy.SendCostSQL(t.prog, "d.")+`) OVER (PARTITION BY d.ri ORDER BY `+competitionOrder("d")+`
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS used
    FROM _nudge_dec d
    JOIN `+budgets+` ON b.ri = d.ri
    LEFT JOIN (SELECT b.ri, sum(`+policy.SendCostSQL(t.prog, "o.")+`) AS spent
               FROM outbox o JOIN `+budgets+` ON o.rule = b.rule AND o.fired_at >= b.lo AND o.fired_at < b.hi
               WHERE `+afterScan(policy.CountedSendSQL("o.")+" AND o.brand = "+t.brandSQL())+`
               GROUP BY b.ri) u ON u.ri = d.ri
    WHERE d.action = 'send' AND d.status IS NULL
) v
WHERE _nudge_dec.rowid = v.id AND v.used > v.amount`)
	return err
}
