package check_test

import (
	"fmt"
	"strings"
	"testing"

	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/lang/parser"
	"nudge/stdlib"
)

// checkSrc parses and checks one source, failing the test on syntax errors.
func checkSrc(t *testing.T, src string) (*check.Info, diag.List, []byte) {
	t.Helper()
	f, diags := parser.ParseFile("t.nudge", []byte(src))
	if len(diags) > 0 {
		t.Fatalf("syntax errors: %v", diags)
	}
	info, diags := check.Check([]*ast.File{f}, stdlib.Env())
	return info, diags, []byte(src)
}

// text returns the source text of a node.
func text(src []byte, n ast.Node) string {
	s := n.Pos()
	if s.File != "t.nudge" || s.End.Offset > len(src) || s.Start.Offset > s.End.Offset {
		return "<" + s.String() + ">"
	}
	return string(src[s.Start.Offset:s.End.Offset])
}

func TestTypes(t *testing.T) {
	src := `import "crm"
member { points number }
rule r
  if days since last purchased > 3
     and sum(purchased.amount in last 30 days) > 1.5 * avg(purchased.amount ever)
     and max(purchased.ts ever) < 2024-11-11 10:00
     and min(visited.ts ever) >= 2024-01-01
     and member.birthday is not null and member.points + 1 > 2
     and birthday_in(3 days) and days_since(member.signup_at) < 30
     and member.tier in ("gold", "silver") and member.consent_sms = true
     and count(purchased ever) between 1 and 5
  then tag "x"
`
	info, diags, b := checkSrc(t, src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	want := map[string]check.Type{
		"days since last purchased":             check.Number,
		"days since last purchased > 3":         check.Bool,
		"sum(purchased.amount in last 30 days)": check.Number,
		"1.5 * avg(purchased.amount ever)":      check.Number,
		"max(purchased.ts ever)":                check.Timestamp,
		"2024-11-11 10:00":                      check.Timestamp,
		"min(visited.ts ever)":                  check.Timestamp,
		"2024-01-01":                            check.Date,
		"member.birthday":                       check.Date,
		"member.points + 1":                     check.Number,
		"birthday_in(3 days)":                   check.Bool,
		"3 days":                                check.Duration,
		"days_since(member.signup_at)":          check.Number,
		"member.signup_at":                      check.Timestamp,
		`member.tier in ("gold", "silver")`:     check.Bool,
		`"gold"`:                                check.Text,
		"true":                                  check.Bool,
		"count(purchased ever)":                 check.Number,
		"count(purchased ever) between 1 and 5": check.Bool,
		"member.birthday is not null":           check.Bool,
		"member.consent_sms":                    check.Bool,
		"sum(purchased.amount in last 30 days) > 1.5 * avg(purchased.amount ever)": check.Bool,
	}
	got := map[string]check.Type{}
	for e, typ := range info.Types {
		got[text(b, e)] = typ
	}
	for txt, w := range want {
		if g, ok := got[txt]; !ok {
			t.Errorf("no type recorded for %q", txt)
		} else if g != w {
			t.Errorf("type of %q = %s, want %s", txt, g, w)
		}
	}
	// Every expression node of the rule has a type.
	ast.Inspect(info.Rules[0].Decl.Cond, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && info.Refs[id] != nil {
			switch info.Refs[id].Kind {
			case check.RefEvent, check.RefFunction, check.RefMemberField:
				return true // a name, not a value
			}
		}
		if e, ok := n.(ast.Expr); ok {
			if _, ok := info.Types[e]; !ok {
				t.Errorf("no type for %T %q", e, text(b, e))
			}
		}
		return true
	})
}

func TestTriggers(t *testing.T) {
	cases := []struct {
		name    string
		cond    string
		trigger bool
		atoms   []string
	}{
		{"state", `member.tier = "gold"`, false, nil},
		{"windowed event is state", `purchased in last 30 days`, false, nil},
		{"quantified event is state", `purchased at least 2 times`, false, nil},
		{"bare event", `queued`, true, []string{"queued"}},
		{"filtered event", `queued at store "A"`, true, []string{`queued at store "A"`}},
		{"or of triggers", `queued at store "A" or booked at store "A"`, true, []string{`queued at store "A"`, `booked at store "A"`}},
		{"trigger and state", `member.tier = "gold" and purchased where amount > 10`, true, []string{"purchased where amount > 10"}},
		{"not followed by", `order_placed not followed by paid matching order_id within 2 hours`, true,
			[]string{"order_placed not followed by paid matching order_id within 2 hours"}},
		{"same event twice", `purchased at store "A" and purchased where amount > 1`, true, []string{`purchased at store "A"`, "purchased where amount > 1"}},
		{"through segment", `in_queue and member.tier = "gold"`, true, []string{"queued"}},
		{"segment of state", `loyal`, false, nil},
		{"negated windowed", `not purchased in last 30 days`, false, nil},
		{"before in trigger", `purchased where amount > avg(purchased.amount before)`, true, []string{"purchased where amount > avg(purchased.amount before)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := "import \"crm\"\nsegment in_queue = queued\nsegment loyal = purchased at least 3 times\nrule r\n  if " + c.cond + "\n  then tag \"x\"\n"
			info, diags, b := checkSrc(t, src)
			if len(diags) > 0 {
				t.Fatal(diags)
			}
			r := info.Rules[0]
			if r.Trigger != c.trigger {
				t.Errorf("Trigger = %v, want %v", r.Trigger, c.trigger)
			}
			var got []string
			for _, a := range r.TriggerAtoms {
				switch a.(type) {
				case *ast.EventAtom, *ast.FollowedAtom:
				case *ast.Ident:
					if info.Refs[a.(*ast.Ident)].Kind != check.RefEvent {
						t.Errorf("trigger ident %q is not an event", text(b, a))
					}
				default:
					t.Errorf("unexpected trigger atom %T", a)
				}
				got = append(got, text(b, a))
			}
			if strings.Join(got, "|") != strings.Join(c.atoms, "|") {
				t.Errorf("TriggerAtoms = %q, want %q", got, c.atoms)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	src := `import "crm"
member { points number }
segment gold = member.tier = "gold"
rule r
  if gold and purchased where amount > 1 and days_since(member.signup_at) > 1 and member.points > 3
  then tag "x"
`
	info, diags, b := checkSrc(t, src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	want := map[string]check.RefKind{}
	for id, ref := range info.Refs {
		if id.Pos().Start.Line == 5 {
			want[text(b, id)] = ref.Kind
		}
	}
	exp := map[string]check.RefKind{
		"gold": check.RefSegment, "purchased": check.RefEvent, "amount": check.RefEventField,
		"days_since": check.RefFunction, "signup_at": check.RefMemberField, "points": check.RefMemberField,
	}
	for k, v := range exp {
		if g, ok := want[k]; !ok || g != v {
			t.Errorf("ref of %q = %v (found %v), want %v", k, g, ok, v)
		}
	}
	for id, ref := range info.Refs {
		switch text(b, id) {
		case "amount":
			if ref.Field == nil || ref.Field.Column != "amount" || ref.Event == nil || ref.Event.Name != "purchased" {
				t.Errorf("amount ref = %+v", ref)
			}
		case "points":
			if ref.Field == nil || ref.Field.Column != "" || ref.Field.Type != check.Number {
				t.Errorf("points ref = %+v", ref.Field)
			}
		case "days_since":
			if ref.Func == nil || ref.Func.Name != "days_since" {
				t.Errorf("days_since ref = %+v", ref)
			}
		case "gold":
			if ref.Segment == nil || ref.Segment.Name.Name != "gold" {
				t.Errorf("gold ref = %+v", ref)
			}
		}
	}
}

func TestInfo(t *testing.T) {
	src := `brand "acme"
import "crm"
event reviewed { stars number }
member { points number }
segment gold = member.tier = "gold"
rule a if gold then tag "x" limit once per member every 7 days priority 10 holdout 12.5% stop after 3 unanswered
rule b if reviewed where stars > 3 then send coupon "C" via sms
cap sms to 1 per day
cap all to 6 per 7 days
cap wechat to 4 per 1 month
quiet hours 22:00 to 08:30
`
	info, diags, _ := checkSrc(t, src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if info.Brand != "acme" {
		t.Errorf("Brand = %q", info.Brand)
	}
	if info.Events["reviewed"] == nil || info.Events["reviewed"].Fields["stars"].Type != check.Number ||
		info.Events["reviewed"].Fields["ts"].Column != "ts" || info.Events["purchased"] == nil {
		t.Errorf("Events incomplete")
	}
	if info.Members["points"] == nil || info.Members["city"] == nil || info.Members["city"].Column != "city" {
		t.Errorf("Members incomplete")
	}
	if info.Segments["gold"] == nil || info.Segments["dormant"] == nil {
		t.Errorf("Segments incomplete")
	}
	if len(info.Rules) != 2 {
		t.Fatalf("%d rules", len(info.Rules))
	}
	a, bb := info.Rules[0], info.Rules[1]
	if a.Decl.Name.Name != "a" || a.Limit == nil || a.Limit.Every == nil || a.Priority != 10 || a.HoldoutPercent != 12.5 || a.StopAfter != 3 || a.Trigger {
		t.Errorf("rule a = %+v", a)
	}
	if !bb.Trigger || bb.Limit != nil || bb.Priority != 0 {
		t.Errorf("rule b = %+v", bb)
	}
	caps := []struct {
		ch      string
		count   int
		minutes int64
	}{{"sms", 1, 1440}, {"", 6, 7 * 1440}, {"wechat", 4, 30 * 1440}}
	if len(info.Caps) != len(caps) {
		t.Fatalf("%d caps", len(info.Caps))
	}
	for i, c := range caps {
		g := info.Caps[i]
		if g.Channel != c.ch || g.Count != c.count || g.Minutes != c.minutes || g.Decl == nil {
			t.Errorf("cap %d = %+v, want %+v", i, g, c)
		}
	}
	if len(info.Quiet) != 1 || info.Quiet[0].From != 22*60 || info.Quiet[0].To != 8*60+30 {
		t.Errorf("Quiet = %+v", info.Quiet)
	}
}

// TestDiagnosticCodes asserts the code (not the wording) of each check.
func TestDiagnosticCodes(t *testing.T) {
	cases := []struct {
		name, src, code string
		sev             diag.Severity
	}{
		{"unknown event", `rule r if queud then tag "x"`, "unknown-segment", diag.Error},
		{"unknown event type", `import "crm"` + "\n" + `rule r if queud at store "A" then tag "x"`, "unknown-event", diag.Error},
		{"never fires", `import "crm"` + "\n" + `rule r if queued and booked then tag "x"`, "never-fires", diag.Error},
		{"negated", `import "crm"` + "\n" + `rule r if not queued then tag "x"`, "negated-trigger", diag.Error},
		{"before", `import "crm"` + "\n" + `rule r if purchased before then tag "x"`, "before-without-trigger", diag.Error},
		{"holdout", `rule r if member.tier = "a" then tag "x" holdout 101%`, "bad-holdout", diag.Error},
		{"priority", `rule r if member.tier = "a" then tag "x" priority 2.5`, "bad-priority", diag.Error},
		{"cap channel", `cap fax to 1 per day`, "unknown-channel", diag.Warning},
		{"unreachable", `import "crm"` + "\n" + `rule r if days since last purchased between 44 and 30 then tag "x"`, "unreachable", diag.Warning},
		{"not bool", `rule r if member.city then tag "x"`, "not-bool", diag.Error},
		{"number vs duration", `import "crm"` + "\n" + `rule r if days since last purchased > 3 days then tag "x"`, "type-mismatch", diag.Error},
		{"cycle", `segment a = b` + "\n" + `segment b = a`, "segment-cycle", diag.Error},
		{"mixed", `import "crm"` + "\n" + `rule r if queued or member.tier = "a" then tag "x"`, "mixed-trigger", diag.Error},
		{"quiet", `quiet hours 22:00 to 24:00`, "bad-clock", diag.Error},
		{"type", `event e { x strng }`, "unknown-type", diag.Error},
		{"module", `import "crmm"`, "unknown-module", diag.Error},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags, _ := checkSrc(t, c.src)
			if len(diags) != 1 {
				t.Fatalf("want exactly one diagnostic, got %v", diags)
			}
			if diags[0].Code != c.code || diags[0].Severity != c.sev {
				t.Errorf("got %s %s (%s), want %s %s", diags[0].Severity, diags[0].Code, diags[0].Message, c.sev, c.code)
			}
		})
	}
}

// TestPartialTrees: the checker must not panic on trees with missing parts,
// as a parser recovering from errors may produce.
func TestPartialTrees(t *testing.T) {
	files := []*ast.File{{Name: "p.nudge", Decls: []ast.Decl{
		&ast.BadDecl{},
		&ast.BrandDecl{},
		&ast.ImportDecl{},
		&ast.SegmentDecl{},
		&ast.SegmentDecl{Name: &ast.Ident{Name: "s"}},
		&ast.RuleDecl{},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r"}, Cond: &ast.BinaryExpr{Op: ast.And, X: &ast.BadExpr{}}, Actions: []*ast.Action{nil, {Kind: ast.Send}}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r2"}, Cond: &ast.EventAtom{}, Options: []ast.Option{&ast.PriorityOption{}, &ast.HoldoutOption{}, &ast.StopAfterOption{}, &ast.LimitOption{}}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r3"}, Cond: &ast.FollowedAtom{}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r4"}, Cond: &ast.AggExpr{Func: ast.Sum}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r5"}, Cond: &ast.CallExpr{Args: []ast.Expr{nil}}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r6"}, Cond: &ast.DaysSinceExpr{}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r7"}, Cond: &ast.MemberField{}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r8"}, Cond: &ast.BetweenExpr{}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r9"}, Cond: &ast.NotExpr{}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r10"}, Cond: &ast.TaggedExpr{}},
		&ast.RuleDecl{Name: &ast.Ident{Name: "r11"}, Cond: &ast.EventAtom{Ref: &ast.EventRef{Event: &ast.Ident{Name: "x"}, Filters: []ast.Filter{&ast.PrepFilter{}, &ast.WhereFilter{}}}, Window: &ast.Window{}, Quant: &ast.Quantifier{}}},
		&ast.CapDecl{},
		&ast.CapDecl{Per: &ast.DurationLit{}},
		&ast.QuietDecl{},
		&ast.QuietDecl{From: &ast.ClockLit{}},
		&ast.EventDecl{},
		&ast.EventDecl{Name: &ast.Ident{Name: "e"}, Fields: []*ast.FieldDecl{nil, {}, {Name: &ast.Ident{Name: "f"}}}},
		&ast.MemberDecl{Fields: []*ast.FieldDecl{nil, {}}},
	}}, nil}
	for _, env := range []*check.Env{nil, {}, stdlib.Env()} {
		info, _ := check.Check(files, env)
		if info == nil {
			t.Fatal("nil info")
		}
	}
}

func TestSuggestions(t *testing.T) {
	cases := []struct{ src, want string }{
		{`import "crm"` + "\n" + `rule r if qeueud at store "A" then tag "x"`, `did you mean "queued"?`},
		{`import "crm"` + "\n" + `rule r if purchased where amuont > 1 then tag "x"`, `did you mean "amount"?`},
		{`rule r if member.birthdy is null then tag "x"`, `did you mean "birthday"?`},
		{`import "crm"` + "\n" + `rule r if rfm_champion then tag "x"`, `did you mean "rfm_champions"?`},
		{`import "crm"` + "\n" + `rule r if spend_percentil(1 day) > 3 then tag "x"`, `did you mean "spend_percentile"?`},
		{`rule r if member.xyzzy = "a" then tag "x"`, ""},
	}
	for _, c := range cases {
		_, diags, _ := checkSrc(t, c.src)
		if len(diags) != 1 {
			t.Errorf("%s: want one diagnostic, got %v", c.src, diags)
			continue
		}
		msg := diags[0].Message
		if c.want == "" && strings.Contains(msg, "did you mean") || c.want != "" && !strings.HasSuffix(msg, c.want) {
			t.Errorf("%s: message %q, want suffix %q", c.src, msg, c.want)
		}
	}
}

// TestCapPeriods: a cap period may be any positive duration the language
// allows (at most check.MaxDurationYears); a period of 2,000,000 minutes
// (about 3.8 years) was refused as "must be positive" (found by
// FuzzCheckedCompiles' stress seeds).
func TestCapPeriods(t *testing.T) {
	cases := []struct {
		name, src string
		want      check.Cap // Minutes checked; zero Cap: an error wanted
		code      string
	}{
		{"bare unit", `cap sms to 1 per day`, check.Cap{Minutes: 24 * 60}, ""},
		{"million minutes", `cap sms to 1 per 1000000 minutes`, check.Cap{Minutes: 1000000}, ""},
		{"past a million minutes", `cap sms to 1 per 2000000 minutes`, check.Cap{Minutes: 2000000}, ""},
		{"longest in minutes", `cap sms to 1 per 52560000 minutes`, check.Cap{Minutes: 52560000}, ""},
		{"longest in years", `cap sms to 1 per 100 years`, check.Cap{Minutes: 52560000}, ""},
		{"zero", `cap sms to 1 per 0 days`, check.Cap{}, check.CodeBadCap},
		{"too long", `cap sms to 1 per 52560001 minutes`, check.Cap{}, check.CodeDurationTooLong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, diags, _ := checkSrc(t, c.src)
			if c.code != "" {
				if len(diags) != 1 || diags[0].Code != c.code {
					t.Fatalf("want one %s diagnostic, got %v", c.code, diags)
				}
				return
			}
			if len(diags) > 0 {
				t.Fatalf("want no diagnostics, got %v", diags)
			}
			if len(info.Caps) != 1 || info.Caps[0].Minutes != c.want.Minutes {
				t.Fatalf("caps %+v, want one of %d minutes", info.Caps, c.want.Minutes)
			}
		})
	}
}

// TestConditionSize: a condition may have at most check.MaxSize parts with
// its segments inlined. Segments that each use the one before twice
// doubled the compiled SQL at every step (22 steps: 386 MB of SQL) while
// check passed in an instant; the first condition past the limit is
// reported, a segment at its own declaration.
func TestConditionSize(t *testing.T) {
	doubling := func(n int) string {
		var b strings.Builder
		b.WriteString("import \"crm\"\nsegment s0 = purchased in last 30 days or member.tier = \"gold\"\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "segment s%d = s%d or s%d\n", i, i-1, i-1)
		}
		return b.String()
	}
	cases := []struct {
		name, src string
		line      int // of the error; 0: none
		segment   string
	}{
		{"under the limit", doubling(9) + "rule r if s9 or s9 then tag \"x\"\n", 0, ""},
		{"rule over the limit", doubling(10) + "rule r if s10 and s10 then tag \"x\"\n", 13, "s10"},
		{"segment over the limit", doubling(22) + "rule r if s22 then tag \"x\"\n", 13, "s10"},
		{"forty doublings", doubling(40) + "rule r if s40 then tag \"x\"\n", 13, "s10"}, // 2^40 copies: check hung
		{"journey condition", doubling(10) + "journey j\n  enter when s9\n  exit when s10 or s10\n  if s10 and s10\n    tag \"x\"\n  end\nend\n", 15, "s10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags, _ := checkSrc(t, c.src)
			if c.line == 0 {
				if len(diags) > 0 {
					t.Fatalf("want no diagnostics, got %v", diags)
				}
				return
			}
			if len(diags) == 0 || diags[0].Code != check.CodeTooLarge || diags[0].Span.Start.Line != c.line {
				t.Fatalf("want a %s error on line %d, got %v", check.CodeTooLarge, c.line, diags)
			}
			if !strings.Contains(diags[0].Message, "segment "+c.segment+" alone") {
				t.Errorf("message does not name segment %s: %s", c.segment, diags[0].Message)
			}
		})
	}
}

// TestJourneyConditionDepth: a journey's conditions (enter, exit, wait
// until, if, the where of convert on) nest at most check.MaxDepth levels,
// as a rule's do. They were not measured: `exit when` with 240 nested
// `where` checked clean and its tick failed with DuckDB's "Max expression
// depth limit of 1000 exceeded" (found by FuzzCheckedCompiles' seeds).
func TestJourneyConditionDepth(t *testing.T) {
	deep := func(n int) string {
		return strings.Repeat("purchased where (", n) + "amount > 1" + strings.Repeat(")", n)
	}
	const hdr = "import \"crm\"\njourney j\n  enter when member.tier is not null\n"
	cases := []struct {
		name, src string
		line      int // of the error; 0: none
	}{
		{"shallow", hdr + "  exit when " + deep(30) + "\n  wait until " + deep(30) + " for at most 1 day\n  if " + deep(30) + "\n    tag \"x\"\n  end\nend\n", 0},
		{"exit", hdr + "  exit when " + deep(240) + "\n  tag \"x\"\nend\n", 4},
		{"wait until", hdr + "  wait until " + deep(101) + " for at most 1 day\n  tag \"x\"\nend\n", 4},
		{"if", hdr + "  tag \"y\"\n  if " + deep(101) + "\n    tag \"x\"\n  end\nend\n", 5},
		{"enter", "import \"crm\"\njourney j\n  enter on " + deep(101) + "\n  tag \"x\"\nend\n", 3},
		{"convert on", hdr + "  convert on " + deep(101) + " within 7 days\n  tag \"x\"\nend\n", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags, _ := checkSrc(t, c.src)
			if c.line == 0 {
				if diags.HasErrors() {
					t.Fatalf("want no errors, got %v", diags)
				}
				return
			}
			for _, d := range diags {
				if d.Code == check.CodeTooDeep && d.Span.Start.Line == c.line {
					return
				}
			}
			t.Fatalf("want a %s error on line %d, got %v", check.CodeTooDeep, c.line, diags)
		})
	}
}

// TestJourneySteps: a journey has at most check.MaxJourneySteps steps,
// nested ones counted; the error is on the first step past the limit. A
// journey of 4,000 steps checked clean and a tick over four members ran for
// minutes.
func TestJourneySteps(t *testing.T) {
	journey := func(flat, nested int) string {
		var b strings.Builder
		b.WriteString("import \"crm\"\njourney j\n  enter on purchased\n")
		for i := range flat {
			fmt.Fprintf(&b, "  send reminder \"r%d\" via sms\n", i)
		}
		if nested > 0 {
			b.WriteString("  if purchased in last 1 days\n")
			for i := range nested {
				fmt.Fprintf(&b, "    wait %d days\n", i+1)
			}
			b.WriteString("  end\n")
		}
		b.WriteString("end\n")
		return b.String()
	}
	for _, c := range []struct {
		name string
		src  string
		line int // of the error; 0: none
	}{
		{"at the limit", journey(check.MaxJourneySteps, 0), 0},
		{"one over", journey(check.MaxJourneySteps+1, 0), 4 + check.MaxJourneySteps},
		{"nested steps count", journey(check.MaxJourneySteps-11, 10), 0}, // the if is a step too
		{"one over, nested", journey(check.MaxJourneySteps-11, 11), 4 + check.MaxJourneySteps - 11 + 1 + 10},
		{"four thousand", journey(4000, 0), 4 + check.MaxJourneySteps},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, diags, _ := checkSrc(t, c.src)
			var got []string
			for _, d := range diags {
				if d.Code == check.CodeTooLarge {
					got = append(got, fmt.Sprintf("%d: %s", d.Span.Start.Line, d.Message))
				}
			}
			switch {
			case c.line == 0 && len(got) > 0:
				t.Fatalf("want no %s error, got %v", check.CodeTooLarge, got)
			case c.line > 0 && (len(got) != 1 || !strings.HasPrefix(got[0], fmt.Sprintf("%d: journey \"j\" has more than %d steps", c.line, check.MaxJourneySteps))):
				t.Fatalf("want one %s error on line %d, got %v", check.CodeTooLarge, c.line, got)
			}
		})
	}
}
