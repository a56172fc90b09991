package compiler

import (
	"slices"

	"nudge/lang/check"
)

// This file carries the money policies of SPEC §9 from the checked program
// to the runtime (runtime/policy/money.go enforces them): what a send
// costs per kind and content, each rule's budget, the stocks of contents
// and the global control group.

// Budget is a rule's `budget AMOUNT per day|week|month`: the cost of its
// counted sends in one calendar period of the decision's tick.
type Budget struct {
	Amount float64
	Per    string // day, week (from Monday) or month
}

// ContentCost is `cost KIND "CONTENT" AMOUNT`: one send of that kind and
// content costs AMOUNT on top of its channel's cost.
type ContentCost struct {
	Kind, Content string
	Amount        float64
}

// Stock is `stock "CONTENT" N`: at most N counted sends of CONTENT ever,
// across the program's rules (per brand).
type Stock struct {
	Content string
	Count   int64
}

// attachMoney copies the checked money policies into p: the rules'
// budgets (by name), the content costs, the stocks and the global control
// group.
func attachMoney(info *check.Info, p *Program) {
	budgets := map[string]*Budget{}
	for _, r := range info.Rules {
		if r.Budget != nil && r.Decl != nil && r.Decl.Name != nil {
			budgets[r.Decl.Name.Name] = &Budget{Amount: r.Budget.Amount, Per: r.Budget.Per}
		}
	}
	for _, r := range p.Rules {
		r.Budget = budgets[r.Name]
	}
	p.ContentCosts = p.ContentCosts[:0]
	for _, c := range info.ContentCosts {
		p.ContentCosts = append(p.ContentCosts, ContentCost{Kind: c.Kind, Content: c.Content, Amount: c.Amount})
	}
	p.Stocks = p.Stocks[:0]
	for _, s := range info.Stocks {
		p.Stocks = append(p.Stocks, Stock{Content: s.Content, Count: s.Count})
	}
	p.GlobalHoldout = info.GlobalHoldout
}

// SendCost is what one send of kind and content on channel costs: the
// channel's cost plus the content's.
func (p *Program) SendCost(channel, kind, content string) float64 {
	c := p.Costs[channel]
	for _, cc := range p.ContentCosts {
		if cc.Kind == kind && cc.Content == content {
			c += cc.Amount
		}
	}
	return c
}

// HasBudgets reports whether a rule or a journey of p has a budget.
func (p *Program) HasBudgets() bool {
	for _, r := range p.Rules {
		if r.Budget != nil {
			return true
		}
	}
	for _, j := range p.Journeys {
		if j.Budget != nil {
			return true
		}
	}
	return false
}

// Competes reports whether members compete within a tick for a stock or a
// budget of p (SPEC §9), so that one member's decisions depend on the
// others' firings.
func (p *Program) Competes() bool { return len(p.Stocks) > 0 || p.HasBudgets() }

// RuleCompetes reports whether the sends of rule r compete with the other
// members' sends for a stock or a budget: r has a budget, or sends a
// content with a stock.
func (p *Program) RuleCompetes(r *Rule) bool {
	if r.Budget != nil {
		return true
	}
	for _, a := range r.Actions {
		if a.Verb == "send" && p.stocked(a.Content) {
			return true
		}
	}
	return false
}

// SendCompetes reports whether a send of content by the rule named owner
// (or, when journey is set, by the journey named owner) competes with the
// other members' sends: the content has a stock, or the rule or journey a
// budget. A member none of whose sends competes has decisions that depend
// on nobody else's.
func (p *Program) SendCompetes(owner string, journey bool, content string) bool {
	if p.stocked(content) {
		return true
	}
	if journey {
		for _, j := range p.Journeys {
			if j.Name == owner {
				return j.Budget != nil
			}
		}
		return false
	}
	for _, r := range p.Rules {
		if r.Name == owner {
			return r.Budget != nil
		}
	}
	return false
}

// stocked reports whether content has a stock.
func (p *Program) stocked(content string) bool {
	return slices.ContainsFunc(p.Stocks, func(s Stock) bool { return s.Content == content })
}
