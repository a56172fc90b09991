package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nudge/runtime"
)

// twoBrandsSQL adds a second brand whose members m1 and m3 share their ids
// with acme's (SPEC §5: members are keyed by brand and member_id), and one
// row per brand in each other table `\sql` sees or must not see.
const twoBrandsSQL = `
INSERT INTO members (member_id, brand, name, city, attrs) VALUES
  ('m1', 'bistro', 'Zed', '长沙', '{"secret": "bistro"}'),
  ('m3', 'bistro', 'Yan', '长沙', NULL);
UPDATE members SET attrs = '{"vip": true}' WHERE brand = 'acme' AND member_id = 'm1';
INSERT INTO events (seq, member_id, brand, type, ts, store, amount, props) VALUES
  (7, 'm1', 'bistro', 'purchased', '2024-11-01 10:00', 'Z', 999.00, '{"k": 1}'),
  (8, 'm3', 'bistro', 'visited', '2024-11-02 10:00', 'Z', NULL, NULL);
INSERT INTO member_tags VALUES
  ('acme', 'm1', 'vip', '2024-11-01 00:00', 'r'), ('bistro', 'm1', 'bistro-vip', '2024-11-01 00:00', 'r');
INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, status, effective, fired_at, idempotency_key, run_id, vals) VALUES
  ('f1', 0, 'r', 'acme', 'm1', 'k', 'send', 'sent', true, '2024-11-01 00:00', 'i1', 1, '{"x": 1}'),
  ('f2', 0, 'r', 'bistro', 'm1', 'k', 'send', 'sent', true, '2024-11-01 00:00', 'i2', 2, NULL);
INSERT INTO runs (id, now, brand, started_at, finished_at, rules, candidates, firings, decisions) VALUES
  (1, '2024-11-01', 'acme', '2024-11-01', '2024-11-01', 1, 1, 1, 1),
  (2, '2024-11-01', 'bistro', '2024-11-01', '2024-11-01', 1, 1, 1, 1);
INSERT INTO rule_members (rule, member_id, brand, last_fired_at, last_effective) VALUES
  ('r', 'm1', 'acme', '2024-11-01', true), ('r', 'm1', 'bistro', '2024-11-01', true);
INSERT INTO outbox_deliveries VALUES ('acme', 'i1', 'webhook:http://user:pass@host/', '2024-11-01', 'm1', 'sms');
`

// newFileEngine is an engine over a database file named nudge.duckdb (its
// catalog is "nudge") holding the fixture's brand acme and the brand
// bistro, speaking for acme.
func newFileEngine(t *testing.T) (*Engine, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := runtime.Open(ctx, filepath.Join(dir, "nudge.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SQL().ExecContext(ctx, fixtureSQL+twoBrandsSQL); err != nil {
		t.Fatal(err)
	}
	now := testNow
	e := New(db, Options{Now: &now, Brand: "acme"})
	t.Cleanup(func() { e.Close() })
	return e, dir
}

// TestSQLSandboxBrand: ordinary `\sql` queries work, and every table they
// can name, however qualified, holds the session brand's rows only.
func TestSQLSandboxBrand(t *testing.T) {
	e, _ := newFileEngine(t)
	tests := []struct {
		name, query string
		want        []string // rows, cells joined by |
	}{
		{"members", `SELECT member_id, name FROM members ORDER BY 1`,
			[]string{"m1|王小明", "m2|Alice", "m3|Bob", "m4|Carol"}},
		{"json column", `SELECT attrs->>'vip', typeof(attrs) FROM members WHERE member_id = 'm1'`,
			[]string{"true|JSON"}},
		{"schema-qualified", `SELECT count(*), count(*) FILTER (WHERE brand <> 'acme') FROM main.members`,
			[]string{"4|0"}},
		{"catalog-qualified", `SELECT count(*) FROM memory.main.members WHERE name IN ('Zed', 'Yan')`,
			[]string{"0"}},
		{"events", `SELECT count(*), sum(amount), count(props) FROM events`,
			[]string{"6|730.50|0"}},
		{"join", `SELECT m.name, count(*) FROM members m JOIN events e USING (member_id) WHERE e.type = 'purchased' GROUP BY 1 ORDER BY 1`,
			[]string{"Alice|1", "Carol|1", "王小明|2"}},
		{"member_tags", `SELECT brand, tag FROM member_tags`, []string{"acme|vip"}},
		{"outbox", `SELECT brand, idempotency_key, vals->>'x' FROM outbox`, []string{"acme|i1|1"}},
		{"runs", `SELECT id, brand FROM runs`, []string{"1|acme"}},
		{"rule_members", `SELECT brand, member_id FROM rule_members`, []string{"acme|m1"}},
		{"stdlib macro", `SELECT member_id, r FROM nudge_rfm('acme', TIMESTAMP '2024-11-11 12:00') ORDER BY 1`,
			[]string{"m1|4", "m2|2", "m3|1", "m4|5"}},
		{"macro asked for another brand", `SELECT count(*) FROM nudge_rfm('bistro', TIMESTAMP '2024-11-11 12:00')`,
			[]string{"0"}},
		{"cte named like a table", `WITH events AS (SELECT 1 AS x) SELECT x FROM events`, []string{"1"}},
		{"settings hold", `SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions') ORDER BY 1`,
			[]string{"autoinstall_known_extensions|false", "autoload_known_extensions|false", "enable_external_access|false", "lock_configuration|true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := eval(t, e, `\sql `+tc.query)
			if res.Kind != Table {
				t.Fatalf("kind %s: %s", res.Kind, res.Text)
			}
			var got []string
			for _, r := range res.Rows {
				got = append(got, strings.Join(r, "|"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	// A brand declared in the session: \sql follows it.
	eval(t, e, `brand "bistro"`)
	res := eval(t, e, `\sql SELECT member_id, name FROM members ORDER BY 1`)
	if got := strings.Join(memberIDs(res), ","); got != "m1,m3" || res.Rows[0][1] != "Zed" {
		t.Errorf("after brand \"bistro\": %q", res.Rows)
	}
}

// TestSQLSandboxEscapes: every way out of the session brand's tables that
// a SELECT (or something posing as one) could take is refused with a clear
// message; the statements DuckDB itself must refuse are also run straight
// in the sandbox, past the statement check, to prove that its settings, not
// only the check, hold them.
func TestSQLSandboxEscapes(t *testing.T) {
	e, dir := newFileEngine(t)
	ctx := context.Background()
	// Files with something to steal, so a refusal is not a missing file.
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret+".csv", []byte("a,b\nsecret,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret+".json", []byte(`{"a": "secret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.held.SQL().ExecContext(ctx, `COPY (SELECT 'secret' AS a) TO '`+secret+`.parquet' (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(dir, "nudge.duckdb")

	const (
		reach    = "out of its reach"     // the sandbox's Permission Error, explained
		selectRO = "read-only SELECT"     // ErrNotReadOnly
		settings = "cannot change DuckDB" // a locked setting, explained
		missing  = "sees the session brand's"
	)
	tests := []struct {
		name, query string
		want        string // in the error of \sql
		direct      string // in DuckDB's error run straight in the sandbox; "" to skip
	}{
		{"read_text", `SELECT * FROM read_text('/etc/passwd')`, reach, "Permission Error"},
		{"read_blob", `SELECT * FROM read_blob('/etc/passwd')`, reach, "Permission Error"},
		{"read_csv", `SELECT * FROM read_csv('` + secret + `.csv')`, reach, "Permission Error"},
		{"file as table", `SELECT * FROM '` + secret + `.csv'`, reach, "Permission Error"},
		{"glob", `SELECT * FROM glob('/etc/*')`, reach, "Permission Error"},
		{"read_parquet", `SELECT * FROM read_parquet('` + secret + `.parquet')`, reach, "Permission Error"},
		{"read_json", `SELECT * FROM read_json('` + secret + `.json')`, reach, "Permission Error"},
		{"sniff_csv", `SELECT * FROM sniff_csv('` + secret + `.csv')`, reach, "Permission Error"},
		{"https url", `SELECT * FROM read_csv('https://example.com/x.csv')`, reach, "Permission Error"},
		{"s3 url", `SELECT * FROM 's3://bucket/x.parquet'`, reach, "Permission Error"},
		{"enable_logging to a file", `SELECT * FROM enable_logging(storage='file', storage_path='` + out + `')`, "refuses enable_logging()", ""},
		{"enable_logging qualified", `SELECT * FROM system.main.ENABLE_LOGGING(storage='file', storage_path='` + out + `')`, "refuses enable_logging()", ""},
		{"enable_logging in a subquery", `SELECT 1 WHERE EXISTS (SELECT * FROM enable_logging())`, "refuses enable_logging()", ""},
		{"query()", `SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')`, "refuses query()", ""},
		{"query_table()", `SELECT * FROM query_table('members')`, "refuses query_table()", ""},
		{"json_execute_serialized_sql", `SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))`, "refuses json_execute_serialized_sql()", ""},
		{"COPY TO", `COPY members TO '` + out + `/m.csv'`, selectRO, "Permission Error"},
		{"COPY FROM", `COPY members FROM '` + secret + `.csv'`, selectRO, "Permission Error"},
		{"EXPORT DATABASE", `EXPORT DATABASE '` + out + `/x'`, selectRO, "Permission Error"},
		{"ATTACH the database file", `ATTACH '` + dbFile + `' AS raw (READ_ONLY)`, selectRO, "Permission Error"},
		{"ATTACH a new file", `ATTACH '` + out + `/new.duckdb' AS n`, selectRO, "Permission Error"},
		{"INSTALL", `INSTALL httpfs`, selectRO, "Permission Error"},
		{"LOAD", `LOAD httpfs`, selectRO, "disabled through configuration"},
		{"LOAD a path", `LOAD '` + out + `/x.duckdb_extension'`, selectRO, "disabled through configuration"},
		{"SET external access", `SET enable_external_access = true`, selectRO, "configuration has been locked"},
		{"SET lock", `SET lock_configuration = false`, selectRO, "configuration has been locked"},
		{"RESET", `RESET enable_external_access`, selectRO, "configuration has been locked"},
		{"SET GLOBAL", `SET GLOBAL threads = 1`, selectRO, "configuration has been locked"},
		{"PRAGMA", `PRAGMA threads = 1`, selectRO, "configuration has been locked"},
		// DuckDB's lock lets the argumentless pragma through (it prints
		// query profiles on stdout): the statement check holds it.
		{"PRAGMA enable_profiling", `PRAGMA enable_profiling`, selectRO, ""},
		{"SET search_path", `SET search_path = 'system.main'`, selectRO, ""},
		{"CREATE SECRET", `CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')`, selectRO, "Permission Error"},
		{"two statements", `SELECT 1; SET enable_external_access = true`, selectRO, ""},
		{"catalog of the file", `SELECT * FROM nudge.main.members`, missing, `Catalog "nudge" does not exist`},
		{"runtime table", `SELECT * FROM rule_state`, missing, "Catalog Error"},
		{"deliveries", `SELECT * FROM main.outbox_deliveries`, missing, "Catalog Error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Eval(ctx, `\sql `+tc.query)
			if err == nil {
				t.Fatalf("\\sql %s ran: %d rows %q", tc.query, res.Count, res.Rows)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.HasPrefix(tc.want, "refuses") && !errors.Is(err, ErrRefused) {
				t.Errorf("error %q is not ErrRefused", err)
			}
			if tc.direct == "" {
				return
			}
			if e.sbx == nil {
				eval(t, e, `\sql SELECT 1`)
			}
			rows, err := e.sbx.db.QueryContext(ctx, tc.query)
			if err == nil {
				rows.Close()
				t.Fatalf("straight in the sandbox, %s ran", tc.query)
			}
			if !strings.Contains(err.Error(), tc.direct) {
				t.Errorf("straight in the sandbox: %v, want %q", err, tc.direct)
			}
		})
	}

	// Nothing was written, the settings hold and the sandbox still works.
	if ents, err := os.ReadDir(out); err != nil || len(ents) != 0 {
		t.Errorf("files written to %s: %v (err %v)", out, ents, err)
	}
	res := eval(t, e, `\sql SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), (SELECT count(*) FROM members)`)
	if got := strings.Join(res.Rows[0], "|"); got != "false|true|4" {
		t.Errorf("after the escapes: %q", got)
	}
}

// TestSQLSandboxRecovers: a sandbox that stopped answering (here broken
// straight through its connection, past the statement check, the way
// enable_logging breaks it) is left aside, and the next `\sql` gets a new
// one.
func TestSQLSandboxRecovers(t *testing.T) {
	e, dir := newFileEngine(t)
	eval(t, e, `\sql SELECT 1`)
	broken := e.sbx
	if _, err := broken.db.ExecContext(context.Background(),
		`SELECT * FROM enable_logging(storage='file', storage_path='`+filepath.Join(dir, "logs")+`')`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Eval(context.Background(), `\sql SELECT count(*) FROM members`); err == nil {
		t.Fatal("the broken sandbox answered")
	}
	if e.sbx != nil {
		t.Fatal("the broken sandbox was kept")
	}
	res := eval(t, e, `\sql SELECT count(*) FROM members`)
	if got := res.Rows[0][0]; got != "4" {
		t.Errorf("new sandbox: %s members", got)
	}
	if e.sbx == broken {
		t.Error("the broken sandbox is still in use")
	}
	// Closing it is a no-op rather than an abort of the process.
	if err := broken.close(); err != nil {
		t.Errorf("close the broken sandbox: %v", err)
	}
}
