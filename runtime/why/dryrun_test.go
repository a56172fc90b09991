package why_test

import (
	"context"
	"testing"

	"nudge/runtime/demodata"
	"nudge/runtime/why"

	nrt "nudge/runtime"
)

// TestDryRunOneMember: why decides for one member by a dry run of that
// member alone, and runs the whole brand only when one of the member's
// sends competes for a stock or a budget. For members of both kinds (the
// store coupon's out_of_stock, the budgets' sends, journeys' sends, sends
// that compete for nothing) the decisions are those of the dry run of the
// whole brand, and the whole brand is run exactly for the competing ones.
func TestDryRunOneMember(t *testing.T) {
	ctx := context.Background()
	prog, _ := loadExamples(t)
	// The demo's queue events are all more than the store coupon's
	// `expire after 2 hours` before now: its sends end expired and take
	// no share of the stock (SPEC §9), so none would be out_of_stock.
	// Without the expiry they compete for the stock's 3 coupons.
	for _, r := range prog.Rules {
		if r.Name == "store_a_coupon" {
			r.Expire = 0
		}
	}
	db, _ := demoMembers(t, 4000, 1)
	now := demodata.DefaultNow
	full, err := db.Run(ctx, prog, nrt.RunOptions{Now: now, Brand: "acme", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	decided := map[string][]string{} // member -> rule:action:status (a journey's decisions: its name), in the run's order
	competes := map[string]bool{}
	var members []string
	for _, d := range full.Decisions {
		if decided[d.MemberID] == nil {
			members = append(members, d.MemberID)
		}
		decided[d.MemberID] = append(decided[d.MemberID], d.Rule+":"+d.Action+":"+d.Status)
		if d.Action == "send" && prog.SendCompetes(d.Rule, d.Journey != "", d.Content) {
			competes[d.MemberID] = true
		}
	}
	// Every out_of_stock member, then members that compete and members
	// that do not, up to 4 of each.
	var sample []string
	picked := map[string]bool{}
	for _, d := range full.Decisions {
		if d.Status == "out_of_stock" && !picked[d.MemberID] {
			picked[d.MemberID] = true
			sample = append(sample, d.MemberID)
		}
	}
	if len(sample) == 0 {
		t.Fatal("no member is out_of_stock: the test tests nothing")
	}
	for _, want := range []bool{true, false} {
		n := 0
		for i := 0; i < len(members) && n < 4; i += 37 {
			if m := members[i]; competes[m] == want && !picked[m] {
				picked[m] = true
				sample = append(sample, m)
				n++
			}
		}
		if n < 3 {
			t.Fatalf("only %d sampled members with competes=%v", n, want)
		}
	}
	for _, m := range sample {
		wholeRuns := 0
		opts := why.Options{Now: now, Brand: "acme", Whole: func(context.Context) (*nrt.DB, func(), error) {
			wholeRuns++
			return db, func() {}, nil
		}}
		v, err := why.DryRun(ctx, db, prog, []string{m}, opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ds := range v {
			for _, d := range ds {
				got = append(got, d.Rule+":"+d.Action+":"+d.Status)
			}
		}
		if !sameMultiset(got, decided[m]) {
			t.Errorf("member %s: why's dry run decides %v, the whole brand's %v", m, got, decided[m])
		}
		if want := map[bool]int{true: 1, false: 0}[competes[m]]; wholeRuns != want {
			t.Errorf("member %s (competes %v): the whole brand was run %d times, want %d", m, competes[m], wholeRuns, want)
		}
	}
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, x := range a {
		n[x]++
	}
	for _, x := range b {
		n[x]--
	}
	for _, c := range n {
		if c != 0 {
			return false
		}
	}
	return true
}
