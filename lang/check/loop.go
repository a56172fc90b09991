package check

import (
	"nudge/lang/ast"
)

// This file checks the closed-loop constructs (lang/ast/loop.go): a rule's
// `convert on EVENT {filter} within DURATION` option and the top-level
// `cost CHANNEL AMOUNT` declarations. Reports (`nudge report`) and
// simulations (`nudge simulate`) read the results from Rule.Convert and
// Info.Costs.

// Diagnostic codes of the closed-loop checks.
const (
	CodeBadCost       = "bad-cost"       // a negative or absurd cost per send
	CodeDuplicateCost = "duplicate-cost" // two costs for one channel
	CodeBadConvert    = "bad-convert"    // a conversion window that is not positive
)

// DefaultConvertEvent and DefaultConvertMinutes are the conversion of a rule
// without a `convert on` option: any `purchased` within 7 days of a firing.
const (
	DefaultConvertEvent   = "purchased"
	DefaultConvertMinutes = 7 * 24 * 60
)

// convertOption checks `convert on EVENT {filter} within DURATION` and
// records it in rr.Convert.
func (c *checker) convertOption(rr *Rule, o *ast.ConvertOption) {
	if o == nil {
		return
	}
	et := c.eventRef(o.Event)
	ok := et != nil
	if o.Within != nil {
		if c.expr(o.Within, nil) != Duration {
			ok = false
		} else if o.Within.N != nil && (o.Within.N.Value <= 0 || o.Within.N.Value > 1e6) {
			c.errorf(o.Within, CodeBadConvert, "`convert on ... within` needs a positive duration, not %s %ss", o.Within.N.Text, o.Within.Unit)
			ok = false
		}
	}
	if ok && rr.Convert == nil {
		rr.Convert = o
	}
}

// costDecl checks `cost CHANNEL AMOUNT` and records it in Info.Costs.
func (c *checker) costDecl(d *ast.CostDecl, seen map[string]*ast.CostDecl) {
	if d != nil && d.Kind != nil {
		c.contentCostDecl(d)
		return
	}
	if d == nil || d.Channel == nil || d.Amount == nil {
		return
	}
	c.checkChannel(d.Channel, "cost of")
	c.set(d.Amount, Number)
	if !c.costAmount(d.Amount) {
		return
	}
	if prev, dup := seen[d.Channel.Name]; dup {
		c.errorf(d, CodeDuplicateCost, "cost of channel %q given twice; first at line %d", d.Channel.Name, prev.Span.Start.Line)
		return
	}
	seen[d.Channel.Name] = d
	if c.info.Costs == nil {
		c.info.Costs = map[string]float64{}
	}
	c.info.Costs[d.Channel.Name] = d.Amount.Value
}

// MaxCost is the largest cost of one send (`cost CHANNEL AMOUNT`, `cost KIND
// "CONTENT" AMOUNT`).
const MaxCost = 1e9

// costAmount reports a cost per send outside 0 to MaxCost, naming which
// end it is past.
func (c *checker) costAmount(n *ast.NumberLit) bool {
	switch {
	case n.Value < 0:
		c.errorf(n, CodeBadCost, "a cost per send cannot be negative, not %s; a cost is from 0 to 1000000000", n.Text)
	case n.Value > MaxCost:
		c.errorf(n, CodeBadCost, "a cost per send of %s is above the limit of 1000000000; a cost is from 0 to 1000000000", n.Text)
	default:
		return true
	}
	return false
}
