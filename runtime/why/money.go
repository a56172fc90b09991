package why

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// moneyState is what `why` reads for the money policies of SPEC §9: who is
// in the global control group, how much of each stock is used and how much
// of each rule's budget is spent in the period of now.
type moneyState struct {
	prog    *compiler.Program
	now     time.Time
	global  map[string]bool    // member: in the global control group
	used    map[string]int64   // content: counted sends ever
	spent   map[string]float64 // rule: cost of its counted sends in the period
	periods map[string][2]time.Time
}

// readMoney reads the money state of the members of list (an SQL IN list)
// at now, with the policies' own definitions (package policy); what stocks
// and budgets have used, from everyOutbox (runtime.DB.EveryMembersOutbox).
func readMoney(ctx context.Context, q queryer, prog *compiler.Program, brand string, now time.Time, list, everyOutbox string) (*moneyState, error) {
	m := &moneyState{prog: prog, now: now, global: map[string]bool{}, used: map[string]int64{}, spent: map[string]float64{}, periods: map[string][2]time.Time{}}
	b := sql.Named("brand", brand)
	if prog.GlobalHoldout > 0 {
		if err := scan(ctx, q, `SELECT member_id, `+policy.GlobalHeldOutSQL("$brand::VARCHAR", "member_id", prog.GlobalHoldout)+`
			FROM members WHERE brand = $brand::VARCHAR AND member_id IN `+list, []any{b}, func(r *sql.Rows) error {
			var id string
			var in bool
			if err := r.Scan(&id, &in); err != nil {
				return err
			}
			m.global[id] = in
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for _, s := range prog.Stocks {
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+everyOutbox+` WHERE brand = $brand::VARCHAR AND content = $c::VARCHAR AND `+policy.CountedSendSQL(""),
			b, sql.Named("c", s.Content)).Scan(&n); err != nil {
			return nil, err
		}
		m.used[s.Content] = n
	}
	for _, r := range prog.Rules {
		if r.Budget == nil {
			continue
		}
		lo, hi := policy.BudgetPeriod(r.Budget.Per, now)
		m.periods[r.Name] = [2]time.Time{lo, hi}
		var spent float64
		if err := q.QueryRowContext(ctx, `SELECT coalesce(CAST(sum(`+policy.SendCostSQL(prog, "")+`) AS DOUBLE), 0) FROM `+everyOutbox+`
			WHERE brand = $brand::VARCHAR AND rule = $rule::VARCHAR AND fired_at >= $lo::TIMESTAMP AND fired_at < $hi::TIMESTAMP AND `+policy.CountedSendSQL(""),
			b, sql.Named("rule", r.Name), sql.Named("lo", lo), sql.Named("hi", hi)).Scan(&spent); err != nil {
			return nil, err
		}
		m.spent[r.Name] = spent
	}
	return m, nil
}

// globalPolicy is the verdict of the global control group on member's
// sends, if the program has one.
func (m *moneyState) globalPolicy(member string) (Policy, bool) {
	if m.prog.GlobalHoldout <= 0 {
		return Policy{}, false
	}
	if m.global[member] {
		return Policy{"global control group", false, fmt.Sprintf("holdout %g%% of members: in the global control group (held_out, no marketing send from any rule)", m.prog.GlobalHoldout)}, true
	}
	return Policy{"global control group", true, fmt.Sprintf("holdout %g%% of members: not in the global control group", m.prog.GlobalHoldout)}, true
}

// stockPolicies are the verdicts of the stocks of the contents sends sends.
func (m *moneyState) stockPolicies(sends []compiler.Action) []Policy {
	var ps []Policy
	for _, s := range m.prog.Stocks {
		for _, a := range sends {
			if a.Content != s.Content {
				continue
			}
			left := max(s.Count-m.used[s.Content], 0)
			ps = append(ps, Policy{"stock", left > 0, fmt.Sprintf("stock %q %d: %d sent, %d left (shared by every rule; out_of_stock when none is left)", s.Content, s.Count, m.used[s.Content], left)})
			break
		}
	}
	return ps
}

// budgetPolicy is the verdict of rule's budget, if it has one: what its
// sends cost in the period of now, what is left and what a firing costs.
func (m *moneyState) budgetPolicy(r *compiler.Rule, sends []compiler.Action) (Policy, bool) {
	if r.Budget == nil {
		return Policy{}, false
	}
	cost := 0.0
	for _, a := range sends {
		cost += m.prog.SendCost(a.Channel, a.Kind, a.Content)
	}
	spent := m.spent[r.Name]
	left := r.Budget.Amount - spent
	p := m.periods[r.Name]
	return Policy{"budget", spent+cost <= r.Budget.Amount+1e-9, fmt.Sprintf("budget %g per %s: %g spent from %s to %s, %g left; a firing costs %g",
		r.Budget.Amount, r.Budget.Per, money(spent), p[0].Format("2006-01-02"), p[1].Add(-time.Second).Format("2006-01-02"), money(max(left, 0)), money(cost))}, true
}

// channelsOf lists the channels of sends, each once, in order.
func channelsOf(sends []compiler.Action) []string {
	var out []string
	for _, a := range sends {
		if !slices.Contains(out, a.Channel) {
			out = append(out, a.Channel)
		}
	}
	return out
}

// money rounds an amount to 4 decimals, as the outbox's costs are.
func money(x float64) float64 { return math.Round(x*1e4) / 1e4 }
