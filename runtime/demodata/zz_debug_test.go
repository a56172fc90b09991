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
	case "nowin2":
		q := strings.Replace(ev, "row_number() OVER (ORDER BY", "(", 1)
		steps = append(steps, struct{ n, q string }{"events-nowin2", q})
	case "nojson":
		q := strings.Replace(ev, "json_object('party_size', pv)", "NULL", 1)
		q = strings.Replace(q, "json_object('campaign', ['d11-warmup', '618-recap', 'new-arrivals', 'member-day', 'spring-festival'][pv])", "NULL", 1)
		steps = append(steps, struct{ n, q string }{"events-nojson", q})
	case "ctas":
		i := strings.Index(ev, "), numbered AS (")
		j := strings.Index(ev, "SELECT seq,\n")
		body := strings.TrimPrefix(ev[:i], "\nINSERT INTO events\n") + ")"
		final := ev[j:]
		final = strings.Replace(final, "SELECT seq,", "SELECT rowid + 1 AS seq,", 1)
		final = strings.Replace(final, "FROM numbered", "FROM _sorted ORDER BY rowid", 1)
		steps = append(steps,
			struct{ n, q string }{"sorted-ctas", "CREATE TEMP TABLE _sorted AS " + body + " SELECT * FROM ev ORDER BY ((i - 0) * 134217728 + date_diff('second', TIMESTAMP '2024-11-11 10:00:00' - INTERVAL 1500 DAY, ts)) * 2048 + code"},
			struct{ n, q string }{"insert-rowid", "INSERT INTO events " + final})
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

func TestZZProps(t *testing.T) {
	db, _ := generate(t, Options{Members: 300})
	rows, _ := db.Query(`SELECT type, props, typeof(props), props->>'party_size' FROM events WHERE props IS NOT NULL LIMIT 4`)
	defer rows.Close()
	for rows.Next() {
		var a, b, c, d any
		rows.Scan(&a, &b, &c, &d)
		t.Log(a, b, c, d)
	}
}
