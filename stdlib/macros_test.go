package stdlib_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"nudge/stdlib"
)

// openDB returns an in-memory DuckDB with the schema and macros applied.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one in-memory database
	t.Cleanup(func() { db.Close() })
	for _, script := range []string{stdlib.SchemaSQL, stdlib.MacrosSQL} {
		if _, err := db.Exec(script); err != nil {
			t.Fatalf("apply script: %v", err)
		}
	}
	return db
}

func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestMacrosIdempotent: MacrosSQL can run twice (CREATE OR REPLACE).
func TestMacrosIdempotent(t *testing.T) {
	db := openDB(t)
	if _, err := db.Exec(stdlib.MacrosSQL); err != nil {
		t.Fatalf("second run of macros: %v", err)
	}
}

func TestDaysSince(t *testing.T) {
	db := openDB(t)
	now := ts("2024-06-30 12:00")
	cases := []struct {
		name string
		x    string // SQL expression
		want sql.NullInt64
	}{
		{"just under a day", "TIMESTAMP '2024-06-29 12:00:01'", sql.NullInt64{Int64: 0, Valid: true}},
		{"exactly a day", "TIMESTAMP '2024-06-29 12:00:00'", sql.NullInt64{Int64: 1, Valid: true}},
		{"date is midnight", "DATE '2024-06-01'", sql.NullInt64{Int64: 29, Valid: true}},
		{"same instant", "TIMESTAMP '2024-06-30 12:00:00'", sql.NullInt64{Int64: 0, Valid: true}},
		{"future rounds down", "TIMESTAMP '2024-07-01 00:00:00'", sql.NullInt64{Int64: -1, Valid: true}},
		{"across a leap day", "TIMESTAMP '2024-02-28 12:00:00'", sql.NullInt64{Int64: 123, Valid: true}},
		{"null", "CAST(NULL AS TIMESTAMP)", sql.NullInt64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got sql.NullInt64
			err := db.QueryRow("SELECT nudge_days_since("+c.x+", $now::TIMESTAMP)", sql.Named("now", now)).Scan(&got)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("nudge_days_since(%s) = %v, want %v", c.x, got, c.want)
			}
		})
	}
}

func TestHoursSince(t *testing.T) {
	db := openDB(t)
	cases := []struct {
		x    string
		want sql.NullInt64
	}{
		{"TIMESTAMP '2024-06-30 10:00:01'", sql.NullInt64{Int64: 1, Valid: true}},
		{"TIMESTAMP '2024-06-30 10:00:00'", sql.NullInt64{Int64: 2, Valid: true}},
		{"DATE '2024-06-29'", sql.NullInt64{Int64: 36, Valid: true}},
		{"TIMESTAMP '2024-06-30 12:30:00'", sql.NullInt64{Int64: -1, Valid: true}},
		{"CAST(NULL AS TIMESTAMP)", sql.NullInt64{}},
	}
	for _, c := range cases {
		var got sql.NullInt64
		if err := db.QueryRow("SELECT nudge_hours_since("+c.x+", $now::TIMESTAMP)", sql.Named("now", ts("2024-06-30 12:00"))).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("nudge_hours_since(%s) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestAge(t *testing.T) {
	db := openDB(t)
	cases := []struct {
		name, now, birthday string
		want                sql.NullInt64
	}{
		{"birthday today", "2024-06-30 12:00", "1990-06-30", sql.NullInt64{Int64: 34, Valid: true}},
		{"birthday tomorrow", "2024-06-30 12:00", "1990-07-01", sql.NullInt64{Int64: 33, Valid: true}},
		{"birthday yesterday", "2024-06-30 12:00", "1990-06-29", sql.NullInt64{Int64: 34, Valid: true}},
		{"feb 29 on feb 28 of a common year", "2023-02-28 12:00", "2000-02-29", sql.NullInt64{Int64: 22, Valid: true}},
		{"feb 29 on mar 1 of a common year", "2023-03-01 12:00", "2000-02-29", sql.NullInt64{Int64: 23, Valid: true}},
		{"feb 29 on feb 29", "2024-02-29 12:00", "2000-02-29", sql.NullInt64{Int64: 24, Valid: true}},
		{"unknown", "2024-06-30 12:00", "", sql.NullInt64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bd := "CAST(NULL AS DATE)"
			if c.birthday != "" {
				bd = "DATE '" + c.birthday + "'"
			}
			var got sql.NullInt64
			if err := db.QueryRow("SELECT nudge_age("+bd+", $now::TIMESTAMP)", sql.Named("now", ts(c.now))).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("nudge_age(%s) at %s = %v, want %v", c.birthday, c.now, got, c.want)
			}
		})
	}
}

func TestBirthdayIn(t *testing.T) {
	db := openDB(t)
	cases := []struct {
		name     string
		now      string
		birthday string // "" is NULL
		days     int
		want     bool
	}{
		{"today", "2024-06-30 12:00", "1990-06-30", 0, true},
		{"yesterday", "2024-06-30 12:00", "1990-06-29", 0, false},
		{"yesterday is next year's within 400 days", "2024-06-30 12:00", "1990-06-29", 400, true},
		{"in a week", "2024-06-30 12:00", "1990-07-07", 7, true},
		{"one day too far", "2024-06-30 12:00", "1990-07-07", 6, false},
		{"year wrap", "2024-12-30 09:00", "2000-01-02", 3, true},
		{"year wrap too far", "2024-12-30 09:00", "2000-01-02", 2, false},
		{"new year's eve", "2024-12-31 23:59", "1985-12-31", 0, true},
		{"feb 29 in a leap year", "2024-02-29 08:00", "2000-02-29", 0, true},
		{"feb 28 in a leap year is not feb 29", "2024-02-28 08:00", "2000-02-29", 0, false},
		{"feb 28 + 1 day in a leap year", "2024-02-28 08:00", "2000-02-29", 1, true},
		{"feb 29 celebrated feb 28 in a common year", "2023-02-28 08:00", "2000-02-29", 0, true},
		{"not on mar 1 in a common year", "2023-03-01 08:00", "2000-02-29", 0, false},
		{"feb 27 + 1 day in a common year", "2023-02-27 08:00", "2000-02-29", 1, true},
		{"wrap into a leap feb 29", "2023-12-31 08:00", "2004-02-29", 60, true},
		{"wrap stops at feb 28", "2023-12-31 08:00", "2004-02-29", 59, false},
		{"unknown birthday", "2024-06-30 12:00", "", 30, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bd := "CAST(NULL AS DATE)"
			if c.birthday != "" {
				bd = "DATE '" + c.birthday + "'"
			}
			var got bool
			q := "SELECT nudge_birthday_in(" + bd + ", $now::TIMESTAMP, to_days(CAST($d AS INTEGER)))"
			if err := db.QueryRow(q, sql.Named("now", ts(c.now)), sql.Named("d", c.days)).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("birthday %s within %d days of %s = %v, want %v", c.birthday, c.days, c.now, got, c.want)
			}
		})
	}
}

// seedRFM loads a small hand-computed dataset; now is 2024-06-30 12:00.
//
//	member  purchases (ts, amount)                        recency  freq365  spend365
//	m1      06-29 10:00 100, 06-01 200, 05-01 300         1        3        600
//	m2      06-20 10:00 50 (+ a future one on 07-05)      10       1        50
//	m3      2023-01-01 1000                               546      0        0
//	m4      03-01 10:00 80, 04-01 10:00 80                90       2        160
//	m5      none (a visited event with an amount)         NULL     0        0
//	x1      brand "other": 06-30 9999
func seedRFM(t *testing.T, db *sql.DB) {
	t.Helper()
	stmts := []string{
		`INSERT INTO members (member_id, brand) VALUES ('m1','acme'),('m2','acme'),('m3','acme'),('m4','acme'),('m5','acme'),('x1','other')`,
		`INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES
			(1,'m1','acme','purchased','2024-06-29 10:00',100),
			(2,'m1','acme','purchased','2024-06-01 10:00',200),
			(3,'m1','acme','purchased','2024-05-01 10:00',300),
			(4,'m2','acme','purchased','2024-06-20 10:00',50),
			(5,'m2','acme','purchased','2024-07-05 10:00',5000),
			(6,'m3','acme','purchased','2023-01-01 10:00',1000),
			(7,'m4','acme','purchased','2024-03-01 10:00',80),
			(8,'m4','acme','purchased','2024-04-01 10:00',80),
			(9,'m5','acme','visited','2024-06-29 10:00',500),
			(10,'x1','other','purchased','2024-06-30 10:00',9999),
			(11,'m5','other','purchased','2024-06-30 10:00',9999)`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRFM(t *testing.T) {
	db := openDB(t)
	seedRFM(t, db)
	now := ts("2024-06-30 12:00")
	// Hand-computed: scores are 1 + floor(5 * percent_rank), percent_rank =
	// (rank - 1) / (n - 1) over the 5 acme members.
	// R orders recency desc, nulls first: m5, m3, m4, m2, m1 -> 1, 2, 3, 4, 5.
	// F orders frequency: m3 = m5 (0), m2, m4, m1 -> 1, 1, 3, 4, 5; M likewise.
	want := map[string][3]int{
		"m1": {5, 5, 5},
		"m2": {4, 3, 3},
		"m3": {2, 1, 1},
		"m4": {3, 4, 4},
		"m5": {1, 1, 1},
	}
	for id, w := range want {
		t.Run(id, func(t *testing.T) {
			var r, f, m int
			err := db.QueryRow(`SELECT nudge_rfm_r($id::VARCHAR, $brand::VARCHAR, $now::TIMESTAMP),
				nudge_rfm_f($id::VARCHAR, $brand::VARCHAR, $now::TIMESTAMP),
				nudge_rfm_m($id::VARCHAR, $brand::VARCHAR, $now::TIMESTAMP)`,
				sql.Named("id", id), sql.Named("brand", "acme"), sql.Named("now", now)).Scan(&r, &f, &m)
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]int{r, f, m}; got != w {
				t.Errorf("rfm(%s) = %v, want %v", id, got, w)
			}
		})
	}
	t.Run("other brand is isolated", func(t *testing.T) {
		var r, f, m int
		err := db.QueryRow(`SELECT r, f, m FROM nudge_rfm('other', $now::TIMESTAMP) WHERE member_id = 'x1'`,
			sql.Named("now", now)).Scan(&r, &f, &m)
		if err != nil {
			t.Fatal(err)
		}
		if r != 1 || f != 1 || m != 1 { // the only member of its brand
			t.Errorf("rfm(x1) = %d %d %d, want 1 1 1", r, f, m)
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM nudge_rfm('acme', $now::TIMESTAMP)`, sql.Named("now", now)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("nudge_rfm('acme') has %d rows, want 5", n)
		}
	})
}

func TestSpendPercentile(t *testing.T) {
	db := openDB(t)
	seedRFM(t, db)
	now := ts("2024-06-30 12:00")
	cases := []struct {
		days int
		want map[string]float64
	}{
		// 365 days: spends m3 0, m5 0, m2 50, m4 160, m1 600.
		{365, map[string]float64{"m1": 100, "m2": 50, "m3": 0, "m4": 75, "m5": 0}},
		// 30 days, (05-31 12:00, 06-30 12:00]: m1 300, m2 50, others 0.
		{30, map[string]float64{"m1": 100, "m2": 75, "m3": 0, "m4": 0, "m5": 0}},
	}
	for _, c := range cases {
		for id, w := range c.want {
			var got float64
			err := db.QueryRow(`SELECT nudge_spend_percentile($id::VARCHAR, $brand::VARCHAR, $now::TIMESTAMP, to_days(CAST($d AS INTEGER)))`,
				sql.Named("id", id), sql.Named("brand", "acme"), sql.Named("now", now), sql.Named("d", c.days)).Scan(&got)
			if err != nil {
				t.Fatal(err)
			}
			if got != w {
				t.Errorf("spend_percentile(%d days) of %s = %v, want %v", c.days, id, got, w)
			}
		}
	}
}

// TestFunctionTemplates compiles each builtin function's SQL template the
// way the compiler does ({member} an alias of members, {now} and {brand}
// named parameters, durations as INTERVAL) and runs it over the dataset.
func TestFunctionTemplates(t *testing.T) {
	db := openDB(t)
	seedRFM(t, db)
	if _, err := db.Exec(`UPDATE members SET birthday = DATE '1990-07-02', signup_at = TIMESTAMP '2024-06-10 12:00' WHERE member_id = 'm1'`); err != nil {
		t.Fatal(err)
	}
	fns := stdlib.Functions()
	cases := []struct {
		fn   string
		args []string
		want string // m1's value, formatted with %v
	}{
		{"birthday_in", []string{"INTERVAL '2 days'"}, "true"},
		{"birthday_in", []string{"INTERVAL '1 day'"}, "false"},
		{"days_since", []string{"m.signup_at"}, "20"},
		{"hours_since", []string{"m.signup_at"}, "480"},
		{"age", nil, "33"},
		{"rfm_r", nil, "5"},
		{"rfm_f", nil, "5"},
		{"rfm_m", nil, "5"},
		{"spend_percentile", []string{"INTERVAL '365 days'"}, "100"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.fn] = true
	}
	for name := range fns {
		if !covered[name] {
			t.Errorf("function %s has no template test", name)
		}
	}
	for _, c := range cases {
		t.Run(c.fn+"("+strings.Join(c.args, ",")+")", func(t *testing.T) {
			fn := fns[c.fn]
			if len(fn.Params) != len(c.args) {
				t.Fatalf("%s takes %d args", c.fn, len(fn.Params))
			}
			expr := strings.NewReplacer("{member}", "m", "{now}", "$now::TIMESTAMP", "{brand}", "$brand::VARCHAR").Replace(fn.SQL)
			for i, a := range c.args {
				expr = strings.ReplaceAll(expr, "{"+string(rune('0'+i))+"}", a)
			}
			q := "SELECT CAST(" + expr + " AS VARCHAR) FROM members m WHERE m.brand = $brand::VARCHAR AND m.member_id = 'm1'"
			var got string
			err := db.QueryRowContext(context.Background(), q, sql.Named("now", ts("2024-06-30 12:00")), sql.Named("brand", "acme")).Scan(&got)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if strings.TrimSuffix(got, ".0") != c.want {
				t.Errorf("%s = %s, want %s", expr, got, c.want)
			}
		})
	}
}
