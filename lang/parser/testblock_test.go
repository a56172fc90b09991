package parser

import (
	"fmt"
	"strings"
	"testing"

	"nudge/lang/ast"
)

// stepString renders a test step compactly for expectations.
func stepString(s ast.TestStep) string {
	fields := func(fs []*ast.FieldValue) string {
		var parts []string
		for _, f := range fs {
			parts = append(parts, f.Name.Name+"="+debugString(f.Value))
		}
		return strings.Join(parts, ",")
	}
	date := func(d *ast.DateLit) string { return d.Text }
	switch s := s.(type) {
	case *ast.NowStep:
		return "(now " + date(s.At) + ")"
	case *ast.MemberStep:
		return fmt.Sprintf("(member %q %s)", s.ID.Value, fields(s.Fields))
	case *ast.EventStep:
		when := "now"
		switch {
		case s.At != nil:
			when = "at " + date(s.At)
		case s.Ago != nil:
			when = debugString(s.Ago) + " ago"
		}
		return fmt.Sprintf("(event %q %s %s %s)", s.Member.Value, s.Event.Name, when, fields(s.Fields))
	case *ast.TickStep:
		switch {
		case s.At != nil:
			return "(tick at " + date(s.At) + ")"
		case s.Later != nil:
			return "(tick " + debugString(s.Later) + " later)"
		}
		return "(tick)"
	case *ast.ExpectStep:
		var b strings.Builder
		fmt.Fprintf(&b, "(expect %d", s.Kind)
		if s.Rule != nil {
			b.WriteString(" rule=" + s.Rule.Name)
		}
		if s.Member != nil {
			b.WriteString(" member=" + s.Member.Value)
		}
		if s.Status != nil {
			b.WriteString(" status=" + s.Status.Name)
		}
		if s.Tag != nil {
			b.WriteString(" tag=" + s.Tag.Value)
		}
		b.WriteString(")")
		return b.String()
	}
	return "?"
}

// TestTestBlocks parses test blocks and checks the steps.
func TestTestBlocks(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"clock and members", "test \"t\"\n now 2024-11-11 10:00\n member \"m1\" with consent_sms true, city \"长沙\", amount -3.5\n member \"m2\"",
			[]string{"(now 2024-11-11 10:00)", `(member "m1" consent_sms=true,city="长沙",amount=-3.5)`, `(member "m2" )`}},
		{"events", "test \"t\"\n \"m1\" queued\n \"m1\" queued 2 hours ago with store \"A\"\n \"m1\" paid at 2024-11-11 with order_id \"o1\"\n \"m1\" visited at 2024-11-11 08:30",
			[]string{`(event "m1" queued now )`, `(event "m1" queued (2 hour) ago store="A")`, `(event "m1" paid at 2024-11-11 order_id="o1")`, `(event "m1" visited at 2024-11-11 08:30 )`}},
		{"ticks", "test \"t\"\n tick\n tick at 2024-11-12 09:00\n tick 3 days later",
			[]string{"(tick)", "(tick at 2024-11-12 09:00)", "(tick (3 day) later)"}},
		{"expectations", "test \"t\"\n expect r fires\n expect r fires for \"m\" with status no_consent\n expect r does not fire\n expect r does not fire for \"m\"\n expect nothing fires\n expect \"m\" tagged \"x\"\n expect \"m\" not tagged \"x\"\n expect nothing fires for \"m\"",
			[]string{"(expect 0 rule=r)", "(expect 0 rule=r member=m status=no_consent)", "(expect 1 rule=r)", "(expect 1 rule=r member=m)",
				"(expect 2)", "(expect 3 member=m tag=x)", "(expect 4 member=m tag=x)", "(expect 0 rule=nothing member=m)"}},
		{"words stay usable as names", "test \"t\"\n \"m\" now with now 1\n expect tick fires", []string{`(event "m" now now now=1)`, "(expect 0 rule=tick)"}},
		{"empty test", "test \"t\"", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, diags := ParseFile("t.nudge", []byte(c.src))
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %v", diags)
			}
			if len(f.Decls) != 1 {
				t.Fatalf("%d declarations", len(f.Decls))
			}
			d, ok := f.Decls[0].(*ast.TestDecl)
			if !ok {
				t.Fatalf("got %T", f.Decls[0])
			}
			var got []string
			for _, s := range d.Steps {
				got = append(got, stepString(s))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestTestBlockSpans checks the spans of a test and its steps.
func TestTestBlockSpans(t *testing.T) {
	src := "test \"t\"\n  now 2024-11-11 10:00\n  \"m\" queued 2 hours ago with store \"A\"\n  expect r fires for \"m\"\n"
	f, diags := ParseFile("t.nudge", []byte(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	d := f.Decls[0].(*ast.TestDecl)
	span := func(n ast.Node) string {
		s := n.Pos()
		return fmt.Sprintf("%d:%d-%d:%d", s.Start.Line, s.Start.Col, s.End.Line, s.End.Col)
	}
	want := map[string]ast.Node{"1:1-4:25": d, "2:3-2:23": d.Steps[0], "3:3-3:40": d.Steps[1], "4:3-4:25": d.Steps[2],
		"3:31-3:40": d.Steps[1].(*ast.EventStep).Fields[0]}
	for w, n := range want {
		if got := span(n); got != w {
			t.Errorf("%T span %s, want %s", n, got, w)
		}
	}
}

// TestTestBlockErrors checks the wording of syntax errors in test blocks.
func TestTestBlockErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"test x", `t.nudge:1:6: error: unexpected "x"; expected the test's name in double quotes after "test"`},
		{"test \"t\"\n  now tomorrow", `t.nudge:2:7: error: unexpected "tomorrow" in this test step; expected now 2024-11-11 10:00`},
		{"test \"t\"\n  \"m\" queued 2 hours", `t.nudge:2:21: error: unexpected end of test in this test step; expected "ID" EVENT [at 2024-11-11 09:00 | 2 hours ago] [with FIELD VALUE, ...]`},
		{"test \"t\"\n  tick soon", `t.nudge:2:8: error: unexpected "soon" in this test step; expected tick [at 2024-11-11 12:00 | 2 hours later]`},
		{"test \"t\"\n  expect r fires for m", `t.nudge:2:22: error: unexpected "m" in this test step; expected expect RULE fires [for "ID"]`},
		{"test \"t\"\n  tick\n  wait", `t.nudge:3:3: error: unexpected "wait" in a test; expected a step: now, member, an event ("ID" EVENT ...), tick or expect`},
		{"test \"t\"\n  member \"m\" with tier", `t.nudge:2:23: error: unexpected end of test in this test step; expected member "ID" [with FIELD VALUE, ...]`},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			_, diags := ParseFile("t.nudge", []byte(c.src))
			if len(diags) != 1 {
				t.Fatalf("diagnostics: %v", diags)
			}
			if got := diags[0].Error(); !strings.HasPrefix(got, c.want) {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestTestBlockMutations deletes or duplicates each word of a test block
// in turn: every variant parses to one declaration, and any error is a
// syntax error placed inside the source.
func TestTestBlockMutations(t *testing.T) {
	src := `test "t"
  now 2024-11-11 10:00
  member "m" with consent_sms true, city "x"
  "m" queued 2 hours ago with store "A", amount -3
  "m" paid at 2024-11-11 with order_id "o"
  tick
  tick at 2024-11-12 09:00
  tick 3 days later
  expect r fires for "m" with status pending
  expect r does not fire for "m"
  expect nothing fires
  expect "m" not tagged "x"
`
	lines := strings.Split(src, "\n")
	n := 0
	for li, line := range lines {
		words := strings.Fields(line)
		for wi := range words {
			for _, dup := range []bool{false, true} {
				mutated := append([]string(nil), words[:wi]...)
				if dup {
					mutated = append(mutated, words[wi])
				}
				mutated = append(mutated, words[wi+1:]...)
				variant := append(append(append([]string(nil), lines[:li]...), "  "+strings.Join(mutated, " ")), lines[li+1:]...)
				mutant := strings.Join(variant, "\n")
				f, diags := ParseFile("t.nudge", []byte(mutant))
				if len(f.Decls) != 1 {
					t.Fatalf("%d declarations for\n%s", len(f.Decls), mutant)
				}
				for _, d := range diags {
					if d.Code != "syntax" || !d.Span.IsValid() || d.Span.End.Offset > len(mutant) {
						t.Fatalf("bad diagnostic %+v for\n%s", d, mutant)
					}
				}
				n++
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d variants", n)
	}
}
