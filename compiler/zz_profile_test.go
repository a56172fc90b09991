package compiler

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"
)

func TestZZTime(t *testing.T) {
	path := os.Getenv("NUDGE_BENCH_DB")
	if path == "" {
		return
	}
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	args := benchArgs("acme")
	for _, q := range []string{
		"SELECT count(*) FROM events WHERE type = 'queued'",
		"SELECT count(*) FROM events WHERE brand = $brand::VARCHAR AND type = 'queued' AND ts <= $now::TIMESTAMP AND NOT (seq <= $wm_seq::BIGINT AND ts <= $wm_now::TIMESTAMP)",
		"SELECT count(*) FROM events WHERE brand = $brand::VARCHAR AND type = 'queued' AND ts <= $now::TIMESTAMP AND (seq > $wm_seq::BIGINT OR ts > $wm_now::TIMESTAMP)",
		"SELECT count(*) FROM events WHERE brand = $brand::VARCHAR AND type = 'queued' AND ts <= $now::TIMESTAMP",
		"SELECT count(*) FROM events WHERE brand = $brand::VARCHAR AND type = 'queued' AND ts <= $now::TIMESTAMP AND ts > $wm_now::TIMESTAMP",
		"SELECT count(*) FROM events WHERE type = 'queued' AND brand = $brand::VARCHAR AND ts <= $now::TIMESTAMP AND (seq > $wm_seq::BIGINT OR ts > $wm_now::TIMESTAMP)",
		"SELECT count(*) FROM (SELECT * FROM events WHERE type = 'queued' AND brand = $brand::VARCHAR AND ts <= $now::TIMESTAMP) WHERE (seq > $wm_seq::BIGINT OR ts > $wm_now::TIMESTAMP)",
	} {
		t0 := time.Now()
		drain(ctx, t, db, q, args)
		t.Logf("%v  %s", time.Since(t0), q)
	}
	if q := os.Getenv("Q"); q != "" {
		p := loadProgram(t, "testdata/spec.nudge")
		for _, r := range p.Rules {
			if r.Name == q {
				rows, err := db.QueryContext(ctx, "EXPLAIN ANALYZE "+r.SQL, args...)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var a, b string
					rows.Scan(&a, &b)
					t.Log(b)
				}
			}
		}
	}
}
