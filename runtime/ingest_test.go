package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

// TestIngestEvents: rows are matched to columns as a file's header is,
// converted from their text, their other keys merged into props; ids stored
// before or repeated are reported and not stored; a bad row fails the whole
// batch and is named by its row in the batch (duplicates skipped before it
// included), and nothing of the batch is stored.
func TestIngestEvents(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	for _, c := range []struct {
		name   string
		before []map[string]any // stored first
		batch  []map[string]any
		events []string // seq|member_id|brand|type|ts|store|amount|props after the batch
		dups   []Duplicate
		errRow int64
		errCol string
		reason string
	}{
		{
			name: "columns by name, values as text, other keys into props",
			batch: []map[string]any{{"Member_ID": "m1", " brand ": "acme", "TYPE": "visited", "ts": "2024-11-11T10:00:00+08:00",
				"amount": num("12.50"), "store": num("5"), "props": map[string]any{"a": num("1")}, "coupon": "X<1>", "n": num("3"), "seq": "99"}},
			events: []string{`1|m1|acme|visited|2024-11-11 02:00:00|5|12.50|{"a":1,"coupon":"X<1>","n":3}`},
		},
		{
			name:   "props given as JSON text; null keys add nothing",
			batch:  []map[string]any{{"member_id": "m1", "brand": "acme", "type": "visited", "ts": "2024-11-11 10:00:00", "props": `{"k":true}`, "x": nil}, {"member_id": "m2", "brand": "acme", "type": "visited", "ts": "2024-11-11 10:00:00", "x": nil, "store": true}},
			events: []string{`1|m1|acme|visited|2024-11-11 10:00:00|<nil>|<nil>|{"k":true}`, `2|m2|acme|visited|2024-11-11 10:00:00|true|<nil>|<nil>`},
		},
		{
			name:   "ids stored before, repeated and of another brand",
			before: []map[string]any{ev("m1", "a")},
			batch:  []map[string]any{ev("m2", "a"), ev("m3", "b"), ev("m4", ""), ev("m5", "b"), withBrand(ev("m6", "a"), "bistro")},
			events: []string{"1|m1|acme|visited|2024-11-11 10:00:00|<nil>|<nil>|<nil>", "2|m3|acme|visited|2024-11-11 10:00:00|<nil>|<nil>|<nil>",
				"3|m4|acme|visited|2024-11-11 10:00:00|<nil>|<nil>|<nil>", "4|m6|bistro|visited|2024-11-11 10:00:00|<nil>|<nil>|<nil>"},
			dups: []Duplicate{{Row: 1, EventID: "a"}, {Row: 4, EventID: "b"}},
		},
		{
			name:   "a bad row after a duplicate is named by its batch row",
			before: []map[string]any{ev("m1", "a")},
			batch:  []map[string]any{ev("m2", "a"), ev("m3", "b"), withTS(ev("m4", "c"), "yesterday")},
			errRow: 3, errCol: "ts", reason: `cannot parse "yesterday" as a timestamp`,
		},
		// props holds an event's keys: an array or a number there was
		// stored as it was (and a merge with the row's other keys
		// replaced it).
		{
			name:   "props an array",
			batch:  []map[string]any{ev("m2", ""), {"member_id": "m3", "brand": "acme", "type": "visited", "ts": "2024-11-11", "props": []any{num("1")}, "coupon": "X"}},
			errRow: 2, errCol: "props", reason: `[1] is not a JSON object`,
		},
		{
			name:   "props a number",
			batch:  []map[string]any{{"member_id": "m3", "brand": "acme", "type": "visited", "ts": "2024-11-11", "props": num("7")}},
			errRow: 1, errCol: "props", reason: `7 is not a JSON object`,
		},
		{
			name:   "bad amount",
			batch:  []map[string]any{ev("m2", ""), {"member_id": "m3", "brand": "acme", "type": "purchased", "ts": "2024-11-11", "amount": "12,5"}},
			errRow: 2, errCol: "amount", reason: "as a number",
		},
		{
			name:   "props text that is not JSON",
			batch:  []map[string]any{{"member_id": "m3", "brand": "acme", "type": "visited", "ts": "2024-11-11", "props": "{bad"}},
			errRow: 1, errCol: "props", reason: "as JSON",
		},
		{
			name:   "two keys naming one column",
			batch:  []map[string]any{ev("m2", ""), {"member_id": "m3", "brand": "acme", "type": "visited", "ts": "2024-11-11", "store": "A", " Store": "B"}},
			errRow: 2, errCol: "store", reason: `fields " Store" and "store" both name it`,
		},
		{
			name:   "a required value missing",
			batch:  []map[string]any{{"member_id": "m3", "brand": "acme", "ts": "2024-11-11"}},
			errRow: 1, errCol: "type", reason: "missing value",
		},
		{
			name:   "an event id that is not text",
			batch:  []map[string]any{{"member_id": "m3", "brand": "acme", "type": "visited", "ts": "2024-11-11", "event_id": []any{"x"}}},
			errRow: 1, errCol: "event_id", reason: "must be a string or a number",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			if c.before != nil {
				if _, err := db.IngestEvents(ctx, c.before, "before"); err != nil {
					t.Fatal(err)
				}
			}
			const q = `SELECT seq, member_id, brand, type, strftime(ts, '%Y-%m-%d %H:%M:%S'), store, CAST(amount AS VARCHAR), CAST(props AS VARCHAR) FROM events ORDER BY seq`
			was := queryStrings(t, db, q)
			res, err := db.IngestEvents(ctx, c.batch, "request body")
			if c.errRow > 0 {
				var re *RowError
				if !errors.As(err, &re) || re.Row != c.errRow || re.Column != c.errCol || !strings.Contains(re.Reason, c.reason) || re.Path != "request body" {
					t.Fatalf("error %v; want row %d column %s: ~%q", err, c.errRow, c.errCol, c.reason)
				}
				if got := queryStrings(t, db, q); !slices.Equal(got, was) {
					t.Errorf("a failed batch stored rows: %q, was %q", got, was)
				}
				if got := queryStrings(t, db, `SELECT value FROM counters WHERE name = 'event_seq'`); !slices.Equal(got, []string{fmtValue(int64(len(was)))}) {
					t.Errorf("a failed batch moved the event counter: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := queryStrings(t, db, q); !slices.Equal(got, c.events) {
				t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.events, "\n"))
			}
			if !slices.Equal(res.Duplicates, c.dups) {
				t.Errorf("duplicates %v, want %v", res.Duplicates, c.dups)
			}
			if stored := int64(len(c.batch) - len(c.dups)); res.Stored != stored || res.LastSeq-res.FirstSeq+1 != stored {
				t.Errorf("stored %d, seqs %d..%d; want %d", res.Stored, res.FirstSeq, res.LastSeq, stored)
			}
			ids := queryStrings(t, db, `SELECT i.brand || '/' || i.event_id || '/' || e.member_id FROM event_ids i JOIN events e USING (seq) ORDER BY seq`)
			for _, r := range append(c.before, c.batch...) {
				if id, _ := r["event_id"].(string); id != "" && !slices.ContainsFunc(ids, func(s string) bool { return strings.HasPrefix(s, r["brand"].(string)+"/"+id+"/") }) {
					t.Errorf("event id %s not recorded: %v", id, ids)
				}
			}
		})
	}
}

// ev is an event row of member m with event id id ("" for none).
func ev(m, id string) map[string]any {
	r := map[string]any{"member_id": m, "brand": "acme", "type": "visited", "ts": "2024-11-11 10:00:00"}
	if id != "" {
		r["event_id"] = id
	}
	return r
}

func withBrand(r map[string]any, b string) map[string]any { r["brand"] = b; return r }

func withTS(r map[string]any, ts string) map[string]any { r["ts"] = ts; return r }

// TestIngestEventIDsAfterReopen: the ids a process stored are duplicates
// for the next process over the same file, whether its filter of stored
// ids is loaded at start (KnowEventIDs, as nudge serve does) or by its
// first ingest; an id the filter only may hold (a false positive) is
// stored.
func TestIngestEventIDsAfterReopen(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/ids.duckdb"
	open := func() *DB {
		t.Helper()
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	if _, err := db.IngestEvents(ctx, []map[string]any{ev("m1", "a"), ev("m2", "b")}, "first"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, atStart := range []bool{true, false} {
		db := open()
		if atStart {
			if err := db.KnowEventIDs(ctx); err != nil {
				t.Fatal(err)
			}
		}
		res, err := db.IngestEvents(ctx, []map[string]any{ev("m3", "c"), ev("m1", "a"), ev("m2", "b")}, "again")
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := []Duplicate{{Row: 2, EventID: "a"}, {Row: 3, EventID: "b"}}
		if !atStart {
			want = append([]Duplicate{{Row: 1, EventID: "c"}}, want...) // stored by the round before
		}
		if !slices.Equal(res.Duplicates, want) {
			t.Errorf("loaded at start %v: duplicates %v, want %v", atStart, res.Duplicates, want)
		}
	}

	// A false positive: a filter that says "maybe" of every pair.
	db = open()
	defer db.Close()
	db.eventIDs.loaded = true
	db.eventIDs.filters = []*bloom.BloomFilter{bloom.New(64, 1)}
	db.eventIDs.filters[0].BitSet().FlipRange(0, 64)
	db.eventIDs.room = 1 << 20
	res, err := db.IngestEvents(ctx, []map[string]any{ev("m4", "d"), ev("m1", "a")}, "maybe")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || !slices.Equal(res.Duplicates, []Duplicate{{Row: 2, EventID: "a"}}) {
		t.Errorf("with a filter that holds everything: stored %d, duplicates %v; want 1 and row 2", res.Stored, res.Duplicates)
	}
}

// TestIngestWaitingOddMemberIDs: the events of members not imported yet
// are noted as waiting whatever their ids and brands hold: quotes, a comma
// (they reach the statements as data, not as SQL text). A NUL is refused
// as a row error, as Import refuses it.
func TestIngestWaitingOddMemberIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fixture(t, "member_id,brand\nknown,acme\n", "")
	for _, r := range []map[string]any{
		{"member_id": "a\x00b", "brand": "acme", "type": "visited", "ts": "2024-11-11 10:00:00"},
		{"member_id": "m", "brand": "b\x00'", "type": "visited", "ts": "2024-11-11 10:00:00"},
	} {
		var re *RowError
		if _, err := db.IngestEvents(ctx, []map[string]any{r}, "request body"); !errors.As(err, &re) || !strings.Contains(re.Reason, "NUL") {
			t.Errorf("%q: error %v, want a row error naming the NUL", r, err)
		}
	}
	ids := []string{"a,b", `q'"), ('acme', 'x`, "known"}
	var rows []map[string]any
	for _, id := range ids {
		rows = append(rows, map[string]any{"member_id": id, "brand": "acme", "type": "visited", "ts": "2024-11-11 10:00:00"})
	}
	// (and a brand of that kind: the ingest reads its members by brand)
	rows = append(rows, map[string]any{"member_id": "m", "brand": `b"', x`, "type": "visited", "ts": "2024-11-11 10:00:00"})
	res, err := db.IngestEvents(ctx, rows, "request body")
	if err != nil {
		t.Fatal(err)
	}
	if res.Waiting != 3 {
		t.Errorf("%d events wait for their member, want 3", res.Waiting)
	}
	got := queryStrings(t, db, `SELECT hex(member_id) FROM waiting_events ORDER BY seq`)
	want := []string{fmt.Sprintf("%X", ids[0]), fmt.Sprintf("%X", ids[1]), fmt.Sprintf("%X", "m")}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("waiting: %v, want %v", got, want)
	}
}
