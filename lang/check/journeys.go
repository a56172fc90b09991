package check

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"nudge/lang/ast"
)

// This file checks journeys (SPEC §8). A journey's `enter on` is checked
// as a trigger rule's condition, its `enter when` as a state rule's; its
// `exit when`, `wait until` and `if` conditions may use windowless event
// atoms (meaning "since the member entered"), also negated, and `matching
// FIELD` when the journey is entered on an event.
//
// Decisions the SPEC leaves open:
//   - Rules and journeys share one namespace; branch names are unique within
//     a journey (not only within one split), so a decision's `variant` names
//     one branch.
//   - `send winner` stands alone on its line (no `and`), inside a split
//     branch, and another branch of that split must send.
//   - A split needs at least two branches; each share is a whole or decimal
//     percentage above 0.
//   - `before` has no triggering event inside a journey's own conditions and
//     is an error there, as `not followed by` is (a wait until with a
//     timeout says it); both also through the segments those conditions
//     use.

// Codes of journey diagnostics.
const (
	CodeDuplicateJourney = "duplicate-journey" // a journey has the name of another journey or rule
	CodeJourneyEnter     = "journey-enter"     // a journey without exactly one `enter` line, or `enter on` without an event / `enter when` with one
	CodeJourneyExit      = "journey-exit"      // a journey with several `exit when` lines
	CodeJourneyEmpty     = "journey-empty"     // warning: a journey without steps
	CodeBadWait          = "bad-wait"          // a `wait` of zero or less, or `for at most` zero
	CodeWaitForever      = "wait-forever"      // warning: `wait until COND` without `for at most`
	CodeBadSplit         = "bad-split"         // split shares that do not sum to 100%, a share out of range, fewer than two branches
	CodeDuplicateBranch  = "duplicate-branch"  // two branches of a journey with one name
	CodeBadWinner        = "bad-winner"        // `send winner` outside a split branch, joined with other actions, or with no sibling branch that sends
	CodeBadMatching      = "bad-matching"      // `matching` outside a journey entered on an event
	CodeJourneyBefore    = "journey-before"    // a `before` window in a journey's exit, wait or if condition
	CodeJourneyFollowed  = "journey-followed"  // a `not followed by` atom in a journey's exit, wait or if condition
	CodeModuleJourney    = "module-journey"    // a module declares a journey
)

// Journey is the checked view of one journey.
type Journey struct {
	Decl *ast.JourneyDecl
	// Enter is the journey's entry line; On says it is `enter on` (entry per
	// event, TriggerAtoms hold its atoms as Rule.TriggerAtoms do).
	Enter        *ast.EnterClause
	TriggerAtoms []ast.Expr
	// Exit is the `exit when` line, nil when absent.
	Exit *ast.ExitClause
	// Options as for a rule (0 or nil when absent). Limit nil means the
	// default: once per member ever for `enter when`, no limit for `enter on`.
	Limit          *ast.LimitOption
	Priority       int
	HoldoutPercent float64
	StopAfter      int
	Convert        *ast.ConvertOption
	// The money and delivery options of SPEC §9, as for a rule.
	Budget        *Budget
	Expire        *ast.ExpireOption
	Transactional bool
	// ReadsTags says that a condition of the journey (its entry, exit, an
	// `if` or a `wait until`) tests a tag, through segments too
	// (strata.go): the runtime then applies the rules' tags of a tick
	// before the journeys run, so that the journey sees them.
	ReadsTags bool
}

// declareJourney records a journey's name in the namespace it shares with
// rules.
func (c *checker) declareJourney(d *ast.JourneyDecl, module bool) {
	if module {
		c.errorf(d, CodeModuleJourney, "a module may not declare journeys")
		return
	}
	if d.Name == nil {
		return
	}
	n := d.Name.Name
	if old, ok := c.journeyDecl[n]; ok {
		c.errorf(d.Name, CodeDuplicateJourney, "journey %q already declared at %s", n, where(old.Name.Span.Span, d.Name.Span.Span))
		return
	}
	if old, ok := c.ruleDecl[n]; ok {
		c.errorf(d.Name, CodeDuplicateJourney, "journey %q has the name of a rule (declared at %s); rules and journeys share one namespace", n, where(old.Name.Span.Span, d.Name.Span.Span))
		return
	}
	c.journeyDecl[n] = d
}

// ruleNameTaken reports a rule named like an earlier journey; it returns
// true when it did.
func (c *checker) ruleNameTaken(d *ast.RuleDecl) bool {
	old, ok := c.journeyDecl[d.Name.Name]
	if ok {
		c.errorf(d.Name, CodeDuplicateRule, "rule %q has the name of a journey (declared at %s); rules and journeys share one namespace", d.Name.Name, where(old.Name.Span.Span, d.Name.Span.Span))
	}
	return ok
}

// checkJourneys checks every journey of the user's files in source order.
func (c *checker) checkJourneys() {
	for _, f := range c.files {
		for _, d := range f.Decls {
			if j, ok := d.(*ast.JourneyDecl); ok && !c.isModule(f) {
				c.info.Journeys = append(c.info.Journeys, c.checkJourney(j))
			}
		}
	}
}

func (c *checker) checkJourney(d *ast.JourneyDecl) *Journey {
	j := &Journey{Decl: d}
	jn := name(d.Name)
	switch {
	case len(d.Enters) == 0:
		c.errorf(d.Name, CodeJourneyEnter, "journey %q has no entry: add `enter on EVENT` (one instance per event) or `enter when CONDITION` (members for whom it holds)", jn)
	case len(d.Enters) > 1:
		c.errorf(d.Enters[1], CodeJourneyEnter, "journey %q has more than one `enter` line (first at line %d); join the conditions with `or`", jn, d.Enters[0].Span.Start.Line)
	}
	if len(d.Enters) > 0 {
		j.Enter = d.Enters[0]
		c.enter(j, jn)
	}
	for i, e := range d.Exits {
		if i > 0 {
			c.errorf(e, CodeJourneyExit, "journey %q has more than one `exit when` line (first at line %d); join the conditions with `or`", jn, d.Exits[0].Span.Start.Line)
			continue
		}
		j.Exit = e
	}
	c.journeyScope = j
	for _, e := range d.Exits {
		c.inner(e.Cond)
	}

	// options, checked as a rule's: a stand-in rule holds the journey's
	// name, options and every action
	stand := &ast.RuleDecl{Span: d.Span, Name: d.Name, Options: d.Options}
	forSteps(d.Steps, func(s ast.Step) {
		if a, ok := s.(*ast.ActionStep); ok {
			stand.Actions = append(stand.Actions, a.Actions...)
		}
	})
	rr := &Rule{Decl: stand}
	c.options(stand, rr)
	c.journeyDelivery(j, stand, rr)
	j.Limit, j.Priority, j.HoldoutPercent, j.StopAfter, j.Convert = rr.Limit, rr.Priority, rr.HoldoutPercent, rr.StopAfter, rr.Convert
	j.Budget, j.Expire, j.Transactional = rr.Budget, rr.Expire, rr.Transactional

	if len(d.Steps) == 0 {
		c.warnf(d.Name, CodeJourneyEmpty, "journey %q has no steps: members enter and complete at once", jn)
	}
	steps := 0
	forSteps(d.Steps, func(s ast.Step) {
		if steps++; steps == MaxJourneySteps+1 {
			c.errorf(s, CodeTooLarge, "journey %q has more than %d steps (this is step %d, counting every action line, wait, if and split, nested ones too); a tick runs a journey's due steps one round each, so split it into several journeys", jn, MaxJourneySteps, steps)
		}
	})
	branches := map[string]*ast.Branch{}
	c.steps(d.Steps, nil, branches)
	c.journeyScope = nil
	return j
}

// enter checks the entry line.
func (c *checker) enter(j *Journey, jn string) {
	e := j.Enter
	if e.Cond == nil {
		return
	}
	c.cond(e.Cond, nil)
	rr := &Rule{}
	if c.oversize(e.Cond) {
		return // reported by the limits pass
	}
	t := &trigWalk{c: c, rule: rr, inlining: map[*ast.SegmentDecl]bool{}}
	t.cond(e.Cond, false)
	if c.hasErrorIn(e.Cond) {
		return
	}
	j.TriggerAtoms = rr.TriggerAtoms
	c.triggerAtomsLimit(rr.TriggerAtoms)
	switch {
	case e.On && len(rr.TriggerAtoms) == 0:
		c.errorf(e, CodeJourneyEnter, "`enter on` needs an event to enter on (a windowless event such as `order_placed`); for a condition on the member's state use `enter when`")
	case !e.On && len(rr.TriggerAtoms) > 0:
		c.errorf(rr.TriggerAtoms[0], CodeJourneyEnter, "`enter when` takes a condition on the member's state, but %s is an event to enter on: use `enter on`, or give it a window (e.g. `in last 1 day`)", describeAtom(rr.TriggerAtoms[0]))
	case !e.On:
		for _, b := range t.befores {
			c.errorf(b, CodeBeforeWithoutTrigger, "`before` means before the triggering event, but journey %q enters on a condition, not an event; use `ever` or `in last ...`", jn)
		}
	}
}

func describeAtom(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return fmt.Sprintf("%q", e.Name)
	case *ast.EventAtom:
		return fmt.Sprintf("%q", name(e.Ref.Event))
	case *ast.FollowedAtom:
		return fmt.Sprintf("%q not followed by %q", name(e.First.Event), name(e.Second.Event))
	}
	return "this"
}

// inner checks a condition inside a journey (exit, wait until, if).
func (c *checker) inner(e ast.Expr) {
	if e == nil {
		return
	}
	c.cond(e, nil)
	c.innerAtoms(e, "", map[*ast.SegmentDecl]bool{})
}

// innerAtoms reports the `before` windows and `not followed by` atoms of a
// journey condition, those of the segments it uses included (the compiler
// inlines them, and has no meaning for either inside a journey). via is
// where a segment's condition is used ("" for the journey's own).
func (c *checker) innerAtoms(e ast.Node, via string, inlining map[*ast.SegmentDecl]bool) {
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Window:
			if n.Kind == ast.Before {
				c.errorf(n, CodeJourneyBefore, "`before` has no triggering event inside a journey: an event without a window already means \"since the member entered\"; use `ever` or `in last ...`%s", via)
			}
		case *ast.FollowedAtom:
			c.errorf(n, CodeJourneyFollowed, "a `not followed by` condition cannot be used inside a journey: use `wait until ... for at most ...`%s", via)
		case *ast.Ident:
			if ref := c.info.Refs[n]; ref != nil && ref.Kind == RefSegment && ref.Segment != nil && !inlining[ref.Segment] && !c.oversize(ref.Segment.Cond) {
				inlining[ref.Segment] = true
				use := via // (a segment's segment: the journey's use names the outer one)
				if use == "" {
					use = fmt.Sprintf(" (segment %s is used in journey %q at line %d)", name(ref.Segment.Name), name(c.journeyScope.Decl.Name), n.Span.Start.Line)
				}
				c.innerAtoms(ref.Segment.Cond, use, inlining)
				delete(inlining, ref.Segment)
			}
		}
		return true
	})
}

// matching checks `EVENT matching FIELD` (called from eventAtom).
func (c *checker) matching(a *ast.EventAtom, et *EventType) {
	f := a.Matching
	j := c.journeyScope
	if j == nil || j.Enter == nil || !j.Enter.On {
		c.errorf(f, CodeBadMatching, "`matching %s` compares with the event the member entered on: it can only be used in a journey with `enter on EVENT`", f.Name)
		return
	}
	if et != nil {
		if _, ok := et.Fields[f.Name]; !ok {
			c.errorf(f, CodeUnknownField, "event type %q has no field %q%s", et.Name, f.Name, didYouMean(f.Name, keys(et.Fields)))
			return
		}
	}
	for _, atom := range j.TriggerAtoms {
		var ref *ast.EventRef
		switch x := atom.(type) {
		case *ast.EventAtom:
			ref = x.Ref
		case *ast.FollowedAtom:
			ref = x.First
		}
		n := ""
		if ref != nil {
			n = name(ref.Event)
		} else if id, ok := atom.(*ast.Ident); ok {
			n = id.Name
		}
		if entering := c.info.Events[n]; entering != nil {
			if _, ok := entering.Fields[f.Name]; !ok {
				c.errorf(f, CodeUnknownField, "journey %q enters on %q, which has no field %q%s", name(j.Decl.Name), n, f.Name, didYouMean(f.Name, keys(entering.Fields)))
				return
			}
		}
	}
}

// forSteps calls f on every step, depth first in source order.
func forSteps(ss []ast.Step, f func(ast.Step)) {
	for _, s := range ss {
		if s == nil {
			continue
		}
		f(s)
		switch s := s.(type) {
		case *ast.IfStep:
			forSteps(s.Then, f)
			forSteps(s.Else, f)
		case *ast.SplitStep:
			for _, b := range s.Branches {
				if b != nil {
					forSteps(b.Steps, f)
				}
			}
		}
	}
}

// steps checks a list of steps; split is the split whose branch holds them
// (nil outside splits), branches the branch names seen in the journey.
func (c *checker) steps(ss []ast.Step, split *ast.SplitStep, branches map[string]*ast.Branch) {
	for _, s := range ss {
		switch s := s.(type) {
		case *ast.ActionStep:
			for _, a := range s.Actions {
				if a == nil {
					continue
				}
				if a.Winner {
					c.winner(a, s, split)
					continue
				}
				c.action(a)
			}
		case *ast.WaitStep:
			c.waitDuration(s.Dur, "wait")
		case *ast.WaitUntilStep:
			switch {
			case s.At != nil:
				c.expr(s.At, nil)
			case s.Cond != nil:
				c.inner(s.Cond)
				if s.AtMost == nil {
					c.warnf(s, CodeWaitForever, "`wait until` without `for at most DURATION` may wait for ever, and the member cannot re-enter meanwhile; add e.g. `for at most 7 days`")
				} else {
					c.waitDuration(s.AtMost, "for at most")
				}
			}
		case *ast.IfStep:
			c.inner(s.Cond)
			c.steps(s.Then, split, branches)
			c.steps(s.Else, split, branches)
		case *ast.SplitStep:
			c.split(s, branches)
		}
	}
}

// waitDuration checks the duration of `wait D` or `for at most D`.
func (c *checker) waitDuration(d *ast.DurationLit, what string) {
	if d == nil || c.expr(d, nil) != Duration || d.N == nil {
		return
	}
	if d.N.Value <= 0 {
		c.errorf(d, CodeBadWait, "`%s %s %ss` does not wait; use a positive duration or drop the step", what, d.N.Text, d.Unit)
	}
}

// split checks a split's branches.
func (c *checker) split(s *ast.SplitStep, branches map[string]*ast.Branch) {
	if len(s.Branches) < 2 {
		c.errorf(s, CodeBadSplit, "a split needs at least two branches (`50%% a` ... `50%% b` ...)")
	}
	sum, ok := 0.0, true
	for _, b := range s.Branches {
		if b == nil || b.Percent == nil {
			ok = false
			continue
		}
		c.set(b.Percent, Number)
		if b.Percent.Value <= 0 || b.Percent.Value > 100 {
			c.errorf(b.Percent, CodeBadSplit, "a branch's share must be above 0%% and at most 100%%, not %s%%", b.Percent.Text)
			ok = false
		}
		sum += b.Percent.Value
		if b.Name != nil {
			if prev, dup := branches[b.Name.Name]; dup {
				c.errorf(b.Name, CodeDuplicateBranch, "branch %q already named at line %d; branch names are unique within a journey", b.Name.Name, prev.Name.Span.Start.Line)
			} else {
				branches[b.Name.Name] = b
			}
		}
	}
	if ok && len(s.Branches) > 0 {
		// The shares add up as written (exact decimals), so that the sum
		// printed is the sum compared: 50% + 49.99999999% make
		// 99.99999999%, not a rounded 100%.
		total, exactOK := new(big.Rat), true
		for _, b := range s.Branches {
			if r := exact(b.Percent); r != nil {
				total.Add(total, r)
			} else {
				exactOK = false
			}
		}
		bad, made := math.Abs(sum-100) > 1e-9, trimFloat(sum)
		if exactOK {
			bad, made = total.Cmp(big.NewRat(100, 1)) != 0, decimal(total)
		}
		if bad {
			shares := make([]string, 0, len(s.Branches))
			for _, b := range s.Branches {
				shares = append(shares, b.Percent.Text+"%")
			}
			c.errorf(s, CodeBadSplit, "the branches of a split must add up to exactly 100%%, but %s make %s%%", strings.Join(shares, " + "), made)
		}
	}
	for _, b := range s.Branches {
		if b != nil {
			c.steps(b.Steps, s, branches)
		}
	}
}

func trimFloat(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.6f", f), "0"), ".")
}

// winner checks `send winner` in step s.
func (c *checker) winner(a *ast.Action, s *ast.ActionStep, split *ast.SplitStep) {
	if split == nil {
		c.errorf(a, CodeBadWinner, "`send winner` sends what the best branch of a split sent: it can only be a step of a split branch")
		return
	}
	if len(s.Actions) > 1 {
		c.errorf(a, CodeBadWinner, "`send winner` stands alone on its line; put the other actions on a line of their own")
		return
	}
	own := branchOf(split, s)
	var senders []string
	for _, b := range split.Branches {
		if b == nil || b == own {
			continue
		}
		if firstSend(b.Steps) != nil {
			senders = append(senders, b.Name.Name)
		}
	}
	if len(senders) == 0 {
		c.errorf(a, CodeBadWinner, "`send winner` sends what another branch of this split sends, but no other branch has a send step")
	}
}

// branchOf returns the branch of split holding step s (at any depth).
func branchOf(split *ast.SplitStep, s ast.Step) *ast.Branch {
	for _, b := range split.Branches {
		found := false
		if b != nil {
			forSteps(b.Steps, func(x ast.Step) { found = found || x == s })
		}
		if found {
			return b
		}
	}
	return nil
}

// FirstSend returns the first send action of steps (depth first, `send
// winner` excluded), or nil: what `send winner` sends for a branch.
func FirstSend(ss []ast.Step) *ast.Action { return firstSend(ss) }

func firstSend(ss []ast.Step) *ast.Action {
	var out *ast.Action
	forSteps(ss, func(s ast.Step) {
		if a, ok := s.(*ast.ActionStep); ok && out == nil {
			for _, x := range a.Actions {
				if x != nil && x.Kind == ast.Send && !x.Winner && out == nil {
					out = x
				}
			}
		}
	})
	return out
}

// journeyDelivery checks the delivery policies of a journey's stand-in
// rule (SPEC §9: `expire after`, `transactional`, fallback channels, `with`
// parameters) as a rule's; a parameter may read a field of the entering
// event when the journey is entered on one.
func (c *checker) journeyDelivery(j *Journey, stand *ast.RuleDecl, rr *Rule) {
	rr.Trigger = j.Enter != nil && j.Enter.On
	rr.TriggerAtoms = j.TriggerAtoms
	c.delivery(stand, rr)
	rr.Trigger, rr.TriggerAtoms = false, nil
}
