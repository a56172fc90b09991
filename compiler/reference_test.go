package compiler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"nudge/lang/ast"
	"nudge/lang/check"
)

// The reference evaluator: a plain, loop-based Go interpreter of SPEC §5 over
// in-memory members and events. It reads the AST and the checker's Info and
// shares no code with the SQL compiler, so the property test can hold the
// two against each other.

// refWorld is one dataset seen by one brand at one instant.
type refWorld struct {
	info     *check.Info
	members  map[string]*member  // the brand's members
	byMember map[string][]*event // the brand's events per member, any order
	events   []*event            // the brand's events
	tags     map[string]bool     // "member\x00tag" of the brand
	now      time.Time
	wm       watermark
}

func newRefWorld(info *check.Info, members []member, events []event, tags []string, now time.Time, wm watermark) *refWorld {
	w := &refWorld{info: info, members: map[string]*member{}, byMember: map[string][]*event{}, tags: map[string]bool{}, now: now, wm: wm}
	for i := range members {
		if members[i].Brand == testBrand {
			w.members[members[i].ID] = &members[i]
		}
	}
	for i := range events {
		e := &events[i]
		if e.Brand == testBrand {
			w.events = append(w.events, e)
			w.byMember[e.Member] = append(w.byMember[e.Member], e)
		}
	}
	for _, t := range tags {
		f := strings.Fields(t)
		if f[0] == testBrand {
			w.tags[f[1]+"\x00"+f[2]] = true
		}
	}
	return w
}

// refVal is a value: NULL, a number, a text, an instant, a bool or a duration.
type refVal struct {
	null bool
	kind byte // 'n' number, 's' text, 't' time, 'b' bool, 'd' duration
	n    float64
	s    string
	t    time.Time
	b    bool
	d    *ast.DurationLit
}

var null = refVal{null: true}

func num(f float64) refVal { return refVal{kind: 'n', n: f} }

// refCtx is where an expression is evaluated.
type refCtx struct {
	m      *member
	ev     *event // the event whose fields bare names read
	evType *check.EventType
	cand   *event // the triggering event
	due    time.Time
}

// fire returns the firings of a rule: "member" for a state rule, or
// "member#seq@due" for a trigger rule, sorted.
func (w *refWorld) fire(r *check.Rule) []string {
	var out []string
	cond := r.Decl.Cond
	if !r.Trigger {
		for _, m := range w.members {
			if w.cond(cond, refCtx{m: m}) {
				out = append(out, m.ID+w.params(r, refCtx{m: m}))
			}
		}
		sort.Strings(out)
		return out
	}
	seen := map[string]bool{}
	for _, e := range w.events {
		m := w.members[e.Member]
		if m == nil {
			continue
		}
		for _, atom := range r.TriggerAtoms {
			due := w.dueOf(atom, e)
			if due.After(w.now) || (e.Seq <= w.wm.Seq && !due.After(w.wm.Now)) {
				continue
			}
			ctx := refCtx{m: m, cand: e, due: due}
			if !w.triggerMatches(atom, ctx) {
				continue
			}
			key := fmt.Sprintf("%s#%d@%s", e.Member, e.Seq, due.Format("2006-01-02T15:04"))
			if seen[key] {
				continue
			}
			seen[key] = true
			if w.cond(cond, ctx) {
				out = append(out, key+w.params(r, ctx))
			}
		}
	}
	sort.Strings(out)
	return out
}

// dueOf is when a trigger atom's event becomes due.
func (w *refWorld) dueOf(atom ast.Expr, e *event) time.Time {
	if fa, ok := atom.(*ast.FollowedAtom); ok {
		return addDuration(e.TS, fa.Within, 1)
	}
	return e.TS
}

// triggerMatches reports whether the candidate in ctx is an event this
// trigger atom fires for.
func (w *refWorld) triggerMatches(atom ast.Expr, ctx refCtx) bool {
	e := ctx.cand
	if e == nil || !w.dueOf(atom, e).Equal(ctx.due) {
		return false
	}
	var ref *ast.EventRef
	switch a := atom.(type) {
	case *ast.Ident:
		return e.Type == a.Name
	case *ast.EventAtom:
		ref = a.Ref
	case *ast.FollowedAtom:
		ref = a.First
	}
	if !w.matches(ref, e, ctx) {
		return false
	}
	fa, ok := atom.(*ast.FollowedAtom)
	if !ok {
		return true
	}
	// No B of the member in (A.ts, due] with B's filters and equal matching field.
	for _, b := range w.byMember[e.Member] {
		if !b.TS.After(e.TS) || b.TS.After(ctx.due) || !w.matches(fa.Second, b, ctx) {
			continue
		}
		if fa.Matching != nil {
			av := w.field(e, w.info.Events[e.Type], fa.Matching.Name)
			bv := w.field(b, w.info.Events[b.Type], fa.Matching.Name)
			if av.null || bv.null || !equal(av, bv) {
				continue
			}
		}
		return false
	}
	return true
}

// matches reports whether event e has ref's type and passes its filters.
func (w *refWorld) matches(ref *ast.EventRef, e *event, ctx refCtx) bool {
	if e.Type != ref.Event.Name {
		return false
	}
	inner := refCtx{m: ctx.m, ev: e, evType: w.info.Events[e.Type], cand: ctx.cand, due: ctx.due}
	for _, f := range ref.Filters {
		switch f := f.(type) {
		case *ast.PrepFilter:
			v := w.field(e, inner.evType, f.Field.Name)
			lit := w.value(f.Value, inner)
			if v.null || lit.null || !equal(v, lit) {
				return false
			}
		case *ast.WhereFilter:
			if !w.cond(f.Cond, inner) {
				return false
			}
		}
	}
	return true
}

// at is the instant a condition is evaluated at: now, or in a trigger rule
// the candidate's due time (SPEC §5).
func (w *refWorld) at(ctx refCtx) time.Time {
	if ctx.cand != nil {
		return ctx.due
	}
	return w.now
}

// selectEvents returns the member's events matching ref within win.
func (w *refWorld) selectEvents(ref *ast.EventRef, win *ast.Window, ctx refCtx) []*event {
	var out []*event
	at := w.at(ctx)
	for _, e := range w.byMember[ctx.m.ID] {
		switch {
		case win != nil && win.Kind == ast.Before:
			if !e.TS.Before(ctx.cand.TS) {
				continue
			}
		case win != nil && win.Kind == ast.InLast:
			if e.TS.After(at) || !e.TS.After(addDuration(at, win.Dur, -1)) {
				continue
			}
		default:
			if e.TS.After(at) {
				continue
			}
		}
		if w.matches(ref, e, ctx) {
			out = append(out, e)
		}
	}
	return out
}

// cond evaluates a condition; NULL comparisons are false.
func (w *refWorld) cond(e ast.Expr, ctx refCtx) bool {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return w.cond(x.X, ctx)
	case *ast.BoolLit:
		return x.Value
	case *ast.NotExpr:
		return !w.cond(x.X, ctx)
	case *ast.BinaryExpr:
		switch x.Op {
		case ast.And:
			l, r := w.cond(x.X, ctx), w.cond(x.Y, ctx)
			return l && r
		case ast.Or:
			l, r := w.cond(x.X, ctx), w.cond(x.Y, ctx)
			return l || r
		case ast.Eq, ast.Ne, ast.Lt, ast.Le, ast.Gt, ast.Ge:
			a, b := w.value(x.X, ctx), w.value(x.Y, ctx)
			if a.null || b.null {
				return false
			}
			c := compare(a, b)
			switch x.Op {
			case ast.Eq:
				return c == 0
			case ast.Ne:
				return c != 0
			case ast.Lt:
				return c < 0
			case ast.Le:
				return c <= 0
			case ast.Gt:
				return c > 0
			default:
				return c >= 0
			}
		}
	case *ast.BetweenExpr:
		v, lo, hi := w.value(x.X, ctx), w.value(x.Lo, ctx), w.value(x.Hi, ctx)
		return !v.null && !lo.null && !hi.null && compare(lo, v) <= 0 && compare(v, hi) <= 0
	case *ast.InExpr:
		v := w.value(x.X, ctx)
		if v.null {
			return false
		}
		found := false
		for _, it := range x.List {
			if iv := w.value(it, ctx); !iv.null && equal(v, iv) {
				found = true
			}
		}
		return found != x.Not
	case *ast.IsNullExpr:
		return w.value(x.X, ctx).null != x.Not
	case *ast.EventAtom:
		if r := w.info.Refs[x.Ref.Event]; r != nil && r.Kind == check.RefSegment {
			return w.cond(r.Segment.Cond, ctx)
		}
		if x.IsTrigger() {
			return w.triggerMatches(x, ctx)
		}
		win := x.Window
		n := len(w.selectEvents(x.Ref, win, ctx))
		if x.Quant == nil {
			return n >= 1
		}
		q := int(x.Quant.N.Value)
		switch x.Quant.Kind {
		case ast.AtLeast:
			return n >= q
		case ast.AtMost:
			return n <= q
		default:
			return n == q
		}
	case *ast.FollowedAtom:
		return w.triggerMatches(x, ctx)
	case *ast.TaggedExpr:
		return w.tags[ctx.m.ID+"\x00"+x.Tag.Value]
	case *ast.Ident:
		if r := w.info.Refs[x]; r != nil {
			switch r.Kind {
			case check.RefEvent:
				return w.triggerMatches(x, ctx)
			case check.RefSegment:
				return w.cond(r.Segment.Cond, ctx)
			}
		}
	}
	v := w.value(e, ctx)
	return !v.null && v.kind == 'b' && v.b
}

// value evaluates a value expression.
func (w *refWorld) value(e ast.Expr, ctx refCtx) refVal {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return w.value(x.X, ctx)
	case *ast.NumberLit:
		return num(x.Value)
	case *ast.StringLit:
		return refVal{kind: 's', s: x.Value}
	case *ast.BoolLit:
		return refVal{kind: 'b', b: x.Value}
	case *ast.DateLit:
		t, _ := x.Time()
		return refVal{kind: 't', t: t}
	case *ast.DurationLit:
		return refVal{kind: 'd', d: x}
	case *ast.MemberField:
		return w.memberField(ctx.m, x.Field.Name)
	case *ast.Ident:
		if r := w.info.Refs[x]; r != nil && r.Kind == check.RefEventField {
			return w.field(ctx.ev, ctx.evType, x.Name)
		}
		return refVal{kind: 'b', b: w.cond(x, ctx)}
	case *ast.BinaryExpr:
		switch x.Op {
		case ast.Add, ast.Sub, ast.Mul, ast.Div:
			// Numbers are float64 here; a result that is no finite
			// number is no number (NULL), as a field holding inf is.
			// Inside the expression infinities carry on as in floating
			// point (1 / (1e300 * 1e300) is 0).
			v := w.arith(x, ctx)
			if !v.null && v.kind == 'n' && (math.IsInf(v.n, 0) || math.IsNaN(v.n)) {
				return null
			}
			return v
		}
		return refVal{kind: 'b', b: w.cond(x, ctx)}
	case *ast.AggExpr:
		evs := w.selectEvents(x.Ref, x.Window, ctx)
		if x.Func == ast.Count {
			return num(float64(len(evs)))
		}
		et := w.info.Events[x.Ref.Event.Name]
		var vals []refVal
		for _, ev := range evs {
			if v := w.field(ev, et, x.Field.Name); !v.null {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return null
		}
		acc := vals[0]
		sum := 0.0
		for _, v := range vals {
			sum += v.n
			if (x.Func == ast.Min && compare(v, acc) < 0) || (x.Func == ast.Max && compare(v, acc) > 0) {
				acc = v
			}
		}
		switch x.Func {
		case ast.Sum:
			return num(sum)
		case ast.Avg:
			return num(sum / float64(len(vals)))
		}
		return acc
	case *ast.DaysSinceExpr:
		evs := w.selectEvents(x.Ref, nil, ctx)
		if len(evs) == 0 {
			return null
		}
		pick := evs[0].TS
		for _, ev := range evs {
			if (x.First && ev.TS.Before(pick)) || (!x.First && ev.TS.After(pick)) {
				pick = ev.TS
			}
		}
		return num(math.Floor(float64(w.at(ctx).Sub(pick)) / float64(24*time.Hour)))
	}
	return refVal{kind: 'b', b: w.cond(e, ctx)}
}

// arith evaluates + - * / without the check for a finite result.
func (w *refWorld) arith(x *ast.BinaryExpr, ctx refCtx) refVal {
	operand := func(e ast.Expr) refVal {
		for {
			p, ok := e.(*ast.ParenExpr)
			if !ok {
				break
			}
			e = p.X
		}
		if b, ok := e.(*ast.BinaryExpr); ok && (b.Op == ast.Add || b.Op == ast.Sub || b.Op == ast.Mul || b.Op == ast.Div) {
			return w.arith(b, ctx)
		}
		return w.value(e, ctx)
	}
	a, b := operand(x.X), operand(x.Y)
	if a.null || b.null {
		return null
	}
	if a.kind == 't' && b.kind == 'd' {
		sign := 1
		if x.Op == ast.Sub {
			sign = -1
		}
		return refVal{kind: 't', t: addDuration(a.t, b.d, sign)}
	}
	switch x.Op {
	case ast.Add:
		return num(a.n + b.n)
	case ast.Sub:
		return num(a.n - b.n)
	case ast.Mul:
		return num(a.n * b.n)
	}
	if b.n == 0 {
		return null
	}
	return num(a.n / b.n)
}

// field reads a field of an event: a built-in column or a typed props value.
func (w *refWorld) field(e *event, et *check.EventType, name string) refVal {
	str := func(s string) refVal {
		if s == "" {
			return null
		}
		return refVal{kind: 's', s: s}
	}
	switch name {
	case "ts":
		return refVal{kind: 't', t: e.TS}
	case "store":
		return str(e.Store)
	case "sku":
		return str(e.SKU)
	case "category":
		return str(e.Category)
	case "channel":
		return str(e.Channel)
	case "order_id":
		return str(e.OrderID)
	case "amount":
		if math.IsNaN(e.Amount) {
			return null
		}
		return num(e.Amount)
	}
	f := et.Fields[name]
	if f == nil {
		panic("reference: unknown field " + name)
	}
	return jsonValue(e.Props, name, f.Type)
}

// memberField reads a member column or a typed attrs value.
func (w *refWorld) memberField(m *member, name string) refVal {
	switch name {
	case "city", "tier":
		s := m.City
		if name == "tier" {
			s = m.Tier
		}
		if s == "" {
			return null
		}
		return refVal{kind: 's', s: s}
	}
	f := w.info.Members[name]
	if f == nil || f.Column != "" {
		panic("reference: unsupported member field " + name)
	}
	return jsonValue(m.Attrs, name, f.Type)
}

// jsonValue reads key of a JSON object as typ; a missing, null or
// malformed value is NULL.
func jsonValue(doc, key string, typ check.Type) refVal {
	if doc == "" {
		return null
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return null
	}
	var text string
	switch v := obj[key].(type) {
	case nil:
		return null
	case json.Number:
		text = v.String()
	case string:
		text = v
	case bool:
		text = strconv.FormatBool(v)
	default:
		return null
	}
	switch typ {
	case check.Number:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return null // NaN, inf and 1e999 are no number
		}
		return num(f)
	case check.Text:
		return refVal{kind: 's', s: text}
	}
	panic("reference: unsupported JSON type")
}

func equal(a, b refVal) bool { return compare(a, b) == 0 }

// compare orders two non-NULL values of one kind.
func compare(a, b refVal) int {
	switch {
	case a.kind == 'n' && b.kind == 'n':
		switch {
		case a.n < b.n:
			return -1
		case a.n > b.n:
			return 1
		}
		return 0
	case a.kind == 's' && b.kind == 's':
		return strings.Compare(a.s, b.s)
	case a.kind == 't' && b.kind == 't':
		return a.t.Compare(b.t)
	case a.kind == 'b' && b.kind == 'b':
		if a.b == b.b {
			return 0
		}
		if !a.b {
			return -1
		}
		return 1
	}
	panic(fmt.Sprintf("reference: cannot compare %c with %c", a.kind, b.kind))
}

// addDuration adds sign * d to t: fixed units exactly, months and years on
// the calendar, clamping to the month's last day (Mar 31 - 1 month = Feb 29).
func addDuration(t time.Time, d *ast.DurationLit, sign int) time.Time {
	n := 1.0
	if !d.Implicit && d.N != nil {
		n = d.N.Value
	}
	switch d.Unit {
	case ast.Month, ast.Year:
		months := int(n)
		if d.Unit == ast.Year {
			months = int(n * 12)
		}
		return addMonths(t, sign*months)
	}
	unit := map[ast.Unit]time.Duration{ast.Minute: time.Minute, ast.Hour: time.Hour, ast.Day: 24 * time.Hour, ast.Week: 7 * 24 * time.Hour}[d.Unit]
	return t.Add(time.Duration(float64(sign) * n * float64(unit)))
}

func addMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	total := y*12 + int(m) - 1 + months
	ny, nm := total/12, time.Month(total%12+1)
	if total%12 < 0 {
		ny, nm = total/12-1, time.Month(total%12+13)
	}
	last := time.Date(ny, nm+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if d > last {
		d = last
	}
	return time.Date(ny, nm, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
