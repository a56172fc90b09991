package compiler

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"nudge/internal/tickform"
	"nudge/lang"
	"nudge/lang/check"
	"nudge/stdlib"
)

// This file holds the test fixtures shared by the semantic, property and
// golden tests: a DuckDB with the stdlib schema and macros, a compact text
// form for members and events, and a runner that returns a rule's firings.

const testBrand = "acme"

// openDB opens an in-memory DuckDB with the data model and macros.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	// One DuckDB thread: the tests' many small statements cost less CPU
	// on one, and the long property tests run in parallel.
	db, err := sql.Open("duckdb", "?threads=1")
	if err != nil {
		t.Fatalf("open duckdb: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(stdlib.SchemaSQL); err != nil {
		t.Fatalf("apply schema: %v", err)
	}
	if _, err := db.Exec(stdlib.MacrosSQL); err != nil {
		// Report, then apply the macros one by one so the rules that do not
		// need the broken one can still be tested.
		t.Errorf("apply stdlib.MacrosSQL: %v", err)
		for _, stmt := range strings.Split(stdlib.MacrosSQL, ";\n") {
			if _, err := db.Exec(stmt); err != nil {
				t.Logf("macro statement failed: %v", err)
			}
		}
	}
	return db
}

// member is a test member. Empty strings are NULL.
type member struct {
	ID, Brand, City, Tier, Birthday, Attrs string
}

// event is a test event. Empty strings and a NaN amount are NULL.
type event struct {
	Seq                                    int64
	Member, Brand, Type                    string
	TS                                     time.Time
	Store, SKU, Category, Channel, OrderID string
	Amount                                 float64
	Props                                  string
}

// parseTime reads "2024-06-10", "2024-06-10T12:00" or "2024-06-10T12:00:05".
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := parseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// parseMember reads "ID key=value ...", keys brand, city, tier, birthday, attrs.
func parseMember(t testing.TB, s string) member {
	t.Helper()
	f := strings.Fields(s)
	m := member{ID: f[0], Brand: testBrand}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "brand":
			m.Brand = v
		case "city":
			m.City = v
		case "tier":
			m.Tier = v
		case "birthday":
			m.Birthday = v
		case "attrs":
			m.Attrs = v
		default:
			t.Fatalf("member %q: unknown key %q", s, k)
		}
	}
	return m
}

// parseEvent reads "SEQ MEMBER TYPE TIME key=value ...", keys brand, store,
// sku, category, channel, order, amount, props.
func parseEvent(t testing.TB, s string) event {
	t.Helper()
	f := strings.Fields(s)
	if len(f) < 4 {
		t.Fatalf("event %q: want SEQ MEMBER TYPE TIME", s)
	}
	seq, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		t.Fatalf("event %q: %v", s, err)
	}
	e := event{Seq: seq, Member: f[1], Brand: testBrand, Type: f[2], TS: mustTime(t, f[3]), Amount: math.NaN()}
	for _, kv := range f[4:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "brand":
			e.Brand = v
		case "store":
			e.Store = v
		case "sku":
			e.SKU = v
		case "category":
			e.Category = v
		case "channel":
			e.Channel = v
		case "order":
			e.OrderID = v
		case "amount":
			e.Amount, err = strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("event %q: %v", s, err)
			}
		case "props":
			e.Props = v
		default:
			t.Fatalf("event %q: unknown key %q", s, k)
		}
	}
	return e
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// load replaces the database's rows with the given members, events and tags
// ("brand member tag").
func load(t testing.TB, db *sql.DB, members []member, events []event, tags []string) {
	t.Helper()
	for _, q := range []string{"DELETE FROM members", "DELETE FROM events", "DELETE FROM member_tags"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if len(members) > 0 {
		var ph []string
		var args []any
		for _, m := range members {
			var bd any
			if m.Birthday != "" {
				bd = mustTime(t, m.Birthday)
			}
			ph = append(ph, "(?, ?, ?, ?, CAST(? AS DATE), CAST(? AS JSON))")
			args = append(args, m.ID, m.Brand, nullStr(m.City), nullStr(m.Tier), bd, nullStr(m.Attrs))
		}
		_, err := db.Exec("INSERT INTO members (member_id, brand, city, tier, birthday, attrs) VALUES "+strings.Join(ph, ", "), args...)
		if err != nil {
			t.Fatalf("insert members: %v", err)
		}
	}
	if len(events) > 0 {
		var ph []string
		var args []any
		for _, e := range events {
			var amount any
			if !math.IsNaN(e.Amount) {
				amount = strconv.FormatFloat(e.Amount, 'f', 2, 64)
			}
			ph = append(ph, "(?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS DECIMAL(18,2)), ?, ?, CAST(? AS JSON))")
			args = append(args, e.Seq, e.Member, e.Brand, e.Type, e.TS, nullStr(e.Store), nullStr(e.SKU), nullStr(e.Category),
				amount, nullStr(e.Channel), nullStr(e.OrderID), nullStr(e.Props))
		}
		_, err := db.Exec("INSERT INTO events (seq, member_id, brand, type, ts, store, sku, category, amount, channel, order_id, props) VALUES "+strings.Join(ph, ", "), args...)
		if err != nil {
			t.Fatalf("insert events: %v", err)
		}
	}
	for _, tg := range tags {
		f := strings.Fields(tg)
		_, err := db.Exec(`INSERT INTO member_tags (brand, member_id, tag, tagged_at) VALUES (?, ?, ?, TIMESTAMP '2020-01-01')`, f[0], f[1], f[2])
		if err != nil {
			t.Fatal(err)
		}
	}
}

// compileSource loads, checks and compiles rule source text.
func compileSource(t testing.TB, src string) *Program {
	t.Helper()
	p, _, err := compileText(src)
	if err != nil {
		t.Fatalf("%v\nsource:\n%s", err, src)
	}
	return p
}

// compileText is compileSource returning the checker's Info and an error.
func compileText(src string) (*Program, *check.Info, error) {
	prog, diags := lang.LoadSources([]lang.Source{{Name: "test.nudge", Src: []byte(src)}}, stdlib.Env())
	if diags.HasErrors() {
		return nil, nil, fmt.Errorf("check: %v", diags)
	}
	p, diags := Compile(prog.Info)
	if len(diags) > 0 {
		return nil, nil, fmt.Errorf("compile: %v", diags)
	}
	return p, prog.Info, nil
}

// watermark is a trigger rule's (wm_seq, wm_now) pair.
type watermark struct {
	Seq int64
	Now time.Time
}

// noWatermark considers every event (nothing was seen before).
var noWatermark = watermark{Seq: 0, Now: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}

// firing is one row of a rule query, rendered "member" for state rules and
// "member#seq@due" for trigger rules.
func runRule(ctx context.Context, db *sql.DB, r *Rule, now time.Time, wm watermark) ([]string, error) {
	return runRuleArgs(ctx, db, r, append(r.Watermarks.Args(wm.Seq, wm.Now),
		sql.Named(ParamNow, now), sql.Named(ParamBrand, testBrand))...)
}

// runRuleArgs is runRule with the query's parameters given.
func runRuleArgs(ctx context.Context, db *sql.DB, r *Rule, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, r.SQL, args...)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w\n%s", r.Name, err, r.SQL)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		var mid string
		var seq sql.NullInt64
		var due sql.NullTime
		dest := []any{&mid, &seq, &due}
		for range cols[3:] {
			dest = append(dest, new(any))
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		params := paramsKey(cols[3:], dest[3:])
		if !seq.Valid {
			out = append(out, mid+params)
			continue
		}
		out = append(out, fmt.Sprintf("%s#%d@%s", mid, seq.Int64, due.Time.UTC().Format("2006-01-02T15:04"))+params)
	}
	sort.Strings(out)
	return out, rows.Err()
}

const hour = time.Hour

// namedArgs binds the parameters of a query at now for the test brand,
// with the watermarks wm (none for the zero Watermarks) considering every
// event.
func namedArgs(now time.Time, wm Watermarks) []any {
	return append(wm.Args(noWatermark.Seq, noWatermark.Now), sql.Named(ParamNow, now), sql.Named(ParamBrand, testBrand))
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// lane is one (member, instant) pair of the lane form (Rule.Tick.LaneSQL).
type lane struct {
	member    string
	now, prev time.Time
}

// laneFirings evaluates r's lane form over lanes (loading tickform.Lanes and the
// scope copies from the members and events tables) and, for comparison,
// r's SQL at each lane's instant with the watermarks a tick-by-tick replay
// has there (every event seen, the previous instant prev), keeping the
// lane's member. Both are rendered "member@now " followed by runRule's
// form of the firing.
func laneFirings(ctx context.Context, db *sql.DB, r *Rule, lanes []lane) (got, want []string, err error) {
	var vals []string
	var args []any
	for i, l := range lanes {
		vals = append(vals, "(?, ?, ?, ?)")
		args = append(args, fmt.Sprintf("%s~%d", l.member, i), l.member, l.now, l.prev)
	}
	stmts := []string{
		"CREATE OR REPLACE TEMP TABLE " + tickform.Lanes + " (lane VARCHAR, member_id VARCHAR, now TIMESTAMP, prev TIMESTAMP)",
		"CREATE OR REPLACE TEMP TABLE " + tickform.ScopeMembers + " AS SELECT m.* REPLACE (l.lane AS member_id), l.now AS " + tickform.LaneNow +
			" FROM members m JOIN " + tickform.Lanes + " l ON l.member_id = m.member_id WHERE m.brand = '" + testBrand + "'",
		"CREATE OR REPLACE TEMP TABLE " + tickform.ScopeEvents + " AS SELECT e.* REPLACE (l.lane AS member_id), l.now AS " + tickform.LaneNow +
			" FROM events e JOIN " + tickform.Lanes + " l ON l.member_id = e.member_id WHERE e.brand = '" + testBrand + "'",
	}
	if _, err := db.ExecContext(ctx, stmts[0]); err != nil {
		return nil, nil, err
	}
	if len(lanes) > 0 {
		if _, err := db.ExecContext(ctx, "INSERT INTO "+tickform.Lanes+" VALUES "+strings.Join(vals, ", "), args...); err != nil {
			return nil, nil, err
		}
	}
	for _, q := range stmts[1:] {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, nil, err
		}
	}
	name := func(l lane) string { return l.member + "@" + l.now.Format("2006-01-02T15:04") }
	byID := map[string]lane{}
	for i, l := range lanes {
		byID[fmt.Sprintf("%s~%d", l.member, i)] = l
	}
	laneRule := *r
	laneRule.SQL = r.Tick.LaneSQL
	rows, err := runRuleArgs(ctx, db, &laneRule, sql.Named(ParamBrand, testBrand))
	if err != nil {
		return nil, nil, err
	}
	for _, row := range rows {
		id, rest, found := strings.Cut(row, "#")
		params := "" // a state rule's `with` parameters (delivery_test.go)
		if i := strings.Index(id, "{"); !found && i >= 0 {
			id, params = id[:i], id[i:]
		}
		l, ok := byID[id]
		if !ok {
			return nil, nil, fmt.Errorf("lane form returned %q, not a lane", id)
		}
		got = append(got, strings.TrimSuffix(name(l)+" "+l.member+"#"+rest, "#")+params)
	}
	// One evaluation per distinct instant and previous one.
	type at struct{ now, prev time.Time }
	byAt := map[at]map[string][]string{} // member -> its firings
	for _, l := range lanes {
		k := at{l.now, l.prev}
		if byAt[k] == nil {
			rows, err := runRule(ctx, db, r, l.now, watermark{Seq: math.MaxInt64 - 1, Now: l.prev})
			if err != nil {
				return nil, nil, err
			}
			byAt[k] = map[string][]string{}
			for _, row := range rows {
				m, _, _ := strings.Cut(row, "#")
				m, _, _ = strings.Cut(m, "{")
				byAt[k][m] = append(byAt[k][m], row)
			}
		}
		for _, row := range byAt[k][l.member] {
			want = append(want, name(l)+" "+row)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	return got, want, nil
}
