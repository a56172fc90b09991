package ruletest

import (
	"fmt"
	"sort"
	"strings"

	"nudge/lang/ast"
	"nudge/lang/format"
	nrt "nudge/runtime"
)

// This file checks the journey expectations of tests (SPEC §8, Tools):
// `expect J enters|sends|exits|completes ...` hold when the latest tick
// has a decision of journey J with that action and every qualifier given;
// `expect J does not ACTION` when it has none.

// expectJourney checks expectation s, whose journey and member are known.
func (st *state) expectJourney(s *ast.ExpectStep) {
	j := s.Journey
	if j.Action != "send" && (j.SendKind != nil || s.Via != nil) {
		st.fail(s, nil, "%s: only `sends` names a kind, content or channel", format.JourneyExpect(s))
		return
	}
	if j.Action == "enter" && (j.Step != nil || j.Variant != nil) {
		st.fail(s, nil, "%s: an entry has no step and no variant yet", format.JourneyExpect(s))
		return
	}
	if j.Step != nil && !st.journeyHasLine(s.Rule.Name, int(j.Step.Value)) {
		st.fail(s, nil, "%s: journey %s has no step at line %s (its steps: %s)", format.JourneyExpect(s), s.Rule.Name, j.Step.Text, st.journeyLines(s.Rule.Name))
		return
	}
	match := func(d nrt.Decision) bool {
		return d.Journey == s.Rule.Name && d.Action == j.Action && (s.Member == nil || d.MemberID == s.Member.Value)
	}
	var mine []nrt.Decision
	for _, d := range st.last.Decisions {
		if d.Journey == s.Rule.Name && (s.Member == nil || d.MemberID == s.Member.Value) {
			mine = append(mine, d)
		}
	}
	sortJourneyDecisions(mine)
	var related []DiffLine
	for _, d := range mine {
		related = append(related, DiffLine{'+', journeyDecisionText(d)})
	}
	who := ""
	if s.Member != nil {
		who = fmt.Sprintf(" %q", s.Member.Value)
	}
	if s.Kind == ast.ExpectNoJourney {
		var got []DiffLine
		for _, d := range st.last.Decisions {
			if match(d) {
				got = append(got, DiffLine{'+', journeyDecisionText(d)})
			}
		}
		if len(got) > 0 {
			st.fail(s, append([]DiffLine{{'-', fmt.Sprintf("(no %s decision of %s%s)", j.Action, s.Rule.Name, who)}}, got...), "%s", format.JourneyExpect(s))
		}
		return
	}
	for _, d := range st.last.Decisions {
		if match(d) && journeyQualifiersHold(s, d) {
			return
		}
	}
	if len(related) == 0 {
		related = []DiffLine{{'+', fmt.Sprintf("(no decision of journey %s%s)", s.Rule.Name, who)}}
	}
	st.fail(s, append([]DiffLine{{'-', strings.TrimPrefix(format.JourneyExpect(s), "expect ")}}, related...), "%s", format.JourneyExpect(s))
}

// sortJourneyDecisions orders a journey's decisions as an instance makes
// them: by member, then enter, the steps in line order, exit, complete.
func sortJourneyDecisions(ds []nrt.Decision) {
	rank := map[string]int{"enter": 0, "exit": 2, "complete": 3}
	step := func(d nrt.Decision) int64 {
		if d.Step == nil {
			return 0
		}
		return *d.Step
	}
	sort.SliceStable(ds, func(a, b int) bool {
		x, y := ds[a], ds[b]
		ra, ok := rank[x.Action]
		if !ok {
			ra = 1
		}
		rb, ok := rank[y.Action]
		if !ok {
			rb = 1
		}
		if x.MemberID != y.MemberID {
			return x.MemberID < y.MemberID
		}
		if ra != rb {
			return ra < rb
		}
		return step(x) < step(y)
	})
}

// journeyQualifiersHold reports whether decision d has the kind, content,
// channel, step, variant and status expectation s names.
func journeyQualifiersHold(s *ast.ExpectStep, d nrt.Decision) bool {
	j := s.Journey
	switch {
	case j.SendKind != nil && (d.Kind != j.SendKind.Name || d.Content != j.Content.Value):
		return false
	case s.Via != nil && d.Channel != s.Via.Name:
		return false
	case j.Step != nil && (d.Step == nil || *d.Step != int64(j.Step.Value)):
		return false
	case j.Variant != nil && d.Variant != j.Variant.Name:
		return false
	case s.Status != nil && d.Status != s.Status.Name:
		return false
	}
	return true
}

func (st *state) journeyHasLine(name string, line int) bool {
	for _, j := range st.s.Program.Journeys {
		if j.Name != name {
			continue
		}
		for _, n := range j.Nodes {
			if n.Line > 0 && n.Line == line { // (jumps and the end have line 0)
				return true
			}
		}
	}
	return false
}

func (st *state) journeyLines(name string) string {
	var out []string
	for _, j := range st.s.Program.Journeys {
		if j.Name != name {
			continue
		}
		for _, n := range j.Nodes {
			if n.Line > 0 {
				out = append(out, fmt.Sprint(n.Line))
			}
		}
	}
	return strings.Join(out, ", ")
}

func (st *state) hasJourney(name string) bool {
	for _, j := range st.s.Program.Journeys {
		if j.Name == name {
			return true
		}
	}
	return false
}

func (st *state) journeyNames() []string {
	var out []string
	for _, j := range st.s.Program.Journeys {
		out = append(out, j.Name)
	}
	return out
}

// journeyDecisionText renders a journey's decision as a diff line, in the
// words of the expectations: `unpaid sends reminder "PAY-2" for "m1" via
// sms at step 11 in variant sms_only with status pending`.
func journeyDecisionText(d nrt.Decision) string {
	verb := format.JourneyVerb(d.Action)
	if verb == "" {
		verb = d.Action + "s" // a journey's tag, untag or notify step
	}
	t := d.Journey + " " + verb
	switch d.Action {
	case "send":
		t += fmt.Sprintf(" %s %q", d.Kind, d.Content)
	case "tag", "untag", "notify":
		t += fmt.Sprintf(" %q", d.Content)
	}
	t += fmt.Sprintf(" for %q", d.MemberID)
	if d.Channel != "" {
		t += " via " + d.Channel
	}
	if d.Step != nil {
		t += fmt.Sprintf(" at step %d", *d.Step)
	}
	if d.Variant != "" {
		t += " in variant " + d.Variant
	}
	t += " with status " + d.Status
	if d.Reason != "" {
		t += " (" + d.Reason + ")"
	}
	return t
}
