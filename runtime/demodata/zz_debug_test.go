package demodata

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZTiming(t *testing.T) {
	db := openDB(t, "")
	ctx := context.Background()
	tx, _ := db.BeginTx(ctx, nil)
	g := gen{seed: 1, now: DefaultNow}
	ev := g.eventsSQL(0, 0)
	steps := []struct{ n, q string }{
		{"plan", g.memberPlanSQL(0, 100000)},
		{"members", g.membersSQL()},
		{"purchases", g.purchasesSQL()},
	}
	switch os.Getenv("ZZ") {
	case "a":
		steps = append(steps, struct{ n, q string }{"events", ev})
	case "nowin":
		i := strings.Index(ev, "SELECT 0 + row_number()")
		j := strings.Index(ev, "member_id, brand, type, ts, store, sku, category, amount, channel, order_id, props\nFROM ev")
		steps = append(steps, struct{ n, q string }{"events-nowin", ev[:i] + "SELECT 0, " + ev[j:]})
	case "narrow":
		i := strings.Index(ev, "SELECT 0 + row_number() OVER (ORDER BY")
		j := strings.Index(ev, "member_id, brand, type, ts, store, sku, category, amount, channel, order_id, props\nFROM ev")
		body := strings.TrimPrefix(ev[:i], "\nINSERT INTO events\n")
		keyExpr := ev[i+len("SELECT 0 + row_number() OVER (ORDER BY") : j]
		keyExpr = strings.TrimSpace(keyExpr)
		keyExpr = strings.TrimSuffix(keyExpr, ",")
		keyExpr = strings.TrimSuffix(keyExpr, ")")
		steps = append(steps,
			struct{ n, q string }{"materialize", "CREATE TEMP TABLE _e AS " + body + " SELECT " + keyExpr + " AS k, * FROM ev"},
			struct{ n, q string }{"rank", "CREATE TEMP TABLE _s AS SELECT k, row_number() OVER (ORDER BY k) AS n FROM _e"},
			struct{ n, q string }{"insert", "INSERT INTO events SELECT s.n, member_id, brand, type, ts, store, sku, category, amount, channel, order_id, props FROM _e JOIN _s s USING (k)"})
	case "explain":
		steps = append(steps, struct{ n, q string }{"explain", "EXPLAIN (ANALYZE, FORMAT json) " + ev})
	case "count":
		i := strings.Index(ev, "SELECT 0 + row_number()")
		body := strings.TrimPrefix(ev[:i], "\nINSERT INTO events\n")
		steps = append(steps, struct{ n, q string }{"ev-count-all-cols", body + " SELECT count(DISTINCT (member_id, brand, type, ts, store, sku, category, amount, channel, order_id, props::VARCHAR)) FROM ev"})
	}
	for _, s := range steps {
		st, c := time.Now(), cpu()
		if s.n == "explain" {
			var k, v string
			if err := tx.QueryRow(s.q).Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			os.WriteFile("/tmp/explain.json", []byte(v), 0o644)
			continue
		}
		if _, err := tx.Exec(s.q); err != nil {
			t.Fatal(s.n, err)
		}
		t.Logf("%s: wall %v cpu %v", s.n, time.Since(st), cpu()-c)
	}
	tx.Commit()
}
