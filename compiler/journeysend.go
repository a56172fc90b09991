package compiler

import (
	"strings"

	"nudge/internal/tickform"
	"nudge/lang/ast"
	"nudge/lang/check"
)

// This file compiles what a journey's send steps carry besides their
// actions: `with NAME = VALUE` parameters (StepNode.Params) and `send
// winner` (StepNode.Winners), SPEC §8 and §9.

// WinnerOption is one branch `send winner` may send for: a branch of the
// winner's split other than its own that has a send step.
type WinnerOption struct {
	Branch string
	// Line is the source line of the branch's first send step: the
	// journey's sends recorded at that line are the ones whose conversion
	// rate ranks the branch.
	Line int
	// Action is that step's first send, which the winner sends, and
	// Params the SQL of its `with` parameters (see StepNode.Params).
	Action Action
	Params string
}

// journeySplit is the split, and the branch of it, whose steps the
// journey compiler is flattening.
type journeySplit struct {
	split  *ast.SplitStep
	branch *ast.Branch
}

// winnerNode compiles `send winner` at line: the other branches of the
// enclosing split that send, in source order.
func (jc *journeyCompiler) winnerNode(line int) StepNode {
	n := StepNode{Kind: StepWinner, Line: line}
	if jc.split == nil {
		return n
	}
	for _, b := range jc.split.split.Branches {
		if b == nil || b == jc.split.branch || b.Name == nil {
			continue
		}
		step, a := firstSendStep(b.Steps)
		if a == nil {
			continue
		}
		n.Winners = append(n.Winners, WinnerOption{Branch: b.Name.Name, Line: step.Pos().Start.Line,
			Action: actionOf(a), Params: jc.params([]*ast.Action{a})})
	}
	return n
}

// firstSendStep returns the first step of ss (depth first, in source
// order) with a send other than `send winner`, and that send.
func firstSendStep(ss []ast.Step) (*ast.ActionStep, *ast.Action) {
	for _, s := range ss {
		switch s := s.(type) {
		case *ast.ActionStep:
			for _, a := range s.Actions {
				if a != nil && a.Kind == ast.Send && !a.Winner {
					return s, a
				}
			}
		case *ast.IfStep:
			if st, a := firstSendStep(s.Then); a != nil {
				return st, a
			}
			if st, a := firstSendStep(s.Else); a != nil {
				return st, a
			}
		case *ast.SplitStep:
			for _, b := range s.Branches {
				if b == nil {
					continue
				}
				if st, a := firstSendStep(b.Steps); a != nil {
					return st, a
				}
			}
		}
	}
	return nil, nil
}

// params compiles the `with` parameters of a step's actions into the SQL
// of one JSON object over the instance row (tickform.JourneyRow) and its member m,
// as a rule's (NULL as null, numbers as numbers; a name given by two
// actions takes the first): a field of the entering event (`enter on`), a
// member field or a literal. "" when the actions have none.
func (jc *journeyCompiler) params(actions []*ast.Action) string {
	rc := newRuleCompiler(jc.info, jc.diags)
	rc.journey = jc.j
	s := &scope{member: "m", memberID: tickform.JourneyRow + ".member_id", cand: tickform.JourneyRow}
	var kv []string
	seen := map[string]bool{}
	for _, a := range actions {
		if a == nil {
			continue
		}
		for _, p := range a.Params {
			if p == nil || p.Name == nil || seen[p.Name.Name] {
				continue
			}
			seen[p.Name.Name] = true
			v := "NULL"
			switch x := p.Value.(type) {
			case *ast.Ident:
				ref := jc.info.Refs[x]
				if ref != nil && ref.Event != nil && jc.j.Enter != nil && jc.j.Enter.On {
					f, _ := rc.eventField(x, "q", ref.Event)
					v = "(SELECT " + f + " FROM " + rc.eventsTable + " q WHERE q.seq = " + tickform.JourneyRow + ".entry_seq)"
				}
			case *ast.MemberField:
				v = rc.memberField(x, s)
			default:
				v = rc.value(x, s)
			}
			kv = append(kv, rc.quote(p.Name, p.Name.Name), v)
		}
	}
	if len(kv) == 0 {
		return ""
	}
	return "json_object(" + strings.Join(kv, ", ") + ")"
}

// journeyConversion compiles a journey's `convert on` option (or the
// default), which ranks the branches of its splits for `send winner`.
func (jc *journeyCompiler) conversion() *Conversion {
	return newRuleCompiler(jc.info, jc.diags).conversion(&check.Rule{Convert: jc.j.Convert})
}
