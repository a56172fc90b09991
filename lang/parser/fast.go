package parser

import (
	"strconv"

	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

// This file is the fast path of the parser: a hand-written predictive
// parser for exactly the grammar of grammar.go, producing the same trees
// with the same spans as parsing with participle and converting. Participle
// costs a few microseconds per token (reflection, backtracking branches),
// far too slow for `nudge check` over many files; this path costs a few
// hundred nanoseconds per token.
//
// The participle grammar stays the reference: whenever the fast path
// rejects a declaration, it is parsed again with participle, which decides
// and words the syntax error. Tests and FuzzParse check that both paths
// accept the same inputs and build identical trees (spans included).

// bailout is the panic value the fast parser uses to give up on a
// declaration (as go/parser does); it never escapes parseFast.
type bailout struct{}

type fastParser struct {
	file  string
	toks  []token // the declaration's tokens, without EOF
	eof   token   // EOF sentinel just past the last token
	i     int
	diags diag.List // non-fatal diagnostics (same as the converter's)
}

func newFastParser(file string, toks []token) *fastParser {
	p := &fastParser{file: file, toks: toks}
	end := diag.Pos{Line: 1, Col: 1}
	if len(toks) > 0 {
		end = toks[len(toks)-1].end
	}
	p.eof = token{typ: lexer.EOF, start: end, end: end}
	return p
}

// parseFast parses one declaration chunk (without EOF sentinel); ok is
// false when the chunk is not a valid declaration.
func parseFast(file string, toks []token) (d ast.Decl, diags diag.List, ok bool) {
	p := newFastParser(file, toks)
	defer func() {
		if r := recover(); r != nil {
			if _, is := r.(bailout); !is {
				panic(r)
			}
			d, diags, ok = nil, nil, false
		}
	}()
	d = p.decl()
	if p.peek().typ != lexer.EOF {
		p.fail()
	}
	return d, p.diags, true
}

// parseFastCond parses a whole standalone condition.
func parseFastCond(file string, toks []token) (x ast.Expr, diags diag.List, ok bool) {
	p := newFastParser(file, toks)
	defer func() {
		if r := recover(); r != nil {
			if _, is := r.(bailout); !is {
				panic(r)
			}
			x, diags, ok = nil, nil, false
		}
	}()
	x = p.or()
	if p.peek().typ != lexer.EOF {
		p.fail()
	}
	return x, p.diags, true
}

func (p *fastParser) fail() { panic(bailout{}) }

func (p *fastParser) peek() token { return p.at(p.i) }

func (p *fastParser) peekAt(k int) token { return p.at(p.i + k) }

// at returns token i, or EOF past the end.
func (p *fastParser) at(i int) token {
	if i < len(p.toks) {
		return p.toks[i]
	}
	return p.eof
}

// is reports whether the next token is the keyword or punctuation s.
func (p *fastParser) is(s string) bool { return isWord(p.at(p.i), s) }

func isWord(t token, s string) bool {
	return (t.typ == tKeyword || t.typ == tPunct) && t.text == s
}

func (p *fastParser) next() token {
	t := p.at(p.i)
	if t.typ != lexer.EOF {
		p.i++
	}
	return t
}

func (p *fastParser) expect(s string) token {
	if !p.is(s) {
		p.fail()
	}
	return p.next()
}

func (p *fastParser) expectType(typ lexer.TokenType) token {
	if p.peek().typ != typ {
		p.fail()
	}
	return p.next()
}

// last is the token consumed most recently.
func (p *fastParser) last() token { return p.toks[p.i-1] }

func (p *fastParser) spanFrom(start token) ast.Span {
	return ast.Span{Span: diag.Span{File: p.file, Start: start.start, End: p.last().end}}
}

func (p *fastParser) tspan(t token) diag.Span {
	return diag.Span{File: p.file, Start: t.start, End: t.end}
}

func (p *fastParser) identOf(t token) *ast.Ident {
	return &ast.Ident{Span: ast.Span{Span: p.tspan(t)}, Name: t.text}
}

func (p *fastParser) ident() *ast.Ident { return p.identOf(p.expectType(tIdent)) }

func (p *fastParser) strOf(t token) *ast.StringLit {
	return &ast.StringLit{Span: ast.Span{Span: p.tspan(t)}, Value: unquote(t.text)}
}

func (p *fastParser) str() *ast.StringLit { return p.strOf(p.expectType(tString)) }

func (p *fastParser) decl() ast.Decl {
	start := p.peek()
	switch {
	case p.is("brand"):
		p.next()
		name := p.str()
		return &ast.BrandDecl{Span: p.spanFrom(start), Name: name}
	case p.is("import"):
		p.next()
		path := p.str()
		return &ast.ImportDecl{Span: p.spanFrom(start), Path: path}
	case p.is("segment"):
		p.next()
		d := &ast.SegmentDecl{Name: p.ident()}
		if p.peek().typ == tString {
			d.Title = p.str()
		}
		p.expect("=")
		d.Cond = p.or()
		d.Span = p.spanFrom(start)
		return d
	case p.is("rule"):
		return p.rule()
	case p.is("test"):
		return p.test()
	case p.is("cost"):
		p.next()
		d := &ast.CostDecl{Channel: p.ident()}
		d.Amount = p.number()
		d.Span = p.spanFrom(start)
		return d
	case p.is("cap"):
		p.next()
		d := &ast.CapDecl{}
		switch {
		case p.peek().typ == tIdent:
			d.Channel = p.ident()
		case p.is("all"):
			p.next()
		default:
			p.fail()
		}
		p.expect("to")
		d.Count = p.number()
		p.expect("per")
		if t := p.peek(); isUnit(t) {
			p.next()
			u, _ := unitOf(t.text)
			d.Per = &ast.DurationLit{Span: ast.Span{Span: p.tspan(t)}, Unit: u, Implicit: true,
				N: &ast.NumberLit{Span: ast.Span{Span: p.tspan(t)}, Text: "1", Value: 1}}
		} else {
			d.Per = p.duration()
		}
		d.Span = p.spanFrom(start)
		return d
	case p.is("quiet"):
		p.next()
		p.expect("hours")
		from := p.clock()
		p.expect("to")
		to := p.clock()
		return &ast.QuietDecl{Span: p.spanFrom(start), From: from, To: to}
	case p.is("event"):
		p.next()
		d := &ast.EventDecl{Name: p.ident()}
		d.Fields = p.fields()
		d.Span = p.spanFrom(start)
		return d
	case p.is("member"):
		p.next()
		d := &ast.MemberDecl{Fields: p.fields()}
		d.Span = p.spanFrom(start)
		return d
	}
	p.fail()
	return nil
}

func (p *fastParser) fields() []*ast.FieldDecl {
	p.expect("{")
	out := []*ast.FieldDecl{}
	for p.peek().typ == tIdent {
		name := p.ident()
		typ := p.ident()
		if p.is(",") {
			p.next()
		}
		out = append(out, &ast.FieldDecl{Span: ast.Span{Span: join(name.Span.Span, typ.Span.Span)}, Name: name, Type: typ})
	}
	p.expect("}")
	return out
}

func (p *fastParser) clock() *ast.ClockLit {
	t := p.expectType(tClock)
	h, m, s := clockParts(t.text)
	return &ast.ClockLit{Span: ast.Span{Span: p.tspan(t)}, Hour: h, Minute: m, Second: s}
}

func (p *fastParser) rule() *ast.RuleDecl {
	start := p.next() // "rule"
	d := &ast.RuleDecl{Name: p.ident()}
	if p.peek().typ == tString {
		d.Title = p.str()
	}
	p.expect("if")
	d.Cond = p.or()
	p.expect("then")
	d.Actions = append(d.Actions, p.action())
	for p.is("and") && isActionStart(p.peekAt(1)) {
		p.next()
		d.Actions = append(d.Actions, p.action())
	}
	for {
		o := p.option()
		if o == nil {
			break
		}
		d.Options = append(d.Options, o)
	}
	d.Span = p.spanFrom(start)
	return d
}

func isActionStart(t token) bool {
	return isWord(t, "send") || isWord(t, "tag") || isWord(t, "untag") || isWord(t, "notify")
}

func (p *fastParser) action() *ast.Action {
	start := p.peek()
	a := &ast.Action{}
	switch {
	case p.is("send"):
		p.next()
		a.Kind = ast.Send
		a.SendKind = p.ident()
		a.Value = p.str()
		p.expect("via")
		a.Channel = p.ident()
	case p.is("tag"), p.is("untag"), p.is("notify"):
		switch p.next().text {
		case "tag":
			a.Kind = ast.Tag
		case "untag":
			a.Kind = ast.Untag
		default:
			a.Kind = ast.Notify
		}
		a.Value = p.str()
	default:
		p.fail()
	}
	a.Span = p.spanFrom(start)
	return a
}

// option parses one rule option, or returns nil when none starts here.
func (p *fastParser) option() ast.Option {
	start := p.peek()
	switch {
	case p.is("limit"):
		p.next()
		p.expect("once")
		p.expect("per")
		p.expect("member")
		o := &ast.LimitOption{}
		if p.is("every") && p.startsNumber(p.i+1) {
			p.next()
			o.Every = p.duration()
		}
		o.Span = p.spanFrom(start)
		return o
	case p.is("priority"):
		p.next()
		n := p.number()
		return &ast.PriorityOption{Span: p.spanFrom(start), Value: n}
	case p.is("holdout"):
		p.next()
		n := p.number()
		p.expect("%")
		return &ast.HoldoutOption{Span: p.spanFrom(start), Percent: n}
	case p.is("stop"):
		p.next()
		p.expect("after")
		n := p.number()
		p.expect("unanswered")
		return &ast.StopAfterOption{Span: p.spanFrom(start), Count: n}
	case p.is("convert"):
		p.next()
		p.expect("on")
		o := &ast.ConvertOption{Event: p.eventRef()}
		p.expect("within")
		o.Within = p.duration()
		o.Span = p.spanFrom(start)
		return o
	}
	return nil
}

// startsNumber reports whether a number (optionally negative) starts at i.
func (p *fastParser) startsNumber(i int) bool {
	if p.at(i).typ == tNumber {
		return true
	}
	return isWord(p.at(i), "-") && p.at(i+1).typ == tNumber
}

func (p *fastParser) number() *ast.NumberLit {
	start := p.peek()
	text := ""
	if p.is("-") {
		p.next()
		text = "-"
	}
	t := p.expectType(tNumber)
	text += t.text
	v, _ := strconv.ParseFloat(text, 64)
	return &ast.NumberLit{Span: p.spanFrom(start), Text: text, Value: v}
}

func isUnit(t token) bool { return t.typ == tKeyword && unitWords[t.text] }

var unitWords = map[string]bool{
	"minute": true, "minutes": true, "hour": true, "hours": true, "day": true, "days": true,
	"week": true, "weeks": true, "month": true, "months": true, "year": true, "years": true,
}

func (p *fastParser) duration() *ast.DurationLit {
	start := p.peek()
	n := p.number()
	t := p.next()
	if !isUnit(t) {
		p.fail()
	}
	u, _ := unitOf(t.text)
	return &ast.DurationLit{Span: p.spanFrom(start), N: n, Unit: u}
}

// ---- conditions and expressions ----

func (p *fastParser) or() ast.Expr {
	x := p.and()
	for p.is("or") && p.startsUnary(p.i+1) {
		op := p.next()
		y := p.and()
		x = &ast.BinaryExpr{Span: ast.Span{Span: join(x.Pos(), y.Pos())}, Op: ast.Or, OpPos: p.tspan(op), X: x, Y: y}
	}
	return x
}

func (p *fastParser) and() ast.Expr {
	x := p.unary()
	for p.is("and") && p.startsUnary(p.i+1) {
		op := p.next()
		y := p.unary()
		x = &ast.BinaryExpr{Span: ast.Span{Span: join(x.Pos(), y.Pos())}, Op: ast.And, OpPos: p.tspan(op), X: x, Y: y}
	}
	return x
}

// startsUnary reports whether a condition starting at token i gets past its
// first token. Participle (lookahead 1) abandons an optional part such as
// `"and" @@Unary` when it fails within one token and reports an error when
// it fails later; the fast path decides the same way up front.
func (p *fastParser) startsUnary(i int) bool {
	t, next := p.at(i), p.at(i+1)
	switch t.typ {
	case tIdent, tNumber, tString, tDate, tTimestamp:
		return true
	case tKeyword:
		switch t.text {
		case "true", "false":
			return true
		case "not":
			return p.startsUnary(i + 1)
		case "member":
			return isWord(next, ".")
		case "count", "sum", "avg", "min", "max":
			return isWord(next, "(")
		case "days":
			return isWord(next, "since")
		case "tagged":
			return next.typ == tString
		}
	case tPunct:
		switch t.text {
		case "(":
			return p.startsUnary(i + 1)
		case "-":
			return next.typ == tNumber
		}
	}
	return false
}

func (p *fastParser) unary() ast.Expr {
	if p.is("not") {
		start := p.next()
		x := p.unary()
		return &ast.NotExpr{Span: p.spanFrom(start), X: x}
	}
	return p.compare()
}

func (p *fastParser) compare() ast.Expr {
	start := p.peek()
	x := p.sum()
	t := p.peek()
	switch {
	case isWord(t, "=") || isWord(t, "!=") || isWord(t, "<") || isWord(t, "<=") || isWord(t, ">") || isWord(t, ">="):
		if !p.startsSum(p.i + 1) {
			return x
		}
		p.next()
		y := p.sum()
		return &ast.BinaryExpr{Span: p.spanFrom(start), Op: cmpOps[t.text], OpPos: p.tspan(t), X: x, Y: y}
	case isWord(t, "between"):
		if !p.startsSum(p.i + 1) {
			return x
		}
		p.next()
		lo := p.sum()
		p.expect("and")
		hi := p.sum()
		return &ast.BetweenExpr{Span: p.spanFrom(start), X: x, Lo: lo, Hi: hi}
	case isWord(t, "not") && isWord(p.peekAt(1), "in"), isWord(t, "in") && isWord(p.peekAt(1), "("):
		not := false
		if p.is("not") {
			p.next()
			not = true
		}
		p.next() // in
		p.expect("(")
		out := &ast.InExpr{X: x, Not: not}
		out.List = append(out.List, p.literal())
		for p.is(",") {
			p.next()
			out.List = append(out.List, p.literal())
		}
		p.expect(")")
		out.Span = p.spanFrom(start)
		return out
	case isWord(t, "is"):
		if !isWord(p.peekAt(1), "not") && !isWord(p.peekAt(1), "null") {
			return x
		}
		p.next()
		not := false
		if p.is("not") {
			p.next()
			not = true
		}
		p.expect("null")
		return &ast.IsNullExpr{Span: p.spanFrom(start), X: x, Not: not}
	}
	return x
}

// startsSum reports whether a value expression can start at token i.
func (p *fastParser) startsSum(i int) bool {
	if isWord(p.at(i), "not") {
		return false
	}
	return p.startsUnary(i)
}

func (p *fastParser) sum() ast.Expr {
	x := p.term()
	for (p.is("+") || p.is("-")) && p.startsSum(p.i+1) {
		op := p.next()
		y := p.term()
		x = &ast.BinaryExpr{Span: ast.Span{Span: join(x.Pos(), y.Pos())}, Op: arithOps[op.text], OpPos: p.tspan(op), X: x, Y: y}
	}
	return x
}

func (p *fastParser) term() ast.Expr {
	x := p.factor()
	for (p.is("*") || p.is("/")) && p.startsSum(p.i+1) {
		op := p.next()
		y := p.factor()
		x = &ast.BinaryExpr{Span: ast.Span{Span: join(x.Pos(), y.Pos())}, Op: arithOps[op.text], OpPos: p.tspan(op), X: x, Y: y}
	}
	return x
}

func (p *fastParser) factor() ast.Expr {
	start := p.peek()
	switch {
	case p.is("("):
		p.next()
		x := p.or()
		p.expect(")")
		return &ast.ParenExpr{Span: p.spanFrom(start), X: x}
	case p.is("member"):
		p.next()
		p.expect(".")
		f := p.ident()
		return &ast.MemberField{Span: p.spanFrom(start), Field: f}
	case p.is("count") || p.is("sum") || p.is("avg") || p.is("min") || p.is("max"):
		return p.agg()
	case p.is("days"):
		p.next()
		p.expect("since")
		first := false
		switch {
		case p.is("last"):
		case p.is("first"):
			first = true
		default:
			p.fail()
		}
		p.next()
		ref := p.eventRef()
		return &ast.DaysSinceExpr{Span: p.spanFrom(start), First: first, Ref: ref}
	case p.is("tagged"):
		p.next()
		tag := p.str()
		return &ast.TaggedExpr{Span: p.spanFrom(start), Tag: tag}
	case start.typ == tIdent && isWord(p.peekAt(1), "("):
		return p.call()
	case start.typ == tIdent:
		return p.eventAtom()
	}
	return p.literal()
}

func (p *fastParser) call() ast.Expr {
	start := p.peek()
	out := &ast.CallExpr{Func: p.ident()}
	p.expect("(")
	if !p.is(")") {
		out.Args = append(out.Args, p.or())
		for p.is(",") {
			p.next()
			out.Args = append(out.Args, p.or())
		}
	}
	p.expect(")")
	out.Span = p.spanFrom(start)
	return out
}

func (p *fastParser) agg() ast.Expr {
	start := p.next()
	out := &ast.AggExpr{Func: aggFuncs[start.text]}
	p.expect("(")
	ref := &ast.EventRef{Event: p.ident()}
	refEnd := ref.Event.Span.Span
	if p.is(".") {
		p.next()
		out.Field = p.ident()
		refEnd = out.Field.Span.Span
	}
	for f := p.filter(); f != nil; f = p.filter() {
		ref.Filters = append(ref.Filters, f)
		refEnd = f.Pos()
	}
	ref.Span = ast.Span{Span: join(ref.Event.Span.Span, refEnd)}
	out.Ref = ref
	out.Window = p.window()
	p.expect(")")
	out.Span = p.spanFrom(start)
	return out
}

func (p *fastParser) eventRef() *ast.EventRef {
	start := p.peek()
	ref := &ast.EventRef{Event: p.ident()}
	for f := p.filter(); f != nil; f = p.filter() {
		ref.Filters = append(ref.Filters, f)
	}
	ref.Span = p.spanFrom(start)
	return ref
}

// filter parses one filter, or returns nil when none starts here.
func (p *fastParser) filter() ast.Filter {
	start := p.peek()
	switch {
	case prepWords[start.text] && start.typ == tKeyword && p.peekAt(1).typ == tIdent:
		p.next()
		field := p.ident()
		v := p.literal()
		return &ast.PrepFilter{Span: p.spanFrom(start), Prep: start.text, Field: field, Value: v}
	case p.is("where") && p.startsUnary(p.i+1):
		p.next()
		c := p.or()
		return &ast.WhereFilter{Span: p.spanFrom(start), Cond: c}
	}
	return nil
}

func (p *fastParser) eventAtom() ast.Expr {
	start := p.peek()
	ref := p.eventRef()
	var followed *ast.FollowedAtom
	if p.is("not") && isWord(p.peekAt(1), "followed") {
		p.next()
		p.next()
		p.expect("by")
		followed = &ast.FollowedAtom{First: ref, Second: p.eventRef()}
		if p.is("matching") {
			p.next()
			followed.Matching = p.ident()
		}
		p.expect("within")
		followed.Within = p.duration()
	}
	quant := p.quant()
	win := p.window()
	if followed != nil {
		followed.Span = p.spanFrom(start)
		if quant != nil || win != nil {
			extra := diag.Span{}
			if quant != nil {
				extra = quant.Span.Span
			} else {
				extra = win.Span.Span
			}
			p.diags.Errorf(extra, "syntax", "a \"not followed by\" condition takes no quantifier or window after \"within\"")
		}
		return followed
	}
	if len(ref.Filters) == 0 && quant == nil && win == nil {
		return ref.Event
	}
	return &ast.EventAtom{Span: p.spanFrom(start), Ref: ref, Quant: quant, Window: win}
}

func (p *fastParser) quant() *ast.Quantifier {
	start := p.peek()
	q := &ast.Quantifier{}
	switch {
	case p.is("at") && isWord(p.peekAt(1), "least"):
		p.next()
		p.next()
		q.Kind = ast.AtLeast
	case p.is("at") && isWord(p.peekAt(1), "most"):
		p.next()
		p.next()
		q.Kind = ast.AtMost
	case p.is("exactly") && p.startsNumber(p.i+1):
		p.next()
		q.Kind = ast.Exactly
	default:
		return nil
	}
	q.N = p.number()
	p.expect("times")
	q.Span = p.spanFrom(start)
	return q
}

func (p *fastParser) window() *ast.Window {
	start := p.peek()
	w := &ast.Window{}
	switch {
	case p.is("in") && isWord(p.peekAt(1), "last"):
		p.next()
		p.next()
		w.Kind = ast.InLast
		w.Dur = p.duration()
	case p.is("ever"):
		p.next()
		w.Kind = ast.Ever
	case p.is("before"):
		p.next()
		w.Kind = ast.Before
	default:
		return nil
	}
	w.Span = p.spanFrom(start)
	return w
}

func (p *fastParser) literal() ast.Expr {
	start := p.peek()
	switch {
	case start.typ == tNumber || (p.is("-") && p.peekAt(1).typ == tNumber):
		n := p.number()
		if t := p.peek(); isUnit(t) {
			p.next()
			u, _ := unitOf(t.text)
			return &ast.DurationLit{Span: p.spanFrom(start), N: n, Unit: u}
		}
		return n
	case start.typ == tString:
		return p.str()
	case start.typ == tTimestamp || start.typ == tDate:
		p.next()
		return p.dateOf(start)
	case p.is("true") || p.is("false"):
		p.next()
		return &ast.BoolLit{Span: ast.Span{Span: p.tspan(start)}, Value: start.text == "true"}
	}
	p.fail()
	return nil
}

func (p *fastParser) dateOf(t token) *ast.DateLit {
	c := &converter{file: p.file, toks: []token{t}}
	return c.date(lexer.Token{Type: t.typ, Value: t.text, Pos: lexPos(p.file, t.start)})
}
