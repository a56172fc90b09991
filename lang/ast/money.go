package ast

// This file holds the nodes of the money policies (SPEC §9): a rule's
// budget, a content's stock and the program's global control group. The
// cost of a content is a CostDecl (loop.go).

// BudgetOption is `budget AMOUNT per day|week|month`: the cost of the
// rule's sends in one calendar period (weeks from Monday) stays within
// AMOUNT, in the units of `cost`.
type BudgetOption struct {
	Span
	Amount *NumberLit
	Per    *Ident // the period's unit as written: day, week or month
}

func (*BudgetOption) optionNode() {}

// StockDecl is `stock "CONTENT" N`: at most N sends of CONTENT, ever,
// across the program (coupons in stock).
type StockDecl struct {
	Span
	Content *StringLit
	Count   *NumberLit
}

func (*StockDecl) declNode() {}

// GlobalHoldoutDecl is `holdout P% of members`: a stable P% of the brand's
// members get no marketing send from any rule (the program's control
// group).
type GlobalHoldoutDecl struct {
	Span
	Percent *NumberLit
}

func (*GlobalHoldoutDecl) declNode() {}
