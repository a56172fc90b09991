package report

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"nudge/runtime/policy"
)

// Money is the report's money section (SPEC §9): per rule with a budget,
// what its sends cost in each calendar period of the report's period
// (`budget AMOUNT per day|week|month`), and per stock how many of its
// sends were used, ever, and how many are left (`stock "CONTENT" N`).
// Only sends recorded pending, scheduled or sent count, as for the tick.
type Money struct {
	Budgets []BudgetPeriod `json:"budgets"`
	Stocks  []StockLeft    `json:"stocks"`
}

// BudgetPeriod is one rule's budget in one calendar period.
type BudgetPeriod struct {
	Rule   string    `json:"rule"`
	Per    string    `json:"per"`
	Start  time.Time `json:"start"` // the period's first day
	Amount float64   `json:"amount"`
	Spent  float64   `json:"spent"`
	Sends  int64     `json:"sends"`
	// OverBudget counts the firings' sends refused over_budget in the period.
	OverBudget int64 `json:"over_budget"`
}

// StockLeft is one stock's use.
type StockLeft struct {
	Content    string `json:"content"`
	Count      int64  `json:"count"`
	Used       int64  `json:"used"`
	Left       int64  `json:"left"`
	OutOfStock int64  `json:"out_of_stock"` // refusals in the report's period
}

// money builds the money section, or nil when the program has no budget
// and no stock (or the report speaks of no one brand).
func money(ctx context.Context, db *sql.DB, opts Options) (*Money, error) {
	prog := opts.Program
	if prog == nil || opts.Brand == "" || (len(prog.Stocks) == 0 && !prog.HasBudgets()) {
		return nil, nil
	}
	m := &Money{}
	args := []any{sql.Named("brand", opts.Brand), sql.Named("from", bound(opts.From)), sql.Named("to", bound(opts.To))}
	for _, r := range prog.Rules {
		if r.Budget == nil {
			continue
		}
		rows, err := db.QueryContext(ctx, `SELECT CAST(`+policy.BudgetPeriodSQL(r.Budget.Per, "fired_at")+` AS DATE) AS start,
       coalesce(CAST(sum(`+policy.SendCostSQL(prog, "")+`) FILTER (WHERE status IN (`+policy.CountedSQL+`)) AS DOUBLE), 0),
       count(*) FILTER (WHERE status IN (`+policy.CountedSQL+`)),
       count(*) FILTER (WHERE status = `+policy.OverBudget.SQL()+`)
FROM outbox WHERE brand = $brand::VARCHAR AND rule = $rule::VARCHAR AND action = 'send' AND `+periodSQL+`
GROUP BY start ORDER BY start`, append(args, sql.Named("rule", r.Name))...)
		if err != nil {
			return nil, fmt.Errorf("report: budgets: %w", err)
		}
		if err := scanAll(rows, func() error {
			b := BudgetPeriod{Rule: r.Name, Per: r.Budget.Per, Amount: r.Budget.Amount}
			if err := rows.Scan(&b.Start, &b.Spent, &b.Sends, &b.OverBudget); err != nil {
				return err
			}
			b.Spent = round2(b.Spent)
			m.Budgets = append(m.Budgets, b)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("report: budgets: %w", err)
		}
	}
	for _, s := range prog.Stocks {
		st := StockLeft{Content: s.Content, Count: s.Count}
		if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status IN (`+policy.CountedSQL+`)),
       count(*) FILTER (WHERE status = `+policy.OutOfStock.SQL()+` AND `+periodSQL+`)
FROM outbox WHERE brand = $brand::VARCHAR AND content = $content::VARCHAR AND action = 'send'`,
			append(args, sql.Named("content", s.Content))...).Scan(&st.Used, &st.OutOfStock); err != nil {
			return nil, fmt.Errorf("report: stocks: %w", err)
		}
		st.Left = max(st.Count-st.Used, 0)
		m.Stocks = append(m.Stocks, st)
	}
	return m, nil
}

// writeText writes the money section for a terminal.
func (m *Money) writeText(b *strings.Builder) {
	if len(m.Budgets) > 0 {
		b.WriteString("\nbudgets (cost of the sends pending, scheduled or sent, per calendar period)\n")
		for _, p := range m.Budgets {
			fmt.Fprintf(b, "  %-24s %-5s from %s  spent %10.2f of %10.2f (%5.1f%%)  %6d sends  over_budget %d\n",
				p.Rule, p.Per, p.Start.Format("2006-01-02"), p.Spent, p.Amount, p.SpentPct(), p.Sends, p.OverBudget)
		}
	}
	if len(m.Stocks) > 0 {
		b.WriteString("\nstocks (sends pending, scheduled or sent, ever)\n")
		for _, s := range m.Stocks {
			fmt.Fprintf(b, "  %-24q used %6d of %6d, %6d left  out_of_stock %d\n", s.Content, s.Used, s.Count, s.Left, s.OutOfStock)
		}
	}
}

// SpentPct is the share of the budget spent, in percent.
func (p BudgetPeriod) SpentPct() float64 {
	if p.Amount <= 0 {
		return 0
	}
	return 100 * p.Spent / p.Amount
}

// moneyHTML is the HTML of the money section (a template of htmlTmpl).
const moneyHTML = `{{define "money"}}
<section class="money">
<h2>budgets and stocks</h2>
{{if .Budgets}}<table>
<tr><th>rule</th><th>period</th><th>from</th><th>spent</th><th>budget</th><th>spent %</th><th>sends</th><th>over_budget</th></tr>
{{range .Budgets}}<tr><td>{{.Rule}}</td><td>{{.Per}}</td><td>{{.Start.Format "2006-01-02"}}</td><td class="n">{{printf "%.2f" .Spent}}</td><td class="n">{{printf "%.2f" .Amount}}</td><td class="n">{{printf "%.1f%%" .SpentPct}}</td><td class="n">{{.Sends}}</td><td class="n">{{.OverBudget}}</td></tr>
{{end}}</table>{{end}}
{{if .Stocks}}<table>
<tr><th>content</th><th>stock</th><th>used</th><th>left</th><th>out_of_stock</th></tr>
{{range .Stocks}}<tr><td>{{.Content}}</td><td class="n">{{.Count}}</td><td class="n">{{.Used}}</td><td class="n">{{.Left}}</td><td class="n">{{.OutOfStock}}</td></tr>
{{end}}</table>{{end}}
</section>
{{end}}`
