package engine

import (
	"strings"
	"testing"
)

// TestWhyCommand checks :why on the fixture: the condition's values, the
// policies and the verdict, per rule or for one rule.
func TestWhyCommand(t *testing.T) {
	e := newTestEngine(t)
	eval(t, e, `rule big if sum(purchased.amount in last 30 days) > 150 then send coupon "BIG" via sms`)
	eval(t, e, `rule queue if queued at store "A" then send coupon "Q" via sms`)
	cases := []struct {
		name, input string
		want, not   []string
	}{
		{"fires", ":why m1", []string{
			"member m1 at 2024-11-11 12:00 (brand acme)",
			"sum(purchased.amount in last 30 days) = 200.50 > 150 ✓",
			"consent_sms = true ✓",
			`→ would fire: send coupon "BIG" via sms → pending`,
			"rule queue", "→ would not fire: no trigger event to consider"}, nil},
		{"no consent, one rule", ":why m3 queue", []string{
			`queued.store = "A" = "A" ✓`,
			"consent_sms = false ✗",
			`→ would fire but send nothing: send coupon "Q" via sms → no_consent`}, []string{"rule big"}},
		{"usage", ":why", []string{"usage: :why MEMBER [RULE]"}, nil},
		{"unknown rule", ":why m1 nope", []string{`why: no rule "nope"`}, nil},
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
