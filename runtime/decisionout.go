package runtime

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"

	"nudge/compiler"
)

// decisionLineSQL is the SQL expression of a decision's `run --output
// jsonl` line (SPEC §7) over a row d of the outbox or a dry run's _nudge_dec,
// whose fired_at is the SQL expression fired: byte for byte the line
// DecisionWriter writes for the Decision readDecisions reads from the row
// (TestDecisionLinesMatchWriter). DuckDB's to_json escapes strings as
// encoding/json does but for the HTML-safe escapes (<, >, &, U+2028,
// U+2029), which encoding/json also applies to the values; none of these
// characters can occur in a line outside a string, so they are replaced in
// the whole line. DuckDB writes the hex digits of a control character's
// escape in upper case, encoding/json in lower case: writeDecisionLines
// lowers them (lowerHexEscapes). With journey, the rows have the outbox's
// journey, step and variant columns (SPEC §8); a dry run's have none.
func decisionLineSQL(fired string, journey bool) string {
	const ts = `'%Y-%m-%dT%H:%M:%S'`
	str := func(col string) string { return "to_json(" + col + ")::VARCHAR" }
	journeyPart := "NULL"
	if journey {
		journeyPart = `',"journey":' || ` + str("nullif(d.journey, '')") + ` || ',"step":' || coalesce(CAST(d.step AS VARCHAR), 'null')` +
			` || coalesce(',"variant":' || ` + str("nullif(d.variant, '')") + `, '')`
	}
	// concat of all the parts at once: a chain of || copies the growing
	// line at every step.
	line := "concat(" + strings.Join([]string{
		`'{"rule":'`, str("d.rule"),
		`',"member_id":'`, str("d.member_id"),
		`',"firing_id":'`, str("d.firing_id"),
		`',"action":'`, str("d.action"),
		`',"kind":'`, `coalesce(` + str("nullif(d.kind, '')") + `, 'null')`,
		`',"content":'`, `coalesce(` + str("nullif(d.content, '')") + `, 'null')`,
		`',"channel":'`, `coalesce(` + str("nullif(d.channel, '')") + `, 'null')`,
		`',"status":'`, str("d.status"),
		`',"reason":' || ` + str("nullif(d.reason, '')"), // NULL (left out) when absent
		`',"fired_at":"'`, `strftime(` + fired + `, ` + ts + `)`,
		`'","scheduled_at":'`, `coalesce('"' || strftime(d.scheduled_at, ` + ts + `) || '"', 'null')`,
		`',"due_at":"' || strftime(d.due_at, ` + ts + `) || '"'`,
		`',"trigger_seq":' || d.trigger_seq`,
		`',"idempotency_key":'`, str("d.firing_id || '-' || d.action_index"),
		`',"values":' || nullif(CAST(d.vals AS VARCHAR), '')`,
		// a send's `with` parameters (SPEC §9)
		`',"params":' || CASE WHEN d.action = 'send' THEN nullif(CAST(d.params AS VARCHAR), '') END`,
		journeyPart,
		`'}'`,
	}, ", ") + ")"
	for _, r := range [][2]string{{"&", `\u0026`}, {"<", `\u003c`}, {">", `\u003e`}, {"\u2028", `\u2028`}, {"\u2029", `\u2029`}} {
		line = "replace(" + line + ", '" + r[0] + "', '" + r[1] + "')"
	}
	return line
}

// writeDecisionLines writes the decisions of table (the outbox rows of run
// runID, or a dry run's _nudge_dec fired at now) to w as jsonl lines, in
// the program's rule order, then member, firing and action: what reading
// them (readDecisions) and writing each with a DecisionWriter gives. DuckDB
// builds the lines (in one sort with them: joining them into chunks of
// lines in SQL cost a second sort, more than the driver's copy of each
// line); Go only copies the bytes.
func writeDecisionLines(ctx context.Context, q queryer, prog *compiler.Program, table string, runID int64, now time.Time, w io.Writer) error {
	where, fired, args := "WHERE d.run_id = $run::BIGINT", "d.fired_at", []any{sql.Named("run", runID)}
	if table != "outbox" {
		where, fired, args = "", "$now::TIMESTAMP", []any{sql.Named("now", now)}
	}
	// The rules' positions in the program, as a table to join.
	// (Journeys come after the rules, as in the tick's RuleOrder.)
	var order strings.Builder
	names := make([]string, 0, len(prog.Rules)+len(prog.Journeys))
	for _, r := range prog.Rules {
		names = append(names, r.Name)
	}
	for _, j := range prog.Journeys {
		names = append(names, j.Name)
	}
	for i, name := range names {
		if i > 0 {
			order.WriteString(", ")
		}
		fmt.Fprintf(&order, "(%s, %d)", quoteString(name), i)
	}
	if len(names) == 0 {
		order.WriteString("(NULL, 0)")
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`
SELECT %s || chr(10)
FROM %s d LEFT JOIN (VALUES %s) o(rule, pos) ON o.rule = d.rule
%s
ORDER BY o.pos, d.rule, d.member_id, d.firing_id, d.action_index`,
		decisionLineSQL(fired, table == "outbox"), table, order.String(), where), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	bw := bufio.NewWriterSize(w, 256<<10)
	var line sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if bytes.Contains(line, []byte(`\u00`)) {
			lowerHexEscapes(line)
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteDecisionsJSONL writes the decisions of the committed run runID of
// prog to w as `run --output jsonl` lines (SPEC §7), in the program's rule
// order, then member, firing and action.
func (db *DB) WriteDecisionsJSONL(ctx context.Context, prog *compiler.Program, runID int64, w io.Writer) error {
	return writeDecisionLines(ctx, db.sql, prog, "outbox", runID, time.Time{}, w)
}

// lowerHexEscapes puts the hex digits of the \uXXXX escapes of JSON text b
// in lower case, in place, as encoding/json writes them. A backslash
// escaped by another (\\u0041 is a backslash and the text u0041) starts no
// escape.
func lowerHexEscapes(b []byte) {
	for i := 0; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			return
		}
		i += j + 1 // the escaped character
		if i < len(b) && b[i] == 'u' {
			for k := i + 1; k < min(i+5, len(b)); k++ {
				if c := b[k]; 'A' <= c && c <= 'F' {
					b[k] = c + 'a' - 'A'
				}
			}
			i += 4
		}
	}
}
