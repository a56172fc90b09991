package format

import (
	"nudge/lang/ast"
)

// journeyVerbs are the verbs of `expect JOURNEY VERB` by decision action.
var journeyVerbs = map[string]string{"enter": "enters", "send": "sends", "exit": "exits", "complete": "completes"}

// JourneyVerb is the verb of `expect JOURNEY VERB` for a journey decision's
// action (enter, send, exit, complete): what `nudge test` also writes its
// journey decisions with.
func JourneyVerb(action string) string { return journeyVerbs[action] }

// JourneyExpect prints a journey expectation as written (canonical
// spacing), with its qualifiers in the order the docs give: for, via, at
// step, in variant, with status. `nudge test` names a failed expectation
// with it.
func JourneyExpect(s *ast.ExpectStep) string {
	j := s.Journey
	if s.Kind == ast.ExpectNoJourney {
		t := "expect " + s.Rule.Name + " does not " + j.Action
		if s.Member != nil {
			t += " for " + quote(s.Member.Value)
		}
		return t
	}
	t := "expect " + s.Rule.Name + " " + journeyVerbs[j.Action]
	if j.SendKind != nil {
		t += " " + j.SendKind.Name + " " + quote(j.Content.Value)
	}
	if s.Member != nil {
		t += " for " + quote(s.Member.Value)
	}
	if s.Via != nil {
		t += " via " + s.Via.Name
	}
	if j.Step != nil {
		t += " at step " + j.Step.Text
	}
	if j.Variant != nil {
		t += " in variant " + j.Variant.Name
	}
	if s.Status != nil {
		t += " with status " + s.Status.Name
	}
	return t
}
