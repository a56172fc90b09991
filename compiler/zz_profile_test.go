package compiler

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
)

func TestZZPlan(t *testing.T) {
	path := os.Getenv("NUDGE_BENCH_DB")
	q := os.Getenv("Q")
	if path == "" || q == "" {
		return
	}
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	p := loadProgram(t, "testdata/spec.nudge")
	for _, r := range p.Rules {
		if r.Name == q {
			rows, err := db.QueryContext(context.Background(), "EXPLAIN ANALYZE "+r.SQL, benchArgs("acme")...)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var a, b string
				rows.Scan(&a, &b)
				for _, l := range strings.Split(b, "\n") {
					if strings.Trim(l, "│ ") != "" {
						t.Log(l)
					}
				}
			}
		}
	}
}
