package engine

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/runtime"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureSQL is a tiny brand with four members and a handful of events, all
// relative to the pinned now 2024-11-11 12:00.
const fixtureSQL = `
INSERT INTO members (member_id, brand, name, city, tier, consent_sms) VALUES
  ('m1', 'acme', '王小明', '长沙', 'gold', true),
  ('m2', 'acme', 'Alice', 'Shanghai', 'silver', true),
  ('m3', 'acme', 'Bob', '长沙', NULL, false),
  ('m4', 'acme', 'Carol', 'Beijing', 'gold', NULL);
INSERT INTO events (seq, member_id, brand, type, ts, store, amount) VALUES
  (1, 'm1', 'acme', 'purchased', '2024-11-01 10:00', 'A', 120.00),
  (2, 'm1', 'acme', 'purchased', '2024-10-20 10:00', 'A', 80.50),
  (3, 'm2', 'acme', 'purchased', '2024-06-01 09:00', 'B', 30.00),
  (4, 'm3', 'acme', 'visited',   '2024-11-10 18:00', 'A', NULL),
  (5, 'm4', 'acme', 'purchased', '2024-11-11 11:00', 'B', 500.00),
  (6, 'm3', 'acme', 'queued',    '2024-11-11 11:30', 'A', NULL);
`

var testNow = time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	ctx := context.Background()
	db, err := runtime.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SQL().ExecContext(ctx, fixtureSQL); err != nil {
		t.Fatal(err)
	}
	now := testNow
	e := New(db, Options{Now: &now})
	t.Cleanup(func() { e.Close() })
	return e
}

func eval(t *testing.T, e *Engine, input string) *Result {
	t.Helper()
	res, err := e.Eval(context.Background(), input)
	if err != nil {
		t.Fatalf("Eval(%q): %v", input, err)
	}
	return res
}

func memberIDs(r *Result) []string {
	var out []string
	for _, row := range r.Rows {
		out = append(out, row[0])
	}
	return out
}

func TestAudience(t *testing.T) {
	e := newTestEngine(t)
	tests := []struct {
		name    string
		cond    string
		members []string
		columns []string
	}{
		{"window", "purchased in last 30 days", []string{"m1", "m4"}, []string{"member_id", "name"}},
		{"ever", "purchased ever", []string{"m1", "m2", "m4"}, nil},
		{"never", "not purchased ever", []string{"m3"}, nil},
		{"member field in Chinese", `member.city = "长沙"`, []string{"m1", "m3"}, []string{"member_id", "name", "member.city"}},
		{"days since", "days since last purchased > 90", []string{"m2"}, []string{"member_id", "name", "days since last purchased"}},
		{"aggregate", "sum(purchased.amount in last 365 days) >= 200", []string{"m1", "m4"}, []string{"member_id", "name", "sum(purchased.amount in last 365 days)"}},
		{"filter and or", `visited at store "A" in last 7 days or queued in last 1 day`, []string{"m3"}, nil},
		{"stdlib segment", "one_time_buyer", []string{"m2", "m4"}, nil},
		{"multi-line", "purchased ever\nand member.tier = \"gold\"", []string{"m1", "m4"}, nil},
		{"nobody", `member.city = "Paris"`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := eval(t, e, tc.cond)
			if res.Kind != Audience {
				t.Fatalf("kind = %s, want audience; text:\n%s", res.Kind, res.Text)
			}
			if got := memberIDs(res); strings.Join(got, ",") != strings.Join(tc.members, ",") {
				t.Errorf("members = %v, want %v", got, tc.members)
			}
			if res.Count != int64(len(tc.members)) {
				t.Errorf("count = %d, want %d", res.Count, len(tc.members))
			}
			if tc.columns != nil && strings.Join(res.Columns, "|") != strings.Join(tc.columns, "|") {
				t.Errorf("columns = %q, want %q", res.Columns, tc.columns)
			}
			if !res.Now.Equal(testNow) {
				t.Errorf("now = %v, want %v", res.Now, testNow)
			}
		})
	}
}

// TestAudienceBrands: another brand's member with the same id is neither
// counted nor named in an audience (SPEC §5, brand isolation).
func TestAudienceBrands(t *testing.T) {
	e := newTestEngine(t)
	if _, err := e.held.SQL().ExecContext(context.Background(), `INSERT INTO members (member_id, brand, name, city) VALUES
  ('m1', 'bistro', 'Zed', '长沙'), ('m3', 'bistro', 'Yan', '长沙')`); err != nil {
		t.Fatal(err)
	}
	e.opts.Brand = "acme"
	res := eval(t, e, `member.city = "长沙"`)
	var got []string
	for _, row := range res.Rows {
		got = append(got, row[0]+" "+row[1])
	}
	if want := "m1 王小明,m3 Bob"; strings.Join(got, ",") != want || res.Count != 2 {
		t.Errorf("audience = %q (count %d), want %q (count 2)", strings.Join(got, ","), res.Count, want)
	}
}

func TestTriggerPreview(t *testing.T) {
	e := newTestEngine(t)
	res := eval(t, e, `queued at store "A" or visited at store "A"`)
	if res.Kind != Audience || !res.Trigger || res.Columns[2] != "event at" {
		t.Fatalf("kind %s trigger %v: %s", res.Kind, res.Trigger, res.Text)
	}
	// Both the visit at 18:00 the day before and the queue at 11:30 are
	// within the default 24 hours; newest first. (The value columns after
	// these three are the compiler's to label.)
	if got := rowsText(res, 3); got != "m3|Bob|2024-11-11 11:30:00;m3|Bob|2024-11-10 18:00:00" {
		t.Errorf("rows %s, columns %q", got, res.Columns)
	}
	if got, want := res.Summary(), "2 triggering events in the 24 hours to 2024-11-11 12:00:00, newest first"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if res := eval(t, e, ":lookback 1h"); res.Text != "trigger conditions look 1 hour back" {
		t.Errorf(":lookback: %q", res.Text)
	}
	res = eval(t, e, `queued at store "A" or visited at store "A"`)
	if got := rowsText(res, 3); got != "m3|Bob|2024-11-11 11:30:00" {
		t.Errorf("1h lookback rows %s", got)
	}
	if res := eval(t, e, ":lookback soon"); !strings.Contains(res.Text, `cannot read "soon" as a duration`) {
		t.Errorf("bad lookback: %q", res.Text)
	}
}

// rowsText joins the first n cells of every row.
func rowsText(r *Result, n int) string {
	var rows []string
	for _, row := range r.Rows {
		rows = append(rows, strings.Join(row[:min(n, len(row))], "|"))
	}
	return strings.Join(rows, ";")
}

func TestAudiencePaging(t *testing.T) {
	ctx := context.Background()
	db, err := runtime.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO members (member_id, brand, name)
		SELECT printf('m%04d', i), 'acme', 'member ' || i FROM range(1, 1235) t(i)`); err != nil {
		t.Fatal(err)
	}
	now := testNow
	e := New(db, Options{Now: &now, PageSize: 10})
	res := eval(t, e, "not purchased ever")
	if res.Count != 1234 || len(res.Rows) != 10 || !res.Truncated() {
		t.Fatalf("count %d, %d rows, truncated %v; want 1234, 10, true", res.Count, len(res.Rows), res.Truncated())
	}
	if res.Rows[0][0] != "m0001" {
		t.Errorf("first member %q, want m0001 (ordered by member_id)", res.Rows[0][0])
	}
	if got, want := res.Summary(), "1,234 members match at 2024-11-11 12:00:00 (first 10 shown)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

func TestDiagnostics(t *testing.T) {
	e := newTestEngine(t)
	tests := []struct {
		name, input string
		want        []string
	}{
		{"unknown event", "purchsed in last 30 days", []string{
			`<input>:1:1: error: unknown event type "purchsed"; did you mean "purchased"?`,
			"purchsed in last 30 days\n^^^^^^^^\n"}},
		{"caret under Chinese text", `member.city = "长沙" and purchsed ever`, []string{
			`<input>:1:24: error: unknown event type "purchsed"`,
			"member.city = \"长沙\" and purchsed ever\n" + strings.Repeat(" ", 25) + "^^^^^^^^\n"}},
		{"syntax", "purchased in last", []string{"<input>:1:"}},
		{"bad segment", "segment x = purchsed ever", []string{`unknown event type "purchsed"`, "segment x = purchsed ever"}},
		{"unknown member field", "member.citty = 1", []string{"member.citty", "^"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := eval(t, e, tc.input)
			if res.Kind != Diagnostics {
				t.Fatalf("kind = %s, want diagnostics; text: %s", res.Kind, res.Text)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Text, w) {
					t.Errorf("diagnostics lack %q:\n%s", w, res.Text)
				}
			}
		})
	}
	// A failed declaration leaves the session as it was.
	if res := eval(t, e, "x"); res.Kind != Diagnostics {
		t.Errorf("segment x was defined by a failed declaration")
	}
}

func TestSessionDeclarations(t *testing.T) {
	e := newTestEngine(t)
	res := eval(t, e, "segment big = sum(purchased.amount in last 365 days) >= 200")
	if res.Kind != Audience || res.Count != 2 || !strings.Contains(res.Text, "segment big defined") {
		t.Fatalf("segment: kind %s count %d text %q", res.Kind, res.Count, res.Text)
	}
	if res := eval(t, e, "big and member.tier = \"gold\""); strings.Join(memberIDs(res), ",") != "m1,m4" {
		t.Errorf("big and gold = %v", memberIDs(res))
	}
	// Redefining replaces.
	if res := eval(t, e, "segment big = sum(purchased.amount in last 365 days) >= 300"); res.Count != 1 {
		t.Errorf("redefined big has %d members, want 1: %s", res.Count, res.Text)
	}
	res = eval(t, e, `rule hi "Say hi" if big then send coupon "HI" via sms`)
	if res.Kind != Text || !strings.Contains(res.Text, "rule hi defined: state rule") {
		t.Errorf("rule: %s %q", res.Kind, res.Text)
	}
	if res := eval(t, e, ":sql"); !strings.Contains(res.Text, "SELECT") || !strings.Contains(res.Text, "$now::TIMESTAMP") {
		t.Errorf(":sql after rule:\n%s", res.Text)
	}
	res = eval(t, e, ":run")
	if res.Kind != Decisions {
		t.Fatalf(":run kind %s: %s", res.Kind, res.Text)
	}
	if res.Count != 1 || res.Rows[0][0] != "hi" || res.Rows[0][1] != "m4" {
		t.Errorf(":run decisions %v", res.Rows)
	}
	if !strings.Contains(res.Text, "hi: 1 candidate, 1 firing") {
		t.Errorf(":run summary %q", res.Text)
	}
	// The dry run wrote nothing.
	var n int
	if err := e.held.SQL().QueryRow("SELECT count(*) FROM outbox").Scan(&n); err != nil || n != 0 {
		t.Errorf("outbox has %d rows (err %v) after a dry run", n, err)
	}
	if res := eval(t, e, ":reset"); res.Text != "forgot 2 session declarations" {
		t.Errorf(":reset: %q", res.Text)
	}
	if res := eval(t, e, "big"); res.Kind != Diagnostics {
		t.Errorf("big still defined after :reset")
	}
}

func TestRawSQL(t *testing.T) {
	e := newTestEngine(t)
	res := eval(t, e, `\sql SELECT member_id, name, birthday, consent_sms FROM members ORDER BY 1`)
	if res.Kind != Table || res.Count != 4 || strings.Join(res.Columns, ",") != "member_id,name,birthday,consent_sms" {
		t.Fatalf("select: %+v", res)
	}
	if got := strings.Join(res.Rows[3], "|"); got != "m4|Carol|NULL|NULL" {
		t.Errorf("row 4 = %q", got)
	}
	if res := eval(t, e, `\sql SELECT sum(amount) AS total, min(ts) FROM events`); strings.Join(res.Rows[0], "|") != "730.50|2024-06-01 09:00:00" {
		t.Errorf("decimal/timestamp formatting: %q", res.Rows[0])
	}
	for _, q := range []string{
		"DROP TABLE members",
		"DELETE FROM events",
		"SELECT 1; DROP TABLE members",
		"DROP TABLE members; SELECT 1",
		"SELECT 1; SELECT 2",
		"COPY members TO '/tmp/nudge-repl-test.csv'",
		"UPDATE members SET name = 'x'",
	} {
		t.Run(q, func(t *testing.T) {
			_, err := e.Eval(context.Background(), `\sql `+q)
			if !errors.Is(err, ErrNotReadOnly) {
				t.Errorf("err = %v, want ErrNotReadOnly", err)
			}
		})
	}
	var n int
	if err := e.held.SQL().QueryRow("SELECT count(*) FROM members WHERE name <> 'x'").Scan(&n); err != nil || n != 4 {
		t.Errorf("members changed: %d rows, err %v", n, err)
	}
	if _, err := e.Eval(context.Background(), `\sql SELEC 1`); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestCancel(t *testing.T) {
	e := newTestEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Eval(ctx, `\sql SELECT count(*) FROM range(100000000000) a, range(10) b WHERE a.range % 7 = b.range`)
	if err == nil {
		t.Fatal("a cancelled query returned no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
	// The engine still works.
	if res := eval(t, e, "purchased ever"); res.Count != 3 {
		t.Errorf("after cancel: count %d", res.Count)
	}
}

func TestComplete(t *testing.T) {
	e := newTestEngine(t)
	eval(t, e, "segment big_spender = sum(purchased.amount in last 365 days) >= 200")
	dir := t.TempDir()
	for _, f := range []string{"store.nudge", "stock.nudge", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, before string
		want         []string
	}{
		{"event type", "purch", []string{"purchased"}},
		{"after words", "visited ever and not purch", []string{"purchased"}},
		{"keyword", "visited in la", []string{"last"}},
		{"member column", "member.ci", []string{"city"}},
		{"event field", "sum(purchased.am", []string{"amount"}},
		{"session segment", "big_", []string{"big_spender"}},
		{"stdlib segment", "one_t", []string{"one_time_buyer"}},
		{"function", "birthday_", []string{"birthday_in"}},
		{"command", ":sc", []string{":schema"}},
		{"commands", ":r", []string{":reset", ":run"}},
		{"sql table", `\sql select * from memb`, []string{"member_id", "member_tags", "members"}},
		{"load path", ":load " + dir + "/st", []string{"stock.nudge", "store.nudge"}},
		{"nothing", "zzz", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.Complete(tc.before)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("Complete(%q) = %q, want %q", tc.before, got, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	e := newTestEngine(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.nudge")
	if err := os.WriteFile(good, []byte(`import "crm"
segment gold = member.tier = "gold"
rule gold_hi if gold and purchased in last 30 days then send coupon "G" via sms
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad", "bad.nudge")
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("rule x if purchsed ever then tag \"t\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := eval(t, e, ":load "+good)
	if res.Text != "loaded 1 file: 1 rule, 1 segment" {
		t.Fatalf(":load good: %s %q", res.Kind, res.Text)
	}
	if res := eval(t, e, "gold"); res.Count != 2 {
		t.Errorf("gold: %d members", res.Count)
	}
	res = eval(t, e, ":load "+filepath.Dir(bad))
	if res.Kind != Diagnostics || !strings.Contains(res.Text, "bad.nudge:1:11: error: unknown event type") {
		t.Errorf(":load bad: %s %q", res.Kind, res.Text)
	}
	if res := eval(t, e, ":schema"); !strings.Contains(res.Text, "gold_hi  (state, "+good+")") {
		t.Errorf(":schema lacks the loaded rule:\n%s", res.Text)
	}
	if res := eval(t, e, ":run"); res.Kind != Decisions || res.Count != 2 {
		t.Errorf(":run: %s %d %q", res.Kind, res.Count, res.Text)
	}
	if res := eval(t, e, ":load /nonexistent/x.nudge"); !strings.Contains(res.Text, "/nonexistent/x.nudge") {
		t.Errorf("missing file: %q", res.Text)
	}
}

func TestCommands(t *testing.T) {
	e := newTestEngine(t)
	tests := []struct {
		input string
		want  string
		quit  bool
	}{
		{":help", ":schema", false},
		{":now", "now is 2024-11-11 12:00:00 (fixed by :now or --now)", false},
		{":now 2024-12-01 08:30", "now is 2024-12-01 08:30:00", false},
		{":now tomorrow", `cannot read "tomorrow" as a timestamp`, false},
		{":sql", "SELECT", false}, // none yet in a fresh engine? see below
		{":schem", "did you mean :schema?", false},
		{":quit", "", true},
		{`\q`, "", true},
		{`\dt`, "unknown command", false},
	}
	eval(t, e, "purchased ever")
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			res := eval(t, e, tc.input)
			if !strings.Contains(res.Text, tc.want) {
				t.Errorf("%s: text %q lacks %q", tc.input, res.Text, tc.want)
			}
			if res.Quit != tc.quit {
				t.Errorf("%s: quit = %v", tc.input, res.Quit)
			}
		})
	}
	// :now moved the evaluation instant.
	if res := eval(t, e, "purchased in last 30 days"); !res.Now.Equal(time.Date(2024, 12, 1, 8, 30, 0, 0, time.UTC)) || res.Count != 2 {
		t.Errorf("after :now: now %v count %d", res.Now, res.Count)
	}
	if got := e.Status(); got != "(memory) · now 2024-12-01 08:30:00" {
		t.Errorf("status %q", got)
	}
}

// TestRunLines drives line mode with a script and compares the transcript.
func TestRunLines(t *testing.T) {
	e := newTestEngine(t)
	in, err := os.ReadFile(filepath.Join("testdata", "session.in"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := RunLines(context.Background(), bytes.NewReader(in), &out, e); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	path := filepath.Join("testdata", "session.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs (go test -update to accept):\n--- got ---\n%s\n--- want ---\n%s", got, want)
	}
}

// TestControlCharactersArePrintable: text from the database (a member's
// name, a store, an event's props, ingested by the service from anyone)
// reaches the terminal in cells, messages and error messages; its control
// characters must arrive as visible stand-ins, never as escape sequences
// the terminal would act on.
func TestControlCharactersArePrintable(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	if _, err := e.held.SQL().ExecContext(ctx, `UPDATE members SET name = chr(27) || ']52;c;ZXZpbA==' || chr(7) || 'Eve' || chr(27) || '[2J' WHERE member_id = 'm1'`); err != nil {
		t.Fatal(err)
	}
	var outs []string
	res := eval(t, e, "purchased ever")
	if len(res.Rows) == 0 || res.Rows[0][1] != "␛]52;c;ZXZpbA==␇Eve␛[2J" {
		t.Errorf("audience name cell = %q", res.Rows)
	}
	var b strings.Builder
	if err := res.Write(&b); err != nil {
		t.Fatal(err)
	}
	outs = append(outs, b.String())
	res = eval(t, e, `\sql SELECT name, chr(27) || '[31m' AS "x`+"\x1b"+`[1m", 'a' || chr(13) || chr(10) || 'b' || chr(155) AS c FROM members WHERE member_id = 'm1'`)
	outs = append(outs, strings.Join(res.Columns, " "), fmt.Sprint(res.Rows))
	if got := res.Rows[0][2]; got != "a\r\nb\uFFFD" {
		t.Errorf("line breaks in a cell are kept for the front end's ↵, C1 replaced: %q", got)
	}
	eval(t, e, `rule hi if purchased ever then send coupon "HI" via sms`)
	outs = append(outs, eval(t, e, ":why m1").Text)
	_, err := e.Eval(ctx, `\sql SELECT (chr(27) || '[2J')::INTEGER`)
	if err == nil {
		t.Fatal("a failing cast returned no error")
	}
	outs = append(outs, err.Error())
	for _, out := range outs {
		if strings.ContainsAny(out, "\x1b\x07\u009b") {
			t.Errorf("output holds control characters: %q", out)
		}
	}
}
