package parser

import (
	"fmt"
	"strings"

	"nudge/lang/ast"
)

// debugString renders an AST compactly for test expectations (in the spirit
// of cel-go's parser tests). withSpans appends @line:col-line:col to nodes.
func debugString(n ast.Node) string {
	p := &printer{}
	p.node(n)
	return p.b.String()
}

type printer struct {
	b     strings.Builder
	spans bool
}

func (p *printer) w(format string, args ...any) { fmt.Fprintf(&p.b, format, args...) }

func (p *printer) node(n ast.Node) {
	switch n := n.(type) {
	case *ast.File:
		for _, d := range n.Decls {
			p.node(d)
			p.w("\n")
		}
	case *ast.BrandDecl:
		p.w("(brand %q)", n.Name.Value)
	case *ast.ImportDecl:
		p.w("(import %q)", n.Path.Value)
	case *ast.SegmentDecl:
		p.w("(segment %s", n.Name.Name)
		if n.Title != nil {
			p.w(" %q", n.Title.Value)
		}
		p.w(" ")
		p.node(n.Cond)
		p.w(")")
	case *ast.RuleDecl:
		p.w("(rule %s", n.Name.Name)
		if n.Title != nil {
			p.w(" %q", n.Title.Value)
		}
		p.w("\n  (if ")
		p.node(n.Cond)
		p.w(")\n  (then")
		for _, a := range n.Actions {
			p.w(" ")
			p.node(a)
		}
		p.w(")")
		for _, o := range n.Options {
			p.w("\n  ")
			p.node(o)
		}
		p.w(")")
	case *ast.CapDecl:
		ch := "all"
		if n.Channel != nil {
			ch = n.Channel.Name
		}
		p.w("(cap %s %s ", ch, n.Count.Text)
		p.node(n.Per)
		p.w(")")
	case *ast.QuietDecl:
		p.w("(quiet ")
		p.node(n.From)
		p.w(" ")
		p.node(n.To)
		p.w(")")
	case *ast.EventDecl:
		p.w("(event-decl %s", n.Name.Name)
		for _, f := range n.Fields {
			p.w(" (%s %s)", f.Name.Name, f.Type.Name)
		}
		p.w(")")
	case *ast.MemberDecl:
		p.w("(member-decl")
		for _, f := range n.Fields {
			p.w(" (%s %s)", f.Name.Name, f.Type.Name)
		}
		p.w(")")
	case *ast.BadDecl:
		p.w("(bad-decl %s-%s)", n.Span.Start, n.Span.End)
	case *ast.Action:
		switch n.Kind {
		case ast.Send:
			p.w("(send %s %q %s)", n.SendKind.Name, n.Value.Value, n.Channel.Name)
		default:
			p.w("(%s %q)", n.Kind, n.Value.Value)
		}
	case *ast.LimitOption:
		p.w("(limit")
		if n.Every != nil {
			p.w(" every ")
			p.node(n.Every)
		}
		p.w(")")
	case *ast.PriorityOption:
		p.w("(priority %s)", n.Value.Text)
	case *ast.HoldoutOption:
		p.w("(holdout %s%%)", n.Percent.Text)
	case *ast.StopAfterOption:
		p.w("(stop-after %s)", n.Count.Text)
	case *ast.ConvertOption:
		p.w("(convert ")
		p.node(n.Event)
		p.w(" ")
		p.node(n.Within)
		p.w(")")
	case *ast.CostDecl:
		p.w("(cost %s %s)", n.Channel.Name, n.Amount.Text)
	case *ast.BinaryExpr:
		p.w("(%s ", n.Op)
		p.node(n.X)
		p.w(" ")
		p.node(n.Y)
		p.w(")")
	case *ast.NotExpr:
		p.w("(not ")
		p.node(n.X)
		p.w(")")
	case *ast.ParenExpr:
		p.w("(paren ")
		p.node(n.X)
		p.w(")")
	case *ast.BetweenExpr:
		p.w("(between ")
		p.node(n.X)
		p.w(" ")
		p.node(n.Lo)
		p.w(" ")
		p.node(n.Hi)
		p.w(")")
	case *ast.InExpr:
		if n.Not {
			p.w("(not-in ")
		} else {
			p.w("(in ")
		}
		p.node(n.X)
		p.w(" [")
		for i, e := range n.List {
			if i > 0 {
				p.w(" ")
			}
			p.node(e)
		}
		p.w("])")
	case *ast.IsNullExpr:
		if n.Not {
			p.w("(is-not-null ")
		} else {
			p.w("(is-null ")
		}
		p.node(n.X)
		p.w(")")
	case *ast.EventRef:
		p.w("%s", n.Event.Name)
		for _, f := range n.Filters {
			p.w(" ")
			p.node(f)
		}
	case *ast.EventAtom:
		p.w("(event ")
		p.node(n.Ref)
		if n.Quant != nil {
			p.w(" ")
			p.node(n.Quant)
		}
		if n.Window != nil {
			p.w(" ")
			p.node(n.Window)
		}
		p.w(")")
	case *ast.FollowedAtom:
		p.w("(not-followed (")
		p.node(n.First)
		p.w(") (")
		p.node(n.Second)
		p.w(")")
		if n.Matching != nil {
			p.w(" matching %s", n.Matching.Name)
		}
		p.w(" within ")
		p.node(n.Within)
		p.w(")")
	case *ast.PrepFilter:
		p.w("(%s %s ", n.Prep, n.Field.Name)
		p.node(n.Value)
		p.w(")")
	case *ast.WhereFilter:
		p.w("(where ")
		p.node(n.Cond)
		p.w(")")
	case *ast.Quantifier:
		p.w("(%s %s)", [...]string{"at-least", "at-most", "exactly"}[n.Kind], n.N.Text)
	case *ast.Window:
		switch n.Kind {
		case ast.InLast:
			p.w("(in-last ")
			p.node(n.Dur)
			p.w(")")
		case ast.Ever:
			p.w("(ever)")
		default:
			p.w("(before)")
		}
	case *ast.TaggedExpr:
		p.w("(tagged %q)", n.Tag.Value)
	case *ast.Ident:
		p.w("%s", n.Name)
	case *ast.MemberField:
		p.w("member.%s", n.Field.Name)
	case *ast.CallExpr:
		p.w("(call %s", n.Func.Name)
		for _, a := range n.Args {
			p.w(" ")
			p.node(a)
		}
		p.w(")")
	case *ast.AggExpr:
		p.w("(%s %s", n.Func, n.Ref.Event.Name)
		if n.Field != nil {
			p.w(".%s", n.Field.Name)
		}
		for _, f := range n.Ref.Filters {
			p.w(" ")
			p.node(f)
		}
		if n.Window != nil {
			p.w(" ")
			p.node(n.Window)
		}
		p.w(")")
	case *ast.DaysSinceExpr:
		which := "last"
		if n.First {
			which = "first"
		}
		p.w("(days-since-%s ", which)
		p.node(n.Ref)
		p.w(")")
	case *ast.NumberLit:
		p.w("%s", n.Text)
	case *ast.StringLit:
		p.w("%q", n.Value)
	case *ast.DurationLit:
		if n.Implicit {
			p.w("(per-%s)", n.Unit)
		} else {
			p.w("(%s %s)", n.N.Text, n.Unit)
		}
	case *ast.DateLit:
		if n.HasTime {
			p.w("(timestamp %04d-%02d-%02d %02d:%02d:%02d)", n.Year, n.Month, n.Day, n.Hour, n.Minute, n.Second)
		} else {
			p.w("(date %04d-%02d-%02d)", n.Year, n.Month, n.Day)
		}
	case *ast.ClockLit:
		p.w("(clock %02d:%02d:%02d)", n.Hour, n.Minute, n.Second)
	case *ast.BoolLit:
		p.w("%t", n.Value)
	case *ast.BadExpr:
		p.w("(bad-expr)")
	default:
		p.w("(?%T)", n)
	}
}
