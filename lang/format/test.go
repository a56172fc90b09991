package format

import (
	"strings"

	"nudge/lang/ast"
)

// testLines lays out a test block: the header, then one step per line,
// indented by two spaces.
func testLines(d *ast.TestDecl) []*line {
	out := []*line{newLine("", "test "+quote(d.Name.Value), d).upTo(d.Name)}
	for _, s := range d.Steps {
		out = append(out, newLine("  ", step(s), s))
	}
	return out
}

func step(s ast.TestStep) string {
	switch s := s.(type) {
	case *ast.NowStep:
		return "now " + date(s.At)
	case *ast.MemberStep:
		return "member " + quote(s.ID.Value) + withFields(s.Fields)
	case *ast.EventStep:
		t := quote(s.Member.Value) + " " + s.Event.Name
		switch {
		case s.At != nil:
			t += " at " + date(s.At)
		case s.Ago != nil:
			t += " " + duration(s.Ago) + " ago"
		}
		return t + withFields(s.Fields)
	case *ast.TickStep:
		switch {
		case s.At != nil:
			return "tick at " + date(s.At)
		case s.Later != nil:
			return "tick " + duration(s.Later) + " later"
		}
		return "tick"
	case *ast.ExpectStep:
		switch s.Kind {
		case ast.ExpectNothing:
			return "expect nothing fires"
		case ast.ExpectTagged:
			return "expect " + quote(s.Member.Value) + " tagged " + quote(s.Tag.Value)
		case ast.ExpectNotTagged:
			return "expect " + quote(s.Member.Value) + " not tagged " + quote(s.Tag.Value)
		case ast.ExpectJourney, ast.ExpectNoJourney:
			return JourneyExpect(s)
		case ast.ExpectNoFire:
			t := "expect " + s.Rule.Name + " does not fire"
			if s.Member != nil {
				t += " for " + quote(s.Member.Value)
			}
			return t
		default:
			t := "expect " + s.Rule.Name + " fires"
			if s.Member != nil {
				t += " for " + quote(s.Member.Value)
			}
			if s.Via != nil {
				t += " via " + s.Via.Name
			}
			if s.Status != nil {
				t += " with status " + s.Status.Name
			}
			return t + expectParams(s.Params)
		}
	}
	return ""
}

func withFields(fs []*ast.FieldValue) string {
	if len(fs) == 0 {
		return ""
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Name.Name + " " + expr(f.Value)
	}
	return " with " + strings.Join(parts, ", ")
}

// expectParams prints the `params NAME VALUE, ...` of an expectation.
func expectParams(fs []*ast.FieldValue) string {
	if len(fs) == 0 {
		return ""
	}
	return " params" + strings.TrimPrefix(withFields(fs), " with")
}
