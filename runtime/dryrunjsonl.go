package runtime

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"nudge/internal/sqlquote"
)

// jsonlBucketRows is how many decisions, by their place in the output, one
// bucket of writeDryRunJSONL holds by default (while there are at most
// jsonlMaxBuckets): the most it holds in memory at once.
const (
	jsonlBucketRows = 1 << 16
	jsonlMaxBuckets = 256
)

// writeDryRunJSONL writes a dry run's decisions (the tick's _nudge_dec) to w
// as `run --output jsonl` lines, the bytes a DecisionWriter gives for
// RunResult.Decisions, in their order: by the rule's place in the program
// (its first row in _nudge_rules), then member, firing and action.
//
// DuckDB does the bulk of the work: it numbers the decisions in that order
// (sorting only the keys and row ids: a sort carrying the decisions' text
// cost more than everything else together) and writes them, unordered,
// with their numbers as JSON lines to a temporary file (COPY ... (FORMAT
// json), its own writer). The lines are then split by number into bucket
// files of bucket decisions (0: jsonlBucketRows), and each bucket is put in order in memory and
// written out, the few differences between DuckDB's JSON and
// encoding/json's mended on the way (appendDryRunLine). Memory holds one
// bucket; the temporary files need about twice the output's size on disk.
func writeDryRunJSONL(ctx context.Context, q queryer, now time.Time, bucket int64, w io.Writer) error {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_dec`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "nudge-jsonl-")
	if err != nil {
		return fmt.Errorf("jsonl output: %w", err)
	}
	defer os.RemoveAll(dir)
	all := filepath.Join(dir, "decisions.json")
	if _, err := q.ExecContext(ctx, dryRunJSONLCopy(all, now)); err != nil {
		return fmt.Errorf("jsonl output: %w", err)
	}
	if bucket <= 0 {
		bucket = max(jsonlBucketRows, (n+jsonlMaxBuckets-1)/jsonlMaxBuckets)
	}
	buckets, err := splitJSONL(all, bucket)
	if err != nil {
		return fmt.Errorf("jsonl output: %w", err)
	}
	os.Remove(all) // (its disk space, before the output's)
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		next int64 // the number of the next decision to write
		data []byte
		rows []jsonlRow
		line []byte
		text []byte // values' and params' texts
	)
	for _, b := range buckets {
		if data, err = readFileInto(data[:0], b); err != nil {
			return fmt.Errorf("jsonl output: %w", err)
		}
		if rows, err = parseJSONLRows(rows[:0], data); err != nil {
			return fmt.Errorf("jsonl output: %s: %w", b, err)
		}
		slices.SortFunc(rows, func(a, b jsonlRow) int { return cmp.Compare(a.pos, b.pos) })
		for _, r := range rows {
			if r.pos != next {
				return fmt.Errorf("jsonl output: decision %d of %d is missing", next, n)
			}
			next++
			if line, err = appendDryRunLine(line[:0], r.line, &text); err != nil {
				return fmt.Errorf("jsonl output: decision %d: %w", r.pos, err)
			}
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
	}
	if next != n {
		return fmt.Errorf("jsonl output: wrote %d of %d decisions", next, n)
	}
	return bw.Flush()
}

// dryRunJSONLCopy is the statement writing _nudge_dec's decisions to the
// file path as JSON lines: the decision's number in the output ("pos"),
// then Decision.MarshalJSON's fields in its order, with nulls for the
// empty ones it omits. Values and params are written as JSON strings of
// their texts: DuckDB would write JSON values anew (175.20 as 175.2), and
// a DecisionWriter writes their texts.
func dryRunJSONLCopy(path string, now time.Time) string {
	const ts = `'%Y-%m-%dT%H:%M:%S'` // timeLayout
	quote := func(s string) string {
		q, _ := sqlquote.String(s) // (a temporary file's path and a formatted time: valid UTF-8, no NUL)
		return q
	}
	return `COPY (
SELECT o.pos, d.rule, d.member_id, d.firing_id, d.action,
       nullif(d.kind, '') AS kind, nullif(d.content, '') AS content, nullif(d.channel, '') AS channel,
       d.status, nullif(d.reason, '') AS reason, ` + quote(now.Format(timeLayout)) + ` AS fired_at,
       strftime(d.scheduled_at, ` + ts + `) AS scheduled_at, strftime(d.due_at, ` + ts + `) AS due_at,
       d.trigger_seq, d.firing_id || '-' || d.action_index AS idempotency_key,
       CAST(d.vals AS VARCHAR) AS "values", CASE WHEN d.action = 'send' THEN CAST(d.params AS VARCHAR) END AS params
FROM _nudge_dec d
JOIN (SELECT _nudge_dec.rowid AS row_id,
             row_number() OVER (ORDER BY coalesce(rule_order, 0), rule, member_id, firing_id, action_index) - 1 AS pos
      FROM _nudge_dec
      LEFT JOIN (SELECT name AS rule, min(ri) AS rule_order FROM _nudge_rules GROUP BY name) USING (rule)) o
  ON o.row_id = d.rowid
) TO ` + quote(path) + ` (FORMAT json)`
}

// splitJSONL copies the lines of the file path (dryRunJSONLCopy's) into
// files beside it, one per bucket of per decisions by number, and returns
// them in the buckets' order.
func splitJSONL(path string, per int64) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		paths []string
		files []*os.File
		outs  []*bufio.Writer
	)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	r := bufio.NewReaderSize(f, 1<<20)
	var long []byte // a line longer than r's buffer
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if err == io.EOF && len(line) == 0 && len(long) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		pos, err := jsonlPos(line)
		if err != nil {
			return nil, err
		}
		b := int(pos / per)
		for len(outs) <= b {
			p := fmt.Sprintf("%s.%d", path, len(outs))
			f, err := os.Create(p)
			if err != nil {
				return nil, err
			}
			paths, files, outs = append(paths, p), append(files, f), append(outs, bufio.NewWriterSize(f, 64<<10))
		}
		if _, err := outs[b].Write(line); err != nil {
			return nil, err
		}
	}
	for _, o := range outs {
		if err := o.Flush(); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// readFileInto appends the contents of the file path to data.
func readFileInto(data []byte, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		data = slices.Grow(data, int(st.Size()))
	}
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, 4096)
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// jsonlRow is one line dryRunJSONLCopy wrote, with its number.
type jsonlRow struct {
	pos  int64
	line []byte
}

// jsonlPosPrefix starts every line dryRunJSONLCopy writes.
var jsonlPosPrefix = []byte(`{"pos":`)

// jsonlPos is the number of a line dryRunJSONLCopy wrote.
func jsonlPos(line []byte) (int64, error) {
	rest, ok := bytes.CutPrefix(line, jsonlPosPrefix)
	end := bytes.IndexByte(rest, ',')
	if !ok || end < 0 {
		return 0, fmt.Errorf("malformed line %.80q", line)
	}
	pos, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed line %.80q", line)
	}
	return pos, nil
}

// parseJSONLRows appends the lines of data, with their numbers, to rows.
func parseJSONLRows(rows []jsonlRow, data []byte) ([]jsonlRow, error) {
	for len(data) > 0 {
		line, rest, ok := bytes.Cut(data, []byte{'\n'})
		if !ok {
			return nil, fmt.Errorf("unterminated line %.80q", line)
		}
		data = rest
		pos, err := jsonlPos(line)
		if err != nil {
			return nil, err
		}
		rows = append(rows, jsonlRow{pos, line})
	}
	return rows, nil
}

// Members of dryRunJSONLCopy's lines appendDryRunLine looks for.
var (
	jsonlValues = []byte(`,"values":`)
	jsonlParams = []byte(`,"params":`)
)

// appendDryRunLine appends the decision of line (dryRunJSONLCopy's, without
// its newline) as a DecisionWriter writes it: without its number, the
// flat members before values with DuckDB's string escapes made
// encoding/json's and those Decision.MarshalJSON omits taken out
// (appendDuckDBJSON), then the texts of values and params unless null
// (HTML-escaped as encoding/json escapes a RawMessage; json_object made
// them compact), and a newline. scratch is reused for the texts.
func appendDryRunLine(b, line []byte, scratch *[]byte) ([]byte, error) {
	malformed := func() ([]byte, error) { return nil, fmt.Errorf("malformed line %.80q", line) }
	line = bytes.TrimSuffix(line, []byte{'\n'})
	_, rest, ok := bytes.Cut(line, []byte{','}) // past {"pos":N,
	if !ok || len(rest) == 0 || rest[len(rest)-1] != '}' {
		return malformed()
	}
	// Within a string a comma is never followed by a quote (it would be
	// escaped): the first ,"values": is the member.
	flat, vp, ok := bytes.Cut(rest[:len(rest)-1], jsonlValues)
	if !ok {
		return malformed()
	}
	end := jsonValueEnd(vp)
	values, params := vp[:end], vp[end:]
	if params, ok = bytes.CutPrefix(params, jsonlParams); !ok {
		return malformed()
	}
	b = append(b, '{')
	b = appendDuckDBJSON(b, flat)
	for _, m := range [2]struct {
		name string
		text []byte
	}{{`,"values":`, values}, {`,"params":`, params}} {
		if string(m.text) == "null" {
			continue
		}
		var err error
		if *scratch, err = appendUnquotedJSON((*scratch)[:0], m.text); err != nil {
			return malformed()
		}
		b = append(b, m.name...)
		b = appendHTMLEscaped(b, *scratch)
	}
	return append(b, '}', '\n'), nil
}

// appendUnquotedJSON appends the text of the JSON string s (quotes
// included) to b.
func appendUnquotedJSON(b, s []byte) ([]byte, error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, errors.New("not a JSON string")
	}
	s = s[1 : len(s)-1]
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(b, s...), nil
		}
		b = append(b, s[:i]...)
		if i+1 >= len(s) {
			return nil, errors.New("bad escape")
		}
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			b = append(b, c)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, n := decodeJSONUnicodeEscape(s[i:])
			if n == 0 {
				return nil, errors.New("bad escape")
			}
			b = utf8.AppendRune(b, r)
			s = s[i+n:]
			continue
		default:
			return nil, errors.New("bad escape")
		}
		s = s[i+2:]
	}
}

// decodeJSONUnicodeEscape decodes the \uXXXX escape s starts with (a
// surrogate pair's two): the rune and the bytes read, 0 when malformed.
func decodeJSONUnicodeEscape(s []byte) (rune, int) {
	hex := func(s []byte) (rune, bool) {
		if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(s[2:6]), 16, 16)
		return rune(n), err == nil
	}
	r, ok := hex(s)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex(s[6:]); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

// jsonValueEnd is the length of the compact JSON value s starts with.
func jsonValueEnd(s []byte) int {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
		if depth < 0 {
			return i
		}
	}
	return len(s)
}

// jsonlOmitted are the members of a decision's JSON object that
// Decision.MarshalJSON omits when they are empty and DuckDB's to_json
// writes as null: each starts with its comma.
var jsonlOmitted = [][]byte{[]byte(`,"reason":null`), []byte(`,"due_at":null`), []byte(`,"trigger_seq":null`)}

// duckDBJSONSpecial marks the bytes appendDuckDBJSON may change: a
// string's escape, <, > and &, the first byte of U+2028 and U+2029, and
// the comma before an omitted member.
var duckDBJSONSpecial = [256]bool{'\\': true, '<': true, '>': true, '&': true, 0xE2: true, ',': true}

// appendDuckDBJSON appends s, a flat JSON object (strings, numbers and
// nulls only) as DuckDB's to_json writes it, with the strings escaped as
// encoding/json escapes them (appendJSONString) and the members of
// jsonlOmitted left out. DuckDB escapes ", \ and control characters (\u00XX
// in upper case) and nothing else; invalid UTF-8 cannot reach it.
// Outside a string a flat object holds none of the bytes changed here but
// commas, and within a string a comma is never followed by a quote (it
// would be escaped), so the omitted members are found by their text.
func appendDuckDBJSON(b, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if !duckDBJSONSpecial[c] {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '\\':
			if i+1 < len(s) && s[i+1] == 'u' && i+6 <= len(s) {
				b = append(b, '\\', 'u')
				for _, h := range s[i+2 : i+6] {
					if 'A' <= h && h <= 'F' {
						h += 'a' - 'A'
					}
					b = append(b, h)
				}
				i += 6
			} else {
				b = append(b, s[i:min(i+2, len(s))]...)
				i += 2
			}
		case ',':
			i = skipOmitted(s, i, &b)
		case 0xE2:
			if i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
				i += 3
			} else {
				b = append(b, c)
				i++
			}
		default: // < > &
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			i++
		}
		start = i
	}
	return append(b, s[start:]...)
}

// skipOmitted returns where s goes on after the comma at i: past the
// member of jsonlOmitted starting there, or past the comma, which it
// appends to b.
func skipOmitted(s []byte, i int, b *[]byte) int {
	for _, m := range jsonlOmitted {
		if bytes.HasPrefix(s[i:], m) {
			return i + len(m)
		}
	}
	*b = append(*b, ',')
	return i + 1
}

// appendHTMLEscaped appends the JSON text s escaped as json.HTMLEscape
// escapes it: <, > and &, U+2028 and U+2029.
func appendHTMLEscaped(b, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}
