package policy_test

import (
	"crypto/md5"
	"database/sql"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// globalHeldOut is the global control group computed in Go: md5 of the
// salt, brand and member id as a little-endian 128-bit number, mod 10000,
// below pct*100 (what DuckDB's md5_number gives).
func globalHeldOut(brand, member string, pct float64) bool {
	sum := md5.Sum([]byte("nudge-global-holdout\x1f" + brand + "\x1f" + member))
	le := slices.Clone(sum[:])
	slices.Reverse(le)
	n := new(big.Int).SetBytes(le)
	return float64(new(big.Int).Mod(n, big.NewInt(10000)).Int64()) < pct*100
}

// TestGlobalHeldOutSQL: the SQL of the global control group agrees with
// its Go form member by member, holds about P% and depends on the brand.
func TestGlobalHeldOutSQL(t *testing.T) {
	db := openDB(t)
	rows, err := db.Query(`SELECT m, ` + policy.GlobalHeldOutSQL("'acme'", "m", 5) + `, ` + policy.GlobalHeldOutSQL("'bistro'", "m", 5) + `
	      FROM (SELECT 'm' || i AS m FROM range(4000) t(i))`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	in, same := 0, 0
	for rows.Next() {
		var m string
		var acme, bistro bool
		if err := rows.Scan(&m, &acme, &bistro); err != nil {
			t.Fatal(err)
		}
		if acme != globalHeldOut("acme", m, 5) {
			t.Fatalf("member %s: SQL says %v, Go says %v", m, acme, !acme)
		}
		if acme {
			in++
			if bistro {
				same++
			}
		}
	}
	if in < 150 || in > 250 {
		t.Errorf("5%% of 4000 members: %d held out", in)
	}
	if same > in/2 {
		t.Errorf("the brands' control groups overlap on %d of %d members", same, in)
	}
}

// TestBudgetPeriod: days, weeks from Monday and months, in SQL and Go.
func TestBudgetPeriod(t *testing.T) {
	db := openDB(t)
	for _, tc := range []struct{ per, now, start, end string }{
		{"day", "2024-11-06 15:00", "2024-11-06 00:00", "2024-11-07 00:00"},
		{"week", "2024-11-06 15:00", "2024-11-04 00:00", "2024-11-11 00:00"}, // a Wednesday
		{"week", "2024-11-10 23:59", "2024-11-04 00:00", "2024-11-11 00:00"}, // a Sunday
		{"week", "2024-11-04 00:00", "2024-11-04 00:00", "2024-11-11 00:00"}, // a Monday
		{"month", "2024-02-29 12:00", "2024-02-01 00:00", "2024-03-01 00:00"},
		{"month", "2024-12-31 23:00", "2024-12-01 00:00", "2025-01-01 00:00"},
	} {
		now, _ := time.Parse("2006-01-02 15:04", tc.now)
		start, end := policy.BudgetPeriod(tc.per, now)
		if got := fmt.Sprint(start.Format("2006-01-02 15:04"), " ", end.Format("2006-01-02 15:04")); got != tc.start+" "+tc.end {
			t.Errorf("BudgetPeriod(%s, %s) = %s, want %s %s", tc.per, tc.now, got, tc.start, tc.end)
		}
		var s time.Time
		if err := db.QueryRow(`SELECT `+policy.BudgetPeriodSQL(tc.per, "$now::TIMESTAMP"), sql.Named("now", now)).Scan(&s); err != nil {
			t.Fatal(err)
		}
		if !s.Equal(start) {
			t.Errorf("BudgetPeriodSQL(%s, %s) = %s, want %s", tc.per, tc.now, s, start)
		}
	}
}

// TestSendCostAndQuietFor: a send costs its channel plus its kind and
// content; quiet hours for a channel replace the plain ones for it only.
func TestSendCostAndQuietFor(t *testing.T) {
	p := &compiler.Program{Costs: map[string]float64{"sms": 0.05},
		ContentCosts: []compiler.ContentCost{{Kind: "coupon", Content: "A", Amount: 10}}}
	db := openDB(t)
	for _, tc := range []struct {
		channel, kind, content string
		want                   float64
	}{{"sms", "coupon", "A", 10.05}, {"sms", "voucher", "A", 0.05}, {"wechat", "coupon", "A", 10}, {"email", "coupon", "B", 0}} {
		var got float64
		if err := db.QueryRow(`SELECT CAST(`+policy.SendCostSQL(p, "")+` AS DOUBLE) FROM (SELECT $1::VARCHAR AS channel, $2::VARCHAR AS kind, $3::VARCHAR AS content)`,
			tc.channel, tc.kind, tc.content).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want || p.SendCost(tc.channel, tc.kind, tc.content) != tc.want {
			t.Errorf("cost of %s %s %s: SQL %v, Go %v, want %v", tc.kind, tc.content, tc.channel, got, p.SendCost(tc.channel, tc.kind, tc.content), tc.want)
		}
	}
	quiet := []compiler.Quiet{{From: 1, To: 2}, {From: 3, To: 4, Channel: "sms"}}
	if q := policy.QuietFor(quiet, "sms"); len(q) != 1 || q[0].From != 3 {
		t.Errorf("QuietFor(sms) = %v", q)
	}
	if q := policy.QuietFor(quiet, "wechat"); len(q) != 1 || q[0].From != 1 {
		t.Errorf("QuietFor(wechat) = %v", q)
	}
}
