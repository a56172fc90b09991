package parser

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

// converter turns one participle parse tree into lang/ast nodes with exact
// spans. toks is the token stream the tree was parsed from, ending with the
// EOF sentinel.
type converter struct {
	file  string
	toks  []token
	diags *diag.List
}

// index returns the index of the token starting at byte offset off (the EOF
// sentinel included).
func (c *converter) index(off int) int {
	i := sort.Search(len(c.toks), func(i int) bool { return c.toks[i].start.Offset >= off })
	if i >= len(c.toks) {
		return len(c.toks) - 1
	}
	return i
}

// span maps participle's Pos/EndPos (first token, token after the last) to
// a diag.Span running from the first token's start to the last token's end.
func (c *converter) span(pos, endPos lexer.Position) diag.Span {
	i := c.index(pos.Offset)
	j := c.index(endPos.Offset) - 1
	if j < i {
		j = i
	}
	return diag.Span{File: c.file, Start: c.toks[i].start, End: c.toks[j].end}
}

// tokSpan is the span of one captured token.
func (c *converter) tokSpan(t lexer.Token) diag.Span {
	i := c.index(t.Pos.Offset)
	return diag.Span{File: c.file, Start: c.toks[i].start, End: c.toks[i].end}
}

func join(a, b diag.Span) diag.Span { return diag.Span{File: a.File, Start: a.Start, End: b.End} }

func (c *converter) errorf(s diag.Span, format string, args ...any) {
	c.diags.Errorf(s, "syntax", format, args...)
}

func (c *converter) ident(t lexer.Token) *ast.Ident {
	return &ast.Ident{Span: ast.Span{Span: c.tokSpan(t)}, Name: t.Value}
}

func (c *converter) str(t lexer.Token) *ast.StringLit {
	return &ast.StringLit{Span: ast.Span{Span: c.tokSpan(t)}, Value: unquote(t.Value)}
}

// unquote decodes a string token's raw text. The lexer already reported bad
// escapes and unterminated strings, so this is lenient: it stops at the first
// unescaped quote and keeps unknown escapes as written.
func unquote(raw string) string {
	raw = strings.TrimPrefix(raw, `"`)
	if !strings.ContainsAny(raw, `\"`) {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		ch := raw[i]
		if ch == '"' {
			break
		}
		if ch != '\\' || i+1 >= len(raw) {
			b.WriteByte(ch)
			continue
		}
		i++
		switch raw[i] {
		case '"':
			b.WriteByte('"')
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+5 <= len(raw) {
				if v, err := strconv.ParseUint(raw[i+1:i+5], 16, 32); err == nil {
					r := rune(v)
					if !utf8.ValidRune(r) {
						r = utf8.RuneError
					}
					b.WriteRune(r)
					i += 4
					continue
				}
			}
			b.WriteString(`\u`)
		default:
			b.WriteByte('\\')
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

func (c *converter) decl(d *pDecl) ast.Decl {
	switch {
	case d.Brand != nil:
		return &ast.BrandDecl{Span: c.sp(d.Brand.Pos, d.Brand.EndPos), Name: c.str(d.Brand.Name)}
	case d.Import != nil:
		return &ast.ImportDecl{Span: c.sp(d.Import.Pos, d.Import.EndPos), Path: c.str(d.Import.Path)}
	case d.Segment != nil:
		s := d.Segment
		out := &ast.SegmentDecl{Span: c.sp(s.Pos, s.EndPos), Name: c.ident(s.Name), Cond: c.or(s.Cond)}
		if s.Title != nil {
			out.Title = c.str(*s.Title)
		}
		return out
	case d.Rule != nil:
		return c.rule(d.Rule)
	case d.Cap != nil:
		p := d.Cap
		out := &ast.CapDecl{Span: c.sp(p.Pos, p.EndPos), Count: c.number(p.Count)}
		if p.Channel != nil {
			out.Channel = c.ident(*p.Channel)
		}
		if p.Per != nil {
			out.Per = c.duration(p.Per)
		} else if p.Unit != nil {
			u, _ := unitOf(p.Unit.Value)
			out.Per = &ast.DurationLit{Span: ast.Span{Span: c.tokSpan(*p.Unit)}, Unit: u, Implicit: true,
				N: &ast.NumberLit{Span: ast.Span{Span: c.tokSpan(*p.Unit)}, Text: "1", Value: 1}}
		}
		return out
	case d.Quiet != nil:
		q := d.Quiet
		out := &ast.QuietDecl{Span: c.sp(q.Pos, q.EndPos), From: c.clock(q.From), To: c.clock(q.To)}
		if q.Channel != nil {
			out.Channel = c.ident(*q.Channel)
		}
		return out
	case d.Event != nil:
		e := d.Event
		return &ast.EventDecl{Span: c.sp(e.Pos, e.EndPos), Name: c.ident(e.Name), Fields: c.fields(e.Fields)}
	case d.Member != nil:
		m := d.Member
		return &ast.MemberDecl{Span: c.sp(m.Pos, m.EndPos), Fields: c.fields(m.Fields)}
	case d.Test != nil:
		return c.test(d.Test)
	case d.Journey != nil:
		return c.journey(d.Journey)
	case d.Cost != nil:
		out := &ast.CostDecl{Span: c.sp(d.Cost.Pos, d.Cost.EndPos), Amount: c.number(d.Cost.Amount)}
		if d.Cost.Content != nil {
			out.Kind, out.Content = c.ident(d.Cost.Channel), c.str(*d.Cost.Content)
		} else {
			out.Channel = c.ident(d.Cost.Channel)
		}
		return out
	case d.Stock != nil:
		return &ast.StockDecl{Span: c.sp(d.Stock.Pos, d.Stock.EndPos), Content: c.str(d.Stock.Content), Count: c.number(d.Stock.Count)}
	case d.Holdout != nil:
		return &ast.GlobalHoldoutDecl{Span: c.sp(d.Holdout.Pos, d.Holdout.EndPos), Percent: c.number(d.Holdout.Percent)}
	}
	return &ast.BadDecl{Span: c.sp(d.Pos, d.EndPos)}
}

func (c *converter) sp(pos, end lexer.Position) ast.Span { return ast.Span{Span: c.span(pos, end)} }

func (c *converter) fields(fs []*pField) []*ast.FieldDecl {
	out := make([]*ast.FieldDecl, 0, len(fs))
	for _, f := range fs {
		out = append(out, &ast.FieldDecl{Span: ast.Span{Span: join(c.tokSpan(f.Name), c.tokSpan(f.Type))},
			Name: c.ident(f.Name), Type: c.ident(f.Type)})
	}
	return out
}

func (c *converter) rule(r *pRule) *ast.RuleDecl {
	out := &ast.RuleDecl{Span: c.sp(r.Pos, r.EndPos), Name: c.ident(r.Name), Cond: c.or(r.Cond)}
	if r.Title != nil {
		out.Title = c.str(*r.Title)
	}
	for _, a := range r.Actions {
		out.Actions = append(out.Actions, c.action(a))
	}
	for _, o := range r.Options {
		if opt := c.option(o); opt != nil {
			out.Options = append(out.Options, opt)
		}
	}
	return out
}

func (c *converter) action(a *pAction) *ast.Action {
	out := &ast.Action{Span: c.sp(a.Pos, a.EndPos)}
	if a.Send && a.Winner {
		out.Kind = ast.Send
		out.Winner = true
		return out
	}
	if a.Send {
		out.Kind = ast.Send
		out.SendKind = c.ident(*a.Kind)
		out.Value = c.str(*a.Content)
		out.Channel = c.ident(*a.Channel)
		for _, e := range a.Else {
			out.Else = append(out.Else, c.ident(e.Channel))
		}
		for _, p := range a.With {
			out.Params = append(out.Params, c.param(p))
		}
		return out
	}
	switch a.Verb.Value {
	case "tag":
		out.Kind = ast.Tag
	case "untag":
		out.Kind = ast.Untag
	default:
		out.Kind = ast.Notify
	}
	out.Value = c.str(*a.Value)
	return out
}

func (c *converter) option(o *pOption) ast.Option {
	s := c.sp(o.Pos, o.EndPos)
	switch {
	case o.Limit != nil:
		out := &ast.LimitOption{Span: s}
		if o.Limit.Every != nil {
			out.Every = c.duration(o.Limit.Every)
		}
		return out
	case o.Priority != nil:
		return &ast.PriorityOption{Span: s, Value: c.number(o.Priority)}
	case o.Holdout != nil:
		return &ast.HoldoutOption{Span: s, Percent: c.number(o.Holdout)}
	case o.Stop != nil:
		return &ast.StopAfterOption{Span: s, Count: c.number(o.Stop)}
	case o.Convert != nil:
		return &ast.ConvertOption{Span: s, Event: c.eventRef(o.Convert.Ref), Within: c.duration(o.Convert.Within)}
	case o.Budget != nil:
		return &ast.BudgetOption{Span: s, Amount: c.number(o.Budget.Amount), Per: c.ident(o.Budget.Per)}
	case o.Expire != nil:
		return &ast.ExpireOption{Span: s, After: c.duration(o.Expire)}
	case o.Transact:
		return &ast.TransactionalOption{Span: s}
	}
	return nil
}

func (c *converter) number(n *pNumber) *ast.NumberLit {
	text := n.Tok.Value
	if n.Neg {
		text = "-" + text
	}
	v, _ := strconv.ParseFloat(text, 64)
	return &ast.NumberLit{Span: c.sp(n.Pos, n.EndPos), Text: text, Value: v}
}

func unitOf(word string) (ast.Unit, bool) {
	switch strings.TrimSuffix(word, "s") {
	case "minute":
		return ast.Minute, true
	case "hour":
		return ast.Hour, true
	case "day":
		return ast.Day, true
	case "week":
		return ast.Week, true
	case "month":
		return ast.Month, true
	case "year":
		return ast.Year, true
	}
	return ast.Day, false
}

func (c *converter) duration(d *pDuration) *ast.DurationLit {
	u, _ := unitOf(d.Unit.Value)
	return &ast.DurationLit{Span: c.sp(d.Pos, d.EndPos), N: c.number(d.N), Unit: u}
}

// clockParts splits "HH:MM[:SS]".
func clockParts(s string) (h, m, sec int) {
	parts := strings.Split(s, ":")
	h, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		m, _ = strconv.Atoi(parts[1])
	}
	if len(parts) > 2 {
		sec, _ = strconv.Atoi(parts[2])
	}
	return h, m, sec
}

func (c *converter) clock(t lexer.Token) *ast.ClockLit {
	h, m, s := clockParts(t.Value)
	return &ast.ClockLit{Span: ast.Span{Span: c.tokSpan(t)}, Hour: h, Minute: m, Second: s}
}

func (c *converter) date(t lexer.Token) *ast.DateLit {
	fields := strings.Fields(t.Value)
	out := &ast.DateLit{Span: ast.Span{Span: c.tokSpan(t)}, Text: strings.Join(fields, " ")}
	out.Year, _ = strconv.Atoi(fields[0][0:4])
	out.Month, _ = strconv.Atoi(fields[0][5:7])
	out.Day, _ = strconv.Atoi(fields[0][8:10])
	if len(fields) > 1 {
		out.HasTime = true
		out.Hour, out.Minute, out.Second = clockParts(fields[1])
	}
	return out
}

// ---- expressions ----

// binary builds the node for x op y, spanning both operands; the
// operator is the token just before y.
func (c *converter) binary(op ast.BinaryOp, x, y ast.Expr) ast.Expr {
	t := c.toks[c.index(y.Pos().Start.Offset)-1]
	return &ast.BinaryExpr{Span: ast.Span{Span: join(x.Pos(), y.Pos())}, Op: op, OpPos: diag.Span{File: c.file, Start: t.start, End: t.end}, X: x, Y: y}
}

// or converts a chain of conditions: "and" binds tighter than "or".
func (c *converter) or(p *pOr) ast.Expr {
	var or ast.Expr // the "or" chain before the current "and" chain
	and := c.compare(p.X)
	for i, yp := range p.Ys {
		y := c.compare(yp)
		if p.Ops[i] == "and" {
			and = c.binary(ast.And, and, y)
			continue
		}
		if or != nil {
			and = c.binary(ast.Or, or, and)
		}
		or, and = and, y
	}
	if or == nil {
		return and
	}
	return c.binary(ast.Or, or, and)
}

var cmpOps = map[string]ast.BinaryOp{"=": ast.Eq, "!=": ast.Ne, "<": ast.Lt, "<=": ast.Le, ">": ast.Gt, ">=": ast.Ge}

// compare converts a comparison and the "not"s before it; each NotExpr runs
// from its "not" to the end of the comparison.
func (c *converter) compare(p *pCompare) ast.Expr {
	x := c.comparison(p)
	end := c.span(p.Pos, p.EndPos).End
	first := c.index(p.Pos.Offset)
	for i := len(p.Not) - 1; i >= 0; i-- {
		x = &ast.NotExpr{Span: ast.Span{Span: diag.Span{File: c.file, Start: c.toks[first+i].start, End: end}}, X: x}
	}
	return x
}

func (c *converter) comparison(p *pCompare) ast.Expr {
	x := c.chain(p.X, p.XOps, p.XYs)
	var s ast.Span
	if len(p.Not) == 0 {
		s = c.sp(p.Pos, p.EndPos)
	} else {
		s = ast.Span{Span: join(x.Pos(), c.span(p.Pos, p.EndPos))}
	}
	switch {
	case p.Op != nil:
		return &ast.BinaryExpr{Span: s, Op: cmpOps[p.Op.Value], OpPos: c.tokSpan(*p.Op), X: x, Y: c.sum(p.Y)}
	case p.Between:
		return &ast.BetweenExpr{Span: s, X: x, Lo: c.sum(p.Lo), Hi: c.sum(p.Hi)}
	case p.In || p.NotIn:
		out := &ast.InExpr{Span: s, X: x, Not: p.NotIn}
		for _, l := range append(p.NotList, p.List...) {
			out.List = append(out.List, c.literal(l))
		}
		return out
	case p.Is:
		return &ast.IsNullExpr{Span: s, X: x, Not: p.IsNot}
	}
	return x
}

var arithOps = map[string]ast.BinaryOp{"+": ast.Add, "-": ast.Sub, "*": ast.Mul, "/": ast.Div}

// sum converts a chain of values: "*" and "/" bind tighter than "+" and "-".
func (c *converter) sum(p *pSum) ast.Expr { return c.chain(p.X, p.Ops, p.Ys) }

// chain converts the value x followed by the values ys, joined by ops.
func (c *converter) chain(x *pFactor, ops []string, ys []*pFactor) ast.Expr {
	var sum ast.Expr // the "+"/"-" chain before the current term
	var sumOp string
	term := c.factor(x)
	for i, yp := range ys {
		y := c.factor(yp)
		if ops[i] == "*" || ops[i] == "/" {
			term = c.binary(arithOps[ops[i]], term, y)
			continue
		}
		if sum != nil {
			term = c.binary(arithOps[sumOp], sum, term)
		}
		sum, sumOp, term = term, ops[i], y
	}
	if sum == nil {
		return term
	}
	return c.binary(arithOps[sumOp], sum, term)
}

var aggFuncs = map[string]ast.AggFunc{"count": ast.Count, "sum": ast.Sum, "avg": ast.Avg, "min": ast.Min, "max": ast.Max}

func (c *converter) factor(p *pFactor) ast.Expr {
	s := c.sp(p.Pos, p.EndPos)
	switch {
	case p.Paren != nil:
		return &ast.ParenExpr{Span: s, X: c.or(p.Paren)}
	case p.Member != nil:
		return &ast.MemberField{Span: s, Field: c.ident(*p.Member)}
	case p.Agg != nil:
		a := p.Agg
		ref := &ast.EventRef{Event: c.ident(a.Event)}
		refEnd := ref.Event.Span.Span
		if a.Field != nil {
			refEnd = c.tokSpan(*a.Field)
		}
		for _, f := range a.Filter {
			flt := c.filter(f)
			ref.Filters = append(ref.Filters, flt)
			refEnd = flt.Pos()
		}
		ref.Span = ast.Span{Span: join(ref.Event.Span.Span, refEnd)}
		out := &ast.AggExpr{Span: s, Func: aggFuncs[a.Func.Value], Ref: ref}
		if a.Field != nil {
			out.Field = c.ident(*a.Field)
		}
		if a.Window != nil {
			out.Window = c.window(a.Window)
		}
		return out
	case p.DaysSince != nil:
		return &ast.DaysSinceExpr{Span: s, First: p.DaysSince.Which.Value == "first", Ref: c.eventRef(p.DaysSince.Ref)}
	case p.Tagged != nil:
		return &ast.TaggedExpr{Span: s, Tag: c.str(*p.Tagged)}
	case p.Call != nil:
		out := &ast.CallExpr{Span: s, Func: c.ident(p.Call.Func)}
		for _, a := range p.Call.Args {
			out.Args = append(out.Args, c.or(a))
		}
		return out
	case p.Event != nil:
		return c.eventAtom(p.Event)
	case p.Literal != nil:
		return c.literal(p.Literal)
	}
	return &ast.BadExpr{Span: s}
}

func (c *converter) eventRef(p *pEventRef) *ast.EventRef {
	out := &ast.EventRef{Span: c.sp(p.Pos, p.EndPos), Event: c.ident(p.Event)}
	for _, f := range p.Filters {
		out.Filters = append(out.Filters, c.filter(f))
	}
	return out
}

func (c *converter) eventAtom(p *pEventAtom) ast.Expr {
	s := c.sp(p.Pos, p.EndPos)
	if len(p.Filters) == 0 && p.Followed == nil && p.Matching == nil && p.Quant == nil && p.Window == nil {
		return c.ident(p.Event)
	}
	ref := &ast.EventRef{Event: c.ident(p.Event)}
	refEnd := ref.Event.Span.Span
	for _, f := range p.Filters {
		flt := c.filter(f)
		ref.Filters = append(ref.Filters, flt)
		refEnd = flt.Pos()
	}
	ref.Span = ast.Span{Span: join(ref.Event.Span.Span, refEnd)}
	if p.Followed != nil {
		f := p.Followed
		out := &ast.FollowedAtom{Span: s, First: ref, Second: c.eventRef(f.Second), Within: c.duration(f.Within)}
		if f.Matching != nil {
			out.Matching = c.ident(*f.Matching)
		}
		if p.Quant != nil || p.Window != nil {
			var extra diag.Span
			if p.Quant != nil {
				extra = c.span(p.Quant.Pos, p.Quant.EndPos)
			} else {
				extra = c.span(p.Window.Pos, p.Window.EndPos)
			}
			c.errorf(extra, "a \"not followed by\" condition takes no quantifier or window after \"within\"")
		}
		if p.Matching != nil {
			c.errorf(c.tokSpan(*p.Matching), "`matching` goes after the second event of a \"not followed by\" condition, before \"within\"")
		}
		return out
	}
	out := &ast.EventAtom{Span: s, Ref: ref}
	if p.Matching != nil {
		out.Matching = c.ident(*p.Matching)
	}
	if p.Quant != nil {
		q := &ast.Quantifier{Span: c.sp(p.Quant.Pos, p.Quant.EndPos), N: c.number(p.Quant.N)}
		switch p.Quant.Which {
		case "least":
			q.Kind = ast.AtLeast
		case "most":
			q.Kind = ast.AtMost
		default:
			q.Kind = ast.Exactly
		}
		out.Quant = q
	}
	if p.Window != nil {
		out.Window = c.window(p.Window)
	}
	return out
}

func (c *converter) window(p *pWindow) *ast.Window {
	out := &ast.Window{Span: c.sp(p.Pos, p.EndPos)}
	switch {
	case p.InLast != nil:
		out.Kind = ast.InLast
		out.Dur = c.duration(p.InLast)
	case p.Anchor == "ever":
		out.Kind = ast.Ever
	default:
		out.Kind = ast.Before
	}
	return out
}

func (c *converter) filter(p *pFilter) ast.Filter {
	s := c.sp(p.Pos, p.EndPos)
	if p.Where != nil {
		return &ast.WhereFilter{Span: s, Cond: c.or(p.Where)}
	}
	return &ast.PrepFilter{Span: s, Prep: p.Prep.Value, Field: c.ident(*p.Field), Value: c.literal(p.Value)}
}

func (c *converter) literal(p *pLiteral) ast.Expr {
	switch {
	case p.Number != nil && p.Unit != nil:
		u, _ := unitOf(p.Unit.Value)
		return &ast.DurationLit{Span: c.sp(p.Pos, p.EndPos), N: c.number(p.Number), Unit: u}
	case p.Number != nil:
		return c.number(p.Number)
	case p.String != nil:
		return c.str(*p.String)
	case p.Timestamp != nil:
		return c.date(*p.Timestamp)
	case p.Date != nil:
		return c.date(*p.Date)
	case p.Bool != nil:
		return &ast.BoolLit{Span: ast.Span{Span: c.tokSpan(*p.Bool)}, Value: p.Bool.Value == "true"}
	}
	return &ast.BadExpr{Span: c.sp(p.Pos, p.EndPos)}
}
