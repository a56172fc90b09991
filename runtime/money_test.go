package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// moneyMembers are six members with every consent: g1-g4 gold, s1-s2
// silver.
const moneyMembers = `member_id,brand,tier,consent_sms,consent_wechat,consent_email
g1,acme,gold,true,true,true
g2,acme,gold,true,true,true
g3,acme,gold,true,true,true
g4,acme,gold,true,true,true
s1,acme,silver,true,true,true
s2,acme,silver,true,true,true
`

// silverMembers: if member.tier = "silver"
const silverMembers = `SELECT m.member_id, CAST(NULL AS BIGINT) AS trigger_seq, CAST(NULL AS TIMESTAMP) AS due_at, m.tier AS v0
FROM members m WHERE m.brand = $brand::VARCHAR AND m.tier = 'silver'`

// couponRule sends coupon content on channel to the members of query.
func couponRule(name, query, content, channel string, prio int) *compiler.Rule {
	r := sendRule(name, query, false, channel)
	r.Actions[0].Content = content
	r.Priority = prio
	return r
}

// TestStockContention: more firings than stock in one tick; the stock goes
// in the order priority, rule name, member id; the rest are out_of_stock,
// tried again at later ticks without being recorded again, and get the
// share of a send that failed.
func TestStockContention(t *testing.T) {
	t.Parallel()
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full=%v", full), func(t *testing.T) {
			db := fixture(t, moneyMembers, "")
			prog := &compiler.Program{
				Rules: []*compiler.Rule{
					couponRule("b_silver", silverMembers, "C-10", "sms", 0),
					couponRule("a_gold", goldMembers, "C-10", "email", 0),
					couponRule("z_vip", goldMembers, "C-10", "wechat", 5),
				},
				Stocks: []compiler.Stock{{Content: "C-10", Count: 5}},
			}
			all := func(o *RunOptions) { o.EvaluateAll = full }
			// z_vip (priority 5) takes 4, then a_gold by member id: g1; the
			// rest is out of stock.
			expect(t, "first tick", run(t, db, prog, "2024-11-01 10:00", all).Decisions,
				"b_silver s1 send out_of_stock\nb_silver s2 send out_of_stock\n"+
					"a_gold g1 send pending\na_gold g2 send out_of_stock\na_gold g3 send out_of_stock\na_gold g4 send out_of_stock\n"+
					"z_vip g1 send pending\nz_vip g2 send pending\nz_vip g3 send pending\nz_vip g4 send pending\n")
			d := run(t, db, prog, "2024-11-01 11:00", all)
			expect(t, "still out of stock: not recorded again", d.Decisions, "")
			// A send that failed gives its share back: the first in the
			// order (a_gold g2) gets it.
			if _, err := db.sql.Exec(`UPDATE outbox SET status = 'failed' WHERE rule = 'z_vip' AND member_id = 'g3'`); err != nil {
				t.Fatal(err)
			}
			expect(t, "after a failure", run(t, db, prog, "2024-11-01 12:00", all).Decisions, "a_gold g2 send pending\n")
			if got := run(t, db, prog, "2024-11-01 13:00", all).Decisions; len(got) != 0 {
				t.Errorf("stock used up again, got %s", brief(got))
			}
		})
	}
}

// TestStockReason: the reason of an out_of_stock send names the stock.
func TestStockReason(t *testing.T) {
	t.Parallel()
	db := fixture(t, moneyMembers, "")
	prog := &compiler.Program{Rules: []*compiler.Rule{couponRule("a", goldMembers, "C", "sms", 0)}, Stocks: []compiler.Stock{{Content: "C", Count: 0}}}
	ds := run(t, db, prog, "2024-11-01 10:00").Decisions
	if len(ds) != 4 || ds[0].Status != string(policy.OutOfStock) || ds[0].Reason != `stock "C" 0 used up` {
		t.Fatalf("decisions: %+v", ds)
	}
}

// TestBudget: a send costs its channel plus its content; the rule's sends
// in the calendar period stay within the budget, in competition order; a
// new period has the whole budget again.
func TestBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, per string
		ticks     []string // the first decides g1, g2 (cost 3 each, budget 7)
		want      []string // decisions at the later ticks
	}{
		{"day", "day", []string{"2024-11-04 10:00", "2024-11-04 23:00", "2024-11-05 00:00"},
			[]string{"", "a g3 send pending\na g4 send pending\n"}},
		// 2024-11-04 is a Monday: Sunday the 10th is the same week.
		{"week", "week", []string{"2024-11-04 10:00", "2024-11-10 23:59", "2024-11-11 00:00"},
			[]string{"", "a g3 send pending\na g4 send pending\n"}},
		{"month", "month", []string{"2024-11-04 10:00", "2024-11-30 23:00", "2024-12-01 00:00"},
			[]string{"", "a g3 send pending\na g4 send pending\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fixture(t, moneyMembers, "")
			r := couponRule("a", goldMembers, "C", "sms", 0)
			r.Budget = &compiler.Budget{Amount: 7, Per: tc.per}
			prog := &compiler.Program{Rules: []*compiler.Rule{r},
				Costs:        map[string]float64{"sms": 1},
				ContentCosts: []compiler.ContentCost{{Kind: "coupon", Content: "C", Amount: 2}}}
			res := run(t, db, prog, tc.ticks[0])
			expect(t, "first", res.Decisions, "a g1 send pending\na g2 send pending\na g3 send over_budget\na g4 send over_budget\n")
			if res.Decisions[2].Reason != "budget 7 per "+tc.per+" spent" {
				t.Errorf("reason = %q", res.Decisions[2].Reason)
			}
			for i, now := range tc.ticks[1:] {
				expect(t, now, run(t, db, prog, now).Decisions, tc.want[i])
			}
		})
	}
}

// TestBudgetOtherRulesAndCostFree: a budget counts its own rule's sends
// only, and a send that costs nothing always fits.
func TestBudgetOtherRulesAndCostFree(t *testing.T) {
	t.Parallel()
	db := fixture(t, moneyMembers, "")
	a := couponRule("a", goldMembers, "C", "sms", 0)
	a.Budget = &compiler.Budget{Amount: 1, Per: "day"}
	b := couponRule("b", goldMembers, "C", "wechat", 0)
	b.Budget = &compiler.Budget{Amount: 1, Per: "day"}
	prog := &compiler.Program{Rules: []*compiler.Rule{a, b}, Costs: map[string]float64{"sms": 0.5}}
	expect(t, "run", run(t, db, prog, "2024-11-04 10:00").Decisions,
		"a g1 send pending\na g2 send pending\na g3 send over_budget\na g4 send over_budget\n"+
			"b g1 send pending\nb g2 send pending\nb g3 send pending\nb g4 send pending\n")
}

// TestGlobalHoldout: a stable share of the brand's members is held out of
// every rule's sends, with the reason "global control group", apart from
// each rule's own holdout.
func TestGlobalHoldout(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("member_id,brand,tier,consent_sms\n")
	for i := range 400 {
		fmt.Fprintf(&b, "m%03d,acme,gold,true\n", i)
	}
	db := fixture(t, b.String(), "")
	a := sendRule("a", goldMembers, false, "sms")
	c := sendRule("c", goldMembers, false, "sms")
	c.Holdout = 50
	prog := &compiler.Program{Rules: []*compiler.Rule{a, c}, GlobalHoldout: 10}
	res := run(t, db, prog, "2024-11-04 10:00")
	held := map[string]map[string]bool{"a": {}, "c": {}}
	for _, d := range res.Decisions {
		if d.Status == "held_out" && d.Reason == policy.GlobalHoldoutReason {
			held[d.Rule][d.MemberID] = true
		}
	}
	if n := len(held["a"]); n < 20 || n > 60 {
		t.Errorf("global control group holds %d of 400 members, want about 40", n)
	}
	if fmt.Sprint(held["a"]) != fmt.Sprint(held["c"]) {
		t.Errorf("the global control group differs between rules")
	}
	// The rule's own holdout still holds about half of the others out.
	own := 0
	for _, d := range res.Decisions {
		if d.Rule == "c" && d.Status == "held_out" && d.Reason != policy.GlobalHoldoutReason {
			own++
		}
	}
	if own < 130 || own > 230 {
		t.Errorf("rule holdout 50%% held %d of %d", own, 400-len(held["c"]))
	}
	// Stable: another database with the same members holds the same ones.
	db2 := fixture(t, b.String(), "")
	for _, d := range run(t, db2, &compiler.Program{Rules: []*compiler.Rule{sendRule("other", goldMembers, false, "sms")}, GlobalHoldout: 10}, "2024-12-01 10:00").Decisions {
		if (d.Status == "held_out") != held["a"][d.MemberID] {
			t.Fatalf("member %s: held out %v in one database, %v in the other", d.MemberID, d.Status == "held_out", held["a"][d.MemberID])
		}
	}
}

// TestQuietHoursPerChannel: `quiet hours ... for sms` replaces the plain
// line for sms, at the decision and at dispatch.
func TestQuietHoursPerChannel(t *testing.T) {
	t.Parallel()
	quiet := []compiler.Quiet{{From: 21 * 60, To: 9 * 60, Channel: "sms"}, {From: 22 * 60, To: 8 * 60}}
	prog := &compiler.Program{Rules: []*compiler.Rule{couponRule("sms_rule", goldMembers, "S", "sms", 0),
		couponRule("wechat_rule", goldMembers, "W", "wechat", 0)}, Quiet: quiet}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	sink := func(o *RunOptions) { o.Sinks = []Sink{&JSONLSink{Path: out}} }
	delivered := func(channel string) int {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), `"channel":"`+channel+`"`)
	}
	// 21:30: in the sms line, not in the plain one.
	expect(t, "21:30", run(t, fixture(t, moneyMembers, ""), prog, "2024-11-04 21:30", sink).Decisions,
		"sms_rule g1 send scheduled @11-05 09:00\nsms_rule g2 send scheduled @11-05 09:00\nsms_rule g3 send scheduled @11-05 09:00\nsms_rule g4 send scheduled @11-05 09:00\n"+
			"wechat_rule g1 send sent\nwechat_rule g2 send sent\nwechat_rule g3 send sent\nwechat_rule g4 send sent\n")
	if n := delivered("sms"); n != 0 {
		t.Errorf("%d sms sends delivered in the sms quiet hours", n)
	}
	os.Remove(out)
	// 23:00: in both; at 08:30 the wechat sends go, the sms ones wait for 09:00.
	db := fixture(t, moneyMembers, "")
	expect(t, "23:00", run(t, db, prog, "2024-11-04 23:00").Decisions,
		"sms_rule g1 send scheduled @11-05 09:00\nsms_rule g2 send scheduled @11-05 09:00\nsms_rule g3 send scheduled @11-05 09:00\nsms_rule g4 send scheduled @11-05 09:00\n"+
			"wechat_rule g1 send scheduled @11-05 08:00\nwechat_rule g2 send scheduled @11-05 08:00\nwechat_rule g3 send scheduled @11-05 08:00\nwechat_rule g4 send scheduled @11-05 08:00\n")
	run(t, db, prog, "2024-11-05 08:30", sink)
	if s, w := delivered("sms"), delivered("wechat"); s != 0 || w != 4 {
		t.Errorf("at 08:30: %d sms and %d wechat sends delivered, want 0 and 4", s, w)
	}
	run(t, db, prog, "2024-11-05 09:00", sink)
	if s := delivered("sms"); s != 4 {
		t.Errorf("at 09:00: %d sms sends delivered, want 4", s)
	}
}

// TestMoneyReadsOnlyCompetedFor: the stock and budget step reads the
// outbox's history only for the stocks and budgets some open send of the
// tick competes for; a tick with none runs no statement of the step (a
// quiet tick's cost then does not grow with the outbox). The decisions are
// those of TestStockContention's first tick.
func TestMoneyReadsOnlyCompetedFor(t *testing.T) {
	db := fixture(t, moneyMembers, "")
	budgeted := couponRule("c_budget", silverMembers+" AND false", "B-1", "sms", 0)
	budgeted.Budget = &compiler.Budget{Amount: 100, Per: "month"}
	prog := &compiler.Program{
		Rules:  []*compiler.Rule{couponRule("a_gold", goldMembers, "C-10", "email", 0)},
		Stocks: []compiler.Stock{{Content: "C-10", Count: 2}, {Content: "UNSENT-99", Count: 1}},
	}
	var stmts []string
	traceSQL = func(q string, took time.Duration) { stmts = append(stmts, q) }
	defer func() { traceSQL = nil }()
	money := func() []string {
		var out []string
		for _, q := range stmts {
			if strings.Contains(q, "_nudge_money") {
				out = append(out, q)
			}
		}
		stmts = nil
		return out
	}
	expect(t, "first tick", run(t, db, prog, "2024-11-01 10:00").Decisions,
		"a_gold g1 send pending\na_gold g2 send pending\na_gold g3 send out_of_stock\na_gold g4 send out_of_stock\n")
	m := money()
	if len(m) == 0 {
		t.Fatal("no statement of the stock step in a tick with sends under a stock")
	}
	for _, q := range m {
		if strings.Contains(q, "UNSENT-99") {
			t.Errorf("the stock step read a stock no send of the tick competes for:\n%s", q)
		}
	}
	// No open send: the rules of this program fire for nobody new.
	quiet := &compiler.Program{Rules: []*compiler.Rule{budgeted}, Stocks: prog.Stocks}
	expect(t, "nothing fires", run(t, db, quiet, "2024-11-01 11:00").Decisions, "")
	if m := money(); len(m) > 0 {
		t.Errorf("a tick without open sends ran the stock and budget step:\n%s", strings.Join(m, "\n"))
	}
}
