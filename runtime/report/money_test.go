package report

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	nrt "nudge/runtime"
	"nudge/stdlib"
)

// TestGoldenMoney: the budgets and stocks section. promo has a budget of 1
// a day and each send costs 0.50 (sms) plus its coupon "X" (stock 5, no
// cost): on Nov 4 two sends (1.00 of 1.00) and one over_budget; on Nov 5
// one send and three out_of_stock. "X" is used 3 times: 2 left; "Y"
// (another rule's content, never sent) keeps its 10.
func TestGoldenMoney(t *testing.T) {
	ctx := context.Background()
	db, err := nrt.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q := db.SQL()
	n := 0
	out := func(at time.Time, status string) {
		n++
		if _, err := q.Exec(`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, kind, content, channel,
			status, effective, fired_at, idempotency_key, run_id) VALUES (?, 0, 'promo', 'b', ?, ?, 'send', 'coupon', 'X', 'sms', ?, true, ?, ?, 1)`,
			fmt.Sprintf("f%d", n), fmt.Sprintf("m%d", n), fmt.Sprint(n), status, at, fmt.Sprintf("f%d-0", n)); err != nil {
			t.Fatal(err)
		}
	}
	d1, d2 := time.Date(2024, 11, 4, 10, 0, 0, 0, time.UTC), time.Date(2024, 11, 5, 9, 0, 0, 0, time.UTC)
	out(d1, "sent")
	out(d1, "sent")
	out(d1, "over_budget")
	out(d2, "pending")
	for range 3 {
		out(d2, "out_of_stock")
	}
	p, diags := lang.LoadSources([]lang.Source{{Name: "m.nudge", Src: []byte(`brand "b"
import "crm"
cost sms 0.5
stock "X" 5
stock "Y" 10
rule promo
  if purchased
  then send coupon "X" via sms
  budget 1 per day
rule other
  if visited
  then send coupon "Y" via email
`)}}, stdlib.Env())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rep, err := Build(ctx, q, Options{Program: prog, End: d2.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Money == nil || len(rep.Money.Budgets) != 2 || len(rep.Money.Stocks) != 2 {
		t.Fatalf("money section: %+v", rep.Money)
	}
	var txt, html bytes.Buffer
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&html, time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "money.txt"), txt.Bytes())
	golden(t, filepath.Join("testdata", "money.html"), html.Bytes())
}
