package compiler

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"

	"nudge/lang"
	"nudge/lang/ast"
	"nudge/stdlib"
)

// conditionOf checks src (a file with one rule) and returns its Info and the
// rule's condition, as the REPL would for a typed condition.
func conditionOf(t *testing.T, cond string) (*lang.Program, ast.Expr) {
	t.Helper()
	src := "brand \"acme\"\nimport \"crm\"\nrule r\n  if " + cond + "\n  then tag \"t\"\n"
	prog, diags := lang.LoadSources([]lang.Source{{Name: "repl.nudge", Src: []byte(src)}}, stdlib.Env())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return prog, prog.Info.Rules[0].Decl.Cond
}

func TestCompileCondition(t *testing.T) {
	db := openDB(t)
	var members []member
	for _, m := range []string{"m1 city=长沙 tier=gold", "m2 city=北京", "m3 city=长沙", "x1 brand=other city=长沙"} {
		members = append(members, parseMember(t, m))
	}
	var events []event
	for _, e := range []string{"1 m1 purchased 2024-06-01 amount=30", "2 m1 purchased 2024-06-05 amount=20", "3 m2 purchased 2024-06-05 amount=5", "4 x1 purchased 2024-06-05 amount=5 brand=other"} {
		events = append(events, parseEvent(t, e))
	}
	load(t, db, members, events, nil)
	prog, cond := conditionOf(t, `member.city = "长沙" and sum(purchased.amount in last 30 days) > 10`)
	a, diags := CompileCondition(prog.Info, cond)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	wantValues := []Value{{Column: "v0", Label: "member.city"}, {Column: "v1", Label: "sum(purchased.amount in last 30 days)"}}
	if !reflect.DeepEqual(a.Values, wantValues) {
		t.Errorf("values = %v, want %v", a.Values, wantValues)
	}
	rows, err := db.QueryContext(context.Background(), a.SQL,
		namedArgs(mustTime(t, "2024-06-10T12:00"), Watermarks{})...)
	if err != nil {
		t.Fatalf("%v\n%s", err, a.SQL)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, city string
		var sum float64
		if err := rows.Scan(&id, &city, &sum); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+" "+city+" "+strings.TrimRight(strings.TrimRight(strings.TrimSpace(formatFloat(sum)), "0"), "."))
	}
	sort.Strings(got)
	if want := []string{"m1 长沙 50"}; !reflect.DeepEqual(got, want) {
		t.Errorf("audience = %v, want %v\n%s", got, want, a.SQL)
	}
}

func TestCompileConditionRejectsTriggers(t *testing.T) {
	for _, cond := range []string{`queued at store "A"`, `queued`, `order_placed not followed by paid within 2 hours`} {
		prog, c := conditionOf(t, cond)
		a, diags := CompileCondition(prog.Info, c)
		if a != nil || !diags.HasErrors() || !strings.Contains(diags[0].Message, "trigger") {
			t.Errorf("%s: got %v, %v; want a trigger error", cond, a, diags)
		}
	}
}

func TestExplain(t *testing.T) {
	p := compileSource(t, "brand \"acme\"\nimport \"crm\"\nrule a \"Title\"\n  if purchased ever\n  then tag \"t\"\nrule b\n  if queued\n  then tag \"t\"\n")
	all, ok := Explain(p, "")
	if !ok || !strings.HasPrefix(all, "-- rule a (state)  test.nudge:3\n-- Title\n") || !strings.Contains(all, "\n-- rule b (trigger)  test.nudge:6\n") {
		t.Errorf("Explain all:\n%s", all)
	}
	one, ok := Explain(p, "b")
	if !ok || strings.Contains(one, "rule a") || !strings.HasSuffix(one, ";\n") {
		t.Errorf("Explain b:\n%s", one)
	}
	if _, ok := Explain(p, "nope"); ok {
		t.Error("Explain of an unknown rule reports ok")
	}
}

func TestProgramOptions(t *testing.T) {
	p := compileSource(t, `brand "acme"
import "crm"
rule r "T"
  if purchased ever
  then send coupon "C" via sms and tag "x" and untag "y" and notify "hook"
  limit once per member every 2 months
  priority 7
  holdout 10%
  stop after 3 unanswered
cap sms to 1 per day
cap all to 6 per 7 days
quiet hours 22:00 to 08:00
`)
	r := p.Rules[0]
	wantActions := []Action{{Verb: "send", Kind: "coupon", Content: "C", Channel: "sms"}, {Verb: "tag", Content: "x"}, {Verb: "untag", Content: "y"}, {Verb: "notify", Content: "hook"}}
	if !reflect.DeepEqual(r.Actions, wantActions) {
		t.Errorf("actions = %+v", r.Actions)
	}
	if r.Limit == nil || r.Limit.Every != 60*24*hour || r.Priority != 7 || r.Holdout != 10 || r.StopAfter != 3 || r.Title != "T" || r.Trigger {
		t.Errorf("rule = %+v limit %+v", r, r.Limit)
	}
	if p.Brand != "acme" || len(p.Caps) != 2 || p.Caps[0] != (Cap{Channel: "sms", Count: 1, Per: 24 * hour}) || p.Caps[1] != (Cap{Count: 6, Per: 7 * 24 * hour}) {
		t.Errorf("caps = %+v", p.Caps)
	}
	if len(p.Quiet) != 1 || p.Quiet[0] != (Quiet{From: 22 * 60, To: 8 * 60}) {
		t.Errorf("quiet = %+v", p.Quiet)
	}
}
