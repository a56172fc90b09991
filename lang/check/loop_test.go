package check_test

import (
	"strings"
	"testing"

	"nudge/lang/check"
)

func TestLoopChecks(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		codes []string // expected diagnostic codes, in order
	}{
		{"ok", `import "crm"
cost sms 0.05
rule r if queued then send coupon "X" via sms convert on purchased at store "A" within 7 days`, nil},
		{"unknown event", `import "crm"
rule r if queued then tag "x" convert on purchasd within 7 days`, []string{check.CodeUnknownEvent}},
		{"unknown field", `import "crm"
rule r if queued then tag "x" convert on purchased where amout > 1 within 7 days`, []string{check.CodeUnknownField}},
		{"zero window", `import "crm"
rule r if queued then tag "x" convert on purchased within 0 days`, []string{check.CodeBadConvert}},
		{"twice", `import "crm"
rule r if queued then tag "x" convert on purchased within 1 day convert on paid within 1 day`, []string{check.CodeDuplicateOption}},
		{"negative cost", `cost sms -0.05`, []string{check.CodeBadCost}},
		{"unknown channel", `cost smss 1`, []string{check.CodeUnknownChannel}},
		{"duplicate cost", "cost sms 1\ncost sms 2", []string{check.CodeDuplicateCost}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, diags, _ := checkSrc(t, tc.src)
			var got []string
			for _, d := range diags {
				got = append(got, d.Code)
			}
			if strings.Join(got, ",") != strings.Join(tc.codes, ",") {
				t.Fatalf("codes %v, want %v: %v", got, tc.codes, diags)
			}
		})
	}
}

func TestLoopInfo(t *testing.T) {
	info, diags, _ := checkSrc(t, `import "crm"
cost sms 0.05
cost email 0
rule a if queued then send coupon "X" via sms convert on paid within 2 hours
rule b if queued then send coupon "X" via sms`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if info.Costs["sms"] != 0.05 || len(info.Costs) != 2 {
		t.Errorf("costs %v", info.Costs)
	}
	if c := info.Rules[0].Convert; c == nil || c.Event.Event.Name != "paid" || c.Within.N.Value != 2 {
		t.Errorf("rule a convert %+v", c)
	}
	if info.Rules[1].Convert != nil {
		t.Errorf("rule b has a convert option")
	}
}
