package tick

import (
	"reflect"
	"testing"
	"time"

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

// TestProgramFeatures: a step is skipped only for a program none of whose
// rules and journeys uses its policy (features.go); a journey's expiry,
// transactional sends, tags, budget and fallback channels count as a
// rule's do. Every feature is set by some case.
func TestProgramFeatures(t *testing.T) {
	send := compiler.Action{Verb: "send", Kind: "coupon", Content: "C", Channel: "sms"}
	fallback := compiler.Action{Verb: "send", Kind: "coupon", Content: "C", Channel: "wechat", Else: []string{"sms"}}
	tag := compiler.Action{Verb: "untag", Content: "vip"}
	budget := &compiler.Budget{Amount: 100, Per: "day"}
	rule := func(f func(r *compiler.Rule)) *compiler.Program {
		r := &compiler.Rule{Name: "r", Actions: []compiler.Action{send}}
		f(r)
		return &compiler.Program{Rules: []*compiler.Rule{r}}
	}
	journey := func(f func(j *compiler.Journey)) *compiler.Program {
		j := &compiler.Journey{Name: "j", Nodes: []compiler.StepNode{{Kind: compiler.StepActions, Actions: []compiler.Action{send}}}}
		f(j)
		return &compiler.Program{Journeys: []*compiler.Journey{j}}
	}
	program := func(f func(p *compiler.Program)) *compiler.Program {
		p := rule(func(*compiler.Rule) {})
		f(p)
		return p
	}
	cases := []struct {
		name string
		prog *compiler.Program
		want features
	}{
		{"none", rule(func(*compiler.Rule) {}), features{}},
		{"rule expires", rule(func(r *compiler.Rule) { r.Expire = time.Hour }), features{expire: true}},
		{"rule transactional", rule(func(r *compiler.Rule) { r.Transactional = true }), features{transactional: true}},
		{"rule untags", rule(func(r *compiler.Rule) { r.Actions = []compiler.Action{tag} }), features{tags: true}},
		{"rule sends and untags", rule(func(r *compiler.Rule) { r.Actions = append(r.Actions, tag) }), features{tags: true, multiAction: true}},
		{"rule stops", rule(func(r *compiler.Rule) { r.StopAfter = 2 }), features{stopAfter: true}},
		{"rule budget", rule(func(r *compiler.Rule) { r.Budget = budget }), features{budget: true}},
		{"rule fallback", rule(func(r *compiler.Rule) { r.Actions = []compiler.Action{fallback} }), features{fallback: true}},
		{"journey none", journey(func(*compiler.Journey) {}), features{journeys: true}},
		{"journey expires", journey(func(j *compiler.Journey) { j.Expire = time.Hour }), features{journeys: true, expire: true}},
		{"journey transactional", journey(func(j *compiler.Journey) { j.Transactional = true }), features{journeys: true, transactional: true}},
		{"journey tags", journey(func(j *compiler.Journey) {
			j.Nodes = append(j.Nodes, compiler.StepNode{Kind: compiler.StepActions, Actions: []compiler.Action{{Verb: "tag", Content: "x"}}})
		}), features{journeys: true, tags: true}},
		{"journey step of two sends", journey(func(j *compiler.Journey) {
			j.Nodes = append(j.Nodes, compiler.StepNode{Kind: compiler.StepActions, Actions: []compiler.Action{send, fallback}})
		}), features{journeys: true, fallback: true, multiAction: true}},
		{"journey budget", journey(func(j *compiler.Journey) { j.Budget = budget }), features{journeys: true, budget: true}},
		{"journey fallback", journey(func(j *compiler.Journey) {
			j.Nodes = append(j.Nodes, compiler.StepNode{Kind: compiler.StepActions, Actions: []compiler.Action{fallback}})
		}), features{journeys: true, fallback: true}},
		{"journey reads tags", journey(func(j *compiler.Journey) { j.ReadsTags = true }), features{journeys: true}},
		{"journey tags and reads tags", journey(func(j *compiler.Journey) {
			j.ReadsTags = true
			j.Nodes = append(j.Nodes, compiler.StepNode{Kind: compiler.StepActions, Actions: []compiler.Action{{Verb: "tag", Content: "x"}}})
		}), features{journeys: true, tags: true}},
		{"rule untags, journey reads tags", program(func(p *compiler.Program) {
			p.Rules[0].Actions = []compiler.Action{tag}
			p.Journeys = []*compiler.Journey{{Name: "j", ReadsTags: true}}
		}), features{journeys: true, tags: true, stratumTags: true}},
		{"global holdout", program(func(p *compiler.Program) { p.GlobalHoldout = 5 }), features{globalHoldout: true}},
		{"stock", program(func(p *compiler.Program) { p.Stocks = []compiler.Stock{{Content: "C", Count: 10}} }), features{stock: true}},
		{"caps", program(func(p *compiler.Program) { p.Caps = []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}} }), features{caps: true}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		got := programFeatures(tc.prog)
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		v := reflect.ValueOf(got)
		for i := range v.NumField() {
			if v.Field(i).Bool() {
				covered[v.Type().Field(i).Name] = true
			}
		}
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[features]()) {
		if !covered[f.Name] {
			t.Errorf("no case sets the feature %s", f.Name)
		}
	}
}
