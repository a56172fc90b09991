package check

import (
	"fmt"
	"sort"
	"strings"

	"nudge/lang/ast"
)

// checkRules checks every rule of the user's files in source order.
func (c *checker) checkRules() {
	for _, f := range c.files {
		for _, d := range f.Decls {
			r, ok := d.(*ast.RuleDecl)
			if !ok {
				continue
			}
			if rr := c.checkRule(r); rr != nil {
				c.info.Rules = append(c.info.Rules, rr)
			}
		}
	}
}

// checkRule checks one rule: condition, trigger classification, actions and
// options.
func (c *checker) checkRule(r *ast.RuleDecl) *Rule {
	rr := &Rule{Decl: r}
	if r.Cond != nil {
		c.cond(r.Cond, nil)
		t := &trigWalk{c: c, rule: rr, inlining: map[*ast.SegmentDecl]bool{}}
		if !c.oversize(r.Cond) {
			t.cond(r.Cond, false)
		}
		rr.Trigger = len(rr.TriggerAtoms) > 0
		c.triggerAtomsLimit(rr.TriggerAtoms)
		if !rr.Trigger {
			for _, b := range t.befores {
				c.errorf(b, CodeBeforeWithoutTrigger, "`before` means before the triggering event, but rule %q has no trigger event (a windowless event such as `purchased`); use `ever` or `in last ...`", name(r.Name))
			}
		}
	}
	for _, a := range r.Actions {
		c.action(a)
	}
	c.tagAndUntag(r)
	c.options(r, rr)
	c.delivery(r, rr)
	return rr
}

// tagAndUntag warns about a rule that tags and untags the same tag: both
// happen in one firing, where the untag wins (runtime), so the tag is
// never set.
func (c *checker) tagAndUntag(r *ast.RuleDecl) {
	tagged := map[string]bool{}
	for _, a := range r.Actions {
		if a != nil && a.Kind == ast.Tag && a.Value != nil {
			tagged[a.Value.Value] = true
		}
	}
	warned := map[string]bool{}
	for _, a := range r.Actions {
		if a == nil || a.Kind != ast.Untag || a.Value == nil || !tagged[a.Value.Value] || warned[a.Value.Value] {
			continue
		}
		warned[a.Value.Value] = true
		c.warnf(a, CodeTagAndUntag, "rule %q tags and untags %q in the same firing: the untag wins, so the tag is never set", name(r.Name), a.Value.Value)
	}
}

// action checks one action of a rule.
func (c *checker) action(a *ast.Action) {
	if a == nil {
		return
	}
	if a.Winner {
		c.errorf(a, CodeBadWinner, "`send winner` sends what the best branch of a journey's split sent: it can only be a step of a split branch")
		return
	}
	if a.Value != nil {
		c.set(a.Value, Text)
		if strings.TrimSpace(a.Value.Value) == "" {
			what := map[ast.ActionKind]string{ast.Send: "content id", ast.Tag: "tag name", ast.Untag: "tag name", ast.Notify: "sink name"}[a.Kind]
			c.errorf(a.Value, CodeEmptyValue, "%s must not be empty", what)
		}
	}
	if a.Kind == ast.Send && a.Channel != nil {
		c.checkChannel(a.Channel, "send via")
	}
}

// checkChannel warns about a channel that is not known.
func (c *checker) checkChannel(ch *ast.Ident, what string) {
	if len(c.channels) == 0 || c.channels[ch.Name] {
		return
	}
	c.warnf(ch, CodeUnknownChannel, "%s unknown channel %q%s (known: %s)", what, ch.Name, didYouMean(ch.Name, keys(c.channels)), strings.Join(c.env.Channels, ", "))
}

// options checks a rule's options and fills the Rule's option fields.
func (c *checker) options(r *ast.RuleDecl, rr *Rule) {
	seen := map[string]ast.Option{}
	once := func(o ast.Option, kind string) {
		if prev, ok := seen[kind]; ok {
			c.errorf(o, CodeDuplicateOption, "%s given twice in %s %q; first at line %d", kind, c.declKind(), name(r.Name), prev.Pos().Start.Line)
		} else {
			seen[kind] = o
		}
	}
	for _, o := range r.Options {
		switch o := o.(type) {
		case *ast.LimitOption:
			once(o, "limit")
			if rr.Limit == nil {
				rr.Limit = o
			}
			if o.Every != nil && c.expr(o.Every, nil) == Duration && o.Every.N != nil && o.Every.N.Value == 0 {
				c.errorf(o.Every, CodeBadDuration, "`limit once per member every 0 %ss` means no limit; drop `every` or use a positive duration", o.Every.Unit)
			}
		case *ast.PriorityOption:
			once(o, "priority")
			if o.Value == nil {
				continue
			}
			c.set(o.Value, Number)
			if !isInt(o.Value) || o.Value.Value > 1e9 || o.Value.Value < -1e9 {
				c.errorf(o.Value, CodeBadPriority, "priority must be a whole number from -1000000000 to 1000000000, not %s", o.Value.Text)
				continue
			}
			rr.Priority = int(o.Value.Value)
		case *ast.HoldoutOption:
			once(o, "holdout")
			if o.Percent == nil {
				continue
			}
			c.set(o.Percent, Number)
			if o.Percent.Value < 0 || o.Percent.Value > 100 {
				c.errorf(o.Percent, CodeBadHoldout, "holdout must be between 0%% and 100%%, not %s%%%s", o.Percent.Text, readAs(o.Percent))
				continue
			}
			rr.HoldoutPercent = o.Percent.Value
			if o.Percent.Value == 100 && hasSend(r) {
				c.warnf(o.Percent, CodeFullHoldout, "holdout %s%%%s holds every member out: %s %q will never send anything", o.Percent.Text, readAs(o.Percent), c.declKind(), name(r.Name))
			}
		case *ast.StopAfterOption:
			once(o, "stop after")
			if o.Count == nil {
				continue
			}
			c.set(o.Count, Number)
			if !isInt(o.Count) || o.Count.Value < 1 || o.Count.Value > 1e9 {
				c.errorf(o.Count, CodeBadStopAfter, "`stop after N unanswered` needs a whole number of at least 1, not %s", o.Count.Text)
				continue
			}
			rr.StopAfter = int(o.Count.Value)
		case *ast.ConvertOption:
			once(o, "convert")
			c.convertOption(rr, o)
		case *ast.BudgetOption:
			once(o, "budget")
			c.budgetOption(rr, o)
		}
	}
}

// declKind names, in messages, the declaration whose options and actions
// are being checked: "journey" for a journey's stand-in rule (journeys.go
// checks them as a rule's), else "rule".
func (c *checker) declKind() string {
	if c.journeyScope != nil {
		return "journey"
	}
	return "rule"
}

// hasSend reports whether a rule has a send action.
func hasSend(r *ast.RuleDecl) bool {
	for _, a := range r.Actions {
		if a != nil && a.Kind == ast.Send {
			return true
		}
	}
	return false
}

// checkPolicies checks caps and quiet hours of the user's files.
func (c *checker) checkPolicies() {
	costs := map[string]*ast.CostDecl{}
	for _, f := range c.all {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.CapDecl:
				if cp := c.capDecl(d); cp != nil {
					c.info.Caps = append(c.info.Caps, cp)
				}
			case *ast.QuietDecl:
				if q := c.quietDecl(d); q != nil {
					c.info.Quiet = append(c.info.Quiet, q)
				}
			case *ast.CostDecl:
				c.costDecl(d, costs)
			case *ast.StockDecl:
				c.stockDecl(d)
			case *ast.GlobalHoldoutDecl:
				c.globalHoldoutDecl(d)
			}
		}
	}
	c.checkQuietCoverage()
	c.checkBudgets()
}

func (c *checker) capDecl(d *ast.CapDecl) *Cap {
	cp := &Cap{Decl: d}
	ok := true
	if d.Channel != nil {
		cp.Channel = d.Channel.Name
		c.checkChannel(d.Channel, "cap on")
	}
	if d.Count != nil {
		c.set(d.Count, Number)
		if !isInt(d.Count) || d.Count.Value < 0 || d.Count.Value > 1e9 {
			c.errorf(d.Count, CodeBadCap, "a cap must be a whole number of sends from 0 to 1000000000, not %s", d.Count.Text)
			ok = false
		} else {
			cp.Count = int(d.Count.Value)
		}
	}
	if d.Per != nil {
		if c.expr(d.Per, nil) != Duration {
			ok = false
		} else if d.Per.N != nil {
			// c.expr bounded the duration (MaxDurationYears); only zero
			// is left to refuse.
			if d.Per.N.Value <= 0 {
				c.errorf(d.Per, CodeBadCap, "a cap period must be positive")
				ok = false
			} else {
				cp.Minutes = int64(d.Per.N.Value) * unitMinutes(int(d.Per.Unit))
			}
		} else {
			cp.Minutes = unitMinutes(int(d.Per.Unit))
		}
	}
	if !ok {
		return nil
	}
	return cp
}

func (c *checker) quietDecl(d *ast.QuietDecl) *Quiet {
	ok := true
	for _, cl := range []*ast.ClockLit{d.From, d.To} {
		if cl == nil {
			ok = false
			continue
		}
		if cl.Hour < 0 || cl.Hour > 23 || cl.Minute < 0 || cl.Minute > 59 {
			c.errorf(cl, CodeBadClock, "invalid time of day %02d:%02d: hours are 00-23 and minutes 00-59", cl.Hour, cl.Minute)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	q := &Quiet{Decl: d, From: d.From.Hour*60 + d.From.Minute, To: d.To.Hour*60 + d.To.Minute}
	if d.Channel != nil {
		q.Channel = d.Channel.Name
		c.checkChannel(d.Channel, "quiet hours for")
	}
	if q.From == q.To {
		c.warnf(d, CodeEmptyQuietHours, "quiet hours from %02d:%02d to %02d:%02d are empty", d.From.Hour, d.From.Minute, d.To.Hour, d.To.Minute)
	}
	return q
}

// trigWalk classifies a condition's trigger atoms (SPEC §5), inlining
// segments, and reports trigger problems: negated triggers, triggers that can
// never fire together, `or` mixing trigger and state branches, and triggers
// nested in filters. It also collects `before` windows.
type trigWalk struct {
	c        *checker
	rule     *Rule // nil when analysing a segment on its own
	inlining map[*ast.SegmentDecl]bool
	befores  []ast.Node
}

// trig is the set of trigger keys a sub-condition can fire on; nil means the
// sub-condition has no trigger atom.
type trig map[string]bool

// cond walks a condition in logical position and returns its trigger keys.
func (t *trigWalk) cond(e ast.Expr, negated bool) trig {
	switch e := e.(type) {
	case nil:
		return nil
	case *ast.ParenExpr:
		return t.cond(e.X, negated)
	case *ast.NotExpr:
		return t.cond(e.X, true)
	case *ast.BinaryExpr:
		if e.Op != ast.And && e.Op != ast.Or {
			t.value(e)
			return nil
		}
		x := t.cond(e.X, negated)
		y := t.cond(e.Y, negated)
		if e.Op == ast.Or {
			if (x == nil) != (y == nil) && !negated {
				state := e.Y
				if x == nil {
					state = e.X
				}
				if t.c.hasErrorIn(state) {
					return union(x, y)
				}
				t.c.errorf(state, CodeMixedTrigger, "`or` mixes a trigger event with a state condition: this side has no windowless event, so the rule could not say which event fired it; give the other side's event a window (e.g. `in last 1 day`) or split the rule")
				return nil
			}
			return union(x, y)
		}
		if x == nil {
			return y
		}
		if y == nil {
			return x
		}
		both := intersect(x, y)
		if len(both) == 0 {
			t.c.errorf(opNode(e), CodeNeverFires, "this rule can never fire: %s and %s are different trigger events joined by `and`, and one event cannot be both; use `or`, or give one a window (e.g. `%s in last 7 days`)",
				describe(x), describe(y), firstKey(y))
			return nil
		}
		return both
	case *ast.Ident:
		ref := t.c.info.Refs[e]
		if ref == nil {
			return nil
		}
		switch ref.Kind {
		case RefSegment:
			return t.segment(ref.Segment, negated)
		case RefEvent:
			return t.atom(e, name(e), negated)
		}
		return nil
	case *ast.EventAtom:
		if e.Ref != nil && e.Ref.Event != nil {
			if ref := t.c.info.Refs[e.Ref.Event]; ref != nil && ref.Kind == RefSegment {
				return t.segment(ref.Segment, negated)
			}
		}
		t.filters(e.Ref)
		if e.Window != nil && e.Window.Kind == ast.Before {
			t.befores = append(t.befores, e.Window)
		}
		if !e.IsTrigger() || e.Ref == nil || t.c.info.Types[e] == Invalid {
			return nil
		}
		return t.atom(e, name(e.Ref.Event), negated)
	case *ast.FollowedAtom:
		t.filters(e.First)
		t.filters(e.Second)
		if e.First == nil || e.Second == nil || t.c.info.Types[e] == Invalid {
			return nil
		}
		if negated {
			t.c.errorf(e, CodeNegatedTrigger, "a `not followed by` condition cannot be negated: it is a trigger, and its negation has no event to fire on")
			return nil
		}
		return t.atom(e, name(e.First.Event)+" not followed by "+name(e.Second.Event), false)
	default:
		t.value(e)
		return nil
	}
}

// atom records a trigger atom.
func (t *trigWalk) atom(e ast.Expr, key string, negated bool) trig {
	if negated {
		t.c.errorf(e, CodeNegatedTrigger, "a trigger event cannot be negated: `not %s` has no event to fire on; to test absence give it a window, e.g. `not %s in last 7 days`", key, key)
		return nil
	}
	if t.rule != nil {
		t.rule.TriggerAtoms = append(t.rule.TriggerAtoms, e)
	}
	return trig{key: true}
}

// segment inlines a segment's condition.
func (t *trigWalk) segment(s *ast.SegmentDecl, negated bool) trig {
	if s == nil || t.inlining[s] || t.c.oversize(s.Cond) {
		return nil // a cycle, reported by the type checker; too large, by the limits pass
	}
	t.inlining[s] = true
	defer delete(t.inlining, s)
	return t.cond(s.Cond, negated)
}

// filters walks the where conditions of an event reference as values.
func (t *trigWalk) filters(r *ast.EventRef) {
	if r == nil {
		return
	}
	for _, f := range r.Filters {
		if w, ok := f.(*ast.WhereFilter); ok {
			t.value(w.Cond)
		}
	}
}

// value walks an expression that is not in logical position: `before`
// windows are collected, segments inlined, and windowless event atoms are
// errors (a trigger must be a condition of the rule itself).
func (t *trigWalk) value(e ast.Node) {
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Window:
			if n.Kind == ast.Before {
				t.befores = append(t.befores, n)
			}
		case *ast.Ident:
			if ref := t.c.info.Refs[n]; ref != nil && ref.Kind == RefSegment && !t.inlining[ref.Segment] {
				t.nestedSegment(ref.Segment)
			}
		case *ast.EventAtom:
			if n.Ref != nil && n.Ref.Event != nil {
				if ref := t.c.info.Refs[n.Ref.Event]; ref != nil && ref.Kind == RefSegment {
					if !t.inlining[ref.Segment] {
						t.nestedSegment(ref.Segment)
					}
					return false
				}
			}
			if n.IsTrigger() && t.c.info.Types[n] == Bool {
				t.c.errorf(n, CodeNestedTrigger, "a windowless event inside a filter or function has no meaning here; give it a window, e.g. `%s in last 7 days`", name(n.Ref.Event))
			}
		case *ast.FollowedAtom:
			if t.c.info.Types[n] == Bool {
				t.c.errorf(n, CodeNestedTrigger, "`not followed by` cannot appear inside a filter or function")
			}
		}
		return true
	})
}

// nestedSegment walks a segment referenced in value position.
func (t *trigWalk) nestedSegment(s *ast.SegmentDecl) {
	if t.c.oversize(s.Cond) {
		return // reported by the limits pass
	}
	t.inlining[s] = true
	defer delete(t.inlining, s)
	t.value(s.Cond)
}

func union(a, b trig) trig {
	if a == nil && b == nil {
		return nil
	}
	out := trig{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func intersect(a, b trig) trig {
	out := trig{}
	for k := range a {
		if b[k] {
			out[k] = true
		}
	}
	return out
}

// describe renders a trigger set for messages: "queued" or "queued/booked".
func describe(s trig) string {
	ks := keys(s)
	sort.Strings(ks)
	for i, k := range ks {
		ks[i] = fmt.Sprintf("%q", k)
	}
	return strings.Join(ks, "/")
}

func firstKey(s trig) string {
	ks := keys(s)
	sort.Strings(ks)
	if len(ks) == 0 {
		return ""
	}
	return strings.Split(ks[0], " ")[0]
}
