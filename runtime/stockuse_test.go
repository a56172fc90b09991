package runtime

import (
	"testing"

	"nudge/compiler"
)

// TestStockCountsEveryContent checks that each stock counts its own
// content's earlier sends when several stocks compete in one tick: a
// narrowing of the stock step's read of the outbox (09b_stock_budget.go)
// that left a content out would make it look unused and give its stock
// away again. (No other test has two stocks competing in a tick.)
func TestStockCountsEveryContent(t *testing.T) {
	t.Parallel()
	db := fixture(t, moneyMembers, "")
	// prog sends C-A (sms) by rule a and C-B (email) by rule b to the
	// members of query.
	prog := func(a, b, query string) *compiler.Program {
		return &compiler.Program{
			Rules:  []*compiler.Rule{couponRule(a, query, "C-A", "sms", 0), couponRule(b, query, "C-B", "email", 0)},
			Stocks: []compiler.Stock{{Content: "C-A", Count: 3}, {Content: "C-B", Count: 3}},
		}
	}
	expect(t, "first tick", run(t, db, prog("x_a", "x_b", silverMembers), "2024-11-01 10:00").Decisions,
		"x_a s1 send pending\nx_a s2 send pending\nx_b s1 send pending\nx_b s2 send pending\n")
	// Each content has 1 left: the first gold member gets it.
	expect(t, "second tick", run(t, db, prog("y_a", "y_b", goldMembers), "2024-11-01 11:00").Decisions,
		"y_a g1 send pending\ny_a g2 send out_of_stock\ny_a g3 send out_of_stock\ny_a g4 send out_of_stock\n"+
			"y_b g1 send pending\ny_b g2 send out_of_stock\ny_b g3 send out_of_stock\ny_b g4 send out_of_stock\n")
}
