package runtime

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// IngestResult reports what one IngestEvents call did.
type IngestResult struct {
	Rows   int64 // rows in the batch
	Stored int64 // rows stored (Rows less the duplicates)
	// FirstSeq, LastSeq: the seq range assigned to the stored rows, in
	// batch order (0, 0 when none).
	FirstSeq, LastSeq int64
	// Duplicates are the rows not stored because their event_id (of the
	// same brand) was stored before or appears earlier in the batch.
	Duplicates []Duplicate
	// Waiting counts stored events of members not in members yet (see
	// ImportResult.Waiting).
	Waiting int64
	// Timings: how long each step took, in order (the service logs them).
	Timings []StepTiming
}

// Duplicate is a row of a batch whose event id was already stored.
type Duplicate struct {
	Row     int64  // 1-based row of the batch
	EventID string // the row's event_id
}

// IngestEvents stores a batch of events given as rows (key -> value, as
// decoded from JSON with numbers as json.Number), with Import's column
// matching, conversions and row errors (all or nothing) and one addition:
// a row may carry an event_id, the sender's id of the event. An event
// whose (brand, event_id) is in event_ids, or that repeats an earlier row
// of the batch, is not stored and is reported in Duplicates; the others
// are stored with their ids in one transaction, so a batch sent again
// after a lost answer is stored once. source names the batch in errors
// ("request body"); a row error is a *RowError whose Row is the batch's
// row.
//
// A key names a column as a file's header does (case-insensitively,
// spaces around it ignored); seq is ignored, and keys that name no column
// are merged into the row's props. Values reach DuckDB as text through an
// Appender and the insert converts them, as it converts a CSV file's text:
// strings as they are, numbers as written, objects and arrays as JSON.
//
// The duplicate check reads event_ids before the transaction: callers
// serialise their writers (nudge serve has one ingest at a time); were two
// batches of the same id committed at once, event_ids' key would fail the
// second.
func (db *DB) IngestEvents(ctx context.Context, rows []map[string]any, source string) (IngestResult, error) {
	clock := stepClock{at: time.Now()}
	res, err := db.ingestEvents(ctx, rows, source, &clock)
	res.Timings = clock.steps
	return res, err
}

func (db *DB) ingestEvents(ctx context.Context, rows []map[string]any, source string, clock *stepClock) (IngestResult, error) {
	res := IngestResult{Rows: int64(len(rows))}
	if len(rows) == 0 {
		return res, nil
	}
	cols, err := db.ingestColumns(ctx)
	if err != nil {
		return res, err
	}
	batch, err := stageRows(rows, cols, source)
	if err != nil {
		return res, err
	}
	clock.step("prepare")
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()

	// The rows to store: those without an id, and the first of each id not
	// stored before. Of the batch's ids, those the filter of stored ids
	// may hold are looked up as a constant list, which DuckDB joins in one
	// scan of event_ids.
	first := map[[2]string]bool{}
	var ids [][2]string
	repeated := map[int]bool{}
	for i, r := range batch {
		if !r.hasID {
			continue
		}
		k := [2]string{r.brand, r.id}
		if first[k] {
			repeated[i] = true
			continue
		}
		first[k] = true
		ids = append(ids, k)
	}
	known := map[[2]string]bool{}
	if len(ids) > 0 {
		db.eventIDs.load(ctx, conn) // (when it fails, every id is looked up)
	}
	if maybe := db.eventIDs.maybe(ids); len(maybe) > 0 {
		ks, err := existing(ctx, conn, "event_ids", "event_id", maybe)
		if err != nil {
			return res, fmt.Errorf("%s: checking event ids: %w", source, cleanDuckError(err))
		}
		for _, k := range ks {
			known[k] = true
		}
	}
	stored := batch[:0:0]
	for i, r := range batch {
		if repeated[i] || (r.hasID && known[[2]string{r.brand, r.id}]) {
			res.Duplicates = append(res.Duplicates, Duplicate{Row: r.row, EventID: r.id})
			continue
		}
		stored = append(stored, r)
	}
	clock.step("event ids")
	n := int64(len(stored))
	if n == 0 {
		return res, nil
	}

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer rollback(tx)
	base, err := appendBatch(ctx, conn, tx, cols, stored, source, clock)
	if err != nil {
		return res, err
	}
	clock.step("insert")
	if len(ids) > 0 {
		if err := appendEventIDs(ctx, conn, base, stored); err != nil {
			return res, fmt.Errorf("%s: recording event ids: %w", source, cleanDuckError(err))
		}
		clock.step("record ids")
	}
	next := base + n
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = $v::BIGINT WHERE name = 'event_seq'`, sql.Named("v", next)); err != nil {
		return res, err
	}
	clock.step("counter")
	if res.Waiting, err = noteWaitingByKey(ctx, tx, &db.members, base, next, batchMembers(stored)); err != nil {
		return res, fmt.Errorf("ingest: noting the events of members not yet imported: %w", err)
	}
	clock.step("waiting")
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("ingest: commit: %w", err)
	}
	clock.step("commit")
	db.eventIDs.add(ids)
	res.Stored, res.FirstSeq, res.LastSeq = n, base+1, next
	return res, nil
}

// CheckEvents returns the error IngestEvents would give rows for a value
// it cannot store (naming the row and column), storing nothing: the rows
// are appended in a transaction that is rolled back. nudge serve checks a
// batch's events so before it upserts the batch's members, so that a batch
// refused for a bad event stores none of its members either.
func (db *DB) CheckEvents(ctx context.Context, rows []map[string]any, source string) error {
	if len(rows) == 0 {
		return nil
	}
	cols, err := db.ingestColumns(ctx)
	if err != nil {
		return err
	}
	batch, err := stageRows(rows, cols, source)
	if err != nil {
		return err
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rollback(tx)
	_, err = appendBatch(ctx, conn, tx, cols, batch, source, &stepClock{})
	return err
}

// appendBatch appends rows to events in tx (on conn) with seqs after the
// event counter, which it returns (base). A row DuckDB cannot convert is
// found and named (diagnoseRows), after tx is rolled back.
func appendBatch(ctx context.Context, conn *sql.Conn, tx *sql.Tx, cols []Column, rows []stagedRow, source string, clock *stepClock) (base int64, err error) {
	var zone sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT `+lastEventSeqSQL+`, (SELECT value FROM settings WHERE name = $n::VARCHAR)`,
		sql.Named("n", timeZoneSetting)).Scan(&base, &zone); err != nil {
		return 0, fmt.Errorf("ingest: reading the event counter: %w", err)
	}
	if !zone.Valid || zone.String == "" {
		zone.String = DefaultTimeZone
	}
	clock.step("begin")
	if err := appendEvents(ctx, conn, cols, zone.String, base, rows); err != nil {
		if rerr := rollback(tx); rerr != nil {
			return 0, errors.Join(err, rerr)
		}
		return 0, diagnoseRows(ctx, conn, cols, zone.String, rows, source, err)
	}
	return base, nil
}

// stepClock times the steps of a call, in order.
type stepClock struct {
	at    time.Time
	steps []StepTiming
}

// step records the time since the previous step as the step name.
func (c *stepClock) step(name string) {
	now := time.Now()
	c.steps = append(c.steps, StepTiming{Step: name, Took: now.Sub(c.at)})
	c.at = now
}

// ingestColumns returns the events table's columns but seq (read once: the
// table changes only by migrations, when the database is opened).
func (db *DB) ingestColumns(ctx context.Context) ([]Column, error) {
	if cols := db.eventColumns.Load(); cols != nil {
		return *cols, nil
	}
	all, err := TableColumns(ctx, db.sql, "events")
	if err != nil {
		return nil, err
	}
	var cols []Column
	for _, c := range all {
		if c.Name != "seq" {
			cols = append(cols, c)
		}
	}
	db.eventColumns.Store(&cols)
	return cols, nil
}

// extrasColumn is the staged column holding a row's keys that name no
// column, as a JSON object (merged into props).
const extrasColumn = "_nudge_extras"

// stagedRow is a row of an ingested batch as the Appender takes it: its
// values as text (nil for none), one per column of ingestColumns and then
// the extras.
type stagedRow struct {
	row           int64 // 1-based row of the batch
	brand, member string
	id            string
	hasID         bool
	vals          []any
}

// stageRows turns a batch's rows into staged rows: keys matched to
// columns, values as text, the row's other keys as one JSON object. A
// row without a required value, with two keys naming one column or with
// an event_id that is not text, or a member id, brand or type that is
// blank or holds a NUL byte (as Import refuses them), is a *RowError.
func stageRows(rows []map[string]any, cols []Column, source string) ([]stagedRow, error) {
	index := make(map[string]int, len(cols))
	for i, c := range cols {
		index[c.Name] = i
	}
	required := importSpecs["events"].required
	out := make([]stagedRow, len(rows))
	for r, m := range rows {
		sr := stagedRow{row: int64(r + 1), vals: make([]any, len(cols)+1)}
		var extras map[string]any
		named := map[string]string{} // column -> the key naming it
		for k, v := range m {
			col := strings.ToLower(strings.TrimSpace(k))
			i, isCol := index[col]
			if col == "seq" || (!isCol && col != "event_id") {
				if col != "seq" {
					if extras == nil {
						extras = map[string]any{}
					}
					extras[k] = v
				}
				continue
			}
			if prev, dup := named[col]; dup {
				a, b := min(prev, k), max(prev, k)
				return nil, &RowError{Path: source, Row: sr.row, Column: col, Reason: fmt.Sprintf("fields %q and %q both name it", a, b)}
			}
			named[col] = k
			if col == "event_id" {
				switch id := v.(type) {
				case nil:
				case string:
					sr.id, sr.hasID = id, true
				case json.Number:
					sr.id, sr.hasID = id.String(), true
				default:
					return nil, &RowError{Path: source, Row: sr.row, Column: col, Reason: "must be a string or a number"}
				}
				continue
			}
			t, err := stagedText(v)
			if err != nil {
				return nil, &RowError{Path: source, Row: sr.row, Column: col, Reason: err.Error()}
			}
			sr.vals[i] = t
		}
		for _, c := range required {
			v := sr.vals[index[c]]
			if v == nil {
				return nil, &RowError{Path: source, Row: sr.row, Column: c, Reason: "missing value (the column is required)"}
			}
			if why := KeyTextReason(v.(string)); why != "" && isKeyText(importSpecs["events"], cols[index[c]]) {
				return nil, &RowError{Path: source, Row: sr.row, Column: c, Reason: why}
			}
		}
		sr.brand, sr.member = sr.vals[index["brand"]].(string), sr.vals[index["member_id"]].(string)
		if len(extras) > 0 {
			t, err := jsonText(extras)
			if err != nil {
				return nil, &RowError{Path: source, Row: sr.row, Column: "props", Reason: err.Error()}
			}
			sr.vals[len(cols)] = t
		}
		out[r] = sr
	}
	return out, nil
}

// stagedText is a JSON value as the text the insert converts (nil for
// null): a string as it is, a number as written, true or false, an object
// or array as JSON.
func stagedText(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return jsonText(v)
}

// jsonText is v as JSON text (HTML characters as they are).
func jsonText(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// batchMembers returns the distinct (brand, member_id) pairs of rows.
func batchMembers(rows []stagedRow) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, r := range rows {
		k := [2]string{r.brand, r.member}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// ingestInsert is the statement that stores the staged rows (the
// Appender's rows, named _nudge_batch, with their seq first), converting
// each column's text to the column's type in zone.
func ingestInsert(cols []Column, zone string) string {
	names := make([]string, len(cols))
	exprs := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.Name)
		src := quoteIdent(c.Name)
		switch {
		case isTimestamp(c.Type):
			exprs[i] = timestampConversion(src, "VARCHAR", zone, false)
		case c.Name == importSpecs["events"].extra:
			x := quoteIdent(extrasColumn)
			exprs[i] = fmt.Sprintf("CASE WHEN %[2]s IS NULL THEN %[3]s ELSE nullif(json_merge_patch(coalesce(%[3]s, '{}'), CAST(%[2]s AS JSON)), '{}') END", src, x, objectJSON(src))
		default:
			exprs[i] = fmt.Sprintf("CAST(%s AS %s)", src, c.Type)
		}
	}
	return fmt.Sprintf("INSERT INTO events (seq, %s) SELECT seq, %s FROM _nudge_batch", strings.Join(names, ", "), strings.Join(exprs, ", "))
}

// appendEvents stores rows as events with seqs from base + 1, in order,
// through a query Appender (in the connection's transaction).
func appendEvents(ctx context.Context, conn *sql.Conn, cols []Column, zone string, base int64, rows []stagedRow) error {
	names := []string{"seq"}
	for _, c := range cols {
		names = append(names, c.Name)
	}
	names = append(names, extrasColumn)
	bigint, err := duckdb.NewTypeInfo(duckdb.TYPE_BIGINT)
	if err != nil {
		return err
	}
	varchar, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return err
	}
	types := []duckdb.TypeInfo{bigint}
	for range len(cols) + 1 {
		types = append(types, varchar)
	}
	return conn.Raw(func(dc any) error {
		a, err := duckdb.NewQueryAppender(dc.(driver.Conn), ingestInsert(cols, zone), "_nudge_batch", types, names)
		if err != nil {
			return err
		}
		args := make([]driver.Value, len(names))
		for i, r := range rows {
			args[0] = base + int64(i) + 1
			for j, v := range r.vals {
				args[j+1] = v
			}
			if err := a.AppendRow(args...); err != nil {
				a.Close()
				return err
			}
		}
		return a.CloseWithCancel(ctx)
	})
}

// appendEventIDs records the ids of rows (stored with seqs from base + 1)
// in event_ids through an Appender.
func appendEventIDs(ctx context.Context, conn *sql.Conn, base int64, rows []stagedRow) error {
	return conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "event_ids")
		if err != nil {
			return err
		}
		for i, r := range rows {
			if !r.hasID {
				continue
			}
			if err := a.AppendRow(r.brand, r.id, base+int64(i)+1); err != nil {
				a.Close()
				return err
			}
		}
		return a.CloseWithCancel(ctx)
	})
}

// diagnoseRows explains a failed insert of staged rows: it stages them in
// a temporary table and names the first bad row (its batch row), as Import
// names a file's, or wraps err when no row is at fault.
func diagnoseRows(ctx context.Context, conn *sql.Conn, cols []Column, zone string, rows []stagedRow, source string, err error) error {
	fail := fmt.Errorf("%s: %w", source, cleanDuckError(err))
	const table = "_nudge_ingest"
	defs := make([]string, len(cols))
	s := &stagedFile{path: source, zone: zone, table: table, rows: int64(len(rows)), kind: "jsonl",
		mapped: map[string]string{}, srcType: map[string]string{}}
	for i, c := range cols {
		defs[i] = quoteIdent(c.Name) + " VARCHAR"
		s.mapped[c.Name], s.srcType[c.Name] = c.Name, "VARCHAR"
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s (%s)", table, strings.Join(defs, ", "))); err != nil {
		return fail
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table)
	if aerr := conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", table)
		if err != nil {
			return err
		}
		args := make([]driver.Value, len(cols))
		for _, r := range rows {
			for j := range cols {
				args[j] = r.vals[j]
			}
			if err := a.AppendRow(args...); err != nil {
				a.Close()
				return err
			}
		}
		return a.Close()
	}); aerr != nil {
		return fail
	}
	target := append([]Column{{Name: "seq", Type: "BIGINT"}}, cols...)
	derr := diagnose(ctx, conn, s, importSpecs["events"], target)
	var re *RowError
	if errors.As(derr, &re) && re.Row >= 1 && int(re.Row) <= len(rows) {
		re.Row = rows[re.Row-1].row
		return re
	}
	if derr != nil {
		return derr
	}
	return fail
}

// pairs reads a query of two VARCHAR columns (with its args).
func pairs(ctx context.Context, q queryer, query string, args ...any) ([][2]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// existing returns which (brand, key) pairs table holds. DuckDB answers
// a lookup of its (brand, col) primary key by scanning the table (an index
// serves single-column keys only), so each brand's keys are looked up in
// one statement, one scan joined with the keys, however many they are.
func existing(ctx context.Context, q queryer, table, col string, keys [][2]string) ([][2]string, error) {
	byBrand := map[string][]string{}
	var brands []string
	for _, k := range keys {
		if _, ok := byBrand[k[0]]; !ok {
			brands = append(brands, k[0])
		}
		byBrand[k[0]] = append(byBrand[k[0]], k[1])
	}
	var out [][2]string
	for _, b := range brands {
		rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT brand, %[1]s FROM %[2]s WHERE brand = $brand::VARCHAR AND %[1]s IN (SELECT unnest(%[3]s))`,
			quoteIdent(col), quoteIdent(table), jsonStrings("keys")), sql.Named("brand", b), jsonArg("keys", byBrand[b]))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p [2]string
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// noteWaitingByKey is noteWaiting for a small range of seqs whose
// members ms are known: those that members does not know are looked up by
// key rather than by joining the members table, which reads every member.
func noteWaitingByKey(ctx context.Context, tx *sql.Tx, members *knownMembers, from, to int64, ms [][2]string) (int64, error) {
	if err := members.load(ctx, tx, ms); err != nil {
		return 0, err
	}
	ms = members.filter(ms)
	if len(ms) == 0 {
		return 0, nil
	}
	known, err := existing(ctx, tx, "members", "member_id", ms)
	if err != nil {
		return 0, err
	}
	members.add(known)
	if len(known) == len(ms) {
		return 0, nil
	}
	have := map[[2]string]bool{}
	for _, k := range known {
		have[k] = true
	}
	// (The keys go as a JSON parameter, not as SQL literals: a member id
	// is data, and may hold what no literal can, such as a NUL.)
	type key struct {
		Brand  string `json:"b"`
		Member string `json:"m"`
	}
	var missing []key
	for _, m := range ms {
		if !have[m] {
			missing = append(missing, key{m[0], m[1]})
		}
	}
	r, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO waiting_events
SELECT e.brand, e.member_id, e.seq, e.ts FROM events e
WHERE e.seq > %d AND e.seq <= %d
  AND (e.brand, e.member_id) IN (SELECT b, m FROM (SELECT unnest(from_json($missing::VARCHAR, '[{"b":"VARCHAR","m":"VARCHAR"}]'), recursive := true)))
ORDER BY e.seq`, from, to), jsonArg("missing", missing))
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
