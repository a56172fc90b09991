package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"nudge/runtime/runtimetest"
)

// journeyEngine returns an engine over a database where runtimetest's
// unpaid journey ran (ticks at 10:00 and 12:00 on 2024-11-10): j1 waits
// for the split, j2 exited by paying, j3 (amount 20) never entered; the
// journey file is loaded and now is 12:00.
func journeyEngine(t *testing.T) *Engine {
	t.Helper()
	f := runtimetest.Fixture{
		Source: runtimetest.UnpaidJourneyFor("acme"),
		Members: `member_id,brand,consent_sms,consent_app_push
j1,acme,true,true
j2,acme,true,true
j3,acme,true,true
`,
		Events: `member_id,brand,type,ts,amount,order_id
j1,acme,order_placed,2024-11-10 10:00,80,o1
j2,acme,order_placed,2024-11-10 10:00,80,o2
j3,acme,order_placed,2024-11-10 10:00,20,o3
j2,acme,paid,2024-11-10 11:00,80,o2
`,
		Ticks: []string{"2024-11-10 10:00", "2024-11-10 12:00"},
	}.Run(t)
	now := time.Date(2024, 11, 10, 12, 0, 0, 0, time.UTC)
	e := New(f.DB, Options{Now: &now})
	t.Cleanup(func() { e.Close() })
	if res := eval(t, e, ":load "+f.File); !strings.Contains(res.Text, "loaded") {
		t.Fatalf(":load: %s", res.Text)
	}
	return e
}

// TestJourneysCommand lists the journeys with their instances, and shows
// where members stand (the explanation of runtime/why).
func TestJourneysCommand(t *testing.T) {
	e := journeyEngine(t)
	cases := []struct {
		name, input string
		want, not   []string
	}{
		{"list", ":journeys", []string{
			`unpaid "Unpaid order: remind twice" (`, "enter on, 6 steps; instances: 1 active, 1 exited, 0 completed"}, nil},
		{"waiting", ":journeys j1", []string{
			"member j1 at 2024-11-10 12:00",
			`step 8: send reminder "PAY-1" via app_push → pending`,
			"→ active since 2024-11-10 10:00: next step 10 (split 50% sms_only, 50% wechat_first), due at 2024-11-10 16:30"}, nil},
		{"exited", ":journeys j2 unpaid", []string{"→ exited at 2024-11-10 11:00 before step 10: `exit when paid` held"}, nil},
		{"not entered", ":journeys j3", []string{"member j3 at 2024-11-10 12:00 (brand acme)", "→ not entered: "}, []string{"instance 1", "no member"}},
		{"no such member", ":journeys j9", []string{"member j9 at 2024-11-10 12:00 (brand acme)\n  no member \"j9\" in brand \"acme\""}, nil},
		{"unknown journey", ":journeys j1 nope", []string{`no journey "nope" (journeys: unpaid)`}, nil},
		{"usage", ":journeys a b c", []string{"usage: :journeys [MEMBER [JOURNEY]]"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := eval(t, e, c.input)
			for _, w := range c.want {
				if !strings.Contains(res.Text, w) {
					t.Errorf("output lacks %q:\n%s", w, res.Text)
				}
			}
			for _, w := range c.not {
				if strings.Contains(res.Text, w) {
					t.Errorf("output has %q:\n%s", w, res.Text)
				}
			}
		})
	}
}

// TestJourneysCommandWithout says how to get a journey when none is loaded.
func TestJourneysCommandWithout(t *testing.T) {
	e := newTestEngine(t)
	if res := eval(t, e, ":journeys"); !strings.Contains(res.Text, "no journeys: :load a file") {
		t.Errorf(":journeys without journeys: %s", res.Text)
	}
}

// TestJourneysCompletes: the command completes after a colon.
func TestJourneysCompletes(t *testing.T) {
	e := newTestEngine(t)
	got := e.Complete(":jo")
	if len(got) != 1 || got[0] != ":journeys" {
		t.Errorf("Complete(\":jo\") = %v, want [:journeys]", got)
	}
}

// TestExplainCancelled: Ctrl-C during :why or :journeys MEMBER is a
// cancellation (an error wrapping context.Canceled, which the TUI shows as
// "cancelled"), not a message holding the dry run's chain of steps.
func TestExplainCancelled(t *testing.T) {
	e := journeyEngine(t)
	eval(t, e, `rule big if sum(order_placed.amount in last 30 days) > 50 then send coupon "BIG" via sms`)
	for _, input := range []string{":why j1", ":journeys j1", ":journeys j1 unpaid"} {
		t.Run(input, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			res, err := e.Eval(ctx, input)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Eval(%q) with a cancelled context = %+v, %v; want an error wrapping context.Canceled", input, res, err)
			}
		})
	}
	// The session still works.
	if res := eval(t, e, ":journeys j1"); !strings.Contains(res.Text, "member j1 at") {
		t.Errorf("after the cancellation: %s", res.Text)
	}
}

// TestWhyPointsToJourneys: :why names rules; asked about a journey, or
// with journeys and no rule, it says which command explains journeys.
// :schema lists the journeys.
func TestWhyPointsToJourneys(t *testing.T) {
	e := journeyEngine(t)
	for input, want := range map[string]string{
		":why j1":        "no rules to explain; :journeys j1 shows where the member stands in each journey",
		":why j1 unpaid": "unpaid is a journey: :journeys j1 unpaid shows where the member stands in it and why",
		":schema":        "Journeys (:journeys lists their instances):\n  unpaid  (enter on, ",
	} {
		if res := eval(t, e, input); !strings.Contains(res.Text, want) {
			t.Errorf("%s:\n%s\nwant it to hold %q", input, res.Text, want)
		}
	}
}

// TestSessionJourney: a journey typed (or pasted) into the session is a
// declaration like a rule: :journeys lists it, :run dry-runs it (journeys
// only, no rule needed) and says per journey what the tick would decide;
// typing it again replaces it. cost, stock and the global holdout are
// declarations too.
func TestSessionJourney(t *testing.T) {
	e := newTestEngine(t)
	src := `journey welcome "Hi"
  enter when purchased in last 30 days
  send coupon "J1" via sms
  wait 2 days
  send coupon "J2" via sms
end`
	res := eval(t, e, src)
	if res.Kind != Text || !strings.Contains(res.Text, "journey welcome defined: enter when") || !strings.Contains(res.Text, "3 steps") {
		t.Fatalf("journey: %s %q", res.Kind, res.Text)
	}
	if res := eval(t, e, ":journeys"); !strings.Contains(res.Text, `welcome "Hi" (<session 1>:1): enter when, 3 steps`) {
		t.Errorf(":journeys: %s", res.Text)
	}
	res = eval(t, e, ":run")
	if res.Kind != Decisions {
		t.Fatalf(":run kind %s: %s", res.Kind, res.Text)
	}
	if !strings.Contains(res.Text, "welcome (journey): 2 enter, 2 sends (1 no_consent, 1 pending); after the tick: 2 active, 0 exited, 0 completed") {
		t.Errorf(":run summary %q", res.Text)
	}
	// Typed again, it replaces the first.
	if res := eval(t, e, strings.Replace(src, `"Hi"`, `"Hello"`, 1)); res.Kind != Text || !strings.Contains(res.Text, "journey welcome defined") {
		t.Fatalf("journey again: %s %q", res.Kind, res.Text)
	}
	for _, decl := range []string{`stock "J1" 5`, `cost sms 0.05`, `holdout 5% of members`} {
		if res := eval(t, e, decl); res.Kind != Text || res.Text != "policy added to the session" {
			t.Errorf("%s: %s %q", decl, res.Kind, res.Text)
		}
		if res := eval(t, e, decl); res.Kind != Text {
			t.Errorf("%s again: %s %q", decl, res.Kind, res.Text)
		}
	}
	if res := eval(t, e, ":reset"); res.Text != "forgot 4 session declarations" {
		t.Errorf(":reset: %q", res.Text)
	}
}
