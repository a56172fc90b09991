package check

import (
	"nudge/lang/ast"
)

// This file checks the money policies of SPEC §9 (lang/ast/money.go): a
// rule's `budget AMOUNT per day|week|month`, `cost KIND "CONTENT" AMOUNT`,
// `stock "CONTENT" N` and the global control group `holdout P% of
// members`. The runtime enforces them (runtime/policy/money.go).

// Diagnostic codes of the money checks.
const (
	CodeBadBudget     = "bad-budget"          // a budget that is not positive, or per another period
	CodeBudgetNoCost  = "budget-without-cost" // a budget in a program where nothing costs anything
	CodeBadStock      = "bad-stock"           // a stock that is not a whole number >= 0, or given twice
	CodeBadGlobalHold = "bad-global-holdout"  // a global control group outside 0-100%, or given twice
	CodeUnsentStock   = "unsent-stock"        // warning: a stock of a content no rule sends
	CodeUnsentCost    = "unsent-cost"         // warning: a cost of a kind and content no rule sends
)

// MaxBudget and MaxStock are the largest budget per period and the largest
// stock of a content.
const (
	MaxBudget = 1e12
	MaxStock  = 1e12
)

// Budget is a checked `budget` option.
type Budget struct {
	Option *ast.BudgetOption
	Amount float64
	Per    string // day, week or month
}

// ContentCost is a checked `cost KIND "CONTENT" AMOUNT`.
type ContentCost struct {
	Decl          *ast.CostDecl
	Kind, Content string
	Amount        float64
}

// Stock is a checked `stock "CONTENT" N`.
type Stock struct {
	Decl    *ast.StockDecl
	Content string
	Count   int64
}

// budgetOption checks `budget AMOUNT per UNIT` and records it in rr.Budget.
func (c *checker) budgetOption(rr *Rule, o *ast.BudgetOption) {
	if o == nil || o.Amount == nil || o.Per == nil {
		return
	}
	c.set(o.Amount, Number)
	ok := true
	switch {
	case o.Amount.Value <= 0:
		c.errorf(o.Amount, CodeBadBudget, "a budget must be positive, not %s; a budget is above 0 and at most 1000000000000", o.Amount.Text)
		ok = false
	case o.Amount.Value > MaxBudget:
		c.errorf(o.Amount, CodeBadBudget, "a budget of %s is above the limit of 1000000000000; a budget is above 0 and at most 1000000000000", o.Amount.Text)
		ok = false
	}
	per := budgetPeriod(o.Per.Name)
	if per == "" {
		c.errorf(o.Per, CodeBadBudget, "a budget is per day, week or month (calendar periods), not per %s", o.Per.Name)
		ok = false
	}
	if ok && rr.Budget == nil {
		rr.Budget = &Budget{Option: o, Amount: o.Amount.Value, Per: per}
	}
}

// budgetPeriod is the calendar period a unit word names, "" for one a
// budget cannot have.
func budgetPeriod(unit string) string {
	switch unit {
	case "day", "days":
		return "day"
	case "week", "weeks":
		return "week"
	case "month", "months":
		return "month"
	}
	return ""
}

// contentCostDecl checks `cost KIND "CONTENT" AMOUNT` and records it in
// Info.ContentCosts.
func (c *checker) contentCostDecl(d *ast.CostDecl) {
	if d.Content == nil || d.Amount == nil {
		return
	}
	c.set(d.Amount, Number)
	if !c.costAmount(d.Amount) {
		return
	}
	for _, prev := range c.info.ContentCosts {
		if prev.Kind == d.Kind.Name && prev.Content == d.Content.Value {
			c.errorf(d, CodeDuplicateCost, "cost of %s %q given twice; first at line %d", d.Kind.Name, d.Content.Value, prev.Decl.Span.Start.Line)
			return
		}
	}
	if !c.sends(func(a *ast.Action) bool { return a.SendKind.Name == d.Kind.Name && a.Value.Value == d.Content.Value }) {
		c.warnf(d, CodeUnsentCost, "no rule sends %s %q: this cost applies to nothing", d.Kind.Name, d.Content.Value)
	}
	c.info.ContentCosts = append(c.info.ContentCosts, ContentCost{Decl: d, Kind: d.Kind.Name, Content: d.Content.Value, Amount: d.Amount.Value})
}

// stockDecl checks `stock "CONTENT" N` and records it in Info.Stocks.
func (c *checker) stockDecl(d *ast.StockDecl) {
	if d.Content == nil || d.Count == nil {
		return
	}
	c.set(d.Count, Number)
	switch {
	case d.Count.Value > MaxStock:
		c.errorf(d.Count, CodeBadStock, "a stock of %s is above the limit of 1000000000000 sends; a stock is a whole number from 0 to 1000000000000", d.Count.Text)
		return
	case d.Count.Value < 0:
		c.errorf(d.Count, CodeBadStock, "a stock cannot be negative, not %s; a stock is a whole number from 0 to 1000000000000", d.Count.Text)
		return
	case !isInt(d.Count):
		c.errorf(d.Count, CodeBadStock, "a stock must be a whole number of sends, not %s; a stock is a whole number from 0 to 1000000000000", d.Count.Text)
		return
	}
	for _, prev := range c.info.Stocks {
		if prev.Content == d.Content.Value {
			c.errorf(d, CodeBadStock, "stock of %q given twice; first at line %d", d.Content.Value, prev.Decl.Span.Start.Line)
			return
		}
	}
	if !c.sends(func(a *ast.Action) bool { return a.Value.Value == d.Content.Value }) {
		c.warnf(d, CodeUnsentStock, "no rule sends %q: this stock limits nothing", d.Content.Value)
	}
	c.info.Stocks = append(c.info.Stocks, Stock{Decl: d, Content: d.Content.Value, Count: int64(d.Count.Value)})
}

// globalHoldoutDecl checks `holdout P% of members` and records it in
// Info.GlobalHoldout.
func (c *checker) globalHoldoutDecl(d *ast.GlobalHoldoutDecl) {
	if d.Percent == nil {
		return
	}
	c.set(d.Percent, Number)
	if d.Percent.Value <= 0 || d.Percent.Value >= 100 {
		c.errorf(d.Percent, CodeBadGlobalHold, "the global control group must be more than 0%% and less than 100%% of members, not %s%%%s", d.Percent.Text, readAs(d.Percent))
		return
	}
	if c.info.GlobalHoldout > 0 {
		c.errorf(d, CodeBadGlobalHold, "the global control group (`holdout P%% of members`) is given twice")
		return
	}
	c.info.GlobalHoldout = d.Percent.Value
}

// checkBudgets reports a rule's or journey's budget in a program where no
// send costs anything: every firing would fit it, which is surely not what was meant.
func (c *checker) checkBudgets() {
	if len(c.info.Costs) > 0 || len(c.info.ContentCosts) > 0 {
		return
	}
	for _, r := range c.info.Rules {
		if r.Budget != nil {
			c.errorf(r.Budget.Option, CodeBudgetNoCost, "rule %q has a budget but no send costs anything: declare `cost CHANNEL AMOUNT` or `cost KIND \"CONTENT\" AMOUNT`", name(r.Decl.Name))
		}
	}
	for _, j := range c.info.Journeys {
		if j.Budget != nil {
			c.errorf(j.Budget.Option, CodeBudgetNoCost, "journey %q has a budget but no send costs anything: declare `cost CHANNEL AMOUNT` or `cost KIND \"CONTENT\" AMOUNT`", name(j.Decl.Name))
		}
	}
}

// sends reports whether some send action of the user's rules satisfies ok.
func (c *checker) sends(ok func(*ast.Action) bool) bool {
	for _, f := range c.files {
		for _, d := range f.Decls {
			var actions []*ast.Action
			switch d := d.(type) {
			case *ast.RuleDecl:
				actions = d.Actions
			case *ast.JourneyDecl: // a journey's send steps send too
				forSteps(d.Steps, func(s ast.Step) {
					if a, ok := s.(*ast.ActionStep); ok {
						actions = append(actions, a.Actions...)
					}
				})
			}
			for _, a := range actions {
				if a != nil && a.Kind == ast.Send && a.SendKind != nil && a.Value != nil && ok(a) {
					return true
				}
			}
		}
	}
	return false
}
