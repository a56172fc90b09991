package ast

import "reflect"

// Inspect traverses the tree rooted at n in depth-first order, calling f for
// each node; if f returns false, the node's children are skipped. Nil children
// are not visited.
func Inspect(n Node, f func(Node) bool) {
	if n == nil || isNilNode(n) || !f(n) {
		return
	}
	visit := func(c Node) { Inspect(c, f) }
	switch n := n.(type) {
	case *File:
		for _, d := range n.Decls {
			visit(d)
		}
	case *BrandDecl:
		visit(n.Name)
	case *ImportDecl:
		visit(n.Path)
	case *SegmentDecl:
		visit(n.Name)
		visit(n.Title)
		visit(n.Cond)
	case *RuleDecl:
		visit(n.Name)
		visit(n.Title)
		visit(n.Cond)
		for _, a := range n.Actions {
			visit(a)
		}
		for _, o := range n.Options {
			visit(o)
		}
	case *CapDecl:
		visit(n.Channel)
		visit(n.Count)
		visit(n.Per)
	case *QuietDecl:
		visit(n.From)
		visit(n.To)
		visit(n.Channel)
	case *EventDecl:
		visit(n.Name)
		for _, fd := range n.Fields {
			visit(fd)
		}
	case *MemberDecl:
		for _, fd := range n.Fields {
			visit(fd)
		}
	case *FieldDecl:
		visit(n.Name)
		visit(n.Type)
	case *Action:
		visit(n.SendKind)
		visit(n.Value)
		visit(n.Channel)
		for _, e := range n.Else {
			visit(e)
		}
		for _, p := range n.Params {
			visit(p)
		}
	case *Param:
		visit(n.Name)
		visit(n.Value)
	case *ExpireOption:
		visit(n.After)
	case *LimitOption:
		visit(n.Every)
	case *PriorityOption:
		visit(n.Value)
	case *HoldoutOption:
		visit(n.Percent)
	case *StopAfterOption:
		visit(n.Count)
	case *ConvertOption:
		visit(n.Event)
		visit(n.Within)
	case *CostDecl:
		visit(n.Channel)
		visit(n.Kind)
		visit(n.Content)
		visit(n.Amount)
	case *BudgetOption:
		visit(n.Amount)
		visit(n.Per)
	case *StockDecl:
		visit(n.Content)
		visit(n.Count)
	case *GlobalHoldoutDecl:
		visit(n.Percent)
	case *BinaryExpr:
		visit(n.X)
		visit(n.Y)
	case *NotExpr:
		visit(n.X)
	case *ParenExpr:
		visit(n.X)
	case *BetweenExpr:
		visit(n.X)
		visit(n.Lo)
		visit(n.Hi)
	case *InExpr:
		visit(n.X)
		for _, e := range n.List {
			visit(e)
		}
	case *IsNullExpr:
		visit(n.X)
	case *EventRef:
		visit(n.Event)
		for _, flt := range n.Filters {
			visit(flt)
		}
	case *EventAtom:
		visit(n.Ref)
		visit(n.Matching)
		visit(n.Quant)
		visit(n.Window)
	case *FollowedAtom:
		visit(n.First)
		visit(n.Second)
		visit(n.Matching)
		visit(n.Within)
	case *TaggedExpr:
		visit(n.Tag)
	case *MemberField:
		visit(n.Field)
	case *CallExpr:
		visit(n.Func)
		for _, a := range n.Args {
			visit(a)
		}
	case *AggExpr:
		visit(n.Ref)
		visit(n.Field)
		visit(n.Window)
	case *DaysSinceExpr:
		visit(n.Ref)
	case *DurationLit:
		visit(n.N)
	case *PrepFilter:
		visit(n.Field)
		visit(n.Value)
	case *WhereFilter:
		visit(n.Cond)
	case *Quantifier:
		visit(n.N)
	case *Window:
		visit(n.Dur)
	case *TestDecl:
		visit(n.Name)
		for _, st := range n.Steps {
			visit(st)
		}
	case *NowStep:
		visit(n.At)
	case *MemberStep:
		visit(n.ID)
		for _, fv := range n.Fields {
			visit(fv)
		}
	case *EventStep:
		visit(n.Member)
		visit(n.Event)
		visit(n.At)
		visit(n.Ago)
		for _, fv := range n.Fields {
			visit(fv)
		}
	case *FieldValue:
		visit(n.Name)
		visit(n.Value)
	case *TickStep:
		visit(n.At)
		visit(n.Later)
	case *ExpectStep:
		visit(n.Rule)
		visit(n.Member)
		visit(n.Status)
		visit(n.Tag)
		visit(n.Journey)
	case *JourneyExpect:
		visit(n.SendKind)
		visit(n.Content)
		visit(n.Step)
		visit(n.Variant)
	default:
		inspectJourney(n, visit)
	}
}

// isNilNode reports whether n is a typed nil pointer wrapped in an interface.
func isNilNode(n Node) bool {
	switch n := n.(type) {
	case *Ident:
		return n == nil
	case *StringLit:
		return n == nil
	case *NumberLit:
		return n == nil
	case *DurationLit:
		return n == nil
	case *ClockLit:
		return n == nil
	case *Quantifier:
		return n == nil
	case *Window:
		return n == nil
	case *EventRef:
		return n == nil
	case *DateLit:
		return n == nil
	}
	// Any other node: a nil pointer in a slice of a partial tree (a nil
	// *Action, *FieldDecl, option or filter) is not visited either.
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// Unparen returns e without the parentheses around it.
func Unparen(e Expr) Expr {
	for {
		p, ok := e.(*ParenExpr)
		if !ok || p.X == nil {
			return e
		}
		e = p.X
	}
}

// Chain returns the operands of a chain of one logical operator op (a or
// b or c, parentheses around a part of the same operator included), in
// order; e alone when it is no such chain. The compiler writes a chain as
// one flat SQL AND or OR, and the checker counts it as one level.
func Chain(e Expr, op BinaryOp) []Expr { return chain(e, op, nil) }

func chain(e Expr, op BinaryOp, out []Expr) []Expr {
	if b, ok := e.(*BinaryExpr); ok && b.Op == op {
		return chain(b.Y, op, chain(b.X, op, out))
	}
	if p, ok := e.(*ParenExpr); ok {
		if b, ok := p.X.(*BinaryExpr); ok && b.Op == op {
			return chain(p.X, op, out)
		}
	}
	return append(out, e)
}
