package compiler

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"nudge/lang"
	"nudge/runtime/demodata"
	"nudge/stdlib"
)

// Benchmarks run on a demo database of about 1,000,000 members. Make one
// (once; it takes a few minutes) and point NUDGE_BENCH_DB at it:
//
//	nudge demo --db /tmp/nudge-bench.duckdb --members 1000000
//	NUDGE_BENCH_DB=/tmp/nudge-bench.duckdb go test ./compiler -run '^$' -bench . -benchtime 3x
//
// Rules are evaluated at demodata.DefaultNow for the brand with the most
// members; trigger rules as on their first run (24-hour lookback).

const benchEnv = "NUDGE_BENCH_DB"

// benchDB opens the benchmark database read-only, or skips the benchmark
// with instructions when NUDGE_BENCH_DB is not set.
func benchDB(b *testing.B) (*sql.DB, string) {
	b.Helper()
	path := os.Getenv(benchEnv)
	if path == "" {
		b.Skipf("%s is not set: make a demo database with `nudge demo --db /tmp/nudge-bench.duckdb --members 1000000`, then run %s=/tmp/nudge-bench.duckdb go test ./compiler -run '^$' -bench .", benchEnv, benchEnv)
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%s=%s: %v (make it with `nudge demo --db %s --members 1000000`)", benchEnv, path, err, path)
	}
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		b.Fatalf("open %s: %v", path, err)
	}
	b.Cleanup(func() { db.Close() })
	var brand string
	if err := db.QueryRow("SELECT brand FROM members GROUP BY brand ORDER BY count(*) DESC, brand LIMIT 1").Scan(&brand); err != nil {
		b.Fatalf("find brand: %v", err)
	}
	return db, brand
}

// benchArgs are the parameters of a first run at the demo clock, with the
// watermark parameters named wm.
func benchArgs(brand string, wm Watermarks) []any {
	now := demodata.DefaultNow
	return append(wm.Args(int64(math.MaxInt64), now.Add(-24*time.Hour)), sql.Named(ParamNow, now), sql.Named(ParamBrand, brand))
}

// handWrittenWM names the watermark parameters of the hand-written queries.
var handWrittenWM = Watermarks{Seq: "wm_seq", Now: "wm_now"}

// drain runs q and returns its first two columns per row, sorted.
func drain(ctx context.Context, b testing.TB, db *sql.DB, q string, args []any) []string {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		b.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		dest := make([]any, len(cols))
		for i := range dest {
			dest[i] = new(any)
		}
		if err := rows.Scan(dest...); err != nil {
			b.Fatal(err)
		}
		key := fmt.Sprint(*dest[0].(*any))
		if len(cols) > 1 {
			if v := *dest[1].(*any); v != nil {
				key += fmt.Sprintf("#%v", v)
			}
		}
		out = append(out, key)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// benchFiles are the rule files whose rules are benchmarked.
func benchFiles(b *testing.B) []string {
	all, _ := filepath.Glob("../examples/*.nudge")
	var files []string
	for _, f := range all {
		if !strings.HasSuffix(f, lang.TestSuffix) {
			files = append(files, f)
		}
	}
	return append(files, "testdata/spec.nudge")
}

func loadProgram(b testing.TB, file string) *Program {
	src, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	prog, diags := lang.LoadSources([]lang.Source{{Name: file, Src: src}}, stdlib.Env())
	if diags.HasErrors() {
		b.Fatalf("%s: %v", file, diags)
	}
	p, diags := Compile(prog.Info)
	if len(diags) > 0 {
		b.Fatalf("%s: %v", file, diags)
	}
	return p
}

// BenchmarkRules measures the evaluation time of every example rule.
func BenchmarkRules(b *testing.B) {
	db, brand := benchDB(b)
	ctx := context.Background()
	for _, file := range benchFiles(b) {
		p := loadProgram(b, file)
		for _, r := range p.Rules {
			name := strings.TrimSuffix(filepath.Base(file), ".nudge") + "/" + r.Name
			args := benchArgs(brand, r.Watermarks)
			b.Run(name, func(b *testing.B) {
				n := 0
				for b.Loop() {
					n = len(drain(ctx, b, db, r.SQL, args))
				}
				b.ReportMetric(float64(n), "firings")
			})
		}
	}
}

// handWritten are the queries an analyst would write by hand for five rules
// of testdata/spec.nudge, returning the same members (and trigger events).
var handWritten = map[string]string{
	"dormancy_reminder": `
SELECT m.member_id
FROM members m
JOIN (SELECT member_id, max(ts) AS last_ts
      FROM events
      WHERE brand = $brand::VARCHAR AND type = 'purchased' AND ts <= $now::TIMESTAMP
      GROUP BY member_id) p ON p.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND p.last_ts <= $now::TIMESTAMP - INTERVAL 91 DAY`,
	"ladder_30": `
SELECT p.member_id
FROM (SELECT member_id, min(ts) AS first_ts, count(*) AS n
      FROM events
      WHERE brand = $brand::VARCHAR AND type = 'purchased' AND ts <= $now::TIMESTAMP
      GROUP BY member_id) p
JOIN members m ON m.member_id = p.member_id AND m.brand = $brand::VARCHAR
WHERE p.n = 1
  AND p.first_ts <= $now::TIMESTAMP - INTERVAL 30 DAY
  AND p.first_ts > $now::TIMESTAMP - INTERVAL 45 DAY`,
	"d11_cashback_gold": `
SELECT m.member_id
FROM members m
JOIN (SELECT member_id
      FROM events
      WHERE brand = $brand::VARCHAR AND type = 'purchased'
        AND ts > $now::TIMESTAMP - INTERVAL 365 DAY AND ts <= $now::TIMESTAMP
      GROUP BY member_id
      HAVING count(*) >= 3 AND sum(amount) >= 500) p ON p.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR AND m.tier = 'gold'`,
	"new_dish_voucher": `
SELECT m.member_id
FROM members m
WHERE m.brand = $brand::VARCHAR AND m.city = '长沙'
  AND EXISTS (SELECT 1 FROM events e
              WHERE e.member_id = m.member_id AND e.brand = $brand::VARCHAR AND e.type = 'visited'
                AND e.ts > $now::TIMESTAMP - INTERVAL 3 MONTH AND e.ts <= $now::TIMESTAMP)`,
	"toothbrush_refill": `
SELECT p.member_id
FROM (SELECT member_id, max(ts) AS last_ts
      FROM events
      WHERE brand = $brand::VARCHAR AND type = 'purchased' AND sku = 'TB-10PK' AND ts <= $now::TIMESTAMP
      GROUP BY member_id) p
JOIN members m ON m.member_id = p.member_id AND m.brand = $brand::VARCHAR
WHERE p.last_ts <= $now::TIMESTAMP - INTERVAL 330 DAY
  AND p.last_ts > $now::TIMESTAMP - INTERVAL 341 DAY`,
	"pay_reminder": `
SELECT o.member_id, o.seq
FROM events o
JOIN members m ON m.member_id = o.member_id AND m.brand = $brand::VARCHAR
WHERE o.brand = $brand::VARCHAR AND o.type = 'order_placed'
  AND o.ts + INTERVAL 2 HOUR <= $now::TIMESTAMP
  AND o.ts + INTERVAL 2 HOUR > $wm_now::TIMESTAMP
  AND NOT EXISTS (SELECT 1 FROM events p
                  WHERE p.brand = $brand::VARCHAR AND p.type = 'paid' AND p.member_id = o.member_id
                    AND p.order_id = o.order_id AND p.ts > o.ts AND p.ts <= o.ts + INTERVAL 2 HOUR)`,
}

// BenchmarkVsHandWritten compares compiled rules with hand-written SQL for
// the same result (checked once before timing) and reports both times and
// their ratio (target: ratio <= 1.3).
func BenchmarkVsHandWritten(b *testing.B) {
	db, brand := benchDB(b)
	ctx := context.Background()
	p := loadProgram(b, "testdata/spec.nudge")
	var names []string
	for name := range handWritten {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var rule *Rule
		for _, r := range p.Rules {
			if r.Name == name {
				rule = r
			}
		}
		if rule == nil {
			b.Fatalf("no rule %s in testdata/spec.nudge", name)
		}
		args, handArgs := benchArgs(brand, rule.Watermarks), benchArgs(brand, handWrittenWM)
		b.Run(name, func(b *testing.B) {
			got := drain(ctx, b, db, rule.SQL, args)
			want := drain(ctx, b, db, handWritten[name], handArgs)
			if !reflect.DeepEqual(got, want) {
				b.Fatalf("compiled rule returns %d rows, hand-written query %d", len(got), len(want))
			}
			var tn, th time.Duration
			for b.Loop() {
				t0 := time.Now()
				drain(ctx, b, db, rule.SQL, args)
				t1 := time.Now()
				drain(ctx, b, db, handWritten[name], handArgs)
				tn += t1.Sub(t0)
				th += time.Since(t1)
			}
			b.ReportMetric(float64(tn.Milliseconds())/float64(b.N), "nudge-ms/op")
			b.ReportMetric(float64(th.Milliseconds())/float64(b.N), "hand-ms/op")
			b.ReportMetric(float64(tn)/float64(th), "ratio")
			b.ReportMetric(float64(len(got)), "firings")
		})
	}
}
