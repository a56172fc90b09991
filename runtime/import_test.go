package runtime

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openTest opens a fresh in-memory database.
func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// queryStrings runs q and returns each row's columns joined by "|".
func queryStrings(t testing.TB, db *DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.sql.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmtValue(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t testing.TB, db *DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.sql.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

const eventsCSV = `member_id,brand,type,ts,store,amount,coupon
m1,acme,queued,2024-11-11 10:00,A,,X1
m2,acme,purchased,2024-11-11T11:30:00,B,12.50,
m1,acme,paid,2024-11-12,,7,
`

func TestImportFormats(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	csvPath := writeFile(t, dir, "events.csv", eventsCSV)
	// Parquet and JSON files are produced by DuckDB itself from the CSV.
	gen := openTest(t)
	parquetPath := filepath.Join(dir, "events.parquet")
	jsonlPath := filepath.Join(dir, "events.jsonl")
	jsonPath := filepath.Join(dir, "events.json")
	for _, q := range []string{
		`CREATE TABLE src AS SELECT member_id, brand, type, CAST(ts AS TIMESTAMP) AS ts, store, CAST(amount AS DECIMAL(18,2)) AS amount, coupon FROM read_csv(` + quoteString(csvPath) + `, all_varchar = true)`,
		`COPY src TO ` + quoteString(parquetPath) + ` (FORMAT parquet)`,
		`COPY src TO ` + quoteString(jsonlPath) + ` (FORMAT json)`,
		`COPY src TO ` + quoteString(jsonPath) + ` (FORMAT json, ARRAY true)`,
	} {
		if _, err := gen.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	want := []string{
		"1|m1|acme|queued|2024-11-11 10:00:00|A|<nil>|{\"coupon\":\"X1\"}",
		"2|m2|acme|purchased|2024-11-11 11:30:00|B|12.5|<nil>",
		"3|m1|acme|paid|2024-11-12 00:00:00|<nil>|7|<nil>",
	}
	for _, tc := range []struct{ name, path string }{
		{"csv", csvPath}, {"parquet", parquetPath}, {"jsonl", jsonlPath}, {"json", jsonPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			res, err := db.Import(ctx, "events", []string{tc.path})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != 3 || res.FirstSeq != 1 || res.LastSeq != 3 {
				t.Errorf("result = %+v", res)
			}
			got := queryStrings(t, db, `SELECT seq, member_id, brand, type, ts, store, amount, props FROM events ORDER BY seq`)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestImportSeqContinues(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := writeFile(t, dir, "a.csv", "member_id,brand,type,ts\nm1,acme,x,2024-01-01\nm2,acme,x,2024-01-02\n")
	b := writeFile(t, dir, "b.csv", "member_id,brand,type,ts\nm3,acme,y,2023-01-01\n")
	db := openTest(t)
	if _, err := db.Import(ctx, "events", []string{a, b}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Import(ctx, "events", []string{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstSeq != 4 || res.LastSeq != 6 {
		t.Errorf("second import seq range = %d..%d, want 4..6", res.FirstSeq, res.LastSeq)
	}
	got := strings.Join(queryStrings(t, db, `SELECT seq, member_id FROM events ORDER BY seq`), " ")
	if want := "1|m1 2|m2 3|m3 4|m3 5|m1 6|m2"; got != want {
		t.Errorf("seq order = %s, want %s", got, want)
	}
}

// TestNextEventSeq: seqs reserved for events written one by one (nudge
// test) and those Import assigns never collide, also after rows written
// behind the counter's back (the demo generator).
func TestNextEventSeq(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := writeFile(t, dir, "a.csv", "member_id,brand,type,ts\nm1,acme,x,2024-01-01\nm2,acme,x,2024-01-02\n")
	db := openTest(t)
	if _, err := db.Import(ctx, "events", []string{a}); err != nil {
		t.Fatal(err)
	}
	next := func() int64 {
		t.Helper()
		seq, err := db.NextEventSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	if got := next(); got != 3 {
		t.Errorf("after an import of 2 events: NextEventSeq = %d, want 3", got)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO events (seq, member_id, brand, type, ts) VALUES (10, 'm9', 'acme', 'x', '2024-01-03')`); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != 11 {
		t.Errorf("after a row with seq 10 written directly: NextEventSeq = %d, want 11", got)
	}
	res, err := db.Import(ctx, "events", []string{a})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstSeq != 12 || res.LastSeq != 13 {
		t.Errorf("import after reserving 11: seq range = %d..%d, want 12..13", res.FirstSeq, res.LastSeq)
	}
}

func TestImportErrors(t *testing.T) {
	ctx := context.Background()
	header := "member_id,brand,type,ts,amount\n"
	good := "m1,acme,x,2024-01-01,1\n"
	for _, tc := range []struct {
		name, table, file, content, want string
	}{
		{"bad timestamp", "events", "events.csv", header + strings.Repeat(good, 16) + "m2,acme,x,2024-13-01,1\n",
			`events.csv: row 17 (line 18): column ts: cannot parse "2024-13-01" as a timestamp`},
		{"bad amount", "events", "events.csv", header + good + "m2,acme,x,2024-01-01,12x\n",
			`events.csv: row 2 (line 3): column amount: cannot parse "12x" as a number`},
		{"first bad row wins", "events", "events.csv", header + good + "m2,acme,x,2024-01-01,12x\nm2,acme,x,nope,1\n",
			`events.csv: row 2 (line 3): column amount: cannot parse "12x" as a number`},
		{"missing value", "events", "events.csv", header + good + ",acme,x,2024-01-01,1\n",
			`events.csv: row 2 (line 3): column member_id: missing value (the column is required)`},
		{"missing column", "events", "events.csv", "member_id,brand,ts\nm1,acme,2024-01-01\n",
			`events.csv: missing required column "type"`},
		{"members bad bool", "members", "members.csv", "member_id,brand,consent_sms\nm1,acme,true\nm2,acme,maybe\n",
			`members.csv: row 2 (line 3): column consent_sms: cannot parse "maybe" as a boolean (true or false)`},
		{"members bad date", "members", "members.csv", "member_id,brand,birthday\nm1,acme,1990-02-30\n",
			`members.csv: row 1 (line 2): column birthday: cannot parse "1990-02-30" as a date`},
		{"jsonl bad ts", "events", "events.jsonl",
			`{"member_id":"m1","brand":"acme","type":"x","ts":"2024-01-01 10:00"}` + "\n" + `{"member_id":"m1","brand":"acme","type":"x","ts":"yesterday"}` + "\n",
			`events.jsonl: row 2: column ts: cannot parse "yesterday" as a timestamp`},
		{"short row", "members", "members.csv", "member_id,brand,city\nm1,acme,a\nm2,acme\n",
			`members.csv: row 2 (line 3): 2 fields, but the header has 3 (member_id, brand, city)`},
		{"long row", "members", "members.csv", "member_id,brand,city\nm1,acme,a\nm2,acme,b,c\nm3,acme,c\n",
			`members.csv: row 2 (line 3): 4 fields, but the header has 3 (member_id, brand, city)`},
		{"short row past the sniffer's sample", "members", "members.csv", "member_id,brand,city\n" + strings.Repeat("m1,acme,a\n", 30000) + "m2,acme\n",
			`members.csv: row 30001 (line 30002): 2 fields, but the header has 3 (member_id, brand, city)`},
		{"short row, semicolons", "members", "members.csv", "member_id;brand;city\nm1;acme;a\nm2;acme\n",
			`members.csv: row 2 (line 3): 2 fields, but the header has 3 (member_id, brand, city)`},
		{"quoted field over two lines", "members", "members.csv", "member_id,brand,city\nm1,acme,\"a\nb\"\nm2,acme\n",
			`members.csv: row 2 (line 4): 2 fields, but the header has 3 (member_id, brand, city)`},
		{"short row, gzipped", "members", "members.csv.gz", gzipped("member_id,brand,city\nm1,acme,a\nm2,acme\n"),
			`members.csv.gz: row 2 (line 3): 2 fields, but the header has 3 (member_id, brand, city)`},
		{"empty file", "events", "events.csv", "", `events.csv: empty file`},
		{"unknown extension", "events", "events.xlsx", "x", `events.xlsx: unknown file type ".xlsx": use .csv, .parquet, .json or .jsonl`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tc.file, tc.content)
			t.Chdir(dir)
			db := openTest(t)
			_, err := db.Import(ctx, tc.table, []string{tc.file})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

// gzipped returns s compressed with gzip.
func gzipped(s string) string {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(s))
	z.Close()
	return b.String()
}

// TestImportMalformedJSON: DuckDB's reader error names the file and the
// place, without the statement nudge ran.
func TestImportMalformedJSON(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, "events.jsonl", `{"member_id":"m1","brand":"acme","type":"x","ts":"2024-01-01"}`+"\n"+`{"member_id":"m1","brand":"acme"`+"\n")
	db := openTest(t)
	_, err := db.Import(context.Background(), "events", []string{"events.jsonl"})
	if err == nil {
		t.Fatal("malformed JSON imported")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "events.jsonl: Malformed JSON") || strings.Contains(msg, "LINE 1") || strings.Contains(msg, "read_json") {
		t.Fatalf("error: %s", msg)
	}
	if n := count(t, db, "SELECT count(*) FROM events"); n != 0 {
		t.Fatalf("%d events imported", n)
	}
}

func TestImportAtomic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.csv", "member_id,brand,type,ts\nm1,acme,x,2024-01-01\n")
	bad := writeFile(t, dir, "bad.csv", "member_id,brand,type,ts\nm1,acme,x,2024-01-01\nm1,acme,x,soon\n")
	db := openTest(t)
	if _, err := db.Import(ctx, "events", []string{ok, bad}); err == nil {
		t.Fatal("import of a bad file succeeded")
	}
	if n := count(t, db, `SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d events loaded after a failed import, want 0", n)
	}
	res, err := db.Import(ctx, "events", []string{ok})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstSeq != 1 {
		t.Errorf("seq after a failed import starts at %d, want 1", res.FirstSeq)
	}
}

func TestImportMembersUpsert(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := writeFile(t, dir, "m1.csv", "member_id,brand,city,tier,consent_sms,vip_note\nm1,acme,长沙,gold,true,x\nm2,acme,北京,silver,false,\n")
	// The second file updates m1's tier (city kept: the column is absent),
	// adds m3, and names m3 twice: the last row wins.
	second := writeFile(t, dir, "m2.csv", "member_id,brand,tier\nm1,acme,platinum\nm3,acme,bronze\nm3,acme,silver\n")
	db := openTest(t)
	res, err := db.Import(ctx, "members", []string{first})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 || res.Updated != 0 {
		t.Errorf("first import = %+v", res)
	}
	res, err = db.Import(ctx, "members", []string{second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 1 || res.Updated != 1 {
		t.Errorf("second import = %+v, want 1 inserted, 1 updated", res)
	}
	got := strings.Join(queryStrings(t, db, `SELECT member_id, city, tier, consent_sms, attrs FROM members ORDER BY member_id`), "\n")
	want := "m1|长沙|platinum|true|{\"vip_note\":\"x\"}\nm2|北京|silver|false|<nil>\nm3|<nil>|silver|<nil>|<nil>"
	if got != want {
		t.Errorf("members:\n%s\nwant:\n%s", got, want)
	}
}
