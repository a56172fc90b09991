package parser

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestParseCondition covers every expression construct, asserting on the
// debug rendering of the tree.
func TestParseCondition(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"segment ref", `recent_visitor`, `recent_visitor`},
		{"trigger atom with prep filter", `queued at store "A"`, `(event queued (at store "A"))`},
		{"all preps", `x at a "1" of b "2" for c "3" via d "4" from e "5" on f "6"`,
			`(event x (at a "1") (of b "2") (for c "3") (via d "4") (from e "5") (on f "6"))`},
		{"or of triggers", `queued at store "A" or booked at store "A"`,
			`(or (event queued (at store "A")) (event booked (at store "A")))`},
		{"in last window", `visited in last 3 months`, `(event visited (in-last (3 month)))`},
		{"ever window", `purchased ever`, `(event purchased (ever))`},
		{"before window", `purchased before`, `(event purchased (before))`},
		{"at least", `purchased at least 3 times in last 365 days`, `(event purchased (at-least 3) (in-last (365 day)))`},
		{"at most", `purchased at most 1 times`, `(event purchased (at-most 1))`},
		{"exactly", `purchased of sku "X" exactly 2 times ever`, `(event purchased (of sku "X") (exactly 2) (ever))`},
		{"where filter", `purchased where amount > 100`, `(event purchased (where (> amount 100)))`},
		{"where then window", `purchased where amount > 100 in last 7 days`, `(event purchased (where (> amount 100)) (in-last (7 day)))`},
		{"where with in list then window", `purchased where store in ("A", "B") in last 7 days`,
			`(event purchased (where (in store ["A" "B"])) (in-last (7 day)))`},
		{"not followed by", `order_placed not followed by paid matching order_id within 2 hours`,
			`(not-followed (order_placed) (paid) matching order_id within (2 hour))`},
		{"not followed by with filters", `order_placed at store "A" not followed by paid at store "A" within 30 minutes`,
			`(not-followed (order_placed (at store "A")) (paid (at store "A")) within (30 minute))`},
		{"tagged", `tagged "vip"`, `(tagged "vip")`},
		{"not", `not tagged "vip"`, `(not (tagged "vip"))`},
		{"not not", `not not a`, `(not (not a))`},
		{"parens", `(a or b) and c`, `(and (paren (or a b)) c)`},
		{"precedence or and", `a or b and c`, `(or a (and b c))`},
		{"precedence not and", `not a and b`, `(and (not a) b)`},
		{"left assoc or", `a or b or c`, `(or (or a b) c)`},
		{"comparisons", `member.age = 1 and member.age != 2 and member.age < 3 and member.age <= 4 and member.age > 5 and member.age >= 6`,
			`(and (and (and (and (and (= member.age 1) (!= member.age 2)) (< member.age 3)) (<= member.age 4)) (> member.age 5)) (>= member.age 6))`},
		{"arith precedence", `member.a + 2 * 3 - 4 / 5 > 0`, `(> (- (+ member.a (* 2 3)) (/ 4 5)) 0)`},
		{"arith parens", `(member.a + 2) * 3 > 0`, `(> (* (paren (+ member.a 2)) 3) 0)`},
		{"negative number", `member.balance > -5.5`, `(> member.balance -5.5)`},
		{"between", `days since last purchased between 30 and 44`, `(between (days-since-last purchased) 30 44)`},
		{"between then and", `days since first purchased between 30 and 44 and count(purchased ever) = 1`,
			`(and (between (days-since-first purchased) 30 44) (= (count purchased (ever)) 1))`},
		{"between arithmetic", `member.x between 1 + 1 and 2 * 3`, `(between member.x (+ 1 1) (* 2 3))`},
		{"in list", `member.city in ("长沙", "上海")`, `(in member.city ["长沙" "上海"])`},
		{"not in list", `member.tier not in ("gold", "silver")`, `(not-in member.tier ["gold" "silver"])`},
		{"is null", `member.birthday is null`, `(is-null member.birthday)`},
		{"is not null", `member.birthday is not null`, `(is-not-null member.birthday)`},
		{"call", `birthday_in(0 days)`, `(call birthday_in (0 day))`},
		{"call no args", `f()`, `(call f)`},
		{"call several args", `f(1, "a", member.x)`, `(call f 1 "a" member.x)`},
		{"count", `count(purchased in last 30 days) >= 3`, `(>= (count purchased (in-last (30 day))) 3)`},
		{"sum field", `sum(purchased.amount in last 365 days) >= 500`, `(>= (sum purchased.amount (in-last (365 day))) 500)`},
		{"avg before", `amount > 1.5 * avg(purchased.amount before)`, `(> amount (* 1.5 (avg purchased.amount (before))))`},
		{"min max with filters", `min(purchased.amount at store "A") < max(purchased.amount where sku = "X" ever)`,
			`(< (min purchased.amount (at store "A")) (max purchased.amount (where (= sku "X")) (ever)))`},
		{"days since last with filter", `days since last purchased of sku "TB-10PK" between 330 and 340`,
			`(between (days-since-last purchased (of sku "TB-10PK")) 330 340)`},
		{"days since where", `days since last purchased where amount > 10 > 90`,
			`(> (days-since-last purchased (where (> amount 10))) 90)`},
		{"strings with escapes", `member.name = "a\"b\\c\nd\te\u00e9"`, `(= member.name "a\"b\\c\nd\teé")`},
		{"booleans", `member.consent_sms = true or member.consent_sms = false`, `(or (= member.consent_sms true) (= member.consent_sms false))`},
		{"date", `member.birthday < 2024-11-11`, `(< member.birthday (date 2024-11-11))`},
		{"timestamp", `member.signup_at >= 2024-11-11 10:00`, `(>= member.signup_at (timestamp 2024-11-11 10:00:00))`},
		{"timestamp seconds", `member.signup_at >= 2024-11-11 10:00:30`, `(>= member.signup_at (timestamp 2024-11-11 10:00:30))`},
		{"date filter", `purchased on day_of 2024-11-11 ever`, `(event purchased (on day_of (date 2024-11-11)) (ever))`},
		{"all units", `f(1 minute, 2 minutes, 1 hour, 2 hours, 1 day, 2 days, 1 week, 2 weeks, 1 month, 2 months, 1 year, 2 years)`,
			`(call f (1 minute) (2 minute) (1 hour) (2 hour) (1 day) (2 day) (1 week) (2 week) (1 month) (2 month) (1 year) (2 year))`},
		{"chinese identifiers", `长沙会员 and member.城市 = "长沙"`, `(and 长沙会员 (= member.城市 "长沙"))`},
		{"event in where", `purchased where amount > 10 and visited ever`, `(event purchased (where (and (> amount 10) (event visited (ever)))))`},
		{"bare event in where is ident", `purchased where vip`, `(event purchased (where vip))`},
		{"multiline", "visited in last 3 months\n  and not purchased ever\n  or tagged \"x\"",
			`(or (and (event visited (in-last (3 month))) (not (event purchased (ever)))) (tagged "x"))`},
		{"comment inside", "a # first\n and b # second", `(and a b)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, diags := ParseCondition("cond", []byte(tc.src))
			if len(diags) > 0 {
				t.Fatalf("ParseCondition(%q) diagnostics:\n%s", tc.src, render(diags, "cond", tc.src))
			}
			if got := debugString(x); got != tc.want {
				t.Errorf("ParseCondition(%q)\n got: %s\nwant: %s", tc.src, got, tc.want)
			}
		})
	}
}

// TestParseDecls covers every declaration form.
func TestParseDecls(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"brand", `brand "acme"`, `(brand "acme")`},
		{"import", `import "crm"`, `(import "crm")`},
		{"segment", `segment s = visited ever`, `(segment s (event visited (ever)))`},
		{"segment title", `segment s "Title" = a`, `(segment s "Title" a)`},
		{"chinese segment", `segment 长沙会员 = member.city = "长沙"`, `(segment 长沙会员 (= member.city "长沙"))`},
		{"rule minimal", "rule r if queued then tag \"x\"", "(rule r\n  (if queued)\n  (then (tag \"x\")))"},
		{"rule title", "rule r \"T\" if queued then untag \"x\"", "(rule r \"T\"\n  (if queued)\n  (then (untag \"x\")))"},
		{"rule actions", "rule r if queued then send coupon \"A\" via sms and tag \"t\" and untag \"u\" and notify \"hook\"",
			"(rule r\n  (if queued)\n  (then (send coupon \"A\" sms) (tag \"t\") (untag \"u\") (notify \"hook\")))"},
		{"rule and in cond then actions", "rule r if a and b then tag \"x\" and tag \"y\"",
			"(rule r\n  (if (and a b))\n  (then (tag \"x\") (tag \"y\")))"},
		{"rule between and action and", "rule r if days since last purchased between 1 and 2 and a then tag \"x\" and tag \"y\"",
			"(rule r\n  (if (and (between (days-since-last purchased) 1 2) a))\n  (then (tag \"x\") (tag \"y\")))"},
		{"rule options", "rule r if q then tag \"x\"\n limit once per member\n limit once per member every 7 days\n priority 10\n holdout 5%\n stop after 3 unanswered",
			"(rule r\n  (if q)\n  (then (tag \"x\"))\n  (limit)\n  (limit every (7 day))\n  (priority 10)\n  (holdout 5%)\n  (stop-after 3))"},
		{"cap unit", `cap sms to 1 per day`, `(cap sms 1 (per-day))`},
		{"cap plural unit", `cap sms to 1 per hours`, `(cap sms 1 (per-hour))`},
		{"cap duration", `cap wechat to 4 per 30 days`, `(cap wechat 4 (30 day))`},
		{"cap all", `cap all to 6 per 7 days`, `(cap all 6 (7 day))`},
		{"quiet", `quiet hours 22:00 to 08:00`, `(quiet (clock 22:00:00) (clock 08:00:00))`},
		{"quiet short hour", `quiet hours 9:30 to 21:15:30`, `(quiet (clock 09:30:00) (clock 21:15:30))`},
		{"event decl", "event refund_requested {\n  reason text,\n  amount number\n  urgent bool, at_date date ts2 timestamp\n}",
			`(event-decl refund_requested (reason text) (amount number) (urgent bool) (at_date date) (ts2 timestamp))`},
		{"empty event decl", `event ping {}`, `(event-decl ping)`},
		{"member decl", "member {\n  vip_level number\n  wechat_id text,\n}", `(member-decl (vip_level number) (wechat_id text))`},
		{"member decl vs member field", "segment s =\n  member.x = 1\nmember { y text }", "(segment s (= member.x 1))\n(member-decl (y text))"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := ParseFile("t.nudge", []byte(tc.src))
			if len(diags) > 0 {
				t.Fatalf("ParseFile(%q) diagnostics:\n%s", tc.src, render(diags, "t.nudge", tc.src))
			}
			got := strings.TrimSuffix(debugString(f), "\n")
			if got != tc.want {
				t.Errorf("ParseFile(%q)\n got: %s\nwant: %s", tc.src, got, tc.want)
			}
		})
	}
}

// TestSyntaxErrors checks messages of single-error inputs inline; the golden
// tests under testdata/syntax cover rendering.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing condition", "rule r\n  if then tag \"x\"", `2:6: unexpected "then"; expected a condition after "if"`},
		{"unterminated string", `brand "acme`, `1:7: unterminated string; add the closing "`},
		{"bad unit", `segment s = visited in last 3 fortnights`, `1:31: unexpected "fortnights"; expected a duration unit (minutes, hours, days, weeks, months, years) after 3`},
		{"missing unit at end", `segment s = visited in last 3`, `1:30: expected a duration unit (minutes, hours, days, weeks, months, years) after 3`},
		{"reserved word as name", "rule count if a then tag \"x\"", `1:6: unexpected "count"; expected a rule name after "rule" ("count" is a reserved word)`},
		{"bad action after and", "rule r if a then tag \"x\" and email \"y\"", `1:30: unexpected "email"; expected an action (send, tag, untag or notify) after "and"`},
		{"cap without count", `cap sms to per day`, `1:12: unexpected "per"; expected a number after "to"`},
		{"garbage", `hello world`, `1:1: unexpected "hello"; expected a declaration (rule, segment, event, member, cap, cost, quiet hours, brand, import or test)`},
		{"followed by with window", `segment s = a not followed by b within 2 days ever`, `1:47: a "not followed by" condition takes no quantifier or window after "within"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := ParseFile("t.nudge", []byte(tc.src))
			if len(diags) != 1 {
				t.Fatalf("want 1 diagnostic, got %d:\n%s", len(diags), render(diags, "t.nudge", tc.src))
			}
			d := diags[0]
			got := d.Span.Start.String() + ": " + d.Message
			if got != tc.want || d.Code != "syntax" {
				t.Errorf("ParseFile(%q)\n got: %s (code %s)\nwant: %s", tc.src, got, d.Code, tc.want)
			}
		})
	}
}

// store is the example of SPEC §7: the misspelled event sits on line 4.
const store = `# store A coupons
rule store_a
  "Coupon for store A"
  if queud at store "A"
  then send coupon "A-10OFF" via sms
`

func TestSpans(t *testing.T) {
	f, diags := ParseFile("rules/store.nudge", []byte(store))
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	r := f.Decls[0].(*ast.RuleDecl)
	atom := r.Cond.(*ast.EventAtom)
	cn := f.Decls[0].(*ast.RuleDecl).Actions[0]
	spanOf := func(n ast.Node) string {
		s := n.Pos()
		return s.Start.String() + "-" + s.End.String()
	}
	tests := []struct {
		name string
		node ast.Node
		want string
	}{
		{"file", f, "1:1-6:1"},
		{"rule", r, "2:1-5:37"},
		{"rule name", r.Name, "2:6-2:13"},
		{"title", r.Title, "3:3-3:23"},
		{"queud", atom.Ref.Event, "4:6-4:11"},
		{"event atom", atom, "4:6-4:24"},
		{"filter", atom.Ref.Filters[0], "4:12-4:24"},
		{"filter value", atom.Ref.Filters[0].(*ast.PrepFilter).Value, "4:21-4:24"},
		{"action", cn, "5:8-5:37"},
		{"channel", cn.Channel, "5:34-5:37"},
		{"comment", f.Comments[0], "1:1-1:18"},
	}
	for _, tc := range tests {
		if got := spanOf(tc.node); got != tc.want {
			t.Errorf("%s: span %s, want %s", tc.name, got, tc.want)
		}
	}
	if got := atom.Ref.Event.Span.Start.Offset; got != strings.Index(store, "queud") {
		t.Errorf("queud offset %d, want %d", got, strings.Index(store, "queud"))
	}
	if r.Span.File != "rules/store.nudge" {
		t.Errorf("span file %q", r.Span.File)
	}
}

// TestSpansUnicode checks that columns count runes while offsets count bytes.
func TestSpansUnicode(t *testing.T) {
	src := `segment 长沙会员 = member.city = "长沙" and visited at store "望湘园" ever`
	f, diags := ParseFile("t.nudge", []byte(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	s := f.Decls[0].(*ast.SegmentDecl)
	and := s.Cond.(*ast.BinaryExpr)
	cmp := and.X.(*ast.BinaryExpr)
	ev := and.Y.(*ast.EventAtom)
	tests := []struct {
		name      string
		span      diag.Span
		start     string
		end       string
		startByte int
	}{
		{"name", s.Name.Span.Span, "1:9", "1:13", 8},
		{"string", cmp.Y.Pos(), "1:30", "1:34", strings.Index(src, `"长沙"`)},
		{"and op", and.OpPos, "1:35", "1:38", strings.Index(src, "and")},
		{"event", ev.Span.Span, "1:39", "1:66", strings.Index(src, "visited")},
		{"segment", s.Span.Span, "1:1", "1:66", 0},
	}
	for _, tc := range tests {
		if tc.span.Start.String() != tc.start || tc.span.End.String() != tc.end || tc.span.Start.Offset != tc.startByte {
			t.Errorf("%s: got %s-%s @%d, want %s-%s @%d", tc.name, tc.span.Start, tc.span.End, tc.span.Start.Offset, tc.start, tc.end, tc.startByte)
		}
	}
}

// TestSpansNested checks that every node's span covers its children and
// that children are ordered, over the whole spec example.
func TestSpansNested(t *testing.T) {
	src, err := os.ReadFile("testdata/valid/spec.nudge")
	if err != nil {
		t.Fatal(err)
	}
	f, diags := ParseFile("spec.nudge", src)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	for _, d := range f.Decls {
		ast.Inspect(d, func(n ast.Node) bool {
			s := n.Pos()
			if !s.IsValid() || s.End.Offset < s.Start.Offset {
				t.Errorf("%T has a bad span %v", n, s)
				return false
			}
			text := string(src[s.Start.Offset:s.End.Offset])
			if text != strings.TrimSpace(text) {
				t.Errorf("%T span %q has surrounding blanks", n, text)
			}
			last := s.Start.Offset
			ast.Inspect(n, func(c ast.Node) bool {
				if c == n {
					return true
				}
				cs := c.Pos()
				if cs.Start.Offset < s.Start.Offset || cs.End.Offset > s.End.Offset {
					t.Errorf("%T %q not inside %T %q", c, src[cs.Start.Offset:cs.End.Offset], n, text)
				}
				if cs.Start.Offset < last {
					t.Errorf("%T %q out of order in %T %q", c, src[cs.Start.Offset:cs.End.Offset], n, text)
				}
				last = cs.Start.Offset
				return false // direct children only
			})
			return true
		})
	}
}

// TestRecovery proves that all errors of a file are reported and good
// declarations around bad ones survive.
func TestRecovery(t *testing.T) {
	src := "rule a\n  if queued at store\n  then tag \"x\"\n\nsegment ok = visited ever\n\nrule b if then tag \"y\"\n\ncap sms to 1 per fortnight\nquiet hours 22:00 to 08:00\n"
	f, diags := ParseFile("t.nudge", []byte(src))
	if len(diags) != 3 {
		t.Fatalf("want 3 diagnostics, got:\n%s", render(diags, "t.nudge", src))
	}
	var kinds []string
	for _, d := range f.Decls {
		kinds = append(kinds, typeName(d))
	}
	if got, want := strings.Join(kinds, " "), "BadDecl SegmentDecl BadDecl BadDecl QuietDecl"; got != want {
		t.Errorf("decls %s, want %s", got, want)
	}
}

func typeName(n ast.Node) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast.")
}

// TestByteOrderMark: a BOM takes no column, so positions match what an
// editor shows (it counted as column 1 of the first line).
func TestByteOrderMark(t *testing.T) {
	f, diags := ParseFile("t.nudge", []byte("\ufeffsegment s = purchased ever\n"))
	if f == nil || len(diags) > 0 || len(f.Decls) != 1 {
		t.Fatalf("ParseFile = %v, %v", f, diags)
	}
	if p := f.Decls[0].Pos().Start; p.Line != 1 || p.Col != 1 {
		t.Errorf("the segment starts at %d:%d, want 1:1", p.Line, p.Col)
	}
}

func TestEmptyAndCommentsOnly(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# just a comment\n# another", "\ufeff# bom\n"} {
		f, diags := ParseFile("t.nudge", []byte(src))
		if f == nil || len(diags) > 0 || len(f.Decls) != 0 {
			t.Errorf("ParseFile(%q) = %v, %v", src, f, diags)
		}
	}
	if _, diags := ParseCondition("c", nil); len(diags) != 1 {
		t.Errorf("empty condition: %v", diags)
	}
	if _, diags := ParseCondition("c", []byte("a and")); len(diags) != 1 || diags[0].Message != `expected a condition after "and"` {
		t.Errorf("dangling and: %v", diags)
	}
}

// TestGoldenValid parses testdata/valid/*.nudge and compares the debug
// rendering with the .ast file next to it.
func TestGoldenValid(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.nudge")
	if len(files) == 0 {
		t.Fatal("no testdata/valid files")
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, diags := ParseFile(filepath.ToSlash(name), src)
			if len(diags) > 0 {
				t.Fatalf("diagnostics:\n%s", render(diags, filepath.ToSlash(name), string(src)))
			}
			checkGolden(t, strings.TrimSuffix(name, ".nudge")+".ast", []byte(debugString(f)))
		})
	}
}

// TestGoldenSyntax parses testdata/syntax/*.nudge and compares the rendered
// diagnostics with the .golden file next to it.
func TestGoldenSyntax(t *testing.T) {
	files, _ := filepath.Glob("testdata/syntax/*.nudge")
	if len(files) < 20 {
		t.Fatalf("want at least 20 syntax cases, have %d", len(files))
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.ToSlash(name)
			f, diags := ParseFile(file, src)
			if f == nil {
				t.Fatal("nil file")
			}
			if len(diags) == 0 {
				t.Fatal("no diagnostics for an invalid file")
			}
			for _, d := range diags {
				if d.Code != "syntax" {
					t.Errorf("code %q, want syntax", d.Code)
				}
				for _, leak := range []string{"unexpected token", "<ident>", "<EOF>", "PAction", "POr", "(expected"} {
					if strings.Contains(d.Message, leak) {
						t.Errorf("message leaks participle internals: %s", d.Message)
					}
				}
			}
			checkGolden(t, strings.TrimSuffix(name, ".nudge")+".golden", []byte(render(diags, file, string(src))))
		})
	}
}

func render(l diag.List, file, src string) string {
	var b bytes.Buffer
	diag.RenderText(&b, l, diag.Sources{file: []byte(src)})
	return b.String()
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
