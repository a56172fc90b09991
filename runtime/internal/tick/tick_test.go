package tick

import (
	"testing"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// TestRefusalsInPolicyOrder: the refusals of a send that the decide step
// applies in one statement come in the order of policy.Refusals (the global
// control group and a rule's holdout both refuse as held_out), then stock
// and budget (09b_stock_budget.go), and caps (10_caps.go) are the last
// refusal.
func TestRefusalsInPolicyOrder(t *testing.T) {
	tk := New(nil, Options{Program: &compiler.Program{}})
	var got []policy.Status
	for _, r := range tk.refusals() {
		if len(got) == 0 || got[len(got)-1] != r.status {
			got = append(got, r.status)
		}
		if r.when == "" || r.reason == "" {
			t.Errorf("refusal %s has no condition or no reason", r.status)
		}
	}
	got = append(got, policy.OutOfStock, policy.OverBudget, policy.Capped)
	if len(got) != len(policy.Refusals) {
		t.Fatalf("refusals %v, want %v", got, policy.Refusals)
	}
	for i := range got {
		if got[i] != policy.Refusals[i] {
			t.Fatalf("refusals %v, want %v", got, policy.Refusals)
		}
	}
}

// TestModeIsOneValue: the flags of a Mode are distinct and the zero Mode
// is an incremental tick.
func TestModeIsOneValue(t *testing.T) {
	flags := []Mode{Full, PerRule, Lanes, UnboundedRetry}
	var all Mode
	for _, f := range flags {
		if all.has(f) {
			t.Errorf("mode flag %b overlaps another", f)
		}
		all |= f
	}
	var zero Mode
	for _, f := range flags {
		if zero.has(f) {
			t.Errorf("the zero Mode has flag %b", f)
		}
	}
}
