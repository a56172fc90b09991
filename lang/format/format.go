package format

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"

	"nudge/lang/ast"
	"nudge/lang/diag"
	"nudge/lang/parser"
)

// maxWidth is the display width beyond which a condition is broken before
// each top-level and/or.
const maxWidth = 80

// Source parses src and returns it in canonical layout. When src has syntax
// errors it is returned unchanged together with the diagnostics.
func Source(filename string, src []byte) ([]byte, diag.List) {
	f, diags := parser.ParseFile(filename, src)
	if diags.HasErrors() {
		return src, diags
	}
	return File(f), diags
}

// line is one output line of a declaration, with the source range of the
// code it prints, so that each comment can be placed next to that code.
type line struct {
	indent  string
	cindent string // indent of own-line comments above the line, if not indent
	text    string
	// start and end are the source offsets of the code the line prints: from
	// the first node on it to the end of the last one. A line that joins
	// several source lines (a condition fmt puts on one line) spans them all.
	start, end int
	startLn    int  // source line of the first node
	header     bool // first line of a declaration
	// comments are those placed at the line, in source order: own-line ones
	// before its code or inside it, and trailing ones after code on it.
	comments []*ast.Comment
	// trailing is set when the last of comments is a trailing one: it is
	// printed at the end of the line, every other comment above it.
	trailing bool
}

// above and after are the comments printed above the line and at its end.
func (l *line) above() []*ast.Comment {
	if l.trailing {
		return l.comments[:len(l.comments)-1]
	}
	return l.comments
}

func (l *line) after() *ast.Comment {
	if l.trailing {
		return l.comments[len(l.comments)-1]
	}
	return nil
}

// place adds c, the next comment in source order, to the line.
func (l *line) place(c *ast.Comment, trailing bool) {
	l.comments = append(l.comments, c)
	l.trailing = trailing
}

// File prints f in canonical layout. Declarations that failed to parse
// (*ast.BadDecl) have no text and are skipped; use Source to format text.
func File(f *ast.File) []byte { return printFile(f, maxWidth) }

// printFile is File with a given line width (tests use a tiny one to
// exercise every line break).
func printFile(f *ast.File, width int) []byte {
	var decls [][]*line
	var kinds []string
	for _, d := range f.Decls {
		ls := declLines(d, width)
		if len(ls) == 0 {
			continue
		}
		ls[0].header = true
		decls = append(decls, ls)
		kinds = append(kinds, group(d))
	}
	var all []*line
	for _, ls := range decls {
		all = append(all, ls...)
	}
	tail := placeComments(f, all)

	var b strings.Builder
	for i, ls := range decls {
		if i > 0 && (kinds[i] == "" || kinds[i] != kinds[i-1]) {
			b.WriteString("\n")
		}
		for _, l := range ls {
			ci := l.indent
			if l.cindent != "" {
				ci = l.cindent
			}
			writeComments(&b, ci, l.above(), l.start, l.startLn, l.header)
			b.WriteString(l.indent)
			b.WriteString(l.text)
			if c := l.after(); c != nil {
				b.WriteString(" ")
				b.WriteString(commentText(c))
			}
			b.WriteString("\n")
		}
	}
	if len(tail) > 0 {
		if len(decls) > 0 {
			b.WriteString("\n")
		}
		writeComments(&b, "", tail, math.MaxInt, 0, true)
	}
	return []byte(b.String())
}

// writeComments prints own-line comments above code that starts at source
// offset codeAt on line codeLine. With gaps set, a blank line in the source
// between a comment and what follows it is kept (one at most); comments
// from inside the code (a joined condition) have code, not blank lines,
// between them and get no gap.
func writeComments(b *strings.Builder, indent string, cs []*ast.Comment, codeAt, codeLine int, gaps bool) {
	for i, c := range cs {
		b.WriteString(indent)
		b.WriteString(commentText(c))
		b.WriteString("\n")
		if !gaps || c.Span.Start.Offset > codeAt {
			continue
		}
		next := codeLine
		if i+1 < len(cs) && cs[i+1].Span.Start.Offset < codeAt {
			next = cs[i+1].Span.Start.Line
		}
		if next > c.Span.End.Line+1 {
			b.WriteString("\n")
		}
	}
}

func commentText(c *ast.Comment) string { return strings.TrimRight(c.Text, " \t\r") }

// group says which one-line declarations stay together without a blank line.
func group(d ast.Decl) string {
	switch d.(type) {
	case *ast.BrandDecl, *ast.ImportDecl:
		return "header"
	case *ast.CapDecl, *ast.QuietDecl, *ast.CostDecl, *ast.StockDecl, *ast.GlobalHoldoutDecl:
		return "policy"
	}
	return ""
}

// placeComments attaches f's comments to output lines and returns the
// comments that follow the last declaration.
func placeComments(f *ast.File, lines []*line) []*ast.Comment {
	// codeStart[line] is the offset of the first node starting on that
	// source line: a comment after it on the same line is a trailing one.
	codeStart := map[int]int{}
	for _, d := range f.Decls {
		ast.Inspect(d, func(n ast.Node) bool {
			s := n.Pos()
			if off, ok := codeStart[s.Start.Line]; !ok || s.Start.Offset < off {
				codeStart[s.Start.Line] = s.Start.Offset
			}
			return true
		})
		// the closing brace of a field list is code too, and so is the
		// `end` of a journey, an if or a split (a comment after it is a
		// trailing one, wherever the end stands)
		closes := func(n ast.Node, width int) {
			end := n.Pos().End
			if off, ok := codeStart[end.Line]; !ok || end.Offset-width < off {
				codeStart[end.Line] = end.Offset - width
			}
		}
		switch d.(type) {
		case *ast.EventDecl, *ast.MemberDecl:
			closes(d, 1)
		case *ast.JourneyDecl:
			ast.Inspect(d, func(n ast.Node) bool {
				switch n.(type) {
				case *ast.JourneyDecl, *ast.IfStep, *ast.SplitStep:
					closes(n, len("end"))
				}
				return true
			})
		}
	}
	sorted := make([]*line, len(lines))
	copy(sorted, lines)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].start < sorted[j].start })
	var tail []*ast.Comment
	for _, c := range f.Comments {
		off := c.Span.Start.Offset
		// i is the last line whose code starts before the comment
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i].start > off }) - 1
		if cs, ok := codeStart[c.Span.Start.Line]; ok && cs < off && i >= 0 {
			// trailing: at the end of the line that printed the code before it
			sorted[i].place(c, true)
			continue
		}
		switch {
		case i >= 0 && off < sorted[i].end:
			// an own-line comment inside code that fmt joins onto one line
			// goes above that line, after the comments already placed there
			sorted[i].place(c, false)
		case i+1 < len(sorted):
			sorted[i+1].place(c, false)
		default:
			tail = append(tail, c)
		}
	}
	return tail
}

// newLine is a line printing the code of at (nil: no code of its own).
func newLine(indent, text string, at ast.Node) *line {
	l := &line{indent: indent, text: text}
	if at != nil {
		s := at.Pos()
		l.start, l.end, l.startLn = s.Start.Offset, s.End.Offset, s.Start.Line
	}
	return l
}

// upTo makes the line's code end where n ends: a header line prints its
// declaration's name and title, not the whole declaration.
func (l *line) upTo(n ast.Node) *line {
	l.end = n.Pos().End.Offset
	return l
}

// nameEnd is the last of a declaration's name and optional title.
func nameEnd(name ast.Node, title *ast.StringLit) ast.Node {
	if title != nil {
		return title
	}
	return name
}

// declLines lays out one declaration.
func declLines(d ast.Decl, width int) []*line {
	switch d := d.(type) {
	case *ast.BrandDecl:
		return []*line{newLine("", "brand "+quote(d.Name.Value), d)}
	case *ast.ImportDecl:
		return []*line{newLine("", "import "+quote(d.Path.Value), d)}
	case *ast.SegmentDecl:
		head := "segment " + d.Name.Name
		if d.Title != nil {
			head += " " + quote(d.Title.Value)
		}
		head += " ="
		one := head + " " + expr(d.Cond)
		if runewidth.StringWidth(one) <= width {
			return []*line{newLine("", one, d)}
		}
		prefix, parts, nodes, ops := split(d.Cond)
		if len(parts) < 2 {
			return []*line{newLine("", one, d)}
		}
		out := []*line{newLine("", head, d).upTo(nameEnd(d.Name, d.Title))}
		return append(out, condLines(d.Cond, "    ", prefix, "    ", parts, nodes, ops)...)
	case *ast.RuleDecl:
		return ruleLines(d, width)
	case *ast.CapDecl:
		ch := "all"
		if d.Channel != nil {
			ch = d.Channel.Name
		}
		return []*line{newLine("", fmt.Sprintf("cap %s to %s per %s", ch, d.Count.Text, duration(d.Per)), d)}
	case *ast.QuietDecl:
		text := "quiet hours " + clock(d.From) + " to " + clock(d.To)
		if d.Channel != nil {
			text += " for " + d.Channel.Name
		}
		return []*line{newLine("", text, d)}
	case *ast.EventDecl:
		return fieldLines("event "+d.Name.Name, d, d.Name.Pos().End.Offset, d.Fields)
	case *ast.MemberDecl:
		return fieldLines("member", d, d.Pos().Start.Offset+len("member"), d.Fields)
	case *ast.TestDecl:
		return testLines(d)
	case *ast.CostDecl:
		if d.Kind != nil {
			return []*line{newLine("", "cost "+d.Kind.Name+" "+quote(d.Content.Value)+" "+d.Amount.Text, d)}
		}
		return []*line{newLine("", "cost "+d.Channel.Name+" "+d.Amount.Text, d)}
	case *ast.StockDecl:
		return []*line{newLine("", "stock "+quote(d.Content.Value)+" "+d.Count.Text, d)}
	case *ast.GlobalHoldoutDecl:
		return []*line{newLine("", "holdout "+d.Percent.Text+"% of members", d)}
	case *ast.JourneyDecl:
		return journeyLines(d)
	}
	return nil
}

// fieldLines lays out an event or member declaration; headEnd is where the
// code of its first line ends in the source (the name, or the word member).
func fieldLines(head string, d ast.Node, headEnd int, fields []*ast.FieldDecl) []*line {
	if len(fields) == 0 {
		return []*line{newLine("", head+" {}", d)}
	}
	first := newLine("", head+" {", d)
	first.end = headEnd
	out := []*line{first}
	for _, f := range fields {
		out = append(out, newLine("  ", f.Name.Name+" "+f.Type.Name, f))
	}
	// the closing brace has no node of its own; place it at the end of d.
	s := d.Pos().End
	end := &line{text: "}", cindent: "  ", start: s.Offset - 1, end: s.Offset, startLn: s.Line}
	return append(out, end)
}

func ruleLines(r *ast.RuleDecl, width int) []*line {
	head := "rule " + r.Name.Name
	if r.Title != nil {
		head += " " + quote(r.Title.Value)
	}
	out := []*line{newLine("", head, r).upTo(nameEnd(r.Name, r.Title))}
	one := "if " + expr(r.Cond)
	prefix, parts, nodes, ops := split(r.Cond)
	if runewidth.StringWidth("  "+one) <= width || len(parts) < 2 {
		out = append(out, newLine("  ", one, r.Cond))
	} else {
		out = append(out, condLines(r.Cond, "  ", "if "+prefix, "     ", parts, nodes, ops)...)
	}
	acts := make([]string, len(r.Actions))
	for i, a := range r.Actions {
		acts[i] = action(a)
	}
	if len(r.Actions) > 0 {
		out = append(out, newLine("  ", "then "+strings.Join(acts, " and "), r.Actions[0]).upTo(r.Actions[len(acts)-1]))
	}
	for _, o := range r.Options {
		out = append(out, newLine("  ", option(o), o))
	}
	return out
}

// condLines lays out a condition broken by split, one part a line: the first
// after prefix, each other after its operator. The first line's code starts
// with the condition (a prefix such as "purchased where " is printed there),
// the last one's ends with it.
func condLines(cond ast.Expr, indent, prefix, contIndent string, parts []string, nodes []ast.Expr, ops []string) []*line {
	out := make([]*line, len(parts))
	for i, p := range parts {
		if i == 0 {
			out[i] = newLine(indent, prefix+p, cond).upTo(nodes[0])
			continue
		}
		out[i] = newLine(contIndent, ops[i-1]+" "+p, nodes[i])
	}
	out[len(out)-1].upTo(cond)
	return out
}

// split breaks a long condition for a multi-line layout: the operands of its
// top-level or-chain (or and-chain when it is an `and`), or of the top-level
// chain inside a trailing `where` of an event atom. prefix is the text before
// the first operand (such as "purchased where "); ops are the operators
// between the parts. A condition that cannot be split has one part.
func split(x ast.Expr) (prefix string, parts []string, nodes []ast.Expr, ops []string) {
	if a, ok := x.(*ast.EventAtom); ok && a.Quant == nil && a.Window == nil && endsWithWhere(a.Ref) {
		w := a.Ref.Filters[len(a.Ref.Filters)-1].(*ast.WhereFilter)
		if inner, parts, nodes, ops := split(w.Cond); len(parts) > 1 {
			var b strings.Builder
			b.WriteString(a.Ref.Event.Name)
			writeFilters(&b, a.Ref.Filters[:len(a.Ref.Filters)-1])
			b.WriteString(" where ")
			return b.String() + inner, parts, nodes, ops
		}
	}
	b, ok := x.(*ast.BinaryExpr)
	if !ok || (b.Op != ast.Or && b.Op != ast.And) {
		return "", []string{expr(x)}, []ast.Expr{x}, nil
	}
	op := b.Op
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		if b, ok := e.(*ast.BinaryExpr); ok && b.Op == op {
			walk(b.X)
			ops = append(ops, op.String())
			nodes = append(nodes, b.Y)
			return
		}
		nodes = append(nodes, e)
	}
	walk(x)
	min := precAnd // operands of an or-chain
	if op == ast.And {
		min = precNot
	}
	for i, n := range nodes {
		var sb strings.Builder
		switch {
		case i < len(nodes)-1 && openWhere(n):
			sb.WriteByte('(')
			writeExpr(&sb, n)
			sb.WriteByte(')')
		case i == 0 && op == ast.And:
			writeOperand(&sb, n, precAnd)
		case i == 0:
			writeOperand(&sb, n, precOr)
		default:
			writeOperand(&sb, n, min)
		}
		parts = append(parts, sb.String())
	}
	return "", parts, nodes, ops
}

func action(a *ast.Action) string {
	switch {
	case a.Winner:
		return "send winner"
	case a.Kind == ast.Send:
		return fmt.Sprintf("send %s %s via %s", a.SendKind.Name, quote(a.Value.Value), a.Channel.Name) + delivery(a)
	default:
		return a.Kind.String() + " " + quote(a.Value.Value)
	}
}

func option(o ast.Option) string {
	switch o := o.(type) {
	case *ast.LimitOption:
		if o.Every != nil {
			return "limit once per member every " + duration(o.Every)
		}
		return "limit once per member"
	case *ast.PriorityOption:
		return "priority " + o.Value.Text
	case *ast.HoldoutOption:
		return "holdout " + o.Percent.Text + "%"
	case *ast.StopAfterOption:
		return "stop after " + o.Count.Text + " unanswered"
	case *ast.ConvertOption:
		var b strings.Builder
		b.WriteString("convert on ")
		writeRef(&b, o.Event)
		b.WriteString(" within " + duration(o.Within))
		return b.String()
	case *ast.BudgetOption:
		return "budget " + o.Amount.Text + " per " + o.Per.Name
	case *ast.ExpireOption:
		return "expire after " + duration(o.After)
	case *ast.TransactionalOption:
		return "transactional"
	}
	return ""
}

// quote writes s as a nudge string with canonical escapes: \" \\ \n \t,
// \uXXXX for other control characters, everything else (Chinese too) as is.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff:
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func duration(d *ast.DurationLit) string {
	if d == nil {
		return ""
	}
	if d.Implicit {
		return d.Unit.String()
	}
	u := d.Unit.String()
	if d.N == nil {
		return "1 " + u
	}
	if d.N.Text != "1" {
		u += "s"
	}
	return d.N.Text + " " + u
}

func clock(c *ast.ClockLit) string {
	if c.Second != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", c.Hour, c.Minute, c.Second)
	}
	return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute)
}

func date(d *ast.DateLit) string {
	if d.Text != "" {
		return strings.Join(strings.Fields(d.Text), " ")
	}
	s := fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
	if !d.HasTime {
		return s
	}
	s += fmt.Sprintf(" %02d:%02d", d.Hour, d.Minute)
	if d.Second != 0 {
		s += fmt.Sprintf(":%02d", d.Second)
	}
	return s
}

// Precedence levels, loosest first (SPEC §4): or < and < not < comparison <
// + - < * / < operands.
const (
	precOr = iota + 1
	precAnd
	precNot
	precCmp
	precAdd
	precMul
	precAtom
)

func prec(x ast.Expr) int {
	switch x := x.(type) {
	case *ast.BinaryExpr:
		switch x.Op {
		case ast.Or:
			return precOr
		case ast.And:
			return precAnd
		case ast.Add, ast.Sub:
			return precAdd
		case ast.Mul, ast.Div:
			return precMul
		}
		return precCmp
	case *ast.NotExpr:
		return precNot
	case *ast.BetweenExpr, *ast.InExpr, *ast.IsNullExpr:
		return precCmp
	case *ast.NumberLit:
		if strings.HasPrefix(x.Text, "-") {
			return precAtom
		}
	}
	return precAtom
}

// expr prints x; explicit parentheses in the tree are kept and missing ones
// (in hand-built trees) are added where precedence needs them.
func expr(x ast.Expr) string {
	var b strings.Builder
	writeExpr(&b, x)
	return b.String()
}

// writeOperand prints x, in parentheses when its precedence is below min.
func writeOperand(b *strings.Builder, x ast.Expr, min int) {
	if prec(x) < min {
		b.WriteByte('(')
		writeExpr(b, x)
		b.WriteByte(')')
		return
	}
	writeExpr(b, x)
}

// openWhere reports whether x ends with a `where` condition that would
// swallow a following and/or when printed without parentheses.
func openWhere(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.EventAtom:
		return x.Quant == nil && x.Window == nil && x.Matching == nil && endsWithWhere(x.Ref)
	case *ast.DaysSinceExpr:
		return endsWithWhere(x.Ref)
	case *ast.BinaryExpr:
		return openWhere(x.Y)
	case *ast.BetweenExpr:
		return openWhere(x.Hi)
	case *ast.NotExpr:
		return openWhere(x.X)
	}
	return false
}

func endsWithWhere(r *ast.EventRef) bool {
	if r == nil || len(r.Filters) == 0 {
		return false
	}
	_, ok := r.Filters[len(r.Filters)-1].(*ast.WhereFilter)
	return ok
}

func writeExpr(b *strings.Builder, x ast.Expr) {
	switch x := x.(type) {
	case *ast.BinaryExpr:
		p := prec(x)
		if (x.Op == ast.Or || x.Op == ast.And) && openWhere(x.X) {
			b.WriteByte('(')
			writeExpr(b, x.X)
			b.WriteByte(')')
		} else if p == precCmp {
			writeOperand(b, x.X, precAdd)
		} else {
			writeOperand(b, x.X, p)
		}
		b.WriteString(" " + x.Op.String() + " ")
		if p == precCmp {
			writeOperand(b, x.Y, precAdd)
		} else {
			writeOperand(b, x.Y, p+1)
		}
	case *ast.NotExpr:
		b.WriteString("not ")
		writeOperand(b, x.X, precNot)
	case *ast.ParenExpr:
		b.WriteByte('(')
		writeExpr(b, x.X)
		b.WriteByte(')')
	case *ast.BetweenExpr:
		writeOperand(b, x.X, precAdd)
		b.WriteString(" between ")
		writeOperand(b, x.Lo, precAdd)
		b.WriteString(" and ")
		writeOperand(b, x.Hi, precAdd)
	case *ast.InExpr:
		writeOperand(b, x.X, precAdd)
		if x.Not {
			b.WriteString(" not")
		}
		b.WriteString(" in (")
		for i, e := range x.List {
			if i > 0 {
				b.WriteString(", ")
			}
			writeExpr(b, e)
		}
		b.WriteByte(')')
	case *ast.IsNullExpr:
		writeOperand(b, x.X, precAdd)
		if x.Not {
			b.WriteString(" is not null")
		} else {
			b.WriteString(" is null")
		}
	case *ast.EventAtom:
		writeRef(b, x.Ref)
		if x.Matching != nil {
			b.WriteString(" matching " + x.Matching.Name)
		}
		if x.Quant != nil {
			b.WriteString(" " + [...]string{"at least", "at most", "exactly"}[x.Quant.Kind] + " " + x.Quant.N.Text + " times")
		}
		if x.Window != nil {
			b.WriteString(" " + window(x.Window))
		}
	case *ast.FollowedAtom:
		writeRef(b, x.First)
		b.WriteString(" not followed by ")
		writeRef(b, x.Second)
		if x.Matching != nil {
			b.WriteString(" matching " + x.Matching.Name)
		}
		b.WriteString(" within " + duration(x.Within))
	case *ast.TaggedExpr:
		b.WriteString("tagged " + quote(x.Tag.Value))
	case *ast.Ident:
		b.WriteString(x.Name)
	case *ast.MemberField:
		b.WriteString("member." + x.Field.Name)
	case *ast.CallExpr:
		b.WriteString(x.Func.Name + "(")
		for i, a := range x.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			writeExpr(b, a)
		}
		b.WriteByte(')')
	case *ast.AggExpr:
		b.WriteString(x.Func.String() + "(")
		b.WriteString(x.Ref.Event.Name)
		if x.Field != nil {
			b.WriteString("." + x.Field.Name)
		}
		writeFilters(b, x.Ref.Filters)
		if x.Window != nil {
			b.WriteString(" " + window(x.Window))
		}
		b.WriteByte(')')
	case *ast.DaysSinceExpr:
		if x.First {
			b.WriteString("days since first ")
		} else {
			b.WriteString("days since last ")
		}
		writeRef(b, x.Ref)
	case *ast.NumberLit:
		b.WriteString(x.Text)
	case *ast.StringLit:
		b.WriteString(quote(x.Value))
	case *ast.DurationLit:
		if x.Implicit {
			b.WriteString("1 " + x.Unit.String())
		} else {
			b.WriteString(duration(x))
		}
	case *ast.DateLit:
		b.WriteString(date(x))
	case *ast.BoolLit:
		b.WriteString(strconv.FormatBool(x.Value))
	case *ast.BadExpr:
		b.WriteString("<bad expression>")
	}
}

func writeRef(b *strings.Builder, r *ast.EventRef) {
	b.WriteString(r.Event.Name)
	writeFilters(b, r.Filters)
}

func writeFilters(b *strings.Builder, fs []ast.Filter) {
	for _, f := range fs {
		switch f := f.(type) {
		case *ast.PrepFilter:
			b.WriteString(" " + f.Prep + " " + f.Field.Name + " ")
			writeExpr(b, f.Value)
		case *ast.WhereFilter:
			b.WriteString(" where ")
			writeExpr(b, f.Cond)
		}
	}
}

func window(w *ast.Window) string {
	switch w.Kind {
	case ast.InLast:
		return "in last " + duration(w.Dur)
	case ast.Ever:
		return "ever"
	}
	return "before"
}
