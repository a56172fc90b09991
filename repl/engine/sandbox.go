package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"nudge/compiler"
	"nudge/runtime"
	"nudge/stdlib"
)

// The sandbox is where `\sql` runs: a DuckDB instance of its own, in
// memory, that holds copies of the session brand's rows of the tables a
// marketer reads (sandboxTables) and nothing else. It is opened with
// external access disabled and the configuration locked (sandboxDSN), so
// no file, URL, extension, attached database or setting is within reach of
// a query, whatever the query is; and since the database file is not
// attached to it, neither are other brands' rows nor the runtime's own
// tables, under any name (main.members is the copy; the file's catalog
// does not exist there).
//
// Why a separate instance: DuckDB's settings are per instance, and in the
// engine's own instance every brand's rows and the runtime's tables stay
// reachable by their qualified names whatever views are put in front of
// them. Why a copy rather than the file attached read-only there: an
// attached catalog is just as reachable by name; an in-memory --db cannot
// be attached; and a second instance opening the file the REPL holds
// shares the process's POSIX lock on it, which detaching releases (another
// process could then open the file for writing while the REPL has it
// open). The copy is made through the Go driver (an appender), so the
// sandbox never touches the file system. The tables are created empty
// when the sandbox opens (the stdlib macros, created after them, bind to
// them) and filled when a query first names one (sandboxNeeds): a session
// that only counts members never copies its events. A copy reflects the
// database as it was when made; the REPL never writes to the file, but
// holds it only while an input runs (open.go), and the copies are dropped
// when another process changed the file since the last input.
//
// One DuckDB gap is closed before a query reaches the sandbox instead:
// enable_logging() changes the logging configuration despite the lock,
// and file logging into a directory the sandbox may not touch breaks every
// later query of the instance (and closing it aborts the process). So
// checkStatement refuses the logging table functions by name, and the
// functions that run SQL given as a string (query, query_table,
// json_execute_serialized_sql), inside which no name can be checked.

// sandboxDSN opens the sandbox: in memory, no extension installed or
// loaded on demand, no access to anything outside the instance, and the
// configuration locked so that no query can change any of it.
const sandboxDSN = "?autoinstall_known_extensions=false&autoload_known_extensions=false" +
	"&enable_external_access=false&lock_configuration=true"

// sandboxTables are the tables `\sql` sees, each holding the session
// brand's rows only (all of them have a brand column). The runtime's
// bookkeeping (rule_state, rule_evals, counters, waiting_events) and
// outbox_deliveries, whose sink names may carry a webhook's address, are
// left out.
var sandboxTables = []string{"members", "events", "member_tags", "outbox", "runs", "rule_members"}

// macroTables are the tables the stdlib macros (nudge_*) read: a query
// calling one needs them although it does not name them.
var macroTables = []string{"members", "events"}

// refusedFunctions are the functions `\sql` refuses by name, with the
// reason (see the comment at the top of this file).
var refusedFunctions = map[string]string{
	"enable_logging":              "it changes DuckDB's logging",
	"disable_logging":             "it changes DuckDB's logging",
	"truncate_duckdb_logs":        "it changes DuckDB's logging",
	"query":                       "it runs SQL given as a string, which \\sql cannot check",
	"query_table":                 "it reads tables named by a string, which \\sql cannot check",
	"json_execute_serialized_sql": "it runs SQL given as a string, which \\sql cannot check",
}

// ErrRefused is returned (wrapped) for `\sql` input that calls a function
// the sandbox refuses.
var ErrRefused = errors.New(`\sql refuses`)

// sandbox is the `\sql` instance of one session and brand.
type sandbox struct {
	db     *sql.DB
	brand  string
	loaded map[string]bool // tables copied so far
	// columns are the sandbox tables' columns, as in the engine's database.
	columns map[string][]runtime.Column
}

// openSandbox opens a sandbox for brand: the sandbox tables, empty, with
// the columns they have in the engine's database (read through src), and
// the stdlib macros (which read them).
func openSandbox(ctx context.Context, src *sql.Tx, brand string) (*sandbox, error) {
	conn, err := duckdb.NewConnector(sandboxDSN, nil)
	if err != nil {
		return nil, fmt.Errorf("open the \\sql sandbox: %w", err)
	}
	s := &sandbox{db: sql.OpenDB(conn), brand: brand, loaded: map[string]bool{}, columns: map[string][]runtime.Column{}}
	// One connection, never closed by the pool while the sandbox is open:
	// `\sql` runs one query at a time, and an instance whose logging was
	// broken must not be disconnected (see rawSQL).
	s.db.SetMaxOpenConns(1)
	fail := func(err error) (*sandbox, error) {
		s.db.Close()
		return nil, fmt.Errorf("open the \\sql sandbox: %w", err)
	}
	for _, t := range sandboxTables {
		cols, err := tableColumns(ctx, src, t)
		if err != nil {
			return fail(err)
		}
		s.columns[t] = cols
		defs := make([]string, len(cols))
		for i, c := range cols {
			defs[i] = quoteIdent(c.Name) + " " + c.Type
		}
		if _, err := s.db.ExecContext(ctx, "CREATE TABLE "+quoteIdent(t)+" ("+strings.Join(defs, ", ")+")"); err != nil {
			return fail(err)
		}
	}
	if _, err := s.db.ExecContext(ctx, stdlib.MacrosSQL); err != nil {
		return fail(fmt.Errorf("stdlib macros: %w", err))
	}
	return s, nil
}

// close closes the sandbox's instance, unless it no longer answers: an
// instance whose logging was broken aborts the process when disconnected,
// so it is left open (see the comment at the top of this file).
func (s *sandbox) close() error {
	if !s.healthy(context.Background()) {
		return nil
	}
	return s.db.Close()
}

// healthy reports whether the sandbox still answers a query.
func (s *sandbox) healthy(ctx context.Context) bool {
	_, err := s.db.ExecContext(ctx, "SELECT 1")
	return err == nil
}

// load copies the brand's rows of table from the engine's database (read
// through src, inside its transaction) into the sandbox, unless done.
func (s *sandbox) load(ctx context.Context, src *sql.Tx, table string) error {
	if s.loaded[table] {
		return nil
	}
	// JSON columns travel as text through a staging table: the appender
	// would store a Go string as a JSON string literal.
	staging := quoteIdent("nudge_copy_" + table)
	var defs, sel, final []string
	for _, c := range s.columns[table] {
		name := quoteIdent(c.Name)
		if c.Type == "JSON" {
			defs = append(defs, name+" VARCHAR")
			sel = append(sel, "CAST("+name+" AS VARCHAR)")
			final = append(final, "CAST("+name+" AS JSON)")
		} else {
			defs = append(defs, name+" "+c.Type)
			sel = append(sel, name)
			final = append(final, name)
		}
	}
	fail := func(err error) error { return fmt.Errorf("copy %s into the \\sql sandbox: %w", table, err) }
	if _, err := s.db.ExecContext(ctx, "CREATE OR REPLACE TABLE "+staging+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return fail(err)
	}
	rows, err := src.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+quoteIdent(table)+
		" WHERE brand = $"+compiler.ParamBrand+"::VARCHAR", sql.Named(compiler.ParamBrand, s.brand))
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	if err := s.appendRows(ctx, "nudge_copy_"+table, rows, len(defs)); err != nil {
		return fail(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+quoteIdent(table)); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+quoteIdent(table)+" SELECT "+strings.Join(final, ", ")+" FROM "+staging); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, "DROP TABLE "+staging); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	s.loaded[table] = true
	return nil
}

// appendRows appends every row of rows (n columns) to the sandbox's table.
func (s *sandbox) appendRows(ctx context.Context, table string, rows *sql.Rows, n int) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		dconn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		app, err := duckdb.NewAppenderFromConn(dconn, "", table)
		if err != nil {
			return err
		}
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		row := make([]driver.Value, n)
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				app.Close()
				return err
			}
			for i, v := range vals {
				row[i] = v
			}
			if err := app.AppendRow(row...); err != nil {
				app.Close()
				return err
			}
		}
		if err := rows.Err(); err != nil {
			app.Close()
			return err
		}
		return app.Close()
	})
}

// tableColumns lists table's columns in the engine's database
// (runtime.TableColumns); a table it lacks is an error.
func tableColumns(ctx context.Context, src *sql.Tx, table string) ([]runtime.Column, error) {
	cols, err := runtime.TableColumns(ctx, src, table)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("the database has no table %s", table)
	}
	return cols, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// statement is what checkStatement learnt of a `\sql` query.
type statement struct {
	tables []string // the sandbox tables it needs, in sandboxTables order
}

// checkStatement makes sure query is exactly one SELECT statement that calls
// no refused function, before it is prepared: DuckDB's driver executes all
// but the last statement of a multi-statement string while preparing it,
// so a check after prepare would be too late. json_serialize_sql parses
// without executing and only accepts SELECT statements. It also lists the
// sandbox tables the query needs (sandboxNeeds). q is the sandbox: the
// parse runs there too.
func checkStatement(ctx context.Context, q queryer, query string) (*statement, error) {
	rows, err := q.QueryContext(ctx, `SELECT CAST(json_serialize_sql($q::VARCHAR) AS VARCHAR)`, sql.Named("q", query))
	if err != nil {
		return nil, fmt.Errorf("check statement: %w", err)
	}
	defer rows.Close()
	var out string
	if rows.Next() {
		if err := rows.Scan(&out); err != nil {
			return nil, fmt.Errorf("check statement: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check statement: %w", err)
	}
	var parsed struct {
		Error        bool   `json:"error"`
		ErrorType    string `json:"error_type"`
		ErrorMessage string `json:"error_message"`
		Statements   []any  `json:"statements"`
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil {
		return nil, fmt.Errorf("check statement: %w", err)
	}
	if parsed.Error {
		if parsed.ErrorType == "parser" {
			return nil, fmt.Errorf("%s", parsed.ErrorMessage)
		}
		return nil, fmt.Errorf("%w; this is not a SELECT", ErrNotReadOnly)
	}
	if len(parsed.Statements) != 1 {
		return nil, fmt.Errorf("%w; found %d statements", ErrNotReadOnly, len(parsed.Statements))
	}
	tables, funcs := map[string]bool{}, map[string]bool{}
	walkNames(parsed.Statements[0], tables, funcs)
	for _, f := range sortedKeys(funcs) {
		if why, ok := refusedFunctions[f]; ok {
			return nil, fmt.Errorf("%w %s(): %s", ErrRefused, f, why)
		}
	}
	return &statement{tables: sandboxNeeds(tables, funcs)}, nil
}

// sandboxNeeds lists the sandbox tables a query needs: those it names,
// and those the stdlib macros read when it calls one.
func sandboxNeeds(tables, funcs map[string]bool) []string {
	for f := range funcs {
		if strings.HasPrefix(f, "nudge_") {
			for _, t := range macroTables {
				tables[t] = true
			}
		}
	}
	var out []string
	for _, t := range sandboxTables {
		if tables[t] {
			out = append(out, t)
		}
	}
	return out
}

// walkNames collects, from a statement serialized by json_serialize_sql,
// the names of the tables it reads and the functions it calls, lower-cased.
func walkNames(v any, tables, funcs map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if name, ok := v["function_name"].(string); ok {
			funcs[strings.ToLower(name)] = true
		}
		if v["type"] == "BASE_TABLE" {
			if name, ok := v["table_name"].(string); ok {
				tables[strings.ToLower(name)] = true
			}
		}
		for _, x := range v {
			walkNames(x, tables, funcs)
		}
	case []any:
		for _, x := range v {
			walkNames(x, tables, funcs)
		}
	}
}

// sandboxFor returns the session's sandbox for brand, opening it (or a new
// one, when the brand changed) with src, which reads the engine's database.
func (e *Engine) sandboxFor(ctx context.Context, src *sql.Tx, brand string) (*sandbox, error) {
	if e.sbx != nil && e.sbx.brand != brand {
		if err := e.sbx.close(); err != nil {
			return nil, fmt.Errorf("close the \\sql sandbox: %w", err)
		}
		e.sbx = nil
	}
	if e.sbx == nil {
		s, err := openSandbox(ctx, src, brand)
		if err != nil {
			return nil, err
		}
		e.sbx = s
	}
	return e.sbx, nil
}

// explainSandboxError adds to a DuckDB error of a `\sql` query what the
// sandbox allows, when the error is the sandbox refusing something.
func explainSandboxError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Permission Error"), strings.Contains(msg, "disabled through configuration"):
		return fmt.Errorf("\\sql reads only the session brand's tables (%s); files, URLs, extensions and other databases are out of its reach: %w",
			strings.Join(sandboxTables, ", "), err)
	case strings.Contains(msg, "configuration has been locked"):
		return fmt.Errorf("\\sql cannot change DuckDB's settings: %w", err)
	case strings.Contains(msg, "Catalog Error"), strings.Contains(msg, "does not exist"):
		return fmt.Errorf("%w\n(\\sql sees the session brand's %s)", err, strings.Join(sandboxTables, ", "))
	}
	return err
}

// query runs query in the sandbox, in a transaction that is rolled back,
// and fills res with its columns, its first keep rows and its row count.
func (s *sandbox) query(ctx context.Context, query string, keep int, res *Result) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only: rollback is the point
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	rows, err := stmt.QueryContext(ctx)
	if err != nil {
		return err
	}
	cols, kept, n, err := scanCount(rows, keep)
	if err != nil {
		return err
	}
	res.Columns, res.Rows, res.Count = cols, kept, n
	return nil
}
