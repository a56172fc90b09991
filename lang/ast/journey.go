package ast

// This file holds the nodes of journeys (SPEC §8): a `journey` declaration
// carries a member through steps over days. Its conditions, actions and
// options are the rule nodes of ast.go.

// JourneyDecl is `journey NAME ["Title"] {header} {step} end`. The parser
// keeps every header line it reads; lang/check reports a journey without
// exactly one `enter` line or with several `exit when` lines.
type JourneyDecl struct {
	Span
	Name    *Ident
	Title   *StringLit // optional
	Enters  []*EnterClause
	Exits   []*ExitClause
	Options []Option
	Steps   []Step
}

// EnterClause is `enter on COND` (On: trigger atoms, as a trigger rule) or
// `enter when COND` (a state condition, as a state rule).
type EnterClause struct {
	Span
	On   bool
	Cond Expr
}

// ExitClause is `exit when COND`.
type ExitClause struct {
	Span
	Cond Expr
}

// Step is one step of a journey.
type Step interface {
	Node
	stepNode()
}

// ActionStep is a line of actions joined by `and`, as in a rule's `then`.
// An Action with Winner set is `send winner` (only inside a split branch).
type ActionStep struct {
	Span
	Actions []*Action
}

// WaitStep is `wait DURATION`.
type WaitStep struct {
	Span
	Dur *DurationLit
}

// WaitUntilStep is `wait until TIMESTAMP` (At set) or `wait until COND [for
// at most DURATION]` (Cond set, AtMost optional).
type WaitUntilStep struct {
	Span
	At     *DateLit
	Cond   Expr
	AtMost *DurationLit
}

// IfStep is `if COND {step} [else {step}] end`.
type IfStep struct {
	Span
	Cond Expr
	Then []Step
	// ElseAt is the span of the word `else`, nil without an else part.
	ElseAt *Span
	Else   []Step
}

// SplitStep is `split {branch} end`.
type SplitStep struct {
	Span
	Branches []*Branch
}

// Branch is one `P% NAME {step}` of a split.
type Branch struct {
	Span
	Percent *NumberLit
	Name    *Ident
	Steps   []Step
}

func (*JourneyDecl) declNode() {}

func (*ActionStep) stepNode()    {}
func (*WaitStep) stepNode()      {}
func (*WaitUntilStep) stepNode() {}
func (*IfStep) stepNode()        {}
func (*SplitStep) stepNode()     {}

// inspectJourney visits the children of journey nodes for Inspect.
func inspectJourney(n Node, visit func(Node)) {
	steps := func(ss []Step) {
		for _, s := range ss {
			visit(s)
		}
	}
	switch n := n.(type) {
	case *JourneyDecl:
		visit(n.Name)
		visit(n.Title)
		for _, e := range n.Enters {
			visit(e)
		}
		for _, e := range n.Exits {
			visit(e)
		}
		for _, o := range n.Options {
			visit(o)
		}
		steps(n.Steps)
	case *EnterClause:
		visit(n.Cond)
	case *ExitClause:
		visit(n.Cond)
	case *ActionStep:
		for _, a := range n.Actions {
			visit(a)
		}
	case *WaitStep:
		visit(n.Dur)
	case *WaitUntilStep:
		visit(n.At)
		visit(n.Cond)
		visit(n.AtMost)
	case *IfStep:
		visit(n.Cond)
		steps(n.Then)
		visit(n.ElseAt)
		steps(n.Else)
	case *SplitStep:
		for _, b := range n.Branches {
			visit(b)
		}
	case *Branch:
		visit(n.Percent)
		visit(n.Name)
		steps(n.Steps)
	}
}
