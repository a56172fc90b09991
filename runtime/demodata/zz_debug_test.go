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
	case "count":
		i := strings.Index(ev, "SELECT 0 + row_number()")
		body := strings.TrimPrefix(ev[:i], "\nINSERT INTO events\n")
		steps = append(steps, struct{ n, q string }{"ev-count-all-cols", body + " SELECT count(DISTINCT (member_id, brand, type, ts, store, sku, category, amount, channel, order_id, props::VARCHAR)) FROM ev"})
	}
	for _, s := range steps {
		st, c := time.Now(), cpu()
		if _, err := tx.Exec(s.q); err != nil {
			t.Fatal(s.n, err)
		}
		t.Logf("%s: wall %v cpu %v", s.n, time.Since(st), cpu()-c)
	}
	tx.Commit()
}
