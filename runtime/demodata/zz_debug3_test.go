package demodata

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZZMillionPerChunk(t *testing.T) {
	if os.Getenv("ZZC") == "" {
		return
	}
	db := openDB(t, filepath.Join(t.TempDir(), "x.duckdb"))
	ctx := context.Background()
	conn, _ := db.Conn(ctx)
	defer conn.Close()
	g := gen{seed: 1, now: DefaultNow}
	seq := int64(0)
	t0, c0 := time.Now(), cpu()
	for lo := int64(0); lo < 1000000; lo += 100000 {
		st, c := time.Now(), cpu()
		tx, _ := conn.BeginTx(ctx, nil)
		for _, s := range []struct{ n, q string }{
			{"plan", g.memberPlanSQL(lo, lo+100000)},
			{"members", g.membersSQL()},
			{"purchases", g.purchasesSQL()},
			{"events", g.eventsSQL(lo, seq)},
		} {
			res, err := tx.Exec(s.q)
			if err != nil {
				t.Fatal(s.n, err)
			}
			if s.n == "events" {
				n, _ := res.RowsAffected()
				seq += n
			}
		}
		tx.Commit()
		t.Logf("chunk %d wall %v cpu %v", lo/100000, time.Since(st).Round(time.Millisecond), (cpu() - c).Round(time.Millisecond))
	}
	t.Logf("total wall %v cpu %v, %d events", time.Since(t0).Round(time.Millisecond), (cpu() - c0).Round(time.Millisecond), seq)
}
