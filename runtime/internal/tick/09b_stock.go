package tick

import (
	"context"
	"fmt"
	"strings"

	"nudge/runtime/policy"
)

// stock refuses the open sends of a content past its stock (`stock
// "CONTENT" N`) as out_of_stock: the brand's counted sends of the content
// ever, plus the open sends of this tick before it in the competition
// order (policy/money.go), reach N. Set-based: one running count per
// content.
func (t *tick) stock(ctx context.Context) error {
	if len(t.prog.Stocks) == 0 {
		return nil
	}
	var rows, contents []string
	for _, s := range t.prog.Stocks {
		rows = append(rows, fmt.Sprintf("(%s, %d, %s)", quoteString(s.Content), s.Count, quoteString(policy.OutOfStockReason(s.Content, s.Count))))
		contents = append(contents, s.Content)
	}
	_, err := t.exec(ctx, `
UPDATE _nudge_dec SET status = `+policy.OutOfStock.SQL()+`, reason = v.reason
FROM (
    SELECT d.rowid AS id, s.reason, s.cnt,
           coalesce(u.n, 0) + row_number() OVER (PARTITION BY d.content ORDER BY `+competitionOrder("d")+`) AS used
    FROM _nudge_dec d
    JOIN (VALUES `+strings.Join(rows, ", ")+`) s(content, cnt, reason) ON s.content = d.content
    LEFT JOIN (SELECT content, count(*) AS n FROM outbox
               WHERE content IN (`+quoteStrings(contents)+`) AND `+afterScan(policy.CountedSendSQL("")+" AND brand = "+t.brandSQL())+`
               GROUP BY content) u ON u.content = d.content
    WHERE d.action = 'send' AND d.status IS NULL
) v
WHERE _nudge_dec.rowid = v.id AND v.used > v.cnt`)
	return err
}

// competitionOrder is the order in which the open sends of one tick (the
// rows of _nudge_dec aliased d) compete for a stock or a budget (SPEC §9):
// the decision's instant (a replay's earlier ticks first), priority,
// rule name, member id, due time, then the triggering event and the
// action, which makes it total.
func competitionOrder(d string) string {
	return d + ".now, " + d + ".priority DESC, " + d + ".rule, " + d + ".member_id, " + d + ".due_at NULLS FIRST, " +
		d + ".trigger_seq NULLS FIRST, " + d + ".firing_id, " + d + ".action_index"
}
