package compiler

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"nudge/lang"
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/stdlib"
)

// hostile are strings that must reach DuckDB as data, never as SQL.
var hostile = []struct{ name, s string }{
	{"injection", `'); DROP TABLE members; --`},
	{"single quotes", `it's 'quoted'`},
	{"double quotes", `say "hi"`},
	{"backslashes", `C:\path\'\\`},
	{"comment", `/* x */ -- y`},
	{"semicolon newline", "a;\nDELETE FROM events;"},
	{"dollar parameter", `$brand::VARCHAR`},
	{"template braces", `{0}{member}{now}`},
	{"emoji", "🎉 coupon 🚀"},
	{"chinese", "望湘园"},
	{"empty", ""},
}

// TestHostileStringsRoundTrip puts each hostile string in a rule, runs the
// rule, and requires that it matched exactly the event holding that string
// (and that the tables survived).
func TestHostileStringsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	now := mustTime(t, "2024-06-10T12:00")
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			src := "brand \"acme\"\nimport \"crm\"\nrule r\n  if purchased at store " + strconv.Quote(h.s) +
				" ever and member.city = " + strconv.Quote(h.s) + "\n  then tag " + strconv.Quote("t") + "\n"
			p := compileSource(t, src)
			load(t, db, []member{{ID: "m1", Brand: testBrand, City: h.s}, {ID: "m2", Brand: testBrand, City: h.s + "x"}, {ID: "m3", Brand: testBrand, City: h.s}}, nil, nil)
			ev := func(seq int64, m, store string) event {
				e := parseEvent(t, strconv.FormatInt(seq, 10)+" "+m+" purchased 2024-06-01")
				e.Store = store
				return e
			}
			load(t, db, []member{{ID: "m1", Brand: testBrand, City: h.s}, {ID: "m2", Brand: testBrand, City: h.s}, {ID: "m3", Brand: testBrand, City: h.s}},
				[]event{ev(1, "m1", h.s), ev(2, "m2", h.s+" "), ev(3, "m3", "x")}, nil)
			if h.s == "" {
				// NULL and "" differ: the loader stores "" as NULL, so nothing matches.
				got, err := runRule(ctx, db, p.Rules[0], now, noWatermark)
				if err != nil || len(got) != 0 {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			got, err := runRule(ctx, db, p.Rules[0], now, noWatermark)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"m1"}; !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v\n%s", got, want, p.Rules[0].SQL)
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM members").Scan(&n); err != nil || n != 3 {
				t.Fatalf("members table damaged: %d, %v", n, err)
			}
		})
	}
}

// TestRejectsNUL: a string holding NUL (which the parser may let through an
// escape) is reported, not pasted.
func TestRejectsNUL(t *testing.T) {
	src := "brand \"acme\"\nimport \"crm\"\nrule r\n  if member.city = \"x\"\n  then tag \"t\"\n"
	prog, diags := lang.LoadSources([]lang.Source{{Name: "nul.nudge", Src: []byte(src)}}, stdlib.Env())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ast.Inspect(prog.Info.Rules[0].Decl.Cond, func(n ast.Node) bool {
		if s, ok := n.(*ast.StringLit); ok {
			s.Value = "a\x00'; DROP TABLE members; --"
		}
		return true
	})
	p, diags := Compile(prog.Info)
	if !diags.HasErrors() || len(p.Rules) != 0 {
		t.Fatalf("want an error and no rule, got %v and %d rules", diags, len(p.Rules))
	}
	if d := diags[0]; d.Span.Start.Line != 4 || !strings.Contains(d.Message, "NUL") {
		t.Errorf("diagnostic %v: want line 4 mentioning NUL", d)
	}
}

// TestTemplateArgsNotReexpanded: a function's arguments are substituted once;
// placeholders inside an argument's text stay text.
func TestTemplateArgsNotReexpanded(t *testing.T) {
	env := stdlib.Env()
	env.Functions = maps.Clone(env.Functions)
	env.Functions["shout"] = &check.Function{Name: "shout", Params: []check.Type{check.Text}, Result: check.Text, SQL: "upper({0})"}
	src := "brand \"acme\"\nimport \"crm\"\nrule r\n  if shout(\"{0}{member}'{now}\") = \"{0}{MEMBER}'{NOW}\"\n  then tag \"t\"\n"
	prog, diags := lang.LoadSources([]lang.Source{{Name: "t.nudge", Src: []byte(src)}}, env)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := Compile(prog.Info)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	db := openDB(t)
	load(t, db, []member{{ID: "m1", Brand: testBrand}}, nil, nil)
	got, err := runRule(context.Background(), db, p.Rules[0], mustTime(t, "2024-06-10"), noWatermark)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"m1"}) {
		t.Errorf("got %v\n%s", got, p.Rules[0].SQL)
	}
}

// TestRuleTextInComments: rule text copied into the comments of the SQL
// (titles, the labels of candidate CTEs and values) cannot end a comment
// early: whatever the strings hold, the explained SQL has the lines it has
// for a plain string, every comment stays one line without a block comment
// marker, and the query still prepares.
func TestRuleTextInComments(t *testing.T) {
	db := openDB(t)
	cases := append(slices.Clone(hostile), []struct{ name, s string }{
		{"newline", "a\n$wm_seq::BIGINT\nb"},
		{"carriage return", "a\r) OR true --"},
		{"line separators", "a\u2028b\u2029c\u0085d"},
		{"block comment end", "*/ SELECT 1 /*"},
		{"escaped quote", `12" pizza`},
	}...)
	src := func(s string) string {
		q := nudgeQuote(s)
		return "brand \"acme\"\nimport \"crm\"\nrule r " + q + "\n  if purchased of sku " + q + " and member.city = " + q +
			" and count(purchased where sku = " + q + " ever) >= 1\n  then send coupon " + q + " via sms\n"
	}
	lines := func(p *Program) int { return strings.Count(ExplainRule(p.Rules[0]), "\n") }
	plain := lines(compileSource(t, src("x")))
	for _, h := range cases {
		if h.s == "" {
			continue // (an empty content id is an error)
		}
		t.Run(h.name, func(t *testing.T) {
			p := compileSource(t, src(h.s))
			text := ExplainRule(p.Rules[0])
			if n := lines(p); n != plain {
				t.Errorf("%d lines, want %d as for a plain string:\n%s", n, plain, text)
			}
			for _, l := range strings.Split(text, "\n") {
				if c := strings.TrimSpace(l); strings.HasPrefix(c, "--") && (strings.Contains(c, "*/") || strings.Contains(c, "/*")) {
					t.Errorf("comment %q holds a block comment marker", c)
				}
			}
			if _, err := db.Prepare(p.Rules[0].SQL); err != nil {
				t.Errorf("does not prepare: %v\n%s", err, p.Rules[0].SQL)
			}
		})
	}
}

// nudgeQuote writes s as a nudge string literal, with the language's
// escapes only (\" \\ \n \t \uXXXX).
func nudgeQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString("\\" + string(r))
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
