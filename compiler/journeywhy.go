package compiler

import (
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
)

// JourneyWhy is what `nudge why` needs of a journey beyond its compiled
// form: the explanation query of its entry condition (as a rule's, see
// Why) and the source text of its conditions.
type JourneyWhy struct {
	Journey string
	Enter   *Explanation
	// Exit is the text of `exit when` ("" without one); Conds the text of
	// the condition of each if and wait-until step, by source line.
	Exit  string
	Conds map[int]string
}

// WhyJourneys returns the explanation of each journey of info whose entry
// compiles, in info.Journeys order.
func WhyJourneys(info *check.Info) ([]*JourneyWhy, diag.List) {
	var diags diag.List
	var out []*JourneyWhy
	for k, j := range info.Journeys {
		d := j.Decl
		if d.Name == nil || j.Enter == nil || j.Enter.Cond == nil {
			continue
		}
		entry := &check.Rule{
			Decl:         &ast.RuleDecl{Span: d.Span, Name: d.Name, Cond: j.Enter.Cond},
			Trigger:      j.Enter.On,
			TriggerAtoms: j.TriggerAtoms,
		}
		e := whyRule(info, entry, journeyWatermarks(k), &diags)
		if e == nil {
			continue
		}
		w := &JourneyWhy{Journey: d.Name.Name, Enter: e, Conds: map[int]string{}}
		if j.Exit != nil && j.Exit.Cond != nil {
			w.Exit = label(j.Exit.Cond)
		}
		var walk func(ss []ast.Step)
		walk = func(ss []ast.Step) {
			for _, s := range ss {
				switch s := s.(type) {
				case *ast.IfStep:
					w.Conds[s.Pos().Start.Line] = label(s.Cond)
					walk(s.Then)
					walk(s.Else)
				case *ast.WaitUntilStep:
					if s.Cond != nil {
						w.Conds[s.Pos().Start.Line] = label(s.Cond)
					}
				case *ast.SplitStep:
					for _, b := range s.Branches {
						walk(b.Steps)
					}
				}
			}
		}
		walk(d.Steps)
		out = append(out, w)
	}
	return out, diags
}
