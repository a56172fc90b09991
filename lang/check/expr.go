package check

import (
	"fmt"
	"sort"
	"strings"

	"nudge/lang/ast"
)

// scope is the context of an expression: inside `where` filters and
// aggregates, bare names refer to the fields of the current event.
type scope struct {
	event *EventType // nil at member level
}

// set records e's type and returns it.
func (c *checker) set(e ast.Expr, t Type) Type {
	c.info.Types[e] = t
	return t
}

// cond checks e as a condition: it must be bool. An Invalid operand has
// already been reported and is not reported again.
func (c *checker) cond(e ast.Expr, sc *scope) Type {
	if e == nil {
		return Invalid
	}
	t := c.expr(e, sc)
	if t != Bool && t != Invalid {
		c.errorf(e, CodeNotBool, "condition must be true or false, but this is a %s%s", t, notBoolHint(e))
		return Invalid
	}
	return t
}

// notBoolHint suggests a fix for a value used as a condition.
func notBoolHint(e ast.Expr) string {
	switch e := ast.Unparen(e).(type) {
	case *ast.MemberField:
		return fmt.Sprintf("; compare it, e.g. `member.%s = \"...\"`, or test `member.%s is not null`", name(e.Field), name(e.Field))
	case *ast.AggExpr, *ast.DaysSinceExpr:
		return "; compare it with a number, e.g. `> 3`"
	}
	return ""
}

// expr checks e in scope sc and returns (and records) its type.
func (c *checker) expr(e ast.Expr, sc *scope) Type {
	switch e := e.(type) {
	case nil:
		return Invalid
	case *ast.BadExpr:
		return c.set(e, Invalid)
	case *ast.NumberLit:
		if e == nil {
			return Invalid
		}
		return c.set(e, Number)
	case *ast.StringLit:
		if e == nil {
			return Invalid
		}
		return c.set(e, Text)
	case *ast.BoolLit:
		return c.set(e, Bool)
	case *ast.DurationLit:
		if e == nil {
			return Invalid
		}
		return c.set(e, c.duration(e))
	case *ast.DateLit:
		return c.set(e, c.date(e))
	case *ast.ParenExpr:
		return c.set(e, c.expr(e.X, sc))
	case *ast.NotExpr:
		c.cond(e.X, sc)
		return c.set(e, Bool)
	case *ast.BinaryExpr:
		return c.set(e, c.binary(e, sc))
	case *ast.BetweenExpr:
		return c.set(e, c.between(e, sc))
	case *ast.InExpr:
		x := c.expr(e.X, sc)
		for _, el := range e.List {
			t := c.expr(el, sc)
			if x != Invalid && t != Invalid && !comparable(x, t, false) {
				c.errorf(el, CodeTypeMismatch, "cannot compare %s with %s in `in` list", x, t)
			}
		}
		return c.set(e, Bool)
	case *ast.IsNullExpr:
		c.expr(e.X, sc)
		return c.set(e, Bool)
	case *ast.TaggedExpr:
		if e.Tag != nil {
			c.set(e.Tag, Text)
			if strings.TrimSpace(e.Tag.Value) == "" {
				c.errorf(e.Tag, CodeEmptyTag, "tag name must not be empty")
			}
		}
		return c.set(e, Bool)
	case *ast.Ident:
		if e == nil {
			return Invalid
		}
		return c.set(e, c.ident(e, sc))
	case *ast.MemberField:
		return c.set(e, c.memberField(e))
	case *ast.CallExpr:
		return c.set(e, c.call(e, sc))
	case *ast.EventAtom:
		return c.set(e, c.eventAtom(e, sc))
	case *ast.FollowedAtom:
		return c.set(e, c.followed(e, sc))
	case *ast.AggExpr:
		return c.set(e, c.agg(e, sc))
	case *ast.DaysSinceExpr:
		if c.eventRef(e.Ref) == nil {
			return c.set(e, Invalid)
		}
		return c.set(e, Number)
	}
	return Invalid
}

// duration checks a duration literal: a whole, non-negative number of units.
func (c *checker) duration(d *ast.DurationLit) Type {
	if d.N == nil {
		return Duration
	}
	c.set(d.N, Number)
	if d.N.Value < 0 {
		c.errorf(d, CodeBadDuration, "a duration must be positive, not %s %ss", d.N.Text, d.Unit)
		return Invalid
	}
	if durationTooLong(d.N.Value, d.Unit) {
		c.errorf(d, CodeDurationTooLong, "a duration may be at most %d years (%d days); %s %ss is longer", MaxDurationYears, MaxDurationYears*365, shorten(d.N.Text), d.Unit)
		return Invalid
	}
	if !isInt(d.N) {
		c.errorf(d, CodeBadDuration, "a duration must be a whole number of %ss, not %s", d.Unit, d.N.Text)
		return Invalid
	}
	return Duration
}

// date checks a date or timestamp literal's fields.
func (c *checker) date(d *ast.DateLit) Type {
	days := []int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	switch {
	case d.Month < 1 || d.Month > 12:
		c.errorf(d, CodeBadDate, "invalid date %s: month must be 1-12", d.Text)
		return Invalid
	case d.Day < 1 || d.Day > days[d.Month-1] || (d.Month == 2 && d.Day == 29 && !leap(d.Year)):
		c.errorf(d, CodeBadDate, "invalid date %s: %d-%02d has no day %d", d.Text, d.Year, d.Month, d.Day)
		return Invalid
	case d.HasTime && (d.Hour < 0 || d.Hour > 23 || d.Minute < 0 || d.Minute > 59 || d.Second < 0 || d.Second > 59):
		c.errorf(d, CodeBadDate, "invalid time in %s: hours are 00-23, minutes and seconds 00-59", d.Text)
		return Invalid
	}
	if d.HasTime {
		return Timestamp
	}
	return Date
}

func leap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// comparable reports whether values of types a and b can be compared; order
// is true for <, <=, >, >= (bools only support = and !=).
func comparable(a, b Type, order bool) bool {
	isTime := func(t Type) bool { return t == Date || t == Timestamp }
	switch {
	case isTime(a) && isTime(b):
		return true
	case a != b:
		return false
	case a == Bool:
		return !order
	}
	return true
}

// binary checks logical, comparison and arithmetic operators.
func (c *checker) binary(e *ast.BinaryExpr, sc *scope) Type {
	switch e.Op {
	case ast.And, ast.Or:
		c.cond(e.X, sc)
		c.cond(e.Y, sc)
		return Bool
	case ast.Eq, ast.Ne, ast.Lt, ast.Le, ast.Gt, ast.Ge:
		x := c.expr(e.X, sc)
		y := c.expr(e.Y, sc)
		if x == Invalid || y == Invalid {
			return Bool
		}
		order := e.Op != ast.Eq && e.Op != ast.Ne
		if !comparable(x, y, order) {
			if x == y && x == Bool {
				c.errorf(opNode(e), CodeTypeMismatch, "cannot order true/false values with %s; use = or !=", e.Op)
			} else {
				c.errorf(opNode(e), CodeTypeMismatch, "cannot compare %s with %s%s", x, y, compareHint(e, x, y))
			}
		}
		return Bool
	default: // arithmetic
		x := c.expr(e.X, sc)
		y := c.expr(e.Y, sc)
		if x == Invalid || y == Invalid {
			return Invalid
		}
		if x != Number || y != Number {
			bad, t := e.X, x
			if x == Number {
				bad, t = e.Y, y
			}
			c.errorf(bad, CodeTypeMismatch, "arithmetic (%s) needs numbers, but this is a %s", e.Op, t)
			return Invalid
		}
		return Number
	}
}

// opNode returns a node spanning the operator of e, or e itself.
func opNode(e *ast.BinaryExpr) ast.Node {
	if e.OpPos.IsValid() {
		return ast.Span{Span: e.OpPos}
	}
	return e
}

// compareHint explains common comparison mistakes.
func compareHint(e *ast.BinaryExpr, x, y Type) string {
	if (x == Number && y == Duration) || (x == Duration && y == Number) {
		if _, ok := ast.Unparen(e.X).(*ast.DaysSinceExpr); ok {
			return "; `days since` is a number of days: write `> 90`, not `> 90 days`"
		}
		return "; a duration can only be a function argument or a window"
	}
	if (x == Text && (y == Date || y == Timestamp)) || (y == Text && (x == Date || x == Timestamp)) {
		return "; write dates without quotes, e.g. 2024-11-11"
	}
	if (x == Text && y == Number) || (x == Number && y == Text) {
		return "; numbers are written without quotes"
	}
	return ""
}

// between checks `X between Lo and Hi` and warns when it can never hold.
func (c *checker) between(e *ast.BetweenExpr, sc *scope) Type {
	x := c.expr(e.X, sc)
	lo := c.expr(e.Lo, sc)
	hi := c.expr(e.Hi, sc)
	for _, b := range []struct {
		n ast.Expr
		t Type
	}{{e.Lo, lo}, {e.Hi, hi}} {
		if x != Invalid && b.t != Invalid && !comparable(x, b.t, true) {
			c.errorf(b.n, CodeTypeMismatch, "cannot compare %s with %s in `between`", x, b.t)
		}
	}
	if l, ok := ast.Unparen(e.Lo).(*ast.NumberLit); ok {
		if h, ok := ast.Unparen(e.Hi).(*ast.NumberLit); ok && l != nil && h != nil && l.Value > h.Value {
			c.warnf(e, CodeUnreachable, "`between %s and %s` is never true: the lower bound is greater than the upper bound", l.Text, h.Text)
		}
	}
	if l, ok := ast.Unparen(e.Lo).(*ast.DateLit); ok {
		if h, ok := ast.Unparen(e.Hi).(*ast.DateLit); ok && dateKey(l) > dateKey(h) {
			c.warnf(e, CodeUnreachable, "`between %s and %s` is never true: the lower bound is after the upper bound", l.Text, h.Text)
		}
	}
	return Bool
}

func dateKey(d *ast.DateLit) int64 {
	return ((((int64(d.Year)*100+int64(d.Month))*100+int64(d.Day))*100+int64(d.Hour))*100+int64(d.Minute))*100 + int64(d.Second)
}

// ident resolves a bare name: a field of the current event, or a segment.
func (c *checker) ident(id *ast.Ident, sc *scope) Type {
	if sc != nil && sc.event != nil {
		if f, ok := sc.event.Fields[id.Name]; ok {
			c.info.Refs[id] = &Ref{Kind: RefEventField, Event: sc.event, Field: f}
			return f.Type
		}
	}
	if s, ok := c.info.Segments[id.Name]; ok {
		c.info.Refs[id] = &Ref{Kind: RefSegment, Segment: s}
		c.useSegment(id, s)
		return Bool
	}
	if et, ok := c.info.Events[id.Name]; ok && (sc == nil || sc.event == nil) {
		// A bare event name: a windowless (trigger) event condition.
		c.info.Refs[id] = &Ref{Kind: RefEvent, Event: et}
		return Bool
	}
	if sc != nil && sc.event != nil {
		cands := append(keys(sc.event.Fields), keys(c.info.Segments)...)
		c.errorf(id, CodeUnknownField, "unknown field %q of event %q%s", id.Name, sc.event.Name, didYouMean(id.Name, cands))
		return Invalid
	}
	c.errorf(id, CodeUnknownSegment, "unknown segment or event %q%s%s%s", id.Name,
		didYouMean(id.Name, append(keys(c.info.Segments), keys(c.info.Events)...)), c.moduleHint(id.Name), c.fieldHint(id.Name))
	return Invalid
}

// useSegment makes sure a referenced segment is checked, reporting a cycle
// when the segment is being checked right now.
func (c *checker) useSegment(at *ast.Ident, s *ast.SegmentDecl) {
	switch c.segState[s] {
	case 0:
		c.checkSegment(s)
	case 1:
		var path []string
		start := 0
		for i, t := range c.segStack {
			if t == s {
				start = i
			}
		}
		for _, t := range c.segStack[start:] {
			path = append(path, name(t.Name))
		}
		path = append(path, name(s.Name))
		c.errorf(at, CodeSegmentCycle, "segment cycle: %s", strings.Join(path, " -> "))
	}
}

// fieldHint explains that an event field is used outside `where`.
func (c *checker) fieldHint(n string) string {
	for _, col := range builtinEventColumns {
		if col.name == n {
			return fmt.Sprintf("; %q is an event field: use it in a filter, e.g. `purchased where %s ...`", n, n)
		}
	}
	names := keys(c.info.Events)
	sort.Strings(names)
	for _, en := range names {
		if f, ok := c.info.Events[en].Fields[n]; ok && f.Column == "" {
			return fmt.Sprintf("; %q is a field of event %q: use it in a filter, e.g. `%s where %s ...`", n, en, en, n)
		}
	}
	return ""
}

// moduleHint tells which known-but-not-imported module declares name.
func (c *checker) moduleHint(n string) string {
	if c.env.Import == nil {
		return ""
	}
	for _, m := range c.env.Modules {
		if c.imported[m] {
			continue
		}
		f, ok := c.env.Import(m)
		if !ok || f == nil {
			continue
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.EventDecl:
				if name(d.Name) == n {
					return fmt.Sprintf(" (module %q declares it: add `import %q`)", m, m)
				}
			case *ast.SegmentDecl:
				if name(d.Name) == n {
					return fmt.Sprintf(" (module %q declares it: add `import %q`)", m, m)
				}
			}
		}
	}
	return ""
}

// memberField resolves member.NAME.
func (c *checker) memberField(m *ast.MemberField) Type {
	if m.Field == nil {
		return Invalid
	}
	f, ok := c.info.Members[m.Field.Name]
	if !ok {
		c.errorf(m.Field, CodeUnknownMemberField, "unknown member field %q%s", m.Field.Name, didYouMean(m.Field.Name, keys(c.info.Members)))
		return Invalid
	}
	c.info.Refs[m.Field] = &Ref{Kind: RefMemberField, Field: f}
	return f.Type
}

// call resolves a function call and checks its arguments.
func (c *checker) call(e *ast.CallExpr, sc *scope) Type {
	args := make([]Type, len(e.Args))
	for i, a := range e.Args {
		args[i] = c.expr(a, sc)
	}
	if e.Func == nil {
		return Invalid
	}
	fn, ok := c.env.Functions[e.Func.Name]
	if !ok || fn == nil {
		c.errorf(e.Func, CodeUnknownFunction, "unknown function %q%s", e.Func.Name, didYouMean(e.Func.Name, keys(c.env.Functions)))
		return Invalid
	}
	c.info.Refs[e.Func] = &Ref{Kind: RefFunction, Func: fn}
	if len(e.Args) != len(fn.Params) {
		c.errorf(e, CodeWrongArity, "%s takes %s, got %d", signature(fn), plural(len(fn.Params), "argument"), len(e.Args))
		return fn.Result
	}
	for i, p := range fn.Params {
		if args[i] == Invalid || assignable(args[i], p) {
			continue
		}
		c.errorf(e.Args[i], CodeTypeMismatch, "argument %d of %s must be a %s, not a %s", i+1, signature(fn), p, args[i])
	}
	return fn.Result
}

// assignable reports whether an argument of type a fits a parameter of type
// p: exact, or a date where a timestamp is expected.
func assignable(a, p Type) bool {
	return a == p || (a == Date && p == Timestamp)
}

// signature renders fn as "name(type, ...)".
func signature(fn *Function) string {
	ps := make([]string, len(fn.Params))
	for i, p := range fn.Params {
		ps[i] = p.String()
	}
	return fmt.Sprintf("%s(%s)", fn.Name, strings.Join(ps, ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// eventRef resolves an event reference and checks its filters; it returns
// nil (after reporting) when the event type is unknown.
func (c *checker) eventRef(r *ast.EventRef) *EventType {
	if r == nil || r.Event == nil {
		return nil
	}
	et, ok := c.info.Events[r.Event.Name]
	if !ok {
		c.errorf(r.Event, CodeUnknownEvent, "unknown event type %q%s%s", r.Event.Name,
			didYouMean(r.Event.Name, keys(c.info.Events)), c.moduleHint(r.Event.Name))
		for _, f := range r.Filters {
			c.invalidate(f)
		}
		return nil
	}
	c.info.Refs[r.Event] = &Ref{Kind: RefEvent, Event: et}
	sc := &scope{event: et}
	for _, f := range r.Filters {
		switch f := f.(type) {
		case *ast.PrepFilter:
			c.prepFilter(f, et)
		case *ast.WhereFilter:
			c.cond(f.Cond, sc)
		}
	}
	return et
}

// prepFilter checks `PREP FIELD literal`.
func (c *checker) prepFilter(f *ast.PrepFilter, et *EventType) {
	vt := c.expr(f.Value, nil)
	if f.Field == nil {
		return
	}
	fld, ok := et.Fields[f.Field.Name]
	if !ok {
		c.errorf(f.Field, CodeUnknownField, "event %q has no field %q%s", et.Name, f.Field.Name, didYouMean(f.Field.Name, keys(et.Fields)))
		return
	}
	c.info.Refs[f.Field] = &Ref{Kind: RefEventField, Event: et, Field: fld}
	if vt != Invalid && fld.Type != Invalid && !comparable(fld.Type, vt, false) {
		c.errorf(f.Value, CodeTypeMismatch, "field %q of %q is a %s, but this is a %s", fld.Name, et.Name, fld.Type, vt)
	}
}

// invalidate records Invalid for every expression under n that has no type
// yet, so that Info.Types covers the tree without cascading errors.
func (c *checker) invalidate(n ast.Node) {
	ast.Inspect(n, func(n ast.Node) bool {
		if e, ok := n.(ast.Expr); ok {
			if _, done := c.info.Types[e]; !done {
				c.info.Types[e] = Invalid
			}
		}
		return true
	})
}

// eventAtom checks `EVENT {filter} [quant] [window]`. A bare name without
// filters, quantifier or window may be a segment reference (the parser
// cannot tell them apart); Refs records which.
func (c *checker) eventAtom(a *ast.EventAtom, sc *scope) Type {
	if a.Ref == nil || a.Ref.Event == nil {
		return Invalid
	}
	n := a.Ref.Event.Name
	if s, ok := c.info.Segments[n]; ok && len(a.Ref.Filters) == 0 && a.Quant == nil && a.Window == nil {
		if _, isEvent := c.info.Events[n]; !isEvent {
			c.info.Refs[a.Ref.Event] = &Ref{Kind: RefSegment, Segment: s}
			c.useSegment(a.Ref.Event, s)
			return Bool
		}
	}
	if _, ok := c.info.Events[n]; !ok {
		if _, isSeg := c.info.Segments[n]; isSeg {
			c.errorf(a.Ref.Event, CodeSegmentFilter, "%q is a segment, not an event type: a segment takes no filters, counts or windows", n)
			c.invalidate(a)
			return Invalid
		}
		if sc != nil && sc.event != nil && len(a.Ref.Filters) == 0 && a.Quant == nil && a.Window == nil {
			// A bare name inside `where`: most likely a misspelt field.
			return c.ident(a.Ref.Event, sc)
		}
	}
	et := c.eventRef(a.Ref)
	if q := a.Quant; q != nil && q.N != nil {
		c.set(q.N, Number)
		switch {
		case q.N.Value < 0:
			c.errorf(q.N, CodeBadCount, "a count of times cannot be negative, not %s", q.N.Text)
		case !isInt(q.N):
			c.errorf(q.N, CodeBadCount, "a count of times must be a whole number, not %s", q.N.Text)
		case q.N.Value == 0 && q.Kind == ast.AtLeast:
			c.warnf(q, CodeAlwaysTrue, "`at least 0 times` always holds, also for members without any %q event; did you mean `at least 1 time`?", a.Ref.Event.Name)
		}
	}
	c.window(a.Window)
	if a.Matching != nil {
		c.matching(a, et)
	}
	if et == nil {
		return Invalid
	}
	return Bool
}

// window checks a window's duration.
func (c *checker) window(w *ast.Window) {
	if w == nil || w.Kind != ast.InLast || w.Dur == nil {
		return
	}
	if c.expr(w.Dur, nil) == Duration && w.Dur.N != nil && w.Dur.N.Value == 0 {
		c.errorf(w.Dur, CodeBadDuration, "`in last 0 %ss` is always empty; use a positive duration", w.Dur.Unit)
	}
}

// followed checks `A not followed by B [matching F] within D`.
func (c *checker) followed(a *ast.FollowedAtom, sc *scope) Type {
	first := c.eventRef(a.First)
	second := c.eventRef(a.Second)
	if a.Within != nil {
		if c.expr(a.Within, nil) == Duration && a.Within.N != nil && a.Within.N.Value == 0 {
			c.errorf(a.Within, CodeBadDuration, "`within` needs a positive duration")
		}
	}
	if a.Matching != nil && first != nil && second != nil {
		fn := a.Matching.Name
		f1, ok1 := first.Fields[fn]
		f2, ok2 := second.Fields[fn]
		switch {
		case !ok1 && !ok2:
			c.errorf(a.Matching, CodeUnknownField, "`matching %s`: neither %q nor %q has a field %q%s", fn, first.Name, second.Name, fn,
				didYouMean(fn, keys(first.Fields)))
		case !ok1:
			c.errorf(a.Matching, CodeUnknownField, "`matching %s`: event %q has no field %q%s", fn, first.Name, fn, didYouMean(fn, keys(first.Fields)))
		case !ok2:
			c.errorf(a.Matching, CodeUnknownField, "`matching %s`: event %q has no field %q%s", fn, second.Name, fn, didYouMean(fn, keys(second.Fields)))
		case !comparable(f1.Type, f2.Type, false):
			c.errorf(a.Matching, CodeTypeMismatch, "`matching %s`: the field is a %s in %q but a %s in %q", fn, f1.Type, first.Name, f2.Type, second.Name)
		default:
			c.info.Refs[a.Matching] = &Ref{Kind: RefEventField, Event: first, Field: f1}
		}
	}
	if first == nil || second == nil {
		return Invalid
	}
	return Bool
}

// agg checks count/sum/avg/min/max.
func (c *checker) agg(a *ast.AggExpr, sc *scope) Type {
	et := c.eventRef(a.Ref)
	c.window(a.Window)
	if et == nil {
		if a.Field != nil {
			c.invalidate(a.Field)
		}
		return Invalid
	}
	if a.Func == ast.Count {
		if a.Field != nil {
			c.errorf(a.Field, CodeCountField, "count takes no field: write count(%s ...), or use sum/avg/min/max(%s.%s ...)", et.Name, et.Name, a.Field.Name)
			return Invalid
		}
		return Number
	}
	if a.Field == nil {
		c.errorf(a, CodeMissingField, "%s needs a field, e.g. %s(%s.amount)", a.Func, a.Func, et.Name)
		return Invalid
	}
	f, ok := et.Fields[a.Field.Name]
	if !ok {
		c.errorf(a.Field, CodeUnknownField, "event %q has no field %q%s", et.Name, a.Field.Name, didYouMean(a.Field.Name, keys(et.Fields)))
		return c.set(a.Field, Invalid)
	}
	c.info.Refs[a.Field] = &Ref{Kind: RefEventField, Event: et, Field: f}
	c.set(a.Field, f.Type)
	switch {
	case f.Type == Invalid:
		return Invalid
	case a.Func == ast.Sum || a.Func == ast.Avg:
		if f.Type != Number {
			c.errorf(a.Field, CodeTypeMismatch, "%s needs a number field, but %s.%s is a %s", a.Func, et.Name, f.Name, f.Type)
			return Invalid
		}
		return Number
	default: // min, max
		if f.Type != Number && f.Type != Timestamp && f.Type != Date {
			c.errorf(a.Field, CodeTypeMismatch, "%s needs a number, date or timestamp field, but %s.%s is a %s", a.Func, et.Name, f.Name, f.Type)
			return Invalid
		}
		return f.Type
	}
}
