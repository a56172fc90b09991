package parser

import (
	"fmt"
	"strings"
	"testing"

	"nudge/lang/ast"
)

// journeyExpectString renders a journey expectation compactly.
func journeyExpectString(s *ast.ExpectStep) string {
	var b strings.Builder
	fmt.Fprintf(&b, "(expect %d %s %s", s.Kind, s.Rule.Name, s.Journey.Action)
	if s.Journey.SendKind != nil {
		fmt.Fprintf(&b, " %s %q", s.Journey.SendKind.Name, s.Journey.Content.Value)
	}
	if s.Member != nil {
		b.WriteString(" member=" + s.Member.Value)
	}
	if s.Via != nil {
		b.WriteString(" via=" + s.Via.Name)
	}
	if s.Journey.Step != nil {
		b.WriteString(" step=" + s.Journey.Step.Text)
	}
	if s.Journey.Variant != nil {
		b.WriteString(" variant=" + s.Journey.Variant.Name)
	}
	if s.Status != nil {
		b.WriteString(" status=" + s.Status.Name)
	}
	return b.String() + ")"
}

// TestJourneyExpectations parses the journey expectations of test blocks:
// each verb, the qualifiers in any order, a send without content followed
// by steps that must not be read as its kind and content.
func TestJourneyExpectations(t *testing.T) {
	src := `test "t"
  tick
  expect unpaid enters for "m1" with status held_out
  expect unpaid sends reminder "PAY-2" for "m1" via sms at step 11 in variant sms_only with status pending
  expect unpaid sends with status pending at step 7
  expect unpaid sends
  tick
  expect unpaid sends
  "m1" paid
  expect unpaid exits for "m2" at step 9
  expect unpaid completes for "m1" in variant sms_only
  expect unpaid does not enter for "m3"
  expect unpaid does not fire for "m3"
  expect unpaid does not send
  expect unpaid does not exit
  expect unpaid does not complete for "m1"
`
	want := []string{
		"(tick)",
		"(expect 5 unpaid enter member=m1 status=held_out)",
		`(expect 5 unpaid send reminder "PAY-2" member=m1 via=sms step=11 variant=sms_only status=pending)`,
		"(expect 5 unpaid send step=7 status=pending)",
		"(expect 5 unpaid send)",
		"(tick)",
		"(expect 5 unpaid send)",
		`(event "m1" paid now )`,
		"(expect 5 unpaid exit member=m2 step=9)",
		"(expect 5 unpaid complete member=m1 variant=sms_only)",
		"(expect 6 unpaid enter member=m3)",
		"(expect 1 rule=unpaid member=m3)",
		"(expect 6 unpaid send)",
		"(expect 6 unpaid exit)",
		"(expect 6 unpaid complete member=m1)",
	}
	f, diags := ParseFile("t.nudge", []byte(src))
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	var got []string
	for _, s := range f.Decls[0].(*ast.TestDecl).Steps {
		if e, ok := s.(*ast.ExpectStep); ok && e.Journey != nil {
			got = append(got, journeyExpectString(e))
			continue
		}
		got = append(got, stepString(s))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []struct{ src, want string }{
		{"test \"t\"\n  expect j sends for m1", `t.nudge:2:22: error: unexpected "m1" in this test step; expected expect RULE fires`},
		{"test \"t\"\n  expect j exits at 9", `t.nudge:2:21: error: unexpected "9"`},
		{"test \"t\"\n  expect j does not leave", `t.nudge:2:21: error: unexpected "leave"`},
	} {
		_, diags := ParseFile("t.nudge", []byte(bad.src))
		if len(diags) == 0 || !strings.HasPrefix(diags[0].Error(), bad.want) {
			t.Errorf("%q: got %v, want %s...", bad.src, diags, bad.want)
		}
	}
}
