package demodata

import (
	"context"
	"database/sql"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"nudge/stdlib"
)

// openDB returns a DuckDB database (in memory when path is "") with the
// tables of stdlib.SchemaSQL.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(stdlib.SchemaSQL); err != nil {
		t.Fatalf("applying schema: %v", err)
	}
	return db
}

func generate(t testing.TB, opts Options) (*sql.DB, Stats) {
	t.Helper()
	db := openDB(t, "")
	st, err := Generate(context.Background(), db, opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return db, st
}

// checksum is an order-independent digest of both tables.
func checksum(t testing.TB, db *sql.DB) string {
	t.Helper()
	var m, e string
	if err := db.QueryRow(`SELECT coalesce(sum(hash(m))::VARCHAR, '') FROM members m`).Scan(&m); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT coalesce(sum(hash(e))::VARCHAR, '') FROM events e`).Scan(&e); err != nil {
		t.Fatal(err)
	}
	return m + "/" + e
}

func queryFloat(t testing.TB, db *sql.DB, q string, args ...any) float64 {
	t.Helper()
	var f sql.NullFloat64
	if err := db.QueryRow(q, args...).Scan(&f); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	return f.Float64
}

func TestGenerateDeterministic(t *testing.T) {
	base := Options{Members: 2500, Seed: 7}
	db1, st1 := generate(t, base)
	chunked := base
	chunked.chunk = 700 // chunking must not change the data
	db2, st2 := generate(t, chunked)
	other := base
	other.Seed = 8
	db3, _ := generate(t, other)

	c1, c2, c3 := checksum(t, db1), checksum(t, db2), checksum(t, db3)
	if c1 != c2 {
		t.Errorf("same seed gave different data: %s vs %s", c1, c2)
	}
	if c1 == c3 {
		t.Errorf("seeds 7 and 8 gave the same data: %s", c1)
	}
	if st1.Members != st2.Members || st1.Events != st2.Events {
		t.Errorf("stats differ: %+v vs %+v", st1, st2)
	}
}

func TestGenerateStats(t *testing.T) {
	var calls [][2]int
	opts := Options{Members: 2500, Seed: 1, chunk: 1000,
		Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }}
	db, st := generate(t, opts)

	want := [][2]int{{1000, 2500}, {2000, 2500}, {2500, 2500}}
	if len(calls) != len(want) {
		t.Fatalf("progress calls = %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("progress call %d = %v, want %v", i, calls[i], want[i])
		}
	}
	if st.Members != 2500 {
		t.Errorf("Stats.Members = %d, want 2500", st.Members)
	}
	var members, events int64
	db.QueryRow(`SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM events)`).Scan(&members, &events)
	if st.Members != members || st.Events != events {
		t.Errorf("Stats = %d members %d events, tables hold %d and %d", st.Members, st.Events, members, events)
	}
	if got := st.BrandNames(); strings.Join(got, ",") != "acme,bistro" {
		t.Errorf("brands = %v, want [acme bistro]", got)
	}
	var sum int64
	for _, b := range st.Brands {
		sum += b.Events
	}
	if sum != st.Events {
		t.Errorf("per-brand events sum to %d, total %d", sum, st.Events)
	}
	if st.Elapsed <= 0 {
		t.Errorf("Elapsed = %v", st.Elapsed)
	}
}

// TestDistribution checks the population figures of SPEC §1 and the
// integrity of the generated rows.
func TestDistribution(t *testing.T) {
	db, _ := generate(t, Options{Members: 20000, Seed: 42})
	now := sql.Named("now", DefaultNow)

	const buyers = `(SELECT member_id, count(*) AS n, max(ts) AS last FROM events WHERE type = 'purchased' GROUP BY member_id)`
	tests := []struct {
		name     string
		query    string
		want     float64
		tolerate float64
	}{
		{"acme share of members", `SELECT avg((brand = 'acme')::INT) FROM members`, 0.80, 0.02},
		{"buyers among members", `SELECT (SELECT count(*) FROM ` + buyers + `) / (SELECT count(*) FROM members)`, 0.90, 0.03},
		{"bought once", `SELECT avg((n = 1)::INT) FROM ` + buyers, 0.64, 0.03},
		{"bought twice", `SELECT avg((n = 2)::INT) FROM ` + buyers, 0.21, 0.03},
		{"bought three times", `SELECT avg((n = 3)::INT) FROM ` + buyers, 0.10, 0.02},
		{"bought more", `SELECT avg((n > 3)::INT) FROM ` + buyers, 0.05, 0.02},
		{"dormant over a year", `SELECT avg((last < $now::TIMESTAMP - INTERVAL 365 DAY)::INT) FROM ` + buyers, 0.42, 0.03},
		{"average order", `SELECT avg(amount) FROM events WHERE type = 'purchased'`, 73, 3},
		{"sms consent", `SELECT avg(consent_sms::INT) FROM members`, 0.70, 0.02},
		{"wechat consent", `SELECT avg(consent_wechat::INT) FROM members`, 0.50, 0.02},
		{"app_push consent", `SELECT avg(consent_app_push::INT) FROM members`, 0.40, 0.02},
		{"email consent", `SELECT avg(coalesce(consent_email, false)::INT) FROM members`, 0.30, 0.02},
		{"email consent unknown", `SELECT avg((consent_email IS NULL)::INT) FROM members`, 0.10, 0.02},
		{"phone consent", `SELECT avg(consent_phone::INT) FROM members`, 0.20, 0.02},
		{"gold tier", `SELECT avg((tier = 'gold')::INT) FROM members`, 0.07, 0.03},
		{"silver tier", `SELECT avg((tier = 'silver')::INT) FROM members`, 0.25, 0.03},
		{"长沙 residents", `SELECT avg((city = '长沙')::INT) FROM members`, 0.21, 0.02},
		{"birth months covered", `SELECT count(DISTINCT month(birthday)) FROM members`, 12, 0},
		{"signup span in days", `SELECT date_diff('day', min(signup_at), max(signup_at)) FROM members`, 1095, 10},
		{"paid share of orders", `SELECT (SELECT count(*) FROM events WHERE type = 'paid') / (SELECT count(*) FROM events WHERE type = 'order_placed')`, 0.96, 0.03},
		{"event types", `SELECT count(DISTINCT type) FROM events`, 12, 0},
		{"events in the future", `SELECT count(*) FROM events WHERE ts > $now::TIMESTAMP`, 0, 0},
		{"events before signup", `SELECT count(*) FROM events e JOIN members m USING (member_id) WHERE e.ts < m.signup_at`, 0, 0},
		{"events of unknown members", `SELECT count(*) FROM events e ANTI JOIN members m USING (member_id)`, 0, 0},
		{"events of another brand", `SELECT count(*) FROM events e JOIN members m USING (member_id) WHERE e.brand <> m.brand`, 0, 0},
		{"seq gaps or duplicates", `SELECT count(*) - count(DISTINCT seq) + (max(seq) - min(seq) + 1 - count(*)) FROM events`, 0, 0},
		{"seq starts at 1", `SELECT min(seq) FROM events`, 1, 0},
		{"seq out of time order", `SELECT count(*) FROM (SELECT ts < lag(ts) OVER (ORDER BY seq) AS bad FROM events) WHERE bad`, 0, 0},
		{"member ids unique", `SELECT count(*) - count(DISTINCT member_id) FROM members`, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got float64
			if strings.Contains(tt.query, "$now") {
				got = queryFloat(t, db, tt.query, now)
			} else {
				got = queryFloat(t, db, tt.query)
			}
			t.Logf("%s = %.4f", tt.name, got)
			if math.Abs(got-tt.want) > tt.tolerate {
				t.Errorf("%s = %.4f, want %.4f ± %.4f", tt.name, got, tt.want, tt.tolerate)
			}
		})
	}
}

// businessCases are plain-SQL versions of the nine business cases of SPEC §1
// at $now for $brand; each returns the number of qualifying members.
var businessCases = []struct {
	name  string
	query string
}{
	{"1 store A queue or booking in the last 24 hours", `
		SELECT count(DISTINCT member_id) FROM events
		WHERE brand = $brand AND type IN ('queued', 'booked') AND store = 'A'
		  AND ts > $now::TIMESTAMP - INTERVAL 24 HOUR AND ts <= $now::TIMESTAMP`},
	{"2 长沙 member visited in the last 3 months", `
		SELECT count(*) FROM members m
		WHERE brand = $brand AND city = '长沙' AND EXISTS (
		  SELECT 1 FROM events e WHERE e.member_id = m.member_id AND e.type = 'visited'
		    AND e.ts > $now::TIMESTAMP - INTERVAL 3 MONTH AND e.ts <= $now::TIMESTAMP)`},
	{"3 spending spike in the last 24 hours", `
		SELECT count(DISTINCT member_id) FROM (
		  SELECT member_id, ts, amount,
		    avg(amount) OVER w AS prev_avg, count(*) OVER w AS prev_n
		  FROM events WHERE brand = $brand AND type = 'purchased'
		  WINDOW w AS (PARTITION BY member_id ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
		WHERE prev_n >= 3 AND amount > 1.5 * prev_avg
		  AND ts > $now::TIMESTAMP - INTERVAL 24 HOUR AND ts <= $now::TIMESTAMP`},
	{"4 dormant over 90 days", `
		SELECT count(*) FROM (SELECT member_id, max(ts) AS last FROM events
		  WHERE brand = $brand AND type = 'purchased' GROUP BY member_id)
		WHERE date_diff('second', last, $now::TIMESTAMP) // 86400 > 90`},
	{"5a one purchase, first 0-29 days ago (full-price push)", ladder(0, 29)},
	{"5b one purchase, first 30-44 days ago (10% rung)", ladder(30, 44)},
	{"5c one purchase, first 45-59 days ago (20% rung)", ladder(45, 59)},
	{"5d one purchase, first 60+ days ago (30% rung)", ladder(60, 75)},
	{"6 order placed, unpaid after 2 hours, due in the last 24 hours", `
		SELECT count(*) FROM events o
		WHERE o.brand = $brand AND o.type = 'order_placed'
		  AND o.ts + INTERVAL 2 HOUR <= $now::TIMESTAMP
		  AND o.ts + INTERVAL 2 HOUR > $now::TIMESTAMP - INTERVAL 24 HOUR
		  AND NOT EXISTS (SELECT 1 FROM events p WHERE p.type = 'paid' AND p.member_id = o.member_id
		    AND p.order_id = o.order_id AND p.ts > o.ts AND p.ts <= o.ts + INTERVAL 2 HOUR)`},
	{"7 birthday today", `
		SELECT count(*) FROM members WHERE brand = $brand
		  AND month(birthday) = month($now::TIMESTAMP) AND day(birthday) = day($now::TIMESTAMP)`},
	{"8 gold and loyal", `
		SELECT count(*) FROM members m WHERE brand = $brand AND tier = 'gold' AND (
		  SELECT count(*) >= 3 AND sum(amount) >= 500 FROM events e
		  WHERE e.member_id = m.member_id AND e.type = 'purchased'
		    AND e.ts > $now::TIMESTAMP - INTERVAL 365 DAY AND e.ts <= $now::TIMESTAMP)`},
	{"9 TB-10PK last bought 330-340 days ago", `
		SELECT count(*) FROM (SELECT member_id, max(ts) AS last FROM events
		  WHERE brand = $brand AND type = 'purchased' AND sku = 'TB-10PK' GROUP BY member_id)
		WHERE date_diff('second', last, $now::TIMESTAMP) // 86400 BETWEEN 330 AND 340`},
}

func ladder(lo, hi int) string {
	return `
		SELECT count(*) FROM (SELECT member_id, min(ts) AS first, count(*) AS n FROM events
		  WHERE brand = $brand AND type = 'purchased' GROUP BY member_id)
		WHERE n = 1 AND date_diff('second', first, $now::TIMESTAMP) // 86400 BETWEEN ` +
		strconv.Itoa(lo) + ` AND ` + strconv.Itoa(hi)
}

// TestBusinessCases: with 1000 members, the smallest run that holds every
// persona, each case of SPEC §1 has qualifying acme members at DefaultNow;
// with 5000, bistro members too.
func TestBusinessCases(t *testing.T) {
	db, _ := generate(t, Options{Members: 5000, Seed: 3})
	small, _ := generate(t, Options{Members: 1000, Seed: 3})
	for _, bc := range businessCases {
		t.Run(bc.name, func(t *testing.T) {
			for _, c := range []struct {
				name  string
				db    *sql.DB
				brand string
			}{{"1000 members acme", small, BrandAcme}, {"5000 members acme", db, BrandAcme}, {"5000 members bistro", db, BrandBistro}} {
				if c.brand == BrandBistro && strings.Contains(bc.name, "TB-10PK") {
					continue // the restaurant sells no toothbrushes
				}
				q := bc.query
				if c.brand == BrandBistro {
					q = strings.ReplaceAll(q, "store = 'A'", "store = '望湘园五一店'")
				}
				n := queryFloat(t, c.db, q, sql.Named("now", DefaultNow), sql.Named("brand", c.brand))
				if n < 1 {
					t.Errorf("%s: no qualifying members", c.name)
				}
			}
		})
	}
}

// TestGenerateNow: the data follows Options.Now, not the wall clock.
func TestGenerateNow(t *testing.T) {
	now := time.Date(2025, 2, 28, 15, 30, 0, 0, time.UTC)
	db, _ := generate(t, Options{Members: 1000, Seed: 5, Now: now})
	var last time.Time
	if err := db.QueryRow(`SELECT max(ts) FROM events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if last.After(now) || now.Sub(last) > 24*time.Hour {
		t.Errorf("latest event %v, want within 24 hours before %v", last, now)
	}
	n := queryFloat(t, db, businessCases[0].query, sql.Named("now", now), sql.Named("brand", BrandAcme))
	if n < 1 {
		t.Errorf("store A case has no members at %v", now)
	}
}

func TestGenerateErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("negative members", func(t *testing.T) {
		db := openDB(t, "")
		if _, err := Generate(ctx, db, Options{Members: -1}); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("err = %v, want a negative-members error", err)
		}
	})
	t.Run("no tables", func(t *testing.T) {
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := Generate(ctx, db, Options{Members: 10}); err == nil || !strings.Contains(err.Error(), "SchemaSQL") {
			t.Errorf("err = %v, want a hint to create the tables", err)
		}
	})
	t.Run("members not empty", func(t *testing.T) {
		db, _ := generate(t, Options{Members: 10})
		if _, err := Generate(ctx, db, Options{Members: 10}); err == nil || !strings.Contains(err.Error(), "already holds 10 rows") {
			t.Errorf("err = %v, want an already-holds error", err)
		}
	})
	t.Run("cancelled leaves nothing", func(t *testing.T) {
		db := openDB(t, "")
		ctx, cancel := context.WithCancel(ctx)
		opts := Options{Members: 3000, chunk: 1000, Progress: func(done, total int) { cancel() }}
		if _, err := Generate(ctx, db, opts); err == nil {
			t.Fatal("Generate succeeded after cancel")
		}
		if n := queryFloat(t, db, `SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM events)`); n != 0 {
			t.Errorf("%v rows left behind after cancel", n)
		}
	})
	t.Run("seq continues after existing events", func(t *testing.T) {
		db := openDB(t, "")
		if _, err := db.Exec(`INSERT INTO events (seq, member_id, brand, type, ts) VALUES (41, 'x', 'acme', 'browsed', TIMESTAMP '2024-01-01')`); err != nil {
			t.Fatal(err)
		}
		if _, err := Generate(ctx, db, Options{Members: 10}); err != nil {
			t.Fatal(err)
		}
		if n := queryFloat(t, db, `SELECT min(seq) FROM events WHERE member_id <> 'x'`); n != 42 {
			t.Errorf("first new seq = %v, want 42", n)
		}
	})
}

// TestGenerateMillion generates 1,000,000 members into a database file and
// requires it to take under 60 seconds. It runs only with
// NUDGE_DEMO_MILLION=1 (it needs a minute of both cores):
//
//	NUDGE_DEMO_MILLION=1 go test -run TestGenerateMillion -v ./runtime/demodata/
func TestGenerateMillion(t *testing.T) {
	if os.Getenv("NUDGE_DEMO_MILLION") == "" {
		t.Log("set NUDGE_DEMO_MILLION=1 to generate 1,000,000 members")
		return
	}
	db := openDB(t, filepath.Join(t.TempDir(), "demo.duckdb"))
	start := time.Now()
	opts := Options{Members: 1_000_000, Seed: 1, Progress: func(done, total int) {
		t.Logf("%d/%d members after %v", done, total, time.Since(start).Round(time.Millisecond))
	}}
	st, err := Generate(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	rows := float64(st.Members + st.Events)
	t.Logf("%d members, %d events in %v: %.0f rows/s", st.Members, st.Events, st.Elapsed.Round(time.Millisecond), rows/st.Elapsed.Seconds())
	for _, b := range st.BrandNames() {
		t.Logf("  %s: %d members, %d events", b, st.Brands[b].Members, st.Brands[b].Events)
	}
	if st.Elapsed > 60*time.Second {
		t.Errorf("took %v, want under 60s", st.Elapsed)
	}
}

// TestGenerateClustered: enough generated events are stored in the
// clustered order (package eventorder) and marked so, with the same data
// and seqs in time order; fewer are stored in time order, unmarked.
func TestGenerateClustered(t *testing.T) {
	// Pairs of consecutive events in storage order that break the
	// clustered order: brand and type ascending, ts ascending in the
	// first (brand, type) block, descending in the second, and so on.
	const unclustered = `WITH o AS (
    SELECT brand || '|' || type AS blk, ts, lag(brand || '|' || type) OVER (ORDER BY rowid) AS pblk, lag(ts) OVER (ORDER BY rowid) AS pts
    FROM events),
k AS (SELECT *, dense_rank() OVER (ORDER BY blk) AS k FROM o)
SELECT count(*) FROM k WHERE pblk > blk OR (pblk = blk AND CASE WHEN k % 2 = 1 THEN ts < pts ELSE ts > pts END)`
	const seqNotInTimeOrder = `SELECT count(*) FROM (SELECT ts, lag(ts) OVER (ORDER BY seq) AS p FROM events) WHERE ts < p`
	const mark = `SELECT coalesce(max(value), 0) FROM counters WHERE name = 'events_clustered'`
	withCounters := func(opts Options) (*sql.DB, Stats) {
		db := openDB(t, "")
		// The runtime's table of counters, where the mark is kept.
		if _, err := db.Exec(`CREATE TABLE counters (name VARCHAR PRIMARY KEY, value BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		st, err := Generate(context.Background(), db, opts)
		if err != nil {
			t.Fatal(err)
		}
		return db, st
	}
	plainDB, _ := withCounters(Options{Members: 400, Seed: 3})
	clusteredDB, st := withCounters(Options{Members: 400, Seed: 3, clusterMin: 1})
	if got, want := checksum(t, clusteredDB), checksum(t, plainDB); got != want {
		t.Errorf("clustering changed the data: %s, was %s", got, want)
	}
	for _, c := range []struct {
		name                string
		db                  *sql.DB
		breaks, marked, bad float64
	}{
		{"clustered", clusteredDB, 0, float64(st.Events), 0},
		{"plain", plainDB, -1, 0, 0},
	} {
		breaks := queryFloat(t, c.db, unclustered)
		if (c.breaks == 0) != (breaks == 0) {
			t.Errorf("%s: %v pairs of events out of the clustered order", c.name, breaks)
		}
		if got := queryFloat(t, c.db, mark); got != c.marked {
			t.Errorf("%s: events_clustered = %v, want %v", c.name, got, c.marked)
		}
		if got := queryFloat(t, c.db, seqNotInTimeOrder); got != c.bad {
			t.Errorf("%s: %v events with a seq out of time order", c.name, got)
		}
	}
}
