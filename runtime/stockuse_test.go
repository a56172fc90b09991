package runtime

import (
	"testing"

	"nudge/compiler"
)

// TestStockCountsEveryContent checks that each stock counts its own
// content's earlier sends when several stocks compete in one tick: the
// stock step reads the outbox once per content (09b_stock_budget.go), so
// a content it left out would look unused and give away its stock again.
func TestStockCountsEveryContent(t *testing.T) {
	t.Parallel()
	db := fixture(t, moneyMembers, "")
	stocks := []compiler.Stock{{Content: "C-A", Count: 3}, {Content: "C-B", Count: 3}}
	first := &compiler.Program{
		Rules: []*compiler.Rule{
			couponRule("x_a", silverMembers, "C-A", "sms", 0),
			couponRule("x_b", silverMembers, "C-B", "email", 0),
		},
		Stocks: stocks,
	}
	expect(t, "first tick", run(t, db, first, "2024-11-01 10:00").Decisions,
		"x_a s1 send pending\nx_a s2 send pending\nx_b s1 send pending\nx_b s2 send pending\n")
	// Each content has 1 left: the first gold member gets it.
	second := &compiler.Program{
		Rules: []*compiler.Rule{
			couponRule("y_a", goldMembers, "C-A", "sms", 0),
			couponRule("y_b", goldMembers, "C-B", "email", 0),
		},
		Stocks: stocks,
	}
	expect(t, "second tick", run(t, db, second, "2024-11-01 11:00").Decisions,
		"y_a g1 send pending\ny_a g2 send out_of_stock\ny_a g3 send out_of_stock\ny_a g4 send out_of_stock\n"+
			"y_b g1 send pending\ny_b g2 send out_of_stock\ny_b g3 send out_of_stock\ny_b g4 send out_of_stock\n")
}
