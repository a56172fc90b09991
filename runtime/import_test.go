package runtime

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
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
	t.Parallel()
	ctx := context.Background()
	// In a directory named like a hive partition: DuckDB's readers took
	// region=1 for a column of every file under it (noHive).
	dir := filepath.Join(t.TempDir(), "region=1")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
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
	t.Parallel()
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
	t.Parallel()
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
		// (report and simulate could not read such a time back.)
		{"infinite timestamp", "events", "events.csv", header + good + "m2,acme,x,infinity,1\n",
			`events.csv: row 2 (line 3): column ts: "infinity" is outside the years 0000 to 9999`},
		{"year 10000", "events", "events.csv", header + good + "m2,acme,x,10000-01-01 00:00:00,1\n",
			`events.csv: row 2 (line 3): column ts: "10000-01-01 00:00:00" is outside the years 0000 to 9999`},
		// DuckDB takes any offset up to 99 hours: +99:00 moved the time
		// four days back.
		{"offset of 99 hours", "events", "events.csv", header + good + "m2,acme,x,2024-11-11 10:00:00+99:00,1\n",
			`events.csv: row 2 (line 3): column ts: "2024-11-11 10:00:00+99:00" has an offset of 15 hours or more from UTC, which no time zone has (they span -12:00 to +14:00): check the offset`},
		{"offset of -15 hours", "events", "events.csv", header + good + "m2,acme,x,2024-11-11T10:00-1500,1\n",
			`events.csv: row 2 (line 3): column ts: "2024-11-11T10:00-1500" has an offset of 15 hours or more from UTC, which no time zone has (they span -12:00 to +14:00): check the offset`},
		{"bad amount", "events", "events.csv", header + good + "m2,acme,x,2024-01-01,12x\n",
			`events.csv: row 2 (line 3): column amount: cannot parse "12x" as a number`},
		{"first bad row wins", "events", "events.csv", header + good + "m2,acme,x,2024-01-01,12x\nm2,acme,x,nope,1\n",
			`events.csv: row 2 (line 3): column amount: cannot parse "12x" as a number`},
		{"missing value", "events", "events.csv", header + good + ",acme,x,2024-01-01,1\n",
			`events.csv: row 2 (line 3): column member_id: missing value (the column is required)`},
		// A blank member id, brand or type is no value either, nor is one
		// holding a NUL byte (JSON's \u0000), in every format.
		{"blank member id", "members", "members.csv", "member_id,brand,city\nm1,acme,a\n\"  \",acme,b\n",
			`members.csv: row 2 (line 3): column member_id: the value "  " is blank (the column is required)`},
		{"blank member id of an event", "events", "events.csv", header + good + "\" \u3000\",acme,x,2024-01-01,1\n",
			`events.csv: row 2 (line 3): column member_id: the value " \u3000" is blank (the column is required)`},
		{"empty brand, json", "members", "members.json", `[{"member_id":"m1","brand":"acme"},{"member_id":"m2","brand":""}]`,
			`members.json: row 2: column brand: the value "" is blank (the column is required)`},
		{"blank type, jsonl", "events", "events.jsonl", `{"member_id":"m1","brand":"acme","type":"\t","ts":"2024-01-01"}` + "\n",
			`events.jsonl: row 1: column type: the value "\t" is blank (the column is required)`},
		{"NUL in a member id, jsonl", "members", "members.jsonl", `{"member_id":"m1","brand":"acme"}` + "\n" + `{"member_id":"m\u00002","brand":"acme"}` + "\n",
			`members.jsonl: row 2: column member_id: the value "m\x002" holds a NUL byte (\x00); remove it`},
		// Ids are compared exactly: "m1, acme" would store the brand
		// " acme", another brand, so a member id, brand or type with white
		// space at its start or end is a bad row, in every format.
		{"space after the comma", "members", "members.csv", "member_id,brand\nm1,acme\nm2, acme\n",
			`members.csv: row 2 (line 3): column brand: the value " acme" has white space at its start or end; ids are compared exactly (" acme" is not "acme"): remove the spaces`},
		{"trailing space in a member id of an event", "events", "events.csv", header + good + "m2 ,acme,x,2024-01-01,1\n",
			`events.csv: row 2 (line 3): column member_id: the value "m2 " has white space at its start or end; ids are compared exactly ("m2 " is not "m2"): remove the spaces`},
		{"ideographic space in a type, jsonl", "events", "events.jsonl", `{"member_id":"m1","brand":"acme","type":"purchased\u3000","ts":"2024-01-01"}` + "\n",
			`events.jsonl: row 1: column type: the value "purchased\u3000" has white space at its start or end; ids are compared exactly ("purchased\u3000" is not "purchased"): remove the spaces`},
		{"tab before a member id, json", "members", "members.json", `[{"member_id":"m1","brand":"acme"},{"member_id":"\tm2","brand":"acme"}]`,
			`members.json: row 2: column member_id: the value "\tm2" has white space at its start or end; ids are compared exactly ("\tm2" is not "m2"): remove the spaces`},
		{"missing column", "events", "events.csv", "member_id,brand,ts\nm1,acme,2024-01-01\n",
			`events.csv: missing required column "type"`},
		{"members bad bool", "members", "members.csv", "member_id,brand,consent_sms\nm1,acme,true\nm2,acme,maybe\n",
			`members.csv: row 2 (line 3): column consent_sms: cannot parse "maybe" as a boolean (true or false)`},
		// Blank lines are no rows; a quoted value may span lines.
		{"bad value after blank lines", "members", "members.csv", "member_id,brand,consent_sms\nm1,acme,true\n\n\nm2,acme,on\n",
			`members.csv: row 2 (line 5): column consent_sms: cannot parse "on" as a boolean (true or false)`},
		{"bad value after a value over three lines", "members", "members.csv", "member_id,brand,city,consent_sms\nm1,acme,\"multi\nline\ncity\",true\nm2,acme,x,on\n",
			`members.csv: row 2 (line 5): column consent_sms: cannot parse "on" as a boolean (true or false)`},
		// The Go scan of the text counts rows as DuckDB does too.
		{"NUL after blank lines", "members", "members.csv", "member_id,brand,city\nm1,acme,a\n\n\r\nm2,acme,\"b\x00\"\n",
			`members.csv: row 2 (line 5): column city: the value "b\x00" holds a NUL byte (\x00); remove it from the file`},
		{"unquoted NUL after blank lines", "members", "members.csv", "member_id,brand,city\nm1,acme,a\n\n\nm2,acme,b\x00c\n",
			`members.csv: row 2 (line 5): column city: the value "b\x00c" holds a NUL byte (\x00); remove it from the file`},
		{"bad value after an inch mark", "members", "members.csv", "member_id,brand,city,consent_sms\nm1,acme,5\" screen,true\n\nm2,acme,x,on\n",
			`members.csv: row 2 (line 4): column consent_sms: cannot parse "on" as a boolean (true or false)`},
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
		// (DuckDB's own message echoed the 3 MB line and named line 1.)
		{"row over 2 MiB", "members", "members.csv", "member_id,brand,city\nm1,acme,a\nm2,acme," + strings.Repeat("y", 3<<20) + "\nm3,acme,c\n",
			`members.csv: row 2 (line 3) is longer than 2097152 bytes, the most a CSV row may have`},
		{"unknown extension", "events", "events.xlsx", "x", `events.xlsx: unknown file type ".xlsx": use .csv, .parquet, .json or .jsonl`},
		// DuckDB reads a name as a glob: a1.csv would be imported too.
		{"pattern in the name", "members", "a*.csv", "member_id,brand\nm1,acme\n", `a*.csv: a file name with *, ? or [ is read as a pattern of names: rename the file`},
		{"no such file", "members", "none.csv", noFile, `none.csv: no such file`},
		{"a directory", "members", "dir.csv", aDir, `dir.csv: is a directory: give the files in it`},
		// DuckDB's reader refused a BOM naming line 2, and listed its own
		// options for a repeated key.
		{"BOM in JSONL", "members", "members.jsonl", "\ufeff" + `{"member_id":"m1","brand":"acme"}` + "\n",
			`members.jsonl: the file starts with a byte order mark (BOM), which the JSON reader does not read: save it as UTF-8 without BOM`},
		{"key twice in JSONL", "members", "members.jsonl", `{"member_id":"m1","brand":"acme","name":"a","name":"b"}` + "\n",
			`members.jsonl: JSON transform error in file "members.jsonl", in line 1: Object {"member_id":"m1","brand":"acme","name":"a","name"... has duplicate key "name"`},
		// DuckDB imports the two records of an array cut off after a comma.
		{"JSON array cut off", "members", "members.json", `[{"member_id":"m1","brand":"acme"},{"member_id":"m2","brand":"acme"},` + "\n",
			`members.json: the JSON array is not closed: the file ends before its ] (cut off?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			switch tc.content {
			case noFile:
			case aDir:
				os.Mkdir(filepath.Join(dir, tc.file), 0o755)
			default:
				writeFile(t, dir, tc.file, tc.content)
			}
			writeFile(t, dir, "a1.csv", "member_id,brand\nm9,acme\n")
			t.Chdir(dir)
			db := openTest(t)
			_, err := db.Import(ctx, tc.table, []string{tc.file})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n got: %v\nwant: %s", err, tc.want)
			}
			// The file's content is at fault: a *RowError or *FileError
			// says so (a missing file or a name read as a pattern is not
			// its content).
			var fe *FileError
			var re *RowError
			content := tc.content != noFile && tc.content != aDir && !strings.Contains(tc.file, "*")
			if got := errors.As(err, &fe) || errors.As(err, &re); got != content {
				t.Errorf("a *FileError or *RowError: %v, want %v (%T)", got, content, err)
			}
		})
	}
}

// TestImportErrorOfTheDatabase: an insert the database fails for no row's
// fault (here a unique index the runtime does not know of, as a full
// disk would fail it) is neither a *RowError nor a *FileError, though its
// message names the file: nudge serve answers a member batch's import
// error 400 (the body is bad, drop it) only for those two. A reader's
// refusal of the file's text is a *FileError.
func TestImportErrorOfTheDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t)
	if _, err := db.SQL().Exec(`CREATE UNIQUE INDEX members_phone ON members (phone)`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, content string
		input               bool
	}{
		{"constraint", "m.jsonl", `{"member_id":"m1","brand":"acme","phone":"1"}` + "\n" + `{"member_id":"m2","brand":"acme","phone":"1"}` + "\n", false},
		{"malformed JSON", "m2.jsonl", `{"member_id":"m1","brand":"acme"` + "\n", true},
		{"bad value", "m3.jsonl", `{"member_id":"m1","brand":"acme","birthday":"x"}` + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, tc.file, tc.content)
			_, err := db.Import(ctx, "members", []string{path})
			if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("error %v, want one naming %s", err, path)
			}
			var fe *FileError
			var re *RowError
			if got := errors.As(err, &fe) || errors.As(err, &re); got != tc.input {
				t.Errorf("%v: the input's fault: %v, want %v", err, got, tc.input)
			}
			if n := count(t, db, "SELECT count(*) FROM members"); n != 0 {
				t.Errorf("%d members stored", n)
			}
		})
	}
}

// noFile and aDir, as the content of a file of TestImportErrors, write
// no file and make a directory of its name.
const (
	noFile = "\x00no file"
	aDir   = "\x00a directory"
)

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
	t.Parallel()
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
	t.Parallel()
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

// TestImportMembersRepeated: a member given in several rows, of one file
// or of two, is stored once with its last row, and Members counts it once
// (Rows counts the rows read); the same id of another brand is another
// member.
func TestImportMembersRepeated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	first := writeFile(t, dir, "a.csv", "member_id,brand,tier\nm1,acme,gold\nm1,acme,silver\nm1,bistro,gold\n")
	second := writeFile(t, dir, "b.jsonl", `{"member_id":"m1","brand":"acme","tier":"bronze"}`+"\n"+`{"member_id":"m2","brand":"acme"}`+"\n")
	db := openTest(t)
	res, err := db.Import(ctx, "members", []string{first})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 || res.Members != 2 || res.Inserted != 2 || res.Updated != 0 {
		t.Errorf("one file = %+v, want 3 rows, 2 members, both inserted", res)
	}
	if got := strings.Join(queryStrings(t, db, `SELECT brand, member_id, tier FROM members ORDER BY ALL`), " "); got != "acme|m1|silver bistro|m1|gold" {
		t.Errorf("members = %s, want the last row of acme's m1", got)
	}
	db = openTest(t)
	if res, err = db.Import(ctx, "members", []string{first, second}); err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 || res.Members != 3 {
		t.Errorf("two files = %+v, want 5 rows, 3 members", res)
	}
	if n := count(t, db, `SELECT count(*) FROM members`); n != res.Members {
		t.Errorf("%d members stored, Members = %d", n, res.Members)
	}
	if got := strings.Join(queryStrings(t, db, `SELECT tier FROM members WHERE brand = 'acme' AND member_id = 'm1'`), " "); got != "bronze" {
		t.Errorf("acme's m1 tier = %s, want the last file's bronze", got)
	}
}

// TestImportSameNames: a JSON or Parquet file whose columns differ only in
// case (city and City) is refused, naming the file and both columns, as a
// CSV header is; DuckDB's readers kept the second as City_1, which went
// into attrs. A column that only looks renamed (city_1 next to city) is
// data.
func TestImportSameNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	gen := openTest(t)
	// (DuckDB writes no two columns of one name: the second is written as
	// Qity and renamed in the file's bytes, as another writer names it.)
	pq := filepath.Join(dir, "m.parquet")
	if _, err := gen.sql.ExecContext(ctx, `COPY (SELECT 'm1' AS member_id, 'acme' AS brand, 'X' AS city, {'a': 1} AS nested, 'Y' AS "Qity") TO `+quoteString(pq)+` (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pq)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pq, bytes.ReplaceAll(b, []byte("Qity"), []byte("City")), 0o644)
	okPq := filepath.Join(dir, "ok.parquet")
	if _, err := gen.sql.ExecContext(ctx, `COPY (SELECT 'm1' AS member_id, 'acme' AS brand, 'X' AS city, 'Y' AS city_1) TO `+quoteString(okPq)+` (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"json", writeFile(t, dir, "m.json", `[{"member_id":"m1","brand":"acme","city":"X"},{"member_id":"m2","brand":"acme","City":"Y"}]`),
			`: columns "City" and "city" have the same name (column names ignore case); rename or remove one`},
		{"jsonl", writeFile(t, dir, "m.jsonl", `{"member_id":"m1","brand":"acme","Member_ID":"m9"}`+"\n"),
			`: columns "Member_ID" and "member_id" have the same name (column names ignore case); rename or remove one`},
		{"parquet", pq, `: columns 3 ("city") and 5 ("City") have the same name (column names ignore case); rename or remove one`},
		{"csv", writeFile(t, dir, "m.csv", "member_id,brand,city,City\nm1,acme,X,Y\n"),
			`: header (line 1): columns 3 ("city") and 4 ("City") have the same name (column names ignore case); rename or remove one`},
		{"parquet, city_1 is data", okPq, ""},
		{"json, city_1 is data", writeFile(t, dir, "ok.json", `[{"member_id":"m1","brand":"acme","city":"X","city_1":"Y"}]`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			_, err := db.Import(ctx, "members", []string{tc.path})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(queryStrings(t, db, `SELECT city, attrs FROM members`), " "); got != `X|{"city_1":"Y"}` {
					t.Errorf("members = %s", got)
				}
				return
			}
			if err == nil || err.Error() != tc.path+tc.want {
				t.Fatalf("error:\n got: %v\nwant: %s", err, tc.path+tc.want)
			}
			if n := count(t, db, `SELECT count(*) FROM members`); n != 0 {
				t.Errorf("%d members imported", n)
			}
		})
	}
}

// TestImportRowidColumn: a file's column named rowid (any case) is data,
// kept in props/attrs under its name; it never stands in for the row
// number seqs and error rows come from (duplicate and negative seqs, then
// events lost to trigger rules).
func TestImportRowidColumn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	gen := openTest(t)
	for _, q := range []string{
		`CREATE TABLE ev AS SELECT * FROM (VALUES
			('m1', 'acme', 'queued', TIMESTAMP '2024-11-11 09:00', -5, 'A'),
			('m2', 'acme', 'queued', TIMESTAMP '2024-11-11 09:10', -5, 'A'),
			('m3', 'acme', 'queued', TIMESTAMP '2024-11-11 09:20', 7, 'A')) t(member_id, brand, type, ts, rowid, store)`,
		`CREATE TABLE ev_upper AS SELECT member_id, brand, type, ts, rowid AS "RowID", 1 AS _nudge_file_rowid, store FROM ev`,
		`CREATE TABLE mem AS SELECT * FROM (VALUES ('m1', 'acme', 'old', 9), ('m1', 'acme', 'new', 1)) t(member_id, brand, city, rowid)`,
	} {
		if _, err := gen.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	out := func(table, name, format string) string {
		p := filepath.Join(dir, name)
		q := `COPY ` + table + ` TO ` + quoteString(p) + ` (` + format + `)`
		if _, err := gen.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, key string
	}{
		{"json", out("ev", "ev.json", "FORMAT json, ARRAY true"), "rowid"},
		{"jsonl", out("ev", "ev.jsonl", "FORMAT json"), "rowid"},
		{"parquet", out("ev", "ev.parquet", "FORMAT parquet"), "rowid"},
		{"parquet, other case and the staging name taken", out("ev_upper", "ev_upper.parquet", "FORMAT parquet"), "RowID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			writeMembers(t, db, dir)
			// Two imports: the second continues the first's seqs.
			for range 2 {
				if _, err := db.Import(ctx, "events", []string{tc.path}); err != nil {
					t.Fatal(err)
				}
			}
			got := queryStrings(t, db, `SELECT seq, member_id, props->>$k FROM events ORDER BY seq`, sql.Named("k", tc.key))
			want := []string{"1|m1|-5", "2|m2|-5", "3|m3|7", "4|m1|-5", "5|m2|-5", "6|m3|7"}
			if !slices.Equal(got, want) {
				t.Errorf("events = %q, want %q", got, want)
			}
			// Every event reaches a trigger rule.
			prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("store_a", queuedAtA, true, "app_push")}}
			expect(t, "trigger rule", run(t, db, prog, "2024-11-11 12:00").Decisions,
				"store_a m1 send pending\nstore_a m1 send pending\nstore_a m2 send pending\nstore_a m2 send pending\nstore_a m3 send pending\nstore_a m3 send pending\n")
		})
	}
	t.Run("members", func(t *testing.T) {
		db := openTest(t)
		if _, err := db.Import(ctx, "members", []string{out("mem", "mem.json", "FORMAT json, ARRAY true")}); err != nil {
			t.Fatal(err)
		}
		// The last row of a member wins, whatever its rowid column says.
		got := queryStrings(t, db, `SELECT member_id, city, attrs->>'rowid' FROM members`)
		if want := []string{"m1|new|1"}; !slices.Equal(got, want) {
			t.Errorf("members = %q, want %q", got, want)
		}
	})
}

// writeMembers imports members m1, m2 and m3 of brand acme with consent.
func writeMembers(t *testing.T, db *DB, dir string) {
	t.Helper()
	p := writeFile(t, dir, "members.csv", "member_id,brand,consent_app_push\nm1,acme,true\nm2,acme,true\nm3,acme,true\n")
	if _, err := db.Import(context.Background(), "members", []string{p}); err != nil {
		t.Fatal(err)
	}
}

// TestImportTimestampZones: the same timestamp text is stored as the same
// local time from CSV, JSON, JSONL and Parquet (a text column, and a
// TIMESTAMPTZ column holding the same instant): with an offset, Z or a
// zone name it is converted into the database's zone (UTC, or the --tz
// zone), never truncated; without one it is kept.
func TestImportTimestampZones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	texts := []string{
		"2024-11-11T10:00:00+08:00",
		"2024-11-11 10:00:00+0800",
		"2024-11-11T10:00:00Z",
		"2024-11-11 10:00:00 UTC",
		"2024-11-11T10:00:00.5-03:30",
		"2024-11-11 10:00:00 Asia/Shanghai",
		"2024-11-11T10:00:00",
		"2024-11-11 10:00",
		"2024-11-11",
	}
	// The local times in UTC and in Asia/Shanghai, by text.
	wantUTC := []string{"2024-11-11 02:00:00", "2024-11-11 02:00:00", "2024-11-11 10:00:00", "2024-11-11 10:00:00", "2024-11-11 13:30:00.5",
		"2024-11-11 02:00:00", "2024-11-11 10:00:00", "2024-11-11 10:00:00", "2024-11-11 00:00:00"}
	wantShanghai := []string{"2024-11-11 10:00:00", "2024-11-11 10:00:00", "2024-11-11 18:00:00", "2024-11-11 18:00:00", "2024-11-11 21:30:00.5",
		"2024-11-11 10:00:00", "2024-11-11 10:00:00", "2024-11-11 10:00:00", "2024-11-11 00:00:00"}
	var csvText strings.Builder
	csvText.WriteString("member_id,brand,type,ts\n")
	var values []string
	for i, s := range texts {
		fmt.Fprintf(&csvText, "m%d,acme,x,%s\n", i, s)
		values = append(values, fmt.Sprintf("('m%d', 'acme', 'x', %s)", i, quoteString(s)))
	}
	csvPath := writeFile(t, dir, "ev.csv", csvText.String())
	gen := openTest(t)
	files := map[string]string{"csv": csvPath}
	for _, q := range []string{
		`CREATE TABLE ev AS SELECT * FROM (VALUES ` + strings.Join(values, ", ") + `) t(member_id, brand, type, ts)`,
		`COPY ev TO ` + quoteString(filepath.Join(dir, "ev.json")) + ` (FORMAT json, ARRAY true)`,
		`COPY ev TO ` + quoteString(filepath.Join(dir, "ev.jsonl")) + ` (FORMAT json)`,
		`COPY ev TO ` + quoteString(filepath.Join(dir, "ev.parquet")) + ` (FORMAT parquet)`,
		// The zoned texts as instants (UTC-adjusted Parquet timestamps).
		`COPY (SELECT member_id, brand, type, CAST(ts AS TIMESTAMPTZ) AS ts FROM ev WHERE member_id <= 'm5') TO ` +
			quoteString(filepath.Join(dir, "ev_tz.parquet")) + ` (FORMAT parquet)`,
	} {
		if _, err := gen.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, k := range []string{"json", "jsonl", "parquet"} {
		files[k] = filepath.Join(dir, "ev."+k)
	}
	files["parquet timestamptz"] = filepath.Join(dir, "ev_tz.parquet")
	if typ := queryStrings(t, gen, `SELECT typeof(ts) FROM read_parquet(`+quoteString(files["parquet timestamptz"])+`) LIMIT 1`); typ[0] != "TIMESTAMP WITH TIME ZONE" {
		t.Fatalf("the Parquet file holds %s, want TIMESTAMP WITH TIME ZONE", typ[0])
	}
	for _, zone := range []struct{ tz, recorded string }{{"", "UTC"}, {"Asia/Shanghai", "Asia/Shanghai"}, {"asia/shanghai", "Asia/Shanghai"}} {
		want := wantUTC
		if zone.recorded != "UTC" {
			want = wantShanghai
		}
		for _, format := range []string{"csv", "json", "jsonl", "parquet", "parquet timestamptz"} {
			t.Run(fmt.Sprintf("%s in %s", format, zone.recorded), func(t *testing.T) {
				db := openTest(t)
				if _, err := db.ImportWith(ctx, "events", []string{files[format]}, ImportOptions{TimeZone: zone.tz}); err != nil {
					t.Fatal(err)
				}
				got := queryStrings(t, db, `SELECT strftime(ts, '%Y-%m-%d %H:%M:%S') || CASE WHEN microsecond(ts) % 1000000 > 0 THEN '.5' ELSE '' END FROM events ORDER BY member_id`)
				w := want[:len(got)]
				if !slices.Equal(got, w) {
					t.Errorf("stored ts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
				}
				if z, err := db.TimeZone(ctx); err != nil || z != zone.recorded {
					t.Errorf("TimeZone = %q, %v; want %q", z, err, zone.recorded)
				}
			})
		}
	}
	t.Run("members signup_at", func(t *testing.T) {
		db := openTest(t)
		p := writeFile(t, dir, "m.csv", "member_id,brand,signup_at\nm1,acme,2024-11-11T10:00:00+08:00\n")
		if _, err := db.ImportWith(ctx, "members", []string{p}, ImportOptions{TimeZone: "Asia/Tokyo"}); err != nil {
			t.Fatal(err)
		}
		if got := queryStrings(t, db, `SELECT signup_at FROM members`); !slices.Equal(got, []string{"2024-11-11 11:00:00"}) {
			t.Errorf("signup_at = %q", got)
		}
	})
}

// TestImportTimeZoneRecorded: the first import that gives a zone records
// it, atomically with its rows; a later one may repeat it (or give none)
// but not change it; an unknown zone is refused before anything is read.
func TestImportTimeZoneRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", "member_id,brand,type,ts\nm1,acme,x,2024-11-11T10:00:00Z\n")
	bad := writeFile(t, dir, "bad.csv", "member_id,brand,type,ts\nm1,acme,x,not a time\n")
	db := openTest(t)
	if _, err := db.ImportWith(ctx, "events", []string{bad}, ImportOptions{TimeZone: "Asia/Shanghai"}); err == nil ||
		!strings.Contains(err.Error(), `row 1 (line 2): column ts: cannot parse "not a time" as a timestamp`) {
		t.Fatalf("bad file: %v", err)
	}
	if z, _ := db.TimeZone(ctx); z != "UTC" {
		t.Errorf("a failed import recorded the zone %s", z)
	}
	_, err := db.ImportWith(ctx, "events", []string{good}, ImportOptions{TimeZone: "Mars/Olympus"})
	if !errors.Is(err, ErrUnknownTimeZone) || !strings.Contains(err.Error(), `"Mars/Olympus"`) {
		t.Errorf("unknown zone: %v", err)
	}
	for _, tz := range []string{"Asia/Shanghai", "", "Asia/Shanghai"} {
		if _, err := db.ImportWith(ctx, "events", []string{good}, ImportOptions{TimeZone: tz}); err != nil {
			t.Fatalf("--tz %q: %v", tz, err)
		}
	}
	_, err = db.ImportWith(ctx, "events", []string{good}, ImportOptions{TimeZone: "UTC"})
	var mismatch *TimeZoneMismatchError
	if !errors.As(err, &mismatch) || mismatch.Recorded != "Asia/Shanghai" || mismatch.Requested != "UTC" {
		t.Errorf("another zone: %v", err)
	}
	if got := queryStrings(t, db, `SELECT ts FROM events ORDER BY seq`); !slices.Equal(got, []string{"2024-11-11 18:00:00", "2024-11-11 18:00:00", "2024-11-11 18:00:00"}) {
		t.Errorf("events = %q", got)
	}
}

// TestWallClockInZone: a tick without --now takes the current time as a
// local time in the database's zone, whatever the machine's zone.
func TestWallClockInZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	for _, tc := range []struct {
		tz     string
		offset time.Duration
	}{{"", 0}, {"Asia/Shanghai", 8 * time.Hour}} {
		if tc.tz != "" {
			p := writeFile(t, t.TempDir(), "m.csv", "member_id,brand\nm1,acme\n")
			if _, err := db.ImportWith(ctx, "members", []string{p}, ImportOptions{TimeZone: tc.tz}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.WallClock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := naive(time.Now().UTC().Add(tc.offset))
		if d := got.Sub(want); d < -time.Minute || d > time.Minute {
			t.Errorf("zone %q: wall clock %s, want about %s", tc.tz, got, want)
		}
		if got.Location() != time.UTC || got.Nanosecond() != 0 {
			t.Errorf("zone %q: wall clock %v is not a naive time in whole seconds", tc.tz, got)
		}
	}
}

// TestImportRejectsLenientCSV: what DuckDB's CSV reader would let through
// (a NUL byte in a value, an unterminated quote read literally, a column
// renamed for repeating another's name) or explain with its reader options
// (invalid UTF-8) is an error naming the file, row and column; the import
// loads nothing, not even the good file given with it.
func TestImportRejectsLenientCSV(t *testing.T) {
	ctx := context.Background()
	header := "member_id,brand,type,ts\n"
	good := "m1,acme,purchased,2024-11-11 10:00\n"
	for _, tc := range []struct {
		name, file, content, want string
	}{
		{"NUL byte in a value", "bad.csv", header + good + "m2,acme,purch\x00ased,2024-11-11 10:00\n",
			`bad.csv: row 2 (line 3): column type: the value "purch\x00ased" holds a NUL byte (\x00); remove it from the file`},
		{"unterminated quote", "bad.csv", header + good + "m2,acme,\"visit,2024-11-11 10:00\n",
			`bad.csv: row 2 (line 3): column type: the quote that opens the value is never closed; the file cannot be read as CSV (close the quote, or double a quote that is part of the value: "")`},
		{"unterminated quote after well-quoted values", "bad.csv", header + "\"m1\",acme,\"purchased\",2024-11-11 10:00\n" + good + "m2,acme,\"visit,2024-11-11 10:00\n" + good,
			`bad.csv: row 3 (line 4): column type: the quote that opens the value is never closed; the file cannot be read as CSV (close the quote, or double a quote that is part of the value: "")`},
		{"text after the closing quote", "bad.csv", header + good + "m2,acme,\"x\"y,2024-11-11 10:00\n",
			`bad.csv: row 2 (line 3): column type: the quote that opens the value is closed before the text "y", not at the end of the value; the file cannot be read as CSV (close the quote, or double a quote that is part of the value: "")`},
		{"duplicate header ignoring case", "bad.csv", "member_id,brand,type,ts,TS\nm1,acme,purchased,2024-11-11 10:00,2024-11-12\n",
			`bad.csv: header (line 1): columns 4 ("ts") and 5 ("TS") have the same name (column names ignore case); rename or remove one`},
		{"duplicate extra column", "bad.csv", "member_id,brand,type,ts,note, NOTE\nm1,acme,purchased,2024-11-11 10:00,a,b\n",
			`bad.csv: header (line 1): columns 5 ("note") and 6 (" NOTE") have the same name (column names ignore case); rename or remove one`},
		{"invalid UTF-8", "bad.csv", "member_id,brand,type,ts,note\nm1,acme,purchased,2024-11-11 10:00,ok\nm2,acme,purchased,2024-11-11 10:00,caf\xe9\n",
			`bad.csv: row 2 (line 3): column note: the text is not valid UTF-8 ("caf` + "\uFFFD" + `"); nudge reads CSV files as UTF-8: convert the file, e.g. iconv -f GBK -t UTF-8`},
		{"invalid UTF-8, gzipped", "bad.csv.gz", gzipped(header + "m1,acme,purch\xe9,2024-11-11 10:00\n"),
			`bad.csv.gz: row 1 (line 2): column type: the text is not valid UTF-8 ("purch` + "\uFFFD" + `"); nudge reads CSV files as UTF-8: convert the file, e.g. iconv -f GBK -t UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "ok.csv", header+good)
			writeFile(t, dir, tc.file, tc.content)
			t.Chdir(dir)
			db := openTest(t)
			_, err := db.Import(ctx, "events", []string{"ok.csv", tc.file})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n got: %v\nwant: %s", err, tc.want)
			}
			if n := count(t, db, "SELECT count(*) FROM events"); n != 0 {
				t.Fatalf("%d events imported", n)
			}
		})
	}
}

// TestImportQuotesInValues: quotes that are part of values stay accepted:
// a doubled quote inside a quoted field, a value starting with a quote
// written as """, a quote inside an unquoted field.
func TestImportQuotesInValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writeFile(t, dir, "events.csv", "member_id,brand,type,ts,note\n"+
		"m1,acme,purchased,2024-11-11 10:00,\"\"\"quoted\"\" word\"\n"+
		"m2,acme,purchased,2024-11-11 10:00,5\" screen\n"+
		"m3,acme,purchased,2024-11-11 10:00,\"a, b\"\n")
	db := openTest(t)
	if _, err := db.Import(context.Background(), "events", []string{p}); err != nil {
		t.Fatal(err)
	}
	got := queryStrings(t, db, `SELECT member_id, props->>'note' FROM events ORDER BY seq`)
	want := []string{`m1|"quoted" word`, `m2|5" screen`, `m3|a, b`}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestImportManyColumns: a CSV file of 300 extra columns imports them
// into attrs, and checkCSV's checks, made 32 columns a statement, still
// find a NUL byte in a column past the first statement's.
func TestImportManyColumns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var head, row, bad []string
	for i := range 300 {
		head = append(head, fmt.Sprintf("c%d", i))
		row = append(row, fmt.Sprintf("v%d", i))
		v := "x"
		if i == 200 {
			v = "a\x00b"
		}
		bad = append(bad, v)
	}
	good := "member_id,brand," + strings.Join(head, ",") + "\nm1,acme," + strings.Join(row, ",") + "\n"
	writeFile(t, dir, "good.csv", good)
	writeFile(t, dir, "bad.csv", good+"m2,acme,"+strings.Join(bad, ",")+"\n")
	db := openTest(t)
	ctx := context.Background()
	if _, err := db.Import(ctx, "members", []string{filepath.Join(dir, "good.csv")}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM (SELECT unnest(json_keys(attrs)) FROM members)`); n != 300 {
		t.Errorf("attrs keys: %d, want 300", n)
	}
	_, err := db.Import(ctx, "members", []string{filepath.Join(dir, "bad.csv")})
	if err == nil || !strings.Contains(err.Error(), "row 2 (line 3): column c200: the value") || !strings.Contains(err.Error(), "NUL byte") {
		t.Errorf("NUL in column c200: %v", err)
	}
}

// TestImportJSONValuesAsText: a JSON file's values reach text columns as
// a CSV file's do, whatever type DuckDB's reader gives the key: a key
// whose values mix types was read as JSON, and its strings kept their
// quotes (the member id "m2" was stored as "\"m2\"", a member no event
// names); a list or object took DuckDB's notation ({'a': 1}), not JSON. A
// member id, brand or type that is not a string or a whole number is a
// bad row (1.5 and 12345678901234567890123 are read as doubles, which do
// not keep them as written).
func TestImportJSONValuesAsText(t *testing.T) {
	for _, tc := range []struct {
		name, table, content, query, want string
	}{
		{"ids of mixed types", "members", `{"member_id":1,"brand":"acme"}` + "\n" + `{"member_id":"m2","brand":"acme"}` + "\n",
			`SELECT member_id FROM members ORDER BY 1`, "1|m2"},
		{"a text column of mixed types", "members", `{"member_id":"m1","brand":"acme","name":5}` + "\n" + `{"member_id":"m2","brand":"acme","name":"x\"y"}` + "\n",
			`SELECT name FROM members ORDER BY member_id`, `5|x"y`},
		{"objects and lists as JSON", "members", `{"member_id":"m1","brand":"acme","tier":{"a":[1,"x"]},"city":[1]}` + "\n",
			`SELECT tier || ' ' || city FROM members`, `{"a":[1,"x"]} [1]`},
		{"an event's type of mixed types", "events", `{"member_id":"m1","brand":"acme","type":7,"ts":"2024-01-01","store":"A"}` + "\n" + `{"member_id":"m1","brand":"acme","type":"paid","ts":"2024-01-01","store":3}` + "\n",
			`SELECT type || '/' || store FROM events ORDER BY seq`, "7/A|paid/3"},
		{"an amount of mixed types", "events", `{"member_id":"m1","brand":"acme","type":"paid","ts":"2024-01-01","amount":5}` + "\n" + `{"member_id":"m1","brand":"acme","type":"paid","ts":"2024-01-01","amount":"7.5"}` + "\n",
			`SELECT CAST(amount AS VARCHAR) FROM events ORDER BY seq`, "5.00|7.50"},
		{"a fraction as id", "members", `{"member_id":"m1","brand":"acme"}` + "\n" + `{"member_id":1.5,"brand":"acme"}` + "\n", "",
			`m.jsonl: row 2: column member_id: the value 1.5 is not text: member_id is a string (or a whole number); write it as one, in quotes`},
		{"an id over 64 bits", "members", `{"member_id":12345678901234567890123,"brand":"acme"}` + "\n", "",
			`m.jsonl: row 1: column member_id: the value 1.2345678901234568e+22 is not text: member_id is a string (or a whole number); write it as one, in quotes`},
		{"a list as id", "members", `{"member_id":["m1"],"brand":"acme"}` + "\n", "",
			`m.jsonl: row 1: column member_id: the value ["m1"] is not text: member_id is a string (or a whole number); write it as one, in quotes`},
		{"an object as brand, mixed", "members", `{"member_id":"m1","brand":"acme"}` + "\n" + `{"member_id":"m2","brand":{"a":1}}` + "\n", "",
			`m.jsonl: row 2: column brand: the value {"a":1} is not text: brand is a string (or a whole number); write it as one, in quotes`},
		{"true as type", "events", `{"member_id":"m1","brand":"acme","type":true,"ts":"2024-01-01"}` + "\n", "",
			`m.jsonl: row 1: column type: the value true is not text: type is a string (or a whole number); write it as one, in quotes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			importCase(t, tc.table, "m.jsonl", tc.content, tc.query, tc.want)
		})
	}
}

// TestImportAttrsObject: the attrs (members) or props (events) a file
// gives is a JSON object or nothing: an array, a number or a string was
// stored as it was, where no rule reads a key, and merged with the file's
// other columns' keys it was silently replaced; a member's array attrs
// then failed every later member batch of the service that set a key. A
// JSON null is nothing (it was kept as a JSON null, which the merge with
// other keys turned into {"x":null}).
func TestImportAttrsObject(t *testing.T) {
	for _, tc := range []struct {
		name, table, file, content, query, want string
	}{
		{"array attrs", "members", "m.jsonl", `{"member_id":"m1","brand":"acme"}` + "\n" + `{"member_id":"m2","brand":"acme","attrs":[1,2]}` + "\n", "",
			`m.jsonl: row 2: column attrs: [1,2] is not a JSON object: attrs holds keys and their values ({"key": value}), or nothing`},
		{"number attrs in CSV", "members", "m.csv", "member_id,brand,attrs\nm1,acme,5\n", "",
			`m.csv: row 1 (line 2): column attrs: 5 is not a JSON object: attrs holds keys and their values ({"key": value}), or nothing`},
		{"array props with other keys", "events", "e.jsonl", `{"member_id":"m1","brand":"acme","type":"x","ts":"2024-01-01","props":[1],"k":1}` + "\n", "",
			`e.jsonl: row 1: column props: [1] is not a JSON object: props holds keys and their values ({"key": value}), or nothing`},
		{"string props", "events", "e.csv", "member_id,brand,type,ts,props\nm1,acme,x,2024-01-01,\"\"\"s\"\"\"\n", "",
			`e.csv: row 1 (line 2): column props: "s" is not a JSON object: props holds keys and their values ({"key": value}), or nothing`},
		{"objects, nothing and null", "members", "m.csv", "member_id,brand,attrs,x\nm1,acme,\"{\"\"a\"\":1}\",2\nm2,acme,,3\nm3,acme,null,\nm4,acme,null,4\n",
			`SELECT member_id || ' ' || coalesce(CAST(attrs AS VARCHAR), '-') FROM members ORDER BY 1`,
			`m1 {"a":1,"x":"2"}|m2 {"x":"3"}|m3 -|m4 {"x":"4"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			importCase(t, tc.table, tc.file, tc.content, tc.query, tc.want)
		})
	}
}

// importCase imports content, written to the file named file, into table:
// with query "", the import must fail with the error want and store
// nothing; otherwise it must succeed and query's rows, joined by "|", be
// want.
func importCase(t *testing.T, table, file, content, query, want string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, dir, file, content)
	db := openTest(t)
	_, err := db.Import(context.Background(), table, []string{file})
	if query == "" {
		if err == nil || err.Error() != want {
			t.Fatalf("error:\n got: %v\nwant: %s", err, want)
		}
		if n := count(t, db, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%d rows stored", n)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(queryStrings(t, db, query), "|"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
