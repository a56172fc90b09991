package compiler

import (
	"fmt"
	"time"

	"nudge/internal/tickform"
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
)

// This file compiles journeys (SPEC §8). A journey becomes an entry rule
// (Journey.Enter: a trigger rule for `enter on`, a state rule for `enter
// when`, compiled as rules are) and a flat list of nodes that a program
// counter walks: an instance's current node and its due time live in the
// runtime's journey_instances table.
//
// The conditions of a journey (exit, if, wait until) are SQL predicates
// over a row ji, holding the instance's member_id, entered_at, entry_seq
// and the instant the condition is evaluated at in its column due_at, and
// the member's row m (members). Inside them an event atom without a window
// means such an event in (ji.entered_at, ji.due_at], and `matching F`
// compares F with the entering event's (events.seq = ji.entry_seq).

// StepKind is what a journey node does.
type StepKind int

// Step kinds.
const (
	StepActions   StepKind = iota // the node's actions, then the next node
	StepWait                      // due time += Wait
	StepWaitAt                    // due time = greatest(due time, At)
	StepWaitUntil                 // the earliest instant in (due, due+Wait] at which Cond holds, else due+Wait
	StepIf                        // Cond at the due time: next node, else Target
	StepJump                      // go to Target
	StepSplit                     // the branch of the instance's variant
	StepWinner                    // send winner
	StepEnd                       // complete
)

// StepNode is one node of a compiled journey.
type StepNode struct {
	Kind    StepKind
	Line    int // source line of the step (0 for jumps and the end)
	Actions []Action
	Wait    time.Duration
	At      time.Time
	// Cond is a predicate over tickform.JourneyRow and m; Events are the event
	// types it reads (the candidate instants of StepWaitUntil).
	Cond   string
	Events []string
	Target int
	// Split: the split's ordinal among the journey's splits and its
	// branches in source order.
	Ordinal  int
	Branches []Branch
	// Params is the SQL of the JSON object of the step's `with`
	// parameters, over tickform.JourneyRow and m ("" without parameters); Winners,
	// for `send winner`, what each other branch of its split would send
	// (journeysend.go).
	Params  string
	Winners []WinnerOption
}

// Branch is one branch of a split: its share in percent, name and first node.
type Branch struct {
	Name    string
	Percent float64
	Start   int
}

// Journey is one compiled journey.
type Journey struct {
	Name  string
	Title string
	File  string
	Line  int
	// Enter is the entry: its SQL gives the members (and, for `enter on`,
	// the entering events' seq and time) that enter.
	Enter   *Rule
	EnterOn bool
	// Limit is the re-entry limit: nil means none (`enter on` without
	// `limit`); Every 0 means once ever (`enter when` without `limit`).
	Limit    *Limit
	Priority int
	Holdout  float64
	// StopAfter is `stop after N unanswered` (0: never give up): an
	// instance about to send after N of its sends in a row went
	// unanswered ends with a gave_up exit.
	StopAfter int
	// Exit is the `exit when` predicate ("" without one) and ExitEvents
	// the event types it reads: the candidate instants of an exit.
	Exit       string
	ExitEvents []string
	Nodes      []StepNode
	// Convert is the journey's conversion (`convert on`, or the default),
	// which ranks the branches of a split for `send winner`.
	Convert *Conversion
	// Budget and Delivery are the journey's `budget`, `expire after` and
	// `transactional` options (SPEC §9), as a rule's.
	Budget *Budget
	Delivery
	// ReadsTags says that a condition of the journey tests a tag
	// (check.Journey.ReadsTags).
	ReadsTags bool
}

// compileJourneys compiles the program's journeys into p.Journeys.
func compileJourneys(info *check.Info, p *Program, diags *diag.List) {
	for k, j := range info.Journeys {
		if out := compileJourney(info, j, k, diags); out != nil {
			p.Journeys = append(p.Journeys, out)
		}
	}
}

// journeyWatermarks names the watermark parameters of the k-th journey's
// entry.
func journeyWatermarks(k int) Watermarks {
	return Watermarks{Seq: fmt.Sprintf("jwm_seq_%d", k), Now: fmt.Sprintf("jwm_now_%d", k)}
}

func compileJourney(info *check.Info, j *check.Journey, k int, diags *diag.List) *Journey {
	d := j.Decl
	if d.Name == nil || j.Enter == nil || j.Enter.Cond == nil {
		return nil
	}
	before := len(*diags)
	out := &Journey{Name: d.Name.Name, File: d.Span.File, Line: d.Span.Start.Line, EnterOn: j.Enter.On,
		Priority: j.Priority, Holdout: j.HoldoutPercent, StopAfter: j.StopAfter, ReadsTags: j.ReadsTags}
	if d.Title != nil {
		out.Title = d.Title.Value
	}
	rc := newRuleCompiler(info, diags)
	if j.Budget != nil {
		out.Budget = &Budget{Amount: j.Budget.Amount, Per: j.Budget.Per}
	}
	if j.Expire != nil && j.Expire.After != nil {
		out.Expire = rc.durationOf(j.Expire.After)
	}
	out.Transactional = j.Transactional
	entry := &check.Rule{
		Decl:         &ast.RuleDecl{Span: d.Span, Name: d.Name, Cond: j.Enter.Cond},
		Trigger:      j.Enter.On,
		TriggerAtoms: j.TriggerAtoms,
	}
	out.Enter = compileRule(info, entry, journeyWatermarks(k), tickform.JourneyScope, diags)
	switch {
	case j.Limit != nil:
		out.Limit = &Limit{}
		if j.Limit.Every != nil {
			out.Limit.Every = rc.durationOf(j.Limit.Every)
		}
	case !j.Enter.On:
		out.Limit = &Limit{}
	}
	jc := &journeyCompiler{info: info, diags: diags, j: j}
	if j.Exit != nil && j.Exit.Cond != nil {
		out.Exit, out.ExitEvents = jc.cond(j.Exit.Cond)
	}
	out.Convert = jc.conversion()
	jc.steps(d.Steps)
	jc.emit(StepNode{Kind: StepEnd})
	out.Nodes = jc.nodes
	for _, dg := range (*diags)[before:] {
		if dg.Severity == diag.Error {
			return nil
		}
	}
	if out.Enter == nil {
		return nil
	}
	return out
}

// journeyCompiler flattens a journey's steps into nodes.
type journeyCompiler struct {
	info   *check.Info
	diags  *diag.List
	j      *check.Journey
	nodes  []StepNode
	splits int
	// split is the split branch whose steps are being flattened (nil
	// outside splits).
	split *journeySplit
}

func (jc *journeyCompiler) emit(n StepNode) int {
	jc.nodes = append(jc.nodes, n)
	return len(jc.nodes) - 1
}

// cond compiles a condition inside the journey.
func (jc *journeyCompiler) cond(e ast.Expr) (string, []string) {
	rc := newRuleCompiler(jc.info, jc.diags)
	rc.journey = jc.j
	s := &scope{member: "m", memberID: tickform.JourneyRow + ".member_id", cand: tickform.JourneyRow}
	return rc.cond(e, s), rc.eventTypes(e)
}

func (jc *journeyCompiler) steps(ss []ast.Step) {
	rc := newRuleCompiler(jc.info, jc.diags)
	for _, s := range ss {
		line := s.Pos().Start.Line
		switch s := s.(type) {
		case *ast.ActionStep:
			if len(s.Actions) == 1 && s.Actions[0].Winner {
				jc.emit(jc.winnerNode(line))
				continue
			}
			n := StepNode{Kind: StepActions, Line: line, Params: jc.params(s.Actions)}
			for _, a := range s.Actions {
				n.Actions = append(n.Actions, actionOf(a))
			}
			jc.emit(n)
		case *ast.WaitStep:
			jc.emit(StepNode{Kind: StepWait, Line: line, Wait: rc.durationOf(s.Dur)})
		case *ast.WaitUntilStep:
			if s.At != nil {
				at, _ := s.At.Time() // the checker refused one that does not exist
				jc.emit(StepNode{Kind: StepWaitAt, Line: line, At: at})
				continue
			}
			n := StepNode{Kind: StepWaitUntil, Line: line}
			n.Cond, n.Events = jc.cond(s.Cond)
			if s.AtMost != nil {
				n.Wait = rc.durationOf(s.AtMost)
			}
			jc.emit(n)
		case *ast.IfStep:
			n := StepNode{Kind: StepIf, Line: line}
			n.Cond, n.Events = jc.cond(s.Cond)
			i := jc.emit(n)
			jc.steps(s.Then)
			if s.ElseAt != nil {
				skip := jc.emit(StepNode{Kind: StepJump})
				jc.nodes[i].Target = len(jc.nodes)
				jc.steps(s.Else)
				jc.nodes[skip].Target = len(jc.nodes)
			} else {
				jc.nodes[i].Target = len(jc.nodes)
			}
		case *ast.SplitStep:
			i := jc.emit(StepNode{Kind: StepSplit, Line: line, Ordinal: jc.splits})
			jc.splits++
			var jumps []int
			outer := jc.split
			for _, b := range s.Branches {
				jc.nodes[i].Branches = append(jc.nodes[i].Branches, Branch{Name: b.Name.Name, Percent: b.Percent.Value, Start: len(jc.nodes)})
				jc.split = &journeySplit{split: s, branch: b}
				jc.steps(b.Steps)
				jumps = append(jumps, jc.emit(StepNode{Kind: StepJump}))
			}
			jc.split = outer
			for _, k := range jumps {
				jc.nodes[k].Target = len(jc.nodes)
			}
		}
	}
}

// actionOf is the compiled form of an action.
func actionOf(a *ast.Action) Action {
	act := Action{Verb: a.Kind.String()}
	if a.SendKind != nil {
		act.Kind = a.SendKind.Name
	}
	if a.Value != nil {
		act.Content = a.Value.Value
	}
	if a.Channel != nil {
		act.Channel = a.Channel.Name
	}
	for _, e := range a.Else {
		if e != nil {
			act.Else = append(act.Else, e.Name)
		}
	}
	return act
}

// journeyAtom compiles, inside a journey, an event atom without a window
// (since the member entered, up to the instant) and ok; ok is false for
// any other expression.
func (rc *ruleCompiler) journeyAtom(e ast.Expr, s *scope) (sql string, ok bool) {
	var ref *ast.EventRef
	var matching *ast.Ident
	switch x := e.(type) {
	case *ast.EventAtom:
		if !x.IsTrigger() || rc.atomSegment(x) != nil {
			return "", false
		}
		ref, matching = x.Ref, x.Matching
	case *ast.Ident:
		if !rc.isBareEvent(x) {
			return "", false
		}
		ref = &ast.EventRef{Span: x.Span, Event: x}
	case *ast.FollowedAtom:
		rc.errorf(x, "a `not followed by` condition cannot be used inside a journey: use `wait until ... for at most ...`")
		return sqlFalse, true
	default:
		return "", false
	}
	et := rc.eventType(ref)
	if et == nil {
		return sqlFalse, true
	}
	a := rc.newAlias()
	q := rc.correlated("1", a, et, ref, nil, s)
	q += "\n  AND " + a + ".ts > " + tickform.JourneyRow + ".entered_at"
	if matching != nil {
		mine, _ := rc.eventField(matching, a, et)
		entering := rc.enteringType()
		theirs, _ := rc.eventField(matching, "q", entering)
		q += "\n  AND " + mine + " = (SELECT " + theirs + " FROM " + rc.eventsTable + " q WHERE q.seq = " + tickform.JourneyRow + ".entry_seq)"
	}
	return "EXISTS (\n  " + indent(q, "  ") + "\n)", true
}

// enteringType is the event type of the journey's first entry atom.
func (rc *ruleCompiler) enteringType() *check.EventType {
	for _, a := range rc.journey.TriggerAtoms {
		var n string
		switch x := a.(type) {
		case *ast.EventAtom:
			n = x.Ref.Event.Name
		case *ast.Ident:
			n = x.Name
		case *ast.FollowedAtom:
			n = x.First.Event.Name
		}
		if et := rc.info.Events[n]; et != nil {
			return et
		}
	}
	return nil
}
