package runtime

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Checks of CSV files (and, checkNames, of JSON and Parquet files' column
// names) that DuckDB's reader lets through or explains in
// terms of its own options. DuckDB's sniffer reads a file with one
// unterminated quote as a file without quoting (every quote, even of
// well-quoted fields, is then kept in the values), renames a column whose
// name repeats another's ignoring case (ts,TS becomes ts and TS_1, which
// lands in props), keeps a NUL byte inside a value, and reports invalid
// UTF-8 with a list of reader options. Each is an error naming the file,
// the row and the column; the import then loads nothing.

// csvText opens the CSV text of path: decompressed when it is .gz. ok is
// false when Go cannot read it (.zst: no reader in the standard library).
func csvText(path string) (r *bufio.Reader, closeFn func(), ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, false
	}
	var in io.Reader = f
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gz": // (fileKind's compressions, which DuckDB reads by extension)
		z, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, nil, false
		}
		in = z
	case ".zst":
		f.Close()
		return nil, nil, false
	}
	return bufio.NewReader(in), func() { f.Close() }, true
}

// csvDelimiter returns the one of , ; tab | that splits the header line
// into the most fields (',' when none does).
func csvDelimiter(head string) rune {
	delim, most := ',', 1
	for _, d := range []rune{',', ';', '\t', '|'} {
		if n := strings.Count(head, string(d)) + 1; n > most {
			delim, most = d, n
		}
	}
	return delim
}

// csvHeader reads the header line of a CSV file: its column names and the
// delimiter. ok is false when the file cannot be read in Go.
func csvHeader(path string) (names []string, delim rune, ok bool) {
	br, closeFn, ok := csvText(path)
	if !ok {
		return nil, 0, false
	}
	defer closeFn()
	head, err := br.ReadString('\n')
	if err != nil && head == "" {
		return nil, 0, false
	}
	delim = csvDelimiter(head)
	r := csv.NewReader(strings.NewReader(head))
	r.Comma = delim
	r.LazyQuotes = true
	names, err = r.Read()
	if err != nil {
		return nil, 0, false
	}
	return names, delim, true
}

// checkCSV checks a CSV file DuckDB staged as s: the header names no column
// twice, no value holds a NUL byte, and a value starting with a quote is
// not an unterminated quoted field read literally.
func checkCSV(ctx context.Context, conn *sql.Conn, s *stagedFile, cols []Column) error {
	header, _, haveHeader := csvHeader(s.path)
	if haveHeader {
		if err := sameNames(s.path, "header (line 1): ", header, true); err != nil {
			return err
		}
	}
	if s.rows == 0 || len(cols) == 0 {
		return nil
	}
	// Per column, the first row with a NUL byte and the first starting
	// with a quote: one pass per checkColumns columns (DuckDB's time for
	// one statement grows with the square of its filtered aggregates: a
	// file of 1,000 columns took minutes and gigabytes in one).
	first := make([]sql.NullInt64, 2*len(cols))
	for lo := 0; lo < len(cols); lo += checkColumns {
		hi := min(lo+checkColumns, len(cols))
		var aggs []string
		ptrs := make([]any, 0, 2*(hi-lo))
		for i := lo; i < hi; i++ {
			q := quoteIdent(cols[i].Name)
			aggs = append(aggs,
				fmt.Sprintf("min(rowid) FILTER (WHERE contains(%s, chr(0)))", q),
				fmt.Sprintf("min(rowid) FILTER (WHERE starts_with(%s, '\"'))", q))
			ptrs = append(ptrs, &first[2*i], &first[2*i+1])
		}
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(aggs, ", "), s.table)).Scan(ptrs...); err != nil {
			return fmt.Errorf("%s: validating: %w", s.path, err)
		}
	}
	nul, quoted := -1, false
	for i := range cols {
		if f := first[2*i]; f.Valid && (nul < 0 || f.Int64 < first[2*nul].Int64) {
			nul = i
		}
		quoted = quoted || first[2*i+1].Valid
	}
	if quoted {
		// A value may start with a quote in a well-quoted file ("""a""");
		// only a file that is not well-quoted is wrong.
		if err := csvTextError(s.path); err != nil {
			return err
		}
	}
	if nul >= 0 {
		row := first[2*nul].Int64
		var val string
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE rowid = %d", quoteIdent(cols[nul].Name), s.table, row)).Scan(&val); err != nil {
			return fmt.Errorf("%s: validating: %w", s.path, err)
		}
		return fileErrorf(s.path, "row %d (line %d): column %s: the value %q holds a NUL byte (\\x00); remove it from the file",
			row+1, csvRowLine(s.path, row+1), s.fileName(cols[nul].Name), val)
	}
	return nil
}

// sameNames refuses a file (where names it) whose column names, in the
// file's order, name one column twice: column names ignore case (and the
// spaces around them), and DuckDB's readers would keep the second under a
// name of their own (City_1), as data the file never named. numbered
// gives the columns' positions too (a CSV header, a Parquet schema).
func sameNames(path, place string, names []string, numbered bool) error {
	seen := map[string]int{}
	for i, n := range names {
		key := strings.ToLower(strings.TrimSpace(n))
		j, dup := seen[key]
		if !dup {
			seen[key] = i
			continue
		}
		cols := fmt.Sprintf("%q and %q", names[j], n)
		if numbered {
			cols = fmt.Sprintf("%d (%q) and %d (%q)", j+1, names[j], i+1, n)
		}
		return fileErrorf(path, "%scolumns %s have the same name (column names ignore case); rename or remove one", place, cols)
	}
	return nil
}

// renamedColumns reports whether DuckDB's reader may have renamed a
// column of the file: a staged name NAME_n where NAME (ignoring case) is
// another staged column's. Only then does checkNames read the file's own
// names.
func renamedColumns(cols []Column) bool {
	names := map[string]bool{}
	for _, c := range cols {
		names[strings.ToLower(c.Name)] = true
	}
	for _, c := range cols {
		i := strings.LastIndexByte(c.Name, '_')
		if i > 0 && i < len(c.Name)-1 && strings.Trim(c.Name[i+1:], "0123456789") == "" && names[strings.ToLower(c.Name[:i])] {
			return true
		}
	}
	return false
}

// checkNames refuses a JSON or Parquet file staged as s whose columns
// name one column twice (sameNames, as a CSV header is checked): the
// Parquet schema's top-level names in order, a JSON file's keys (every
// record's, sorted). It reads them only when DuckDB renamed a column.
func checkNames(ctx context.Context, conn *sql.Conn, s *stagedFile, kind string, cols []Column) error {
	if !renamedColumns(cols) {
		return nil
	}
	lit := quoteString(s.path)
	var names []string
	switch kind {
	case "parquet":
		// The schema's elements, depth first: the root, then each
		// top-level field followed by its own nested fields.
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT name, coalesce(num_children, 0) FROM parquet_schema(%s)", lit))
		if err != nil {
			return readerError(ctx, s.path, "reading the schema: ", err)
		}
		var all []string
		var children []int64
		for rows.Next() {
			var n string
			var c int64
			if err := rows.Scan(&n, &c); err != nil {
				rows.Close()
				return err
			}
			all, children = append(all, n), append(children, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var skip func(i int) int // the element after element i's subtree
		skip = func(i int) int {
			j := i + 1
			for k := int64(0); k < children[i] && j < len(all); k++ {
				j = skip(j)
			}
			return j
		}
		if len(all) > 0 {
			for i, k := 1, int64(0); k < children[0] && i < len(all); k++ {
				names = append(names, all[i])
				i = skip(i)
			}
		}
	default:
		format := "auto"
		if kind == "jsonl" {
			format = "newline_delimited"
		}
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT DISTINCT unnest(json_keys(json)) AS k FROM read_json_objects(%s, format = '%s') ORDER BY k", lit, format))
		if err != nil {
			return readerError(ctx, s.path, "reading the keys: ", err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return sameNames(s.path, "", names, kind == "parquet")
}

// checkColumns is how many columns checkCSV checks in one statement.
const checkColumns = 32

// csvRowLine returns the line data row n (1-based, after the header) of a
// CSV file starts on, counting as DuckDB's reader does (scanCSV): after
// blank lines and values over several lines. When the file cannot be read
// in Go or has fewer rows, it is n+1 (a header, then a row a line).
func csvRowLine(path string, n int64) int64 {
	_, delim, ok := csvHeader(path)
	if !ok {
		return n + 1
	}
	errFound := errors.New("found")
	line := n + 1
	readable, err := scanCSV(path, byte(delim), func(f csvField) error {
		if int64(f.row) == n {
			line = int64(f.rowLine)
			return errFound
		}
		return nil
	})
	if !readable || err != errFound {
		return n + 1
	}
	return line
}

// maxCSVLine is the longest CSV row DuckDB's reader takes (its
// max_line_size), in bytes.
const maxCSVLine = 2 << 20

// csvField is a value of a CSV file as scanCSV reads it.
type csvField struct {
	row     int // 0 is the header, 1 the first data row; blank lines are no rows
	index   int // of the field in its row
	line    int // the line the value starts on
	rowLine int // the line its row starts on
	value   []byte
}

// csvSyntaxError is a CSV file scanCSV cannot read as DuckDB would: a
// quoted value whose quote is not closed (before the end of the file, or
// before the delimiter: "ab"c), or a row longer than maxCSVLine (index
// -1).
type csvSyntaxError struct {
	at  csvField // the value (row, index, line) or row (row, rowLine)
	why string   // how the quote is not closed
}

func (e *csvSyntaxError) Error() string { return e.why }

// scanCSV reads the CSV file at path, delimited by delim, as DuckDB's
// reader does: a quoted value may span lines and holds "" for a quote, a
// quote inside an unquoted value is a character (5" screen), and blank
// lines are no rows. It calls visit with every value as it ends, the
// value's bytes valid during the call only, and stops at visit's first
// error, or a *csvSyntaxError. readable is false when the file cannot be
// read in Go (.zst).
func scanCSV(path string, delim byte, visit func(csvField) error) (readable bool, err error) {
	br, closeFn, ok := csvText(path)
	if !ok {
		return false, nil
	}
	defer closeFn()
	const (
		fieldStart = iota
		unquoted
		quoted
		quoteInQuoted // a quote seen inside a quoted field: closing, or the first of ""
	)
	var (
		state  = fieldStart
		f      = csvField{line: 1, rowLine: 1}
		line   = 1
		rowLen int  // the bytes of the current row so far
		blank  bool // the row so far has no byte but \r
	)
	blank = true
	endField := func() error {
		defer func() { f.value = f.value[:0] }()
		return visit(f)
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			if state == quoted {
				return true, &csvSyntaxError{at: f, why: "is never closed"}
			}
			if !blank {
				return true, endField()
			}
			return true, nil
		}
		if state == fieldStart {
			f.line = line
		}
		if rowLen++; rowLen > maxCSVLine {
			at := f
			at.index = -1
			return true, &csvSyntaxError{at: at}
		}
		if b != '\r' && (b != '\n' || state == quoted) {
			blank = false
		}
		switch {
		case state == quoted && b == '"':
			state = quoteInQuoted
		case state == quoted:
			f.value = append(f.value, b)
		case state == quoteInQuoted && b == '"':
			f.value = append(f.value, b)
			state = quoted
		case state == quoteInQuoted && b != delim && b != '\n' && b != '\r':
			return true, &csvSyntaxError{at: f, why: fmt.Sprintf("is closed before the text %q, not at the end of the value", string(b))}
		case state == fieldStart && b == '"':
			state = quoted
		case b == delim:
			if err := endField(); err != nil {
				return true, err
			}
			f.index++
			state = fieldStart
		case b == '\n':
			if !blank {
				if err := endField(); err != nil {
					return true, err
				}
				f.row++
			}
			f.index, state, blank = 0, fieldStart, true
			f.rowLine, rowLen = line+1, 0
		case b == '\r' && state == quoteInQuoted:
		case b == '\r' && state == fieldStart:
			// the \r of a \r\n line end, or of a blank line
		default:
			f.value = append(f.value, b)
			state = unquoted
		}
		if b == '\n' {
			line++
		}
	}
}

// csvTextError scans a CSV file in Go (scanCSV) and returns the first
// problem it finds, by row and column: a value that is not valid UTF-8,
// one with a NUL byte, a quoted field whose quote is not closed, a row too
// long for DuckDB's reader. It returns nil when the file is fine or cannot
// be read in Go (.zst).
func csvTextError(path string) error {
	header, delim, ok := csvHeader(path)
	if !ok {
		return nil
	}
	where := func(f csvField) string {
		col := fmt.Sprintf("field %d", f.index+1)
		if f.index < len(header) {
			col = "column " + strings.TrimSpace(header[f.index])
		}
		if f.row == 0 {
			return fmt.Sprintf("header (line %d): %s", f.line, col)
		}
		return fmt.Sprintf("row %d (line %d): %s", f.row, f.line, col)
	}
	_, err := scanCSV(path, byte(delim), func(f csvField) error {
		switch {
		case !utf8.Valid(f.value):
			return fileErrorf(path, "%s: the text is not valid UTF-8 (%q); nudge reads CSV files as UTF-8: convert the file, e.g. iconv -f GBK -t UTF-8",
				where(f), bytes.ToValidUTF8(f.value, []byte("\uFFFD")))
		case bytes.IndexByte(f.value, 0) >= 0:
			return fileErrorf(path, "%s: the value %q holds a NUL byte (\\x00); remove it from the file", where(f), f.value)
		}
		return nil
	})
	var syntax *csvSyntaxError
	if errors.As(err, &syntax) {
		if syntax.at.index < 0 {
			what := fmt.Sprintf("row %d", syntax.at.row)
			if syntax.at.row == 0 {
				what = "header"
			}
			return fileErrorf(path, "%s (line %d) is longer than %d bytes, the most a CSV row may have", what, syntax.at.rowLine, maxCSVLine)
		}
		return fileErrorf(path, "%s: the quote that opens the value %s; the file cannot be read as CSV (close the quote, or double a quote that is part of the value: \"\")",
			where(syntax.at), syntax.why)
	}
	return err
}
