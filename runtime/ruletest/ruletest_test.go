package ruletest_test

import (
	"context"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"nudge/compiler"
	"nudge/examples"
	"nudge/lang"
	"nudge/lang/parser"
	"nudge/runtime/ruletest"
	"nudge/stdlib"
)

// suite compiles rule sources and parses test sources into a Suite.
func suite(t *testing.T, rules map[string]string, tests map[string]string) ruletest.Suite {
	t.Helper()
	var srcs []lang.Source
	for name, src := range rules {
		srcs = append(srcs, lang.Source{Name: name, Src: []byte(src)})
	}
	prog, diags := lang.LoadSources(srcs, stdlib.Env())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	compiled, diags := compiler.Compile(prog.Info)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	s := ruletest.Suite{Info: prog.Info, Program: compiled}
	for name, src := range tests {
		f, diags := parser.ParseFile(name, []byte(src))
		if len(diags) > 0 {
			t.Fatal(diags)
		}
		s.Files = append(s.Files, f)
	}
	return s
}

// TestExamples runs every example test file against the example rules:
// all pass, and every rule and branch is covered.
func TestExamples(t *testing.T) {
	rules, tests := map[string]string{}, map[string]string{}
	names, _ := fs.Glob(examples.Files, "*.nudge")
	for _, n := range names {
		b, err := fs.ReadFile(examples.Files, n)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(n, lang.TestSuffix) {
			tests[n] = string(b)
		} else {
			rules[n] = string(b)
		}
	}
	if len(tests) < len(rules) {
		t.Fatalf("%d test files for %d rule files: every example needs a test file", len(tests), len(rules))
	}
	res, cov, err := ruletest.Run(context.Background(), suite(t, rules, tests), ruletest.Options{Coverage: true, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		for _, f := range r.Failures {
			t.Errorf("%s %q: %s: %s %v", r.File, r.Name, f.Span.Start, f.Message, f.Diff)
		}
	}
	rep := cov.Report()
	for _, u := range rep.Untested {
		t.Errorf("rule %s has no test", u.Rule)
	}
	for _, b := range rep.NeverTrue {
		t.Errorf("rule %s: %s %q never true", b.Rule, b.Kind, b.Label)
	}
}

const rulesSrc = `brand "acme"
import "crm"
cap sms to 1 per day
rule welcome if visited then send coupon "HI" via sms and tag "welcomed"
rule loyal if purchased at least 2 times in last 30 days or tagged "vip" then send coupon "LOYAL" via sms priority 5
`

// TestScenarios checks the script semantics: clock, relative times,
// several ticks, statuses, tags and failures with their diffs.
func TestScenarios(t *testing.T) {
	cases := []struct {
		name, test string
		failures   []string // "line: message | diff lines"
	}{
		{"passing", `test "p"
  now 2024-11-11 10:00
  member "a" with consent_sms true
  "a" visited 1 hour ago
  tick
  expect welcome fires for "a" with status pending
  expect "a" tagged "welcomed"
  tick 1 hour later
  expect nothing fires`, nil},
		{"cap and priority", `test "c"
  now 2024-11-11 10:00
  member "a" with consent_sms true
  "a" visited 1 hour ago
  "a" purchased 2 days ago
  "a" purchased 1 day ago
  tick
  expect loyal fires for "a" with status pending
  expect welcome fires for "a" with status capped`, nil},
		{"late event fires at the next tick", `test "l"
  now 2024-11-11 10:00
  member "a" with consent_sms true
  tick
  expect nothing fires
  "a" visited at 2024-11-11 09:30
  tick 1 minute later
  expect welcome fires for "a"`, nil},
		{"failing", `test "f"
  now 2024-11-11 10:00
  member "a"
  "a" visited 1 hour ago
  tick
  expect welcome fires for "a" with status pending
  expect welcome does not fire for "a"
  expect "a" not tagged "welcomed"
  expect loyal fires`, []string{
			`6: expect welcome fires for "a" with status pending | -welcome "a" fires with status pending +welcome "a" send coupon "HI" via sms: no_consent (no consent_sms) +welcome "a" tag "welcomed": applied`,
			`7: expect welcome does not fire for "a" | -(no decision of welcome "a") +welcome "a" send coupon "HI" via sms: no_consent (no consent_sms) +welcome "a" tag "welcomed": applied`,
			`8: expect "a" not tagged "welcomed" | -"a" not tagged "welcomed" +"a" tagged "welcomed"`,
			`9: expect loyal fires | -loyal fires +(no decision of loyal)`,
		}},
		{"no clock", `test "n"
  member "a"
  tick`, []string{"3: tick without a clock: start the test with `now TIMESTAMP` or write `tick at TIMESTAMP` | "}},
		{"expect before tick", `test "e"
  expect nothing fires`, []string{"2: expect nothing fires: there was no tick yet; add `tick` before it | "}},
		{"unknown status", `test "s"
  now 2024-11-11 10:00
  tick
  expect welcome fires with status pendng`, []string{`4: expect welcome fires with status pendng: unknown status pendng; did you mean "pending"? (statuses: applied, capped, expired, failed, gave_up, held_out, no_consent, out_of_stock, over_budget, pending, scheduled, sent) | `}},
		{"invalid date", `test "d"
  now 2024-02-30 10:00`, []string{"2: 2024-02-30 10:00 is not a valid date and time | "}},
		// (It ticked at the wall clock before.)
		{"clock at no time", `test "z"
  now 0001-01-01
  tick`, []string{"2: 0001-01-01 00:00:00 is read as no time at all; give a real date such as 2024-11-11 | "}},
		{"tick at no time", `test "z"
  tick at 0001-01-01 00:00`, []string{"2: 0001-01-01 00:00:00 is read as no time at all; give a real date such as 2024-11-11 | "}},
		// (The checker reports it too; a Suite built without it is refused
		// at run time.)
		{"time runs backwards", `test "b"
  now 2024-11-11 10:00
  tick
  tick at 2024-11-10 10:00
  tick`, []string{"4: this tick at 2024-11-10 10:00:00 is before the test's previous tick at 2024-11-11 10:00:00 (line 3): time cannot run backwards, as `nudge run` refuses it; tick at 2024-11-11 10:00:00 or later | "}},
		{"undeclared member", `test "u"
  now 2024-11-11 10:00
  "zed" visited`, []string{`3: member "zed" is not declared in this test; add ` + "`member \"zed\"`" + ` before its events | `}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := suite(t, map[string]string{"r.nudge": rulesSrc}, map[string]string{"r_test.nudge": c.test})
			res, _, err := ruletest.Run(context.Background(), s, ruletest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			var got []string
			for _, f := range res[0].Failures {
				var diff []string
				for _, l := range f.Diff {
					diff = append(diff, string(l.Op)+l.Text)
				}
				got = append(got, f.Span.Start.String()[:strings.Index(f.Span.Start.String(), ":")]+": "+f.Message+" | "+strings.Join(diff, " "))
			}
			if strings.Join(got, "\n") != strings.Join(c.failures, "\n") {
				t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.failures, "\n"))
			}
			if res[0].Passed() != (len(c.failures) == 0) {
				t.Errorf("Passed() = %v", res[0].Passed())
			}
		})
	}
}

// TestRunFilter selects tests by name.
func TestRunFilter(t *testing.T) {
	src := "test \"alpha\"\n  now 2024-11-11\ntest \"beta\"\n  now 2024-11-11\n"
	s := suite(t, map[string]string{"r.nudge": rulesSrc}, map[string]string{"r_test.nudge": src})
	res, _, err := ruletest.Run(context.Background(), s, ruletest.Options{Run: mustRegexp(t, "^b")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Name != "beta" {
		t.Fatalf("ran %v", res)
	}
}

func mustRegexp(t *testing.T, s string) *regexp.Regexp {
	t.Helper()
	re, err := regexp.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return re
}
