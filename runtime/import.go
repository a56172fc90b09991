package runtime

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/duckdb/duckdb-go/v2"

	"nudge/runtime/internal/eventorder"
)

// ImportResult reports what one Import call loaded.
type ImportResult struct {
	Table string // members or events
	Files int
	Rows  int64 // data rows read from the files
	// Events: the seq range assigned, in ingest order (0, 0 when no rows).
	FirstSeq, LastSeq int64
	// Events: how many of them are of members not in members yet. They
	// wait for their member: a tick considers them once it arrives, if
	// that is within the lookback after the event (see admitArrivals).
	Waiting int64
	// Members: rows inserted and existing members updated.
	Inserted, Updated int64
	// Members: the members the call stored, each (brand, member_id) once:
	// fewer than Rows when the files give a member more than once (the
	// last row wins).
	Members int64
}

// importSpec describes a table Import can load.
type importSpec struct {
	required []string // columns every row must have
	extra    string   // JSON column that collects unknown columns
	key      []string // upsert key (nil for append)
	skip     []string // columns of the file that are ignored
}

var importSpecs = map[string]importSpec{
	"members": {required: []string{"member_id", "brand"}, extra: "attrs", key: []string{"brand", "member_id"}},
	"events":  {required: []string{"member_id", "brand", "type", "ts"}, extra: "props", skip: []string{"seq"}},
}

// Column is a column of a table: its name and DuckDB type.
type Column struct{ Name, Type string }

// stagedFile is one input file loaded into a temporary table, validated.
type stagedFile struct {
	path    string
	zone    string            // the database's time zone: timestamps are converted into it
	table   string            // temp table name
	rows    int64             // data rows
	kind    string            // csv, parquet, json, jsonl
	mapped  map[string]string // target column -> staged column
	extras  []string          // staged columns that go into the JSON column
	srcType map[string]string // staged column -> its type
	// renamed maps a staged column to the file's name for it, when they
	// differ: a file's column named rowid is staged under another name, so
	// that rowid is always the staged table's own row number (the data
	// row), from which seqs and error rows are computed.
	renamed map[string]string
}

// fileName returns the file's name of the staged column col.
func (s *stagedFile) fileName(col string) string {
	if n, ok := s.renamed[col]; ok {
		return n
	}
	return col
}

// ImportOptions are the options of ImportWith.
type ImportOptions struct {
	// TimeZone (`nudge import --tz`) is the database's time zone, an IANA
	// name such as Asia/Shanghai: recorded by the first import that gives
	// one, refused when it differs from the recorded one. "" keeps the
	// recorded zone (UTC when none).
	TimeZone string
}

// Import is ImportWith with no options.
func (db *DB) Import(ctx context.Context, table string, files []string) (ImportResult, error) {
	return db.ImportWith(ctx, table, files, ImportOptions{})
}

// ImportWith loads CSV, Parquet or JSON/JSONL files (chosen by extension; .gz and
// .zst compressed files too) into members or events, atomically: either every
// row of every file is loaded or, on the first bad row, nothing is, and the
// error names the file, the 1-based data row (and line, for CSV), the column
// and the value.
//
// Column names match the table's columns case-insensitively; absent optional
// columns are NULL; unknown columns are collected into props (events) or attrs
// (members) as a JSON object. For events, seq is assigned by nudge in ingest
// order (files in the order given, rows in file order), continuing from the
// highest seq ever assigned; a seq column in a file is ignored. For members,
// rows upsert by (brand, member_id) (SPEC §5, brand isolation: two brands
// may use the same member id and never share a row): a new member is
// inserted; an existing one has the columns present in the file overwritten
// and the others kept; when one call holds the same member of a brand
// several times the last row wins (ImportResult.Members counts it once).
//
// Timestamps are stored as naive local times in the database's time zone
// (see timezone.go), converted the same way whatever the format: a value
// with an offset, Z or a zone name (in text, or a Parquet TIMESTAMPTZ)
// becomes the local time in the zone, a naive one is kept.
func (db *DB) ImportWith(ctx context.Context, table string, files []string, opts ImportOptions) (ImportResult, error) {
	res := ImportResult{Table: table, Files: len(files)}
	spec, ok := importSpecs[table]
	if !ok {
		return res, fmt.Errorf("cannot import into %q: the table must be members or events", table)
	}
	if len(files) == 0 {
		return res, errors.New("import: no files given")
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	target, err := TableColumns(ctx, conn, table)
	if err != nil {
		return res, err
	}
	zone, recordTZ, err := importZone(ctx, conn, opts.TimeZone)
	if err != nil {
		return res, err
	}
	var staged []*stagedFile
	defer func() {
		for _, s := range staged {
			conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+s.table)
		}
	}()
	for i, f := range files {
		s := &stagedFile{path: f, zone: zone, table: fmt.Sprintf("_nudge_import_%d", i)}
		staged = append(staged, s)
		if err := stage(ctx, conn, s, spec, target); err != nil {
			return res, err
		}
		res.Rows += s.rows
	}

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer rollback(tx)
	if recordTZ {
		if err := recordZone(ctx, tx, zone); err != nil {
			return res, err
		}
	}
	switch table {
	case "events":
		var base, clustered int64
		if err := tx.QueryRowContext(ctx, `SELECT `+lastEventSeqSQL+`, `+clusteredSeqSQL).Scan(&base, &clustered); err != nil {
			return res, fmt.Errorf("import: reading the event counter: %w", err)
		}
		// Enough events onto clustered ones (or none) are written in the
		// clustered order, with seqs in ingest order as always: the first
		// tick then has nothing to cluster, and the rows are written once
		// instead of twice (cluster.go).
		sorted := clustered == base && res.Rows >= db.clusterMin
		next := base
		for _, s := range staged {
			if s.rows == 0 {
				continue
			}
			cols, exprs := insertExprs(s, spec, target)
			rows := fmt.Sprintf(`SELECT %d + rowid + 1 AS seq, %s FROM %s`, next, aliased(exprs, cols), s.table)
			if sorted {
				rows = eventorder.Sorted(rows)
			}
			q := fmt.Sprintf(`INSERT INTO events (seq, %s) %s`, strings.Join(cols, ", "), rows)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return res, insertError(ctx, conn, tx, s, spec, target, err)
			}
			next += s.rows
		}
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = $v::BIGINT WHERE name = 'event_seq'`, sql.Named("v", next)); err != nil {
			return res, err
		}
		if sorted && next > base {
			if _, err := tx.ExecContext(ctx, eventorder.MarkClusteredSQL, sql.Named("upto", next)); err != nil {
				return res, err
			}
		}
		if next > base {
			res.FirstSeq, res.LastSeq = base+1, next
			if res.Waiting, err = noteWaiting(ctx, tx, base, next); err != nil {
				return res, fmt.Errorf("import: noting the events of members not yet imported: %w", err)
			}
		}
	case "members":
		if _, err := tx.ExecContext(ctx, membersChangedSQL); err != nil {
			return res, err
		}
		for _, s := range staged {
			if s.rows == 0 {
				continue
			}
			var before, distinct int64
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM members`).Scan(&before); err != nil {
				return res, err
			}
			cols, exprs := insertExprs(s, spec, target)
			var set []string
			for _, c := range cols {
				if !slices.Contains(spec.key, c) {
					set = append(set, fmt.Sprintf("%s = excluded.%s", quoteIdent(c), quoteIdent(c)))
				}
			}
			conflict := "DO NOTHING"
			if len(set) > 0 {
				conflict = "DO UPDATE SET " + strings.Join(set, ", ")
			}
			var part []string
			for _, k := range spec.key {
				part = append(part, quoteIdent(s.mapped[k]))
			}
			q := fmt.Sprintf(`INSERT INTO members (%s)
				SELECT %s FROM %s
				QUALIFY row_number() OVER (PARTITION BY %s ORDER BY rowid DESC) = 1
				ON CONFLICT (%s) %s`,
				quoteIdents(cols), strings.Join(exprs, ", "), s.table, strings.Join(part, ", "), quoteIdents(spec.key), conflict)
			r, err := tx.ExecContext(ctx, q)
			if err != nil {
				return res, insertError(ctx, conn, tx, s, spec, target, err)
			}
			distinct, _ = r.RowsAffected()
			var after int64
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM members`).Scan(&after); err != nil {
				return res, err
			}
			res.Inserted += after - before
			res.Updated += distinct - (after - before)
		}
		if res.Members, err = distinctMembers(ctx, tx, staged, spec, target); err != nil {
			return res, fmt.Errorf("import: counting the members: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("import: commit: %w", err)
	}
	return res, nil
}

// distinctMembers counts the distinct keys (brand, member_id) of the
// staged members files, as the insert converts them: a member given in
// several rows or files is one.
func distinctMembers(ctx context.Context, tx *sql.Tx, staged []*stagedFile, spec importSpec, target []Column) (int64, error) {
	var parts []string
	for _, s := range staged {
		if s.rows == 0 {
			continue
		}
		cols, exprs := insertExprs(s, spec, target)
		var key []string
		for _, k := range spec.key {
			key = append(key, exprs[slices.Index(cols, k)])
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s", strings.Join(key, ", "), s.table))
	}
	if len(parts) == 0 {
		return 0, nil
	}
	var n int64
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT DISTINCT * FROM ("+strings.Join(parts, " UNION ALL ")+"))").Scan(&n)
	return n, err
}

// noteWaiting records in waiting_events the events with seqs in (from, to]
// whose member (brand and member_id) is not in members, and returns how
// many there are.
func noteWaiting(ctx context.Context, tx *sql.Tx, from, to int64) (int64, error) {
	r, err := tx.ExecContext(ctx, `INSERT INTO waiting_events
SELECT e.brand, e.member_id, e.seq, e.ts FROM events e
WHERE e.seq > $from::BIGINT AND e.seq <= $to::BIGINT
  AND NOT EXISTS (SELECT 1 FROM members m WHERE m.brand = e.brand AND m.member_id = e.member_id)
ORDER BY e.seq`, sql.Named("from", from), sql.Named("to", to))
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// insertError explains a failed insert of a staged file: it rolls the
// transaction back and names the first bad row, or wraps err when no row is
// at fault.
func insertError(ctx context.Context, conn *sql.Conn, tx *sql.Tx, s *stagedFile, spec importSpec, target []Column, err error) error {
	if rerr := rollback(tx); rerr != nil {
		return errors.Join(err, rerr)
	}
	if derr := diagnose(ctx, conn, s, spec, target); derr != nil {
		return derr
	}
	return fmt.Errorf("%s: %w", s.path, cleanDuckError(err))
}

// columnNames lists the names of cols.
func columnNames(cols []Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

// TableColumns returns the columns of a table of the database file in
// order (import's targets, the REPL's \sql sandbox).
func TableColumns(ctx context.Context, q queryer, table string) ([]Column, error) {
	return columnsIn(ctx, q, "current_database()", table)
}

// tablesColumns returns the columns of several tables of the database file
// in order, by table name.
func tablesColumns(ctx context.Context, q queryer, tables ...string) (map[string][]Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = 'main' AND list_contains($t::VARCHAR[], table_name)
		ORDER BY table_name, column_index`, sql.Named("t", tables))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]Column{}
	for rows.Next() {
		var table string
		var c Column
		if err := rows.Scan(&table, &c.Name, &c.Type); err != nil {
			return nil, err
		}
		out[table] = append(out[table], c)
	}
	return out, rows.Err()
}

// columnsIn returns the columns of table in catalog (a SQL expression).
func columnsIn(ctx context.Context, q queryer, catalog, table string) ([]Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_catalog = `+catalog+` AND table_schema = 'main' AND table_name = $t::VARCHAR
		ORDER BY ordinal_position`, sql.Named("t", table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// fileKind returns the reader for a path by its extension.
func fileKind(path string) (string, error) {
	base := strings.ToLower(filepath.Base(path))
	for _, z := range []string{".gz", ".zst"} {
		base = strings.TrimSuffix(base, z)
	}
	switch filepath.Ext(base) {
	case ".csv", ".tsv", ".txt":
		return "csv", nil
	case ".parquet", ".pq":
		return "parquet", nil
	case ".json":
		return "json", nil
	case ".jsonl", ".ndjson":
		return "jsonl", nil
	}
	return "", fileErrorf(path, "unknown file type %q: use .csv, .parquet, .json or .jsonl", filepath.Ext(base))
}

// patternError is the error of a file name with *, ? or [, which DuckDB
// would read as a pattern of names: a file of that name is to be renamed;
// otherwise the name is a pattern the shell did not expand (quoted, or
// matching no file), said as such.
func patternError(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s: a file name with *, ? or [ is read as a pattern of names: rename the file", path)
	}
	matches, err := filepath.Glob(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: no such file, and not a pattern of file names (%v)", path, err)
	case len(matches) == 0:
		return fmt.Errorf("%s: the pattern matches no file", path)
	}
	return fmt.Errorf("%s: nudge reads files by name, and this pattern matches %d file(s): give it unquoted so that the shell lists them", path, len(matches))
}

// importableFile checks, before DuckDB reads it, that path names one
// file, not empty (DuckDB reads a name as a glob pattern, and says "no files
// found that match the pattern" of a missing one), and that a .json file
// that opens a JSON array closes it (DuckDB imports the records of an
// array cut off after a comma, as a partial write or download leaves it).
func importableFile(path, kind string) error {
	if strings.ContainsAny(path, "*?[") {
		return patternError(path)
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file", path)
	case err != nil:
		return err
	case st.IsDir():
		return fmt.Errorf("%s: is a directory: give the files in it", path)
	case st.Size() == 0:
		return fileErrorf(path, "empty file")
	}
	ext := strings.ToLower(filepath.Ext(path))
	if (kind != "json" && kind != "jsonl") || ext == ".gz" || ext == ".zst" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// DuckDB's JSON reader refuses a byte order mark, naming the next
	// line.
	bom := make([]byte, 3)
	if n, _ := f.ReadAt(bom, 0); n == 3 && string(bom) == "\ufeff" {
		return fileErrorf(path, "the file starts with a byte order mark (BOM), which the JSON reader does not read: save it as UTF-8 without BOM")
	}
	if kind != "json" || ext != ".json" {
		return nil
	}
	const edge = 4096
	head := make([]byte, min(edge, st.Size()))
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tail := make([]byte, min(edge, st.Size()))
	if _, err := f.ReadAt(tail, st.Size()-int64(len(tail))); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	head, tail = bytes.TrimLeft(head, " \t\r\n\ufeff"), bytes.TrimRight(tail, " \t\r\n")
	if len(head) > 0 && head[0] == '[' && (len(tail) == 0 || tail[len(tail)-1] != ']') {
		return fileErrorf(path, "the JSON array is not closed: the file ends before its ] (cut off?)")
	}
	return nil
}

// stage loads one file into a temp table (in file order, so rowid is the
// 0-based data row) and maps its columns to the target table's. Rows are
// not checked here: the insert converts them, and only when it fails does
// diagnose look for the bad row, so a good file is converted once.
// noHive turns off DuckDB's reading of key=value directories in a file's
// path as columns (hive partitioning, which its readers guess from the
// path): a file under region=1/ gained a column region, which is not the
// file's, and the import failed with a Binder Error on it.
const noHive = "hive_partitioning = false"

func stage(ctx context.Context, conn *sql.Conn, s *stagedFile, spec importSpec, target []Column) error {
	kind, err := fileKind(s.path)
	if err != nil {
		return err
	}
	if err := importableFile(s.path, kind); err != nil {
		return err
	}
	lit := quoteString(s.path)
	var reader string
	switch kind {
	case "csv":
		// (skip = 0: the sniffer may not take a later line for the header and
		// drop the rows above it.)
		reader = fmt.Sprintf("read_csv(%s, all_varchar = true, header = true, auto_detect = true, skip = 0, %s)", lit, noHive)
	case "parquet":
		reader = fmt.Sprintf("read_parquet(%s, %s)", lit, noHive)
	case "json":
		reader = fmt.Sprintf("read_json_auto(%s, format = 'auto', %s, %s)", lit, jsonAsText, noHive)
	case "jsonl":
		reader = fmt.Sprintf("read_json_auto(%s, format = 'newline_delimited', %s, %s)", lit, jsonAsText, noHive)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s", s.table, reader)); err != nil {
		if kind == "csv" {
			if bad := csvTextError(s.path); bad != nil {
				return bad
			}
			if shape := csvShapeError(s.path); shape != nil {
				return shape
			}
		}
		return readerError(ctx, s.path, "", err)
	}
	cols, err := columnsIn(ctx, conn, "'temp'", s.table)
	if err != nil {
		return err
	}
	if cols, err = unshadowRowid(ctx, conn, s, cols); err != nil {
		return err
	}
	if kind == "csv" && len(cols) == 1 {
		// A row with another number of fields than the header within
		// DuckDB's sniffing sample makes it read the file as one column.
		if shape := csvShapeError(s.path); shape != nil {
			return shape
		}
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+s.table).Scan(&s.rows); err != nil {
		return err
	}
	if kind == "csv" {
		if err := checkCSV(ctx, conn, s, cols); err != nil {
			return err
		}
	} else if err := checkNames(ctx, conn, s, kind, cols); err != nil {
		return err
	}

	byName := map[string]Column{}
	for _, c := range target {
		byName[c.Name] = c
	}
	skip := map[string]bool{}
	for _, c := range spec.skip {
		skip[c] = true
	}
	s.mapped = map[string]string{}
	for _, c := range cols {
		key := strings.ToLower(strings.TrimSpace(s.fileName(c.Name)))
		if skip[key] {
			continue
		}
		if _, ok := byName[key]; ok {
			if prev, dup := s.mapped[key]; dup {
				return fileErrorf(s.path, "columns %q and %q both name column %s", prev, c.Name, key)
			}
			s.mapped[key] = c.Name
			continue
		}
		s.extras = append(s.extras, c.Name)
	}
	for _, r := range spec.required {
		if _, ok := s.mapped[r]; !ok {
			return fileErrorf(s.path, "missing required column %q", r)
		}
	}
	s.kind = kind
	s.srcType = map[string]string{}
	for _, c := range cols {
		s.srcType[c.Name] = c.Type
	}
	if kind != "csv" {
		return textColumns(ctx, conn, s, spec, target)
	}
	return nil
}

// textColumns turns the staged columns of a JSON or Parquet file that
// feed a column of another type than JSON, and that the reader typed as
// JSON (a JSON key whose values mix types: 5 in one record, "x" in
// another) or as a list, struct or map, into text, as a CSV file's are:
// a string as it is, any other value as its JSON text (as nudge serve
// stages a body's values). Cast as they were, a JSON string kept its
// quotes ("m2" became the member id "\"m2\"") and a list or struct took
// DuckDB's own notation ({'a': 1}). A member id, brand or event type that
// is not a string or a whole number (a list, an object, true, 1.5, a
// number too long to keep exactly) is a bad row: an id is text, and
// DuckDB reads a number with a fraction or over 64 bits as a double,
// which does not keep it as written.
func textColumns(ctx context.Context, conn *sql.Conn, s *stagedFile, spec importSpec, target []Column) error {
	for _, t := range target {
		src, ok := s.mapped[t.Name]
		if !ok || strings.EqualFold(t.Type, "JSON") {
			continue
		}
		typ := strings.ToUpper(s.srcType[src])
		q := quoteIdent(src)
		var text string
		switch {
		case typ == "JSON":
			text = fmt.Sprintf("json_extract_string(%s, '$')", q)
		case strings.HasPrefix(typ, "STRUCT") || strings.HasPrefix(typ, "MAP") || strings.HasSuffix(typ, "[]") || strings.HasSuffix(typ, "]"):
			text = fmt.Sprintf("CAST(to_json(%s) AS VARCHAR)", q)
		}
		if isKeyText(spec, t) {
			// The first value that is not a string or a whole number.
			var bad string
			switch {
			case typ == "JSON":
				bad = fmt.Sprintf("json_type(%s) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL')", q)
			case text != "", typ == "BOOLEAN", typ == "DOUBLE", typ == "FLOAT":
				bad = "true"
			}
			if bad != "" {
				var row sql.NullInt64
				var val sql.NullString
				shown := cmp.Or(text, fmt.Sprintf("CAST(%s AS VARCHAR)", q))
				err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT rowid, %s FROM %s WHERE %s IS NOT NULL AND %s ORDER BY rowid LIMIT 1", shown, s.table, q, bad)).Scan(&row, &val)
				switch {
				case errors.Is(err, sql.ErrNoRows):
				case err != nil:
					return fmt.Errorf("%s: validating: %w", s.path, err)
				default:
					return &RowError{Path: s.path, Row: row.Int64 + 1, Column: t.Name,
						Reason: fmt.Sprintf("the value %s is not text: %s is a string (or a whole number); write it as one, in quotes", val.String, t.Name)}
				}
			}
		}
		if text == "" {
			continue
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DATA TYPE VARCHAR USING %s", s.table, q, text)); err != nil {
			return fmt.Errorf("%s: staging column %q: %w", s.path, s.fileName(src), err)
		}
		s.srcType[src] = "VARCHAR"
	}
	return nil
}

// csvShapeError reads a CSV file with encoding/csv to explain why DuckDB
// could not: the first row whose number of fields differs from the
// header's, by row and line. The delimiter is the one of , ; tab | that
// splits the header line into the most fields; a .gz file is decompressed,
// a .zst one not judged. It returns nil when it finds nothing wrong (the
// caller then reports DuckDB's error).
//
// DuckDB's own message for a ragged row lists reader options a nudge user
// cannot set, and a ragged row within its sniffing sample makes it read the
// whole file as one column, which would be reported as missing columns.
func csvShapeError(path string) error {
	br, closeFn, ok := csvText(path) // (not .zst: DuckDB's message stands)
	if !ok {
		return nil
	}
	defer closeFn()
	head, err := br.ReadString('\n')
	if err != nil && head == "" {
		return nil
	}
	r := csv.NewReader(io.MultiReader(strings.NewReader(head), br))
	r.Comma = csvDelimiter(head)
	r.LazyQuotes = true // as lenient as DuckDB: only the field count is judged
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil
	}
	names := slices.Clone(header)
	for row := 1; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			// (Read returns the record with this error.)
			return fileErrorf(path, "row %d (line %d): %d fields, but the header has %d (%s)",
				row, pe.StartLine, len(rec), len(names), strings.Join(names, ", "))
		}
		if err != nil {
			return nil
		}
	}
}

// diagnose finds the first bad row of a staged file (lowest row number, then
// column order): a required value missing or a value that does not convert
// to its column's type. It returns nil when every row is fine.
func diagnose(ctx context.Context, conn *sql.Conn, s *stagedFile, spec importSpec, target []Column) error {
	if s.rows == 0 {
		return nil
	}
	srcType := s.srcType

	// One pass: for every check, the first failing row.
	type check struct {
		col, src, typ string
		required      bool
		keyText       bool // blank or NUL (isKeyText)
		object        bool // JSON but not an object (objectJSON)
	}
	var checks []check
	var aggs []string
	required := map[string]bool{}
	for _, r := range spec.required {
		required[r] = true
	}
	for _, t := range target {
		src, ok := s.mapped[t.Name]
		if !ok {
			continue
		}
		if required[t.Name] {
			checks = append(checks, check{col: t.Name, src: src, required: true})
			aggs = append(aggs, fmt.Sprintf("min(rowid) FILTER (WHERE %s IS NULL)", quoteIdent(src)))
		}
		if isKeyText(spec, t) {
			checks = append(checks, check{col: t.Name, src: src, keyText: true})
			aggs = append(aggs, fmt.Sprintf("min(rowid) FILTER (WHERE %s)", badKeyText(fmt.Sprintf("CAST(%s AS VARCHAR)", quoteIdent(src)))))
		}
		if t.Name == spec.extra {
			checks = append(checks, check{col: t.Name, src: src, object: true})
			aggs = append(aggs, fmt.Sprintf("min(rowid) FILTER (WHERE %s)", notObject(quoteIdent(src))))
		}
		if !sameType(srcType[src], t.Type) || isTimestamp(t.Type) {
			// (A timestamp is checked whatever its source's type: for its
			// range, timestampConversion.)
			checks = append(checks, check{col: t.Name, src: src, typ: t.Type})
			converted := fmt.Sprintf("TRY_CAST(%s AS %s)", quoteIdent(src), t.Type)
			if isTimestamp(t.Type) {
				converted = timestampConversion(quoteIdent(src), srcType[src], s.zone, true)
			}
			aggs = append(aggs, fmt.Sprintf("min(rowid) FILTER (WHERE %s IS NOT NULL AND %s IS NULL)", quoteIdent(src), converted))
		}
	}
	if len(checks) == 0 {
		return nil
	}
	first := make([]sql.NullInt64, len(checks))
	ptrs := make([]any, len(checks))
	for i := range first {
		ptrs[i] = &first[i]
	}
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(aggs, ", "), s.table)).Scan(ptrs...); err != nil {
		return fmt.Errorf("%s: validating: %w", s.path, err)
	}
	bad := -1
	for i, f := range first {
		if f.Valid && (bad < 0 || f.Int64 < first[bad].Int64) {
			bad = i
		}
	}
	if bad < 0 {
		return nil
	}
	c := checks[bad]
	row := first[bad].Int64
	re := &RowError{Path: s.path, Row: row + 1, Column: c.col}
	if s.kind == "csv" {
		re.Line = csvRowLine(s.path, row+1)
	}
	if c.required {
		re.Reason = "missing value (the column is required)"
		return re
	}
	var val sql.NullString
	shown := fmt.Sprintf("CAST(%s AS VARCHAR)", quoteIdent(c.src))
	if c.object {
		shown = fmt.Sprintf("CAST(CAST(%s AS JSON) AS VARCHAR)", quoteIdent(c.src))
	}
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE rowid = %d", shown, s.table, row)).Scan(&val); err != nil {
		re.Reason = "bad value"
		return re
	}
	if c.keyText {
		if re.Reason = KeyTextReason(val.String); re.Reason == "" {
			re.Reason = "bad value"
		}
		return re
	}
	if c.object {
		re.Reason = fmt.Sprintf("%s is not a JSON object: %s holds keys and their values ({\"key\": value}), or nothing", val.String, c.col)
		return re
	}
	re.Reason = fmt.Sprintf("cannot parse %q as %s", val.String, typeNoun(c.typ))
	if isTimestamp(c.typ) && farOffset.MatchString(val.String) {
		re.Reason = fmt.Sprintf("%q has an offset of 15 hours or more from UTC, which no time zone has (they span -12:00 to +14:00): check the offset", val.String)
		return re
	}
	var parses bool
	if isTimestamp(c.typ) && conn.QueryRowContext(ctx, `SELECT TRY_CAST($v::VARCHAR AS TIMESTAMPTZ) IS NOT NULL OR TRY_CAST($v::VARCHAR AS TIMESTAMP) IS NOT NULL`,
		sql.Named("v", val.String)).Scan(&parses) == nil && parses {
		re.Reason = fmt.Sprintf("%q is outside the years 0000 to 9999", val.String)
	}
	return re
}

// RowError is a bad row of an imported file: the 1-based data row (and,
// for CSV, the line), the table column and the reason. Callers that report
// rows another way than by file (the HTTP ingest of nudge serve) read the
// fields; Error gives the message nudge import prints.
type RowError struct {
	Path   string
	Row    int64 // 1-based data row
	Line   int64 // CSV: the file's line; 0 otherwise
	Column string
	Reason string
}

func (e *RowError) Error() string {
	where := fmt.Sprintf("row %d", e.Row)
	if e.Line > 0 {
		where = fmt.Sprintf("row %d (line %d)", e.Row, e.Line)
	}
	return fmt.Sprintf("%s: %s: column %s: %s", e.Path, where, e.Column, e.Reason)
}

// FileError is an imported file refused for its content as a whole, not
// for one row (a *RowError): its type, its columns, its text, a record
// its reader cannot read. Error gives the message nudge import prints
// ("PATH: reason"). A caller importing files of its own making (the
// member batches of nudge serve) tells its input's fault, a *FileError or
// a *RowError, from any other error, which is the database's (or the
// context's) and not the input's.
type FileError struct {
	Path string
	Err  error // the reason
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// fileErrorf is a *FileError of path with a formatted reason.
func fileErrorf(path, format string, args ...any) error {
	return &FileError{Path: path, Err: fmt.Errorf(format, args...)}
}

// readerError is the error of a DuckDB statement reading the file path
// (what says what it did, e.g. "reading the keys: ", or ""): a *FileError
// when DuckDB refused the file's content (its errors of input, conversion
// and binding, as its readers give for a record they cannot read), else,
// when the statement failed for the database or the context (out of
// memory, disk, cancelled), an error that is not one.
func readerError(ctx context.Context, path, what string, err error) error {
	var de *duckdb.Error
	if ctx.Err() == nil && errors.As(err, &de) {
		switch de.Type {
		case duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeConversion, duckdb.ErrorTypeBinder,
			duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeMismatchType, duckdb.ErrorTypeInvalidType,
			duckdb.ErrorTypeObjectSize, duckdb.ErrorTypeParser:
			return &FileError{Path: path, Err: fmt.Errorf("%s%w", what, cleanDuckError(err))}
		}
	}
	return fmt.Errorf("%s: %s%w", path, what, cleanDuckError(err))
}

// aliased lists each expression of exprs named as its column of cols.
func aliased(exprs, cols []string) string {
	named := make([]string, len(exprs))
	for i, e := range exprs {
		named[i] = e + " AS " + quoteIdent(cols[i])
	}
	return strings.Join(named, ", ")
}

// insertExprs returns the target columns and the SELECT expressions that
// convert a staged file's columns to them.
func insertExprs(s *stagedFile, spec importSpec, target []Column) (cols, exprs []string) {
	for _, t := range target {
		src, ok := s.mapped[t.Name]
		if t.Name == spec.extra && len(s.extras) > 0 {
			var kv []string
			for _, e := range s.extras {
				kv = append(kv, quoteString(s.fileName(e)), quoteIdent(e))
			}
			// A merge patch drops null members: empty cells add no key.
			base := "'{}'"
			if ok {
				base = fmt.Sprintf("coalesce(%s, '{}')", objectJSON(quoteIdent(src)))
			}
			obj := fmt.Sprintf("nullif(json_merge_patch(%s, json_object(%s)), '{}')", base, strings.Join(kv, ", "))
			cols = append(cols, t.Name)
			exprs = append(exprs, obj)
			continue
		}
		if !ok {
			continue
		}
		cols = append(cols, t.Name)
		if t.Name == spec.extra {
			exprs = append(exprs, objectJSON(quoteIdent(src)))
			continue
		}
		if isTimestamp(t.Type) {
			exprs = append(exprs, timestampConversion(quoteIdent(src), s.srcType[src], s.zone, false))
			continue
		}
		cast := fmt.Sprintf("CAST(%s AS %s)", quoteIdent(src), t.Type)
		if isKeyText(spec, t) {
			// (The insert fails on such a value; diagnose names its row.)
			cast = fmt.Sprintf("CASE WHEN %s THEN error('nudge: a blank, NUL or space-padded key value') ELSE %s END", badKeyText(cast), cast)
		}
		exprs = append(exprs, cast)
	}
	return cols, exprs
}

// objectJSON is the SQL expression converting v, the value of a file's
// attrs or props column, to JSON, failing on a value that is JSON but not
// an object (diagnose names its row): the column holds a member's or an
// event's keys, and an array or a number there was stored as it was, its
// keys lost to every rule, or silently replaced by the file's other
// columns' keys (a merge patch onto an array replaces it).
// A JSON null is no value (SQL NULL), as an empty cell is.
func objectJSON(v string) string {
	return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL ELSE CASE json_type(CAST(%[1]s AS JSON)) WHEN 'OBJECT' THEN CAST(%[1]s AS JSON) WHEN 'NULL' THEN NULL ELSE error('nudge: not a JSON object') END END", v)
}

// notObject is the SQL condition that v (a staged column) is JSON but
// not an object, which objectJSON refuses.
func notObject(v string) string {
	return fmt.Sprintf("json_type(TRY_CAST(%s AS JSON)) NOT IN ('OBJECT', 'NULL')", v)
}

// isKeyText reports whether a target column is one of the text columns a
// row must have (member_id, brand; an event's type): such a value that is
// blank, holds a NUL byte or has white space at its start or end is a bad
// row, as a missing one is, in every format (a blank member id is no
// member; ids are compared exactly, so "m1, acme" in a CSV file would
// store the brand " acme", another brand than acme, and the service would
// store its JSON bodies' " m1" as another member than m1; a CSV file's
// NUL is refused in any column, checkCSV).
func isKeyText(spec importSpec, t Column) bool {
	return slices.Contains(spec.required, t.Name) && strings.EqualFold(t.Type, "VARCHAR")
}

// badKeyText is the SQL condition that the text v (an expression of type
// VARCHAR) is empty, starts or ends with white space (Unicode spaces
// included; a blank value does both) or holds a NUL byte: the values
// KeyTextReason refuses.
func badKeyText(v string) string {
	// (\s, \v, U+0085 and the Unicode spaces: Go's unicode.IsSpace.)
	const space = `[\s\x{0B}\x{85}\p{Z}]`
	return fmt.Sprintf(`(%[1]s = '' OR regexp_matches(%[1]s, '^%[2]s|%[2]s$') OR contains(%[1]s, chr(0)))`, v, space)
}

// KeyTextReason is the reason a member id, brand or event type v is a bad
// row ("" when it is fine): blank, with a NUL byte, or with white space at
// its start or end. It is the one check of these values: import (and
// badKeyText, its SQL form), IngestEvents and the rows of nudge serve's
// request bodies give its reasons.
func KeyTextReason(v string) string {
	switch {
	case strings.ContainsRune(v, 0):
		return fmt.Sprintf("the value %q holds a NUL byte (\\x00); remove it", v)
	case strings.TrimFunc(v, unicode.IsSpace) == "":
		return fmt.Sprintf("the value %q is blank (the column is required)", v)
	case strings.TrimFunc(v, unicode.IsSpace) != v:
		return fmt.Sprintf("the value %q has white space at its start or end; ids are compared exactly (%q is not %q): remove the spaces", v, v, strings.TrimFunc(v, unicode.IsSpace))
	}
	return ""
}

// isTimestamp reports whether a target column's type is TIMESTAMP.
func isTimestamp(typ string) bool { return strings.EqualFold(typ, "TIMESTAMP") }

// jsonAsText are the JSON reader's options that keep timestamps and dates
// as text (a format no value has): its detection would turn
// 2024-11-11T10:00:00+08:00 into 02:00, a UTC time indistinguishable from
// a naive one, where CSV and Parquet text go through timestampConversion.
const jsonAsText = "timestampformat = 'nudge: no timestamp format', dateformat = 'nudge: no date format'"

// unshadowRowid renames a staged column named rowid (any case), which would
// hide DuckDB's rowid (the data row, from which seqs and error rows are
// computed) behind the file's values, to a name the file does not use; s
// remembers the file's name. It returns the staged columns.
func unshadowRowid(ctx context.Context, conn *sql.Conn, s *stagedFile, cols []Column) ([]Column, error) {
	taken := map[string]bool{}
	for _, c := range cols {
		taken[strings.ToLower(c.Name)] = true
	}
	for i, c := range cols {
		if !strings.EqualFold(c.Name, "rowid") {
			continue
		}
		name := "_nudge_file_rowid"
		for taken[strings.ToLower(name)] {
			name = "_" + name
		}
		taken[name] = true
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", s.table, quoteIdent(c.Name), quoteIdent(name))); err != nil {
			return nil, fmt.Errorf("%s: staging column %q: %w", s.path, c.Name, err)
		}
		if s.renamed == nil {
			s.renamed = map[string]string{}
		}
		s.renamed[name] = c.Name
		cols[i].Name = name
	}
	return cols, nil
}

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

func sameType(a, b string) bool { return strings.EqualFold(a, b) }

// typeNoun names a DuckDB type for an error message.
func typeNoun(typ string) string {
	t := strings.ToUpper(typ)
	switch {
	case t == "TIMESTAMP":
		return "a timestamp"
	case t == "DATE":
		return "a date"
	case t == "BOOLEAN":
		return "a boolean (true or false)"
	case strings.HasPrefix(t, "DECIMAL"), t == "DOUBLE", t == "FLOAT":
		return "a number"
	case t == "BIGINT", t == "INTEGER":
		return "an integer"
	case t == "JSON":
		return "JSON"
	}
	return strings.ToLower(typ)
}

// cleanDuckError strips DuckDB's error class prefix noise for messages that
// are shown to users next to a file name.
func cleanDuckError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "\nLINE "); i >= 0 {
		// The statement nudge ran, which the user did not write.
		msg = strings.TrimSpace(msg[:i])
		err = errors.New(msg)
	}
	if i := strings.Index(msg, "\nTry increasing 'sample_size'"); i >= 0 {
		// The JSON reader's options, which nudge sets, not its user.
		msg = strings.TrimSpace(msg[:i])
		err = errors.New(msg)
	}
	for _, p := range []string{"Invalid Input Error: ", "IO Error: ", "Binder Error: ", "Conversion Error: "} {
		if i := strings.Index(msg, p); i >= 0 {
			return errors.New(msg[i+len(p):])
		}
	}
	return err
}

// MemberAttrs returns the stored attrs of the given members (brand,
// member_id), decoded (numbers as json.Number); a member without attrs or
// not stored is absent. The service's member batches read them to store
// attrs as a partial update.
func (db *DB) MemberAttrs(ctx context.Context, members [][2]string) (map[[2]string]map[string]any, error) {
	out := map[[2]string]map[string]any{}
	if len(members) == 0 {
		return out, nil
	}
	keys := make([]map[string]string, len(members))
	for i, m := range members {
		keys[i] = map[string]string{"brand": m[0], "member_id": m[1]}
	}
	arg, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT m.brand, m.member_id, CAST(m.attrs AS VARCHAR) FROM members m
JOIN (SELECT unnest(from_json($keys::JSON, '[{"brand":"VARCHAR","member_id":"VARCHAR"}]'), recursive := true)) k
  ON k.brand = m.brand AND k.member_id = m.member_id
WHERE m.attrs IS NOT NULL`, sql.Named("keys", string(arg)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var brand, id, text string
		if err := rows.Scan(&brand, &id, &text); err != nil {
			return nil, err
		}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return nil, fmt.Errorf("member %s of %s: attrs %q: %w", id, brand, text, err)
		}
		out[[2]string{brand, id}] = obj
	}
	return out, rows.Err()
}
