package compiler

import (
	"strconv"
	"strings"

	"nudge/internal/tickform"
	"nudge/lang/ast"
	"nudge/lang/check"
)

// NULL handling: a condition never evaluates to NULL. Every comparison,
// between and in is compiled as COALESCE(<sql>, false), so a comparison with
// NULL is false (SPEC §5) and `not` of it is true: `not (days since last
// purchased > 90)` holds for a member who never purchased. Boolean fields and
// functions read as NULL count as false. and/or/not then follow two-valued
// logic.

// conjuncts compiles a condition into a list of non-NULL SQL conditions whose
// conjunction is the condition (a top-level `and` chain is split so the WHERE
// clause lists one operand per line).
func (rc *ruleCompiler) conjuncts(e ast.Expr, s *scope) []string {
	var out []string
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		switch x := e.(type) {
		case *ast.BinaryExpr:
			if x.Op == ast.And {
				walk(x.X)
				walk(x.Y)
				return
			}
		case *ast.ParenExpr:
			walk(x.X)
			return
		case *ast.EventAtom:
			if x.IsTrigger() {
				out = append(out, rc.triggerAtomParts(x, s)...)
				return
			}
		case *ast.FollowedAtom:
			out = append(out, rc.triggerAtomParts(x, s)...)
			return
		case *ast.Ident:
			if rc.isBareEvent(x) {
				out = append(out, rc.triggerAtomParts(x, s)...)
				return
			}
			if seg := rc.segment(x, s); seg != nil && !rc.inlining[seg] {
				rc.inlining[seg] = true
				walk(seg.Cond)
				delete(rc.inlining, seg)
				return
			}
		}
		out = append(out, rc.cond(e, s))
	}
	walk(e)
	return out
}

// cond compiles a condition to SQL that is true or false, never NULL.
func (rc *ruleCompiler) cond(e ast.Expr, s *scope) string {
	if rc.journey != nil {
		if q, ok := rc.journeyAtom(e, s); ok {
			return q
		}
	}
	switch x := e.(type) {
	case *ast.ParenExpr:
		return rc.cond(x.X, s)
	case *ast.BoolLit:
		if x.Value {
			return sqlTrue
		}
		return sqlFalse
	case *ast.NotExpr:
		return boolNot(rc.cond(x.X, s))
	case *ast.BinaryExpr:
		switch x.Op {
		case ast.And, ast.Or:
			var parts []string
			for _, o := range ast.Chain(x, x.Op) {
				parts = append(parts, rc.cond(o, s))
			}
			if x.Op == ast.And {
				return boolAnd(parts...)
			}
			return boolOr(parts...)
		case ast.Eq, ast.Ne, ast.Lt, ast.Le, ast.Gt, ast.Ge:
			op := map[ast.BinaryOp]string{ast.Eq: "=", ast.Ne: "<>", ast.Lt: "<", ast.Le: "<=", ast.Gt: ">", ast.Ge: ">="}[x.Op]
			v := rc.comparable(s, x.X, x.Y)
			return "COALESCE(" + v[0] + " " + op + " " + v[1] + ", false)"
		}
	case *ast.BetweenExpr:
		v := rc.comparable(s, x.X, x.Lo, x.Hi)
		return "COALESCE(" + v[0] + " BETWEEN " + v[1] + " AND " + v[2] + ", false)"
	case *ast.InExpr:
		v := rc.comparable(s, append([]ast.Expr{x.X}, x.List...)...)
		op := " IN ("
		if x.Not {
			op = " NOT IN ("
		}
		return "COALESCE(" + v[0] + op + strings.Join(v[1:], ", ") + "), false)"
	case *ast.IsNullExpr:
		if x.Not {
			return "(" + rc.value(x.X, s) + " IS NOT NULL)"
		}
		return "(" + rc.value(x.X, s) + " IS NULL)"
	case *ast.EventAtom:
		if seg := rc.atomSegment(x); seg != nil {
			return rc.inlineSegment(x, seg, s)
		}
		if x.IsTrigger() {
			return rc.triggerAtom(x, s)
		}
		return rc.existence(x, s)
	case *ast.FollowedAtom:
		return rc.triggerAtom(x, s)
	case *ast.TaggedExpr:
		rc.laneless = true // tags are read by the member's real id
		if s.member == "" {
			rc.errorf(x, "`tagged` cannot be used here")
			return sqlFalse
		}
		return "EXISTS (SELECT 1 FROM member_tags t WHERE t.brand = " + brandSQL +
			" AND t.member_id = " + s.memberID + " AND t.tag = " + rc.quote(x.Tag, x.Tag.Value) + ")"
	case *ast.Ident:
		if rc.isBareEvent(x) {
			return rc.triggerAtom(x, s)
		}
		if seg := rc.segment(x, s); seg != nil {
			return rc.inlineSegment(x, seg, s)
		}
	case *ast.BadExpr:
		rc.errorf(x, "cannot compile an expression that did not parse")
		return sqlFalse
	}
	// A boolean value: a bool field or function.
	return "COALESCE(" + rc.value(e, s) + ", false)"
}

// inlineSegment compiles a segment's condition in place of a reference to it.
func (rc *ruleCompiler) inlineSegment(at ast.Node, seg *ast.SegmentDecl, s *scope) string {
	if rc.inlining[seg] {
		rc.errorf(at, "segment %s refers to itself", seg.Name.Name)
		return sqlFalse
	}
	rc.inlining[seg] = true
	defer delete(rc.inlining, seg)
	return rc.cond(seg.Cond, s)
}

// isBareEvent reports whether id is an event name used alone as a
// condition (`if queued then ...`): a trigger atom without filters.
func (rc *ruleCompiler) isBareEvent(id *ast.Ident) bool {
	r := rc.info.Refs[id]
	return r != nil && r.Kind == check.RefEvent
}

// atomSegment returns the segment an EventAtom's name resolved to, when the
// parser read a segment reference as an event atom.
func (rc *ruleCompiler) atomSegment(a *ast.EventAtom) *ast.SegmentDecl {
	if a.Ref == nil || a.Ref.Event == nil {
		return nil
	}
	if r := rc.info.Refs[a.Ref.Event]; r != nil && r.Kind == check.RefSegment {
		return r.Segment
	}
	return nil
}

// segment returns the segment id refers to, or nil when it is not a segment
// reference (inside an event's filters a name is a field first).
func (rc *ruleCompiler) segment(id *ast.Ident, s *scope) *ast.SegmentDecl {
	if r := rc.info.Refs[id]; r != nil {
		if r.Kind == check.RefSegment {
			return r.Segment
		}
		return nil
	}
	if s.evType != nil && s.evType.Fields[id.Name] != nil {
		return nil
	}
	return rc.info.Segments[id.Name]
}

// value compiles a value expression; the result may be NULL.
func (rc *ruleCompiler) value(e ast.Expr, s *scope) string {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return "(" + rc.value(x.X, s) + ")"
	case *ast.NumberLit:
		n, err := numberSQL(x.Value)
		if err != nil {
			rc.errorf(x, "%v", err)
			return "NULL"
		}
		return n
	case *ast.StringLit:
		return rc.quote(x, x.Value)
	case *ast.BoolLit:
		return strconv.FormatBool(x.Value)
	case *ast.DateLit:
		return dateSQL(x)
	case *ast.DurationLit:
		return rc.interval(x)
	case *ast.MemberField:
		return rc.memberField(x, s)
	case *ast.Ident:
		if rc.segment(x, s) != nil {
			return rc.cond(x, s)
		}
		if s.ev == "" {
			rc.errorf(x, "%s is not a segment, and there is no event here for it to be a field of", x.Name)
			return "NULL"
		}
		f, _ := rc.eventField(x, s.ev, s.evType)
		return f
	case *ast.BinaryExpr:
		switch x.Op {
		case ast.Add, ast.Sub, ast.Mul, ast.Div:
			sql, _ := rc.arithTop(x, s)
			return sql
		}
		return rc.cond(x, s)
	case *ast.CallExpr:
		return rc.call(x, s)
	case *ast.AggExpr:
		kind := map[ast.AggFunc]aggKind{ast.Count: aggCount, ast.Sum: aggSum, ast.Avg: aggAvg, ast.Min: aggMin, ast.Max: aggMax}[x.Func]
		if x.Func == ast.Count && x.Field != nil {
			kind = aggCountField
		}
		if x.Func != ast.Count && x.Field == nil {
			rc.errorf(x, "%s needs a field, as in %s(%s.amount)", x.Func, x.Func, x.Ref.Event.Name)
			return "NULL"
		}
		return rc.aggregate(kind, x.Ref, x.Field, x.Window, s)
	case *ast.DaysSinceExpr:
		kind := aggLastTS
		if x.First {
			kind = aggFirstTS
		}
		ts := rc.aggregate(kind, x.Ref, nil, nil, s)
		return "(date_diff('microsecond', " + ts + ", " + rc.nowIn(s) + ") // 86400000000)"
	}
	return rc.cond(e, s)
}

// existence compiles an event atom with a window or quantifier: at least one
// (or the quantified number of) matching events.
func (rc *ruleCompiler) existence(x *ast.EventAtom, s *scope) string {
	win := x.Window
	if win != nil && win.Kind == ast.Before && s.cand == "" {
		rc.errorf(win, "`before` means before the triggering event and needs a trigger rule (one with a windowless event)")
		return sqlFalse
	}
	op, n := ">=", "1"
	if x.Quant != nil {
		op = map[ast.QuantKind]string{ast.AtLeast: ">=", ast.AtMost: "<=", ast.Exactly: "="}[x.Quant.Kind]
		n = rc.value(x.Quant.N, s)
	}
	before := win != nil && win.Kind == ast.Before
	if x.Quant == nil && !(s.top && (!before || s.cand == "c") && rc.filtersSimple(x.Ref.Filters)) {
		// Plain existence as a correlated EXISTS: DuckDB plans it as a semi join.
		a := rc.newAlias()
		return "EXISTS (\n  " + indent(rc.correlated("1", a, rc.eventType(x.Ref), x.Ref, win, s), "  ") + "\n)"
	}
	return rc.aggregate(aggCount, x.Ref, nil, win, s) + " " + op + " " + n
}

// triggerAtom compiles "the candidate event is one this trigger atom fires for".
func (rc *ruleCompiler) triggerAtom(x ast.Expr, s *scope) string {
	return boolAnd(rc.triggerAtomParts(x, s)...)
}

// triggerAtomParts returns the conjuncts of triggerAtom. The candidate CTE
// already checked the atom's simple filter parts when the rule has a single
// trigger atom; with several, every part is checked here.
func (rc *ruleCompiler) triggerAtomParts(x ast.Expr, s *scope) []string {
	if _, ok := rc.atomIndex[x]; !ok || s.cand == "" || !s.top {
		rc.errorf(x, "the trigger %q cannot be used here", label(x))
		return []string{sqlFalse}
	}
	c := s.cand
	multi := rc.nAtoms > 1
	var ref *ast.EventRef
	var parts []string
	due := c + ".ts"
	fa, followed := x.(*ast.FollowedAtom)
	if followed {
		ref = fa.First
		due = "(" + rc.shift(c+".ts", '+', fa.Within) + ")"
	} else {
		ref = triggerRef(x)
	}
	et := rc.eventType(ref)
	if multi {
		parts = append(parts, c+".due_at = "+due, c+".type = "+rc.quote(ref.Event, eventName(et, ref)))
	}
	inner := &scope{ev: c, evType: et, member: s.member, memberID: s.memberID, cand: c, top: true}
	for _, p := range filterParts(ref.Filters) {
		if !multi && rc.candPushed[p] {
			continue
		}
		parts = append(parts, rc.filterPart(p, inner))
	}
	if followed {
		parts = append(parts, rc.notFollowed(fa, et, s))
	}
	return parts
}

// triggerRef returns the event reference of a windowless trigger atom: an
// *ast.EventAtom, or a bare event name (*ast.Ident).
func triggerRef(x ast.Expr) *ast.EventRef {
	switch x := x.(type) {
	case *ast.EventAtom:
		return x.Ref
	case *ast.Ident:
		return &ast.EventRef{Span: x.Span, Event: x}
	case *ast.FollowedAtom:
		return x.First
	}
	return nil
}

// filterParts splits an event's filters into conjuncts: each PrepFilter, and
// the operands of each where condition's and-chain.
func filterParts(fs []ast.Filter) []ast.Node {
	var out []ast.Node
	for _, f := range fs {
		switch f := f.(type) {
		case *ast.WhereFilter:
			for _, e := range ast.Chain(f.Cond, ast.And) {
				out = append(out, e)
			}
		default:
			out = append(out, f)
		}
	}
	return out
}

// filterPart compiles one part returned by filterParts.
func (rc *ruleCompiler) filterPart(p ast.Node, s *scope) string {
	switch p := p.(type) {
	case ast.Filter:
		return rc.filter(p, s)
	case ast.Expr:
		return rc.cond(p, s)
	}
	return sqlFalse
}

// partSimple reports whether a filter part reads only the event and literals.
func (rc *ruleCompiler) partSimple(p ast.Node) bool {
	switch p := p.(type) {
	case ast.Filter:
		return rc.filterSimple(p)
	case ast.Expr:
		return rc.exprSimple(p)
	}
	return false
}

// notFollowed is the NOT EXISTS of a not-followed-by atom: no B of the same
// member in (A.ts, A.ts + within], with B's filters, and with an equal
// matching field (NULL never matches, so an A with a NULL order_id is never
// considered paid).
func (rc *ruleCompiler) notFollowed(fa *ast.FollowedAtom, aType *check.EventType, s *scope) string {
	c := s.cand
	b := rc.newAlias()
	bt := rc.eventType(fa.Second)
	rc.readType(eventName(bt, fa.Second))
	// (The second event comes after the candidate: of a trigger's
	// candidate, read only after the earliest of them.)
	since := ""
	if c == candAlias {
		since = tickform.CandidatesFrom
	}
	rc.readSince(eventName(bt, fa.Second), since)
	where := []string{
		b + ".brand = " + brandSQL,
		b + ".member_id = " + c + ".member_id",
		b + ".type = " + rc.quote(fa.Second.Event, eventName(bt, fa.Second)),
		b + ".ts > " + c + ".ts",
		b + ".ts <= " + c + ".due_at",
	}
	inner := &scope{ev: b, evType: bt, member: s.member, memberID: s.memberID, cand: c}
	for _, f := range fa.Second.Filters {
		where = append(where, rc.filter(f, inner))
	}
	if fa.Matching != nil {
		af := aType.Fields[fa.Matching.Name]
		bf := bt.Fields[fa.Matching.Name]
		if af == nil || bf == nil {
			rc.errorf(fa.Matching, "matching field %q must be a field of both %s and %s", fa.Matching.Name, aType.Name, bt.Name)
		} else {
			where = append(where, rc.columnOrJSON(fa.Matching, b, "props", bf, bt.Name)+" = "+rc.columnOrJSON(fa.Matching, c, "props", af, aType.Name))
		}
	}
	return "NOT EXISTS (\n  SELECT 1\n  FROM " + rc.eventsTable + " " + b + "\n  WHERE " + whereList("  ", where) + "\n)"
}

// filter compiles one event filter in the scope of the filtered event.
func (rc *ruleCompiler) filter(f ast.Filter, s *scope) string {
	switch f := f.(type) {
	case *ast.PrepFilter:
		field, _ := rc.eventField(f.Field, s.ev, s.evType)
		return "COALESCE(" + field + " = " + rc.value(f.Value, s) + ", false)"
	case *ast.WhereFilter:
		return rc.cond(f.Cond, s)
	}
	rc.errorf(f, "unsupported filter")
	return sqlFalse
}

// filtersSimple reports whether filters only read the event's own fields and
// literals, so they can be evaluated inside a GROUP BY over events.
func (rc *ruleCompiler) filtersSimple(fs []ast.Filter) bool {
	for _, f := range fs {
		if !rc.filterSimple(f) {
			return false
		}
	}
	return true
}

func (rc *ruleCompiler) filterSimple(f ast.Filter) bool {
	switch f := f.(type) {
	case *ast.PrepFilter:
		return rc.exprSimple(f.Value)
	case *ast.WhereFilter:
		return rc.exprSimple(f.Cond)
	}
	return false
}

func (rc *ruleCompiler) exprSimple(e ast.Expr) bool {
	ok := true
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr, *ast.NotExpr, *ast.ParenExpr, *ast.BetweenExpr, *ast.InExpr, *ast.IsNullExpr,
			*ast.NumberLit, *ast.StringLit, *ast.DateLit, *ast.DurationLit, *ast.BoolLit:
			return true
		case *ast.Ident:
			if r := rc.info.Refs[n]; r != nil && r.Kind != check.RefEventField {
				ok = false
			} else if r == nil && rc.info.Segments[n.Name] != nil {
				ok = false
			}
			return false
		}
		ok = false
		return false
	})
	return ok
}

// call expands a function's SQL template: {0}, {1}... are the compiled
// arguments, {member}, {now} and {brand} the member alias, now and brand.
// The template is scanned once, so argument text is never re-expanded.
func (rc *ruleCompiler) call(x *ast.CallExpr, s *scope) string {
	var fn *check.Function
	if r := rc.info.Refs[x.Func]; r != nil && r.Func != nil {
		fn = r.Func
	}
	if fn == nil || fn.SQL == "" {
		rc.errorf(x.Func, "function %s has no SQL translation", x.Func.Name)
		return "NULL"
	}
	args := make([]string, len(x.Args))
	for i, a := range x.Args {
		args[i] = rc.value(a, s)
	}
	var b strings.Builder
	t := fn.SQL
	for len(t) > 0 {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			break
		}
		b.WriteString(t[:i])
		t = t[i:]
		j := strings.IndexByte(t, '}')
		if j < 0 {
			b.WriteString(t)
			break
		}
		key := t[1:j]
		t = t[j+1:]
		switch key {
		case "member":
			if s.member == "" {
				rc.errorf(x, "%s cannot be used here", x.Func.Name)
				return "NULL"
			}
			b.WriteString(s.member)
		case "now":
			if strings.Contains(fn.SQL, "{brand}") {
				// A rank among all the brand's members is read at the
				// tick, as member fields and tags are: DuckDB cannot
				// correlate its table with each candidate's due time.
				tick := *s
				tick.cand = ""
				b.WriteString(rc.nowIn(&tick))
				break
			}
			b.WriteString(rc.nowIn(s))
		case "brand":
			// A function of the brand reads other members (ranks), by
			// the member's real id.
			rc.laneless = true
			b.WriteString(brandSQL)
		default:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= len(args) {
				rc.errorf(x, "function %s: bad SQL template placeholder {%s}", x.Func.Name, key)
				return "NULL"
			}
			b.WriteString(args[n])
		}
	}
	return "(" + b.String() + ")"
}

// walkCond visits the nodes of a condition, entering segment definitions.
func (rc *ruleCompiler) walkCond(e ast.Expr, f func(ast.Node)) {
	seen := map[*ast.SegmentDecl]bool{}
	var visit func(e ast.Node)
	visit = func(e ast.Node) {
		ast.Inspect(e, func(n ast.Node) bool {
			if r, ok := n.(*ast.EventRef); ok {
				// The event name is not a condition; its filters are.
				f(r)
				for _, flt := range r.Filters {
					visit(flt)
				}
				return false
			}
			f(n)
			var seg *ast.SegmentDecl
			switch n := n.(type) {
			case *ast.Ident:
				if r := rc.info.Refs[n]; r != nil && r.Kind == check.RefSegment {
					seg = r.Segment
				}
			case *ast.EventAtom:
				seg = rc.atomSegment(n)
			}
			if seg != nil && !seen[seg] {
				seen[seg] = true
				visit(seg.Cond)
				delete(seen, seg)
			}
			return true
		})
	}
	visit(e)
}

// valueSet is the explanation columns of a query.
type valueSet struct {
	cols   []string
	values []Value
}

// values collects the values a condition uses (aggregates, days since,
// member fields, non-boolean function calls, and the fields of the
// triggering event its filters test) and compiles them in scope s.
func (rc *ruleCompiler) values(cond ast.Expr, s *scope) valueSet {
	var vs valueSet
	seen := map[string]bool{}
	add := func(lbl, sql string) {
		if seen[lbl] || seen["\x00"+sql] || sql == "" {
			return
		}
		seen[lbl] = true
		seen["\x00"+sql] = true
		col := "v" + strconv.Itoa(len(vs.values))
		vs.values = append(vs.values, Value{Column: col, Label: lbl})
		vs.cols = append(vs.cols, sql+" AS "+col)
	}
	inSegment := map[*ast.SegmentDecl]bool{}
	var visit func(e ast.Node, ev *scope)
	visit = func(e ast.Node, ev *scope) {
		ast.Inspect(e, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AggExpr, *ast.DaysSinceExpr, *ast.MemberField:
				add(label(n), rc.value(n.(ast.Expr), s))
				return false
			case *ast.CallExpr:
				if rc.info.Types[n] != check.Bool {
					add(label(n), rc.value(n, s))
				}
				return false
			case *ast.EventAtom:
				if seg := rc.atomSegment(n); seg != nil {
					if !inSegment[seg] {
						inSegment[seg] = true
						visit(seg.Cond, nil)
						delete(inSegment, seg)
					}
					return false
				}
				if n.IsTrigger() && s.cand != "" {
					et := rc.eventType(n.Ref)
					inner := &scope{ev: s.cand, evType: et, member: s.member, memberID: s.memberID, cand: s.cand, top: true}
					for _, f := range n.Ref.Filters {
						visit(f, inner)
					}
				}
				return false
			case *ast.FollowedAtom:
				if s.cand != "" {
					et := rc.eventType(n.First)
					inner := &scope{ev: s.cand, evType: et, member: s.member, memberID: s.memberID, cand: s.cand, top: true}
					for _, f := range n.First.Filters {
						visit(f, inner)
					}
				}
				return false
			case *ast.PrepFilter:
				if ev != nil {
					add(rc.candLabel(ev.evType)+"."+n.Field.Name, rc.value(n.Field, ev))
				}
				return false
			case *ast.Ident:
				if rc.isBareEvent(n) {
					return false
				}
				if seg := rc.segment(n, scopeOr(ev, s)); seg != nil {
					if !inSegment[seg] {
						inSegment[seg] = true
						visit(seg.Cond, nil)
						delete(inSegment, seg)
					}
					return false
				}
				if ev != nil {
					add(rc.candLabel(ev.evType)+"."+n.Name, rc.value(n, ev))
				}
				return false
			}
			return true
		})
	}
	visit(cond, nil)
	return vs
}

// candLabel names the triggering event in value labels: its type, or
// "event" when the rule's trigger atoms have different types.
func (rc *ruleCompiler) candLabel(et *check.EventType) string {
	if rc.mixedTriggers {
		return "event"
	}
	return et.Name
}

func scopeOr(a, b *scope) *scope {
	if a != nil {
		return a
	}
	return b
}
