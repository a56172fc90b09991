package compiler

import (
	"strconv"
	"strings"

	"nudge/lang/ast"
)

// label renders an expression back to nudge source text in a canonical
// spacing. It names value columns (Value.Label) and annotates generated SQL.
func label(e ast.Node) string {
	var b strings.Builder
	writeLabel(&b, e)
	return b.String()
}

func writeLabel(b *strings.Builder, n ast.Node) {
	w := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
		}
	}
	switch n := n.(type) {
	case nil:
	case *ast.BinaryExpr:
		writeLabel(b, n.X)
		w(" ", n.Op.String(), " ")
		writeLabel(b, n.Y)
	case *ast.NotExpr:
		w("not ")
		writeLabel(b, n.X)
	case *ast.ParenExpr:
		w("(")
		writeLabel(b, n.X)
		w(")")
	case *ast.BetweenExpr:
		writeLabel(b, n.X)
		w(" between ")
		writeLabel(b, n.Lo)
		w(" and ")
		writeLabel(b, n.Hi)
	case *ast.InExpr:
		writeLabel(b, n.X)
		if n.Not {
			w(" not")
		}
		w(" in (")
		for i, x := range n.List {
			if i > 0 {
				w(", ")
			}
			writeLabel(b, x)
		}
		w(")")
	case *ast.IsNullExpr:
		writeLabel(b, n.X)
		if n.Not {
			w(" is not null")
		} else {
			w(" is null")
		}
	case *ast.EventRef:
		writeLabel(b, n.Event)
		for _, f := range n.Filters {
			w(" ")
			writeLabel(b, f)
		}
	case *ast.EventAtom:
		writeLabel(b, n.Ref)
		if n.Quant != nil {
			w(" ")
			writeLabel(b, n.Quant)
		}
		if n.Window != nil {
			w(" ")
			writeLabel(b, n.Window)
		}
	case *ast.FollowedAtom:
		writeLabel(b, n.First)
		w(" not followed by ")
		writeLabel(b, n.Second)
		if n.Matching != nil {
			w(" matching ", n.Matching.Name)
		}
		w(" within ")
		writeLabel(b, n.Within)
	case *ast.TaggedExpr:
		w("tagged ")
		writeLabel(b, n.Tag)
	case *ast.Ident:
		if n != nil {
			w(n.Name)
		}
	case *ast.MemberField:
		w("member.", n.Field.Name)
	case *ast.CallExpr:
		w(n.Func.Name, "(")
		for i, a := range n.Args {
			if i > 0 {
				w(", ")
			}
			writeLabel(b, a)
		}
		w(")")
	case *ast.AggExpr:
		w(n.Func.String(), "(")
		if n.Ref != nil {
			w(n.Ref.Event.Name)
			if n.Field != nil {
				w(".", n.Field.Name)
			}
			for _, f := range n.Ref.Filters {
				w(" ")
				writeLabel(b, f)
			}
		}
		if n.Window != nil {
			w(" ")
			writeLabel(b, n.Window)
		}
		w(")")
	case *ast.DaysSinceExpr:
		if n.First {
			w("days since first ")
		} else {
			w("days since last ")
		}
		writeLabel(b, n.Ref)
	case *ast.NumberLit:
		if n != nil {
			w(strconv.FormatFloat(n.Value, 'f', -1, 64))
		}
	case *ast.StringLit:
		if n != nil {
			w(strconv.Quote(n.Value))
		}
	case *ast.DurationLit:
		if n == nil {
			return
		}
		unit := n.Unit.String()
		c := durationCount(n)
		if c != 1 {
			unit += "s"
		}
		w(strconv.FormatFloat(c, 'f', -1, 64), " ", unit)
	case *ast.DateLit:
		w(n.Text)
	case *ast.BoolLit:
		w(strconv.FormatBool(n.Value))
	case *ast.PrepFilter:
		w(n.Prep, " ", n.Field.Name, " ")
		writeLabel(b, n.Value)
	case *ast.WhereFilter:
		w("where ")
		writeLabel(b, n.Cond)
	case *ast.Quantifier:
		if n == nil {
			return
		}
		switch n.Kind {
		case ast.AtLeast:
			w("at least ")
		case ast.AtMost:
			w("at most ")
		case ast.Exactly:
			w("exactly ")
		}
		writeLabel(b, n.N)
		w(" times")
	case *ast.Window:
		if n == nil {
			return
		}
		switch n.Kind {
		case ast.InLast:
			w("in last ")
			writeLabel(b, n.Dur)
		case ast.Ever:
			w("ever")
		case ast.Before:
			w("before")
		}
	case *ast.BadExpr:
		w("<bad expression>")
	}
}
