package demodata

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZZMillion(t *testing.T) {
	if os.Getenv("ZZM") == "" {
		return
	}
	path := ""
	if os.Getenv("ZZM") == "file" {
		path = filepath.Join(t.TempDir(), "x.duckdb")
	}
	db := openDB(t, path)
	ctx := context.Background()
	tx, _ := db.BeginTx(ctx, nil)
	g := gen{seed: 1, now: DefaultNow}
	sum := map[string][2]time.Duration{}
	seq := int64(0)
	t0, c0 := time.Now(), cpu()
	for lo := int64(0); lo < 1000000; lo += 100000 {
		for _, s := range []struct{ n, q string }{
			{"plan", g.memberPlanSQL(lo, lo+100000)},
			{"members", g.membersSQL()},
			{"purchases", g.purchasesSQL()},
			{"events", g.eventsSQL(lo, seq)},
		} {
			st, c := time.Now(), cpu()
			res, err := tx.Exec(s.q)
			if err != nil {
				t.Fatal(s.n, err)
			}
			if s.n == "events" {
				n, _ := res.RowsAffected()
				seq += n
			}
			if s.n == "events" {
				t.Logf("chunk %d events wall %v cpu %v", lo/100000, time.Since(st).Round(time.Millisecond), (cpu() - c).Round(time.Millisecond))
			}
			d := sum[s.n]
			sum[s.n] = [2]time.Duration{d[0] + time.Since(st), d[1] + cpu() - c}
		}
	}
	st, c := time.Now(), cpu()
	tx.Commit()
	sum["commit"] = [2]time.Duration{time.Since(st), cpu() - c}
	for k, v := range sum {
		t.Logf("%-10s wall %v cpu %v", k, v[0].Round(time.Millisecond), v[1].Round(time.Millisecond))
	}
	t.Logf("total wall %v cpu %v, %d events", time.Since(t0).Round(time.Millisecond), (cpu() - c0).Round(time.Millisecond), seq)
}
