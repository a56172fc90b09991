package runtime

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// DecisionWriter writes decisions as `run --output jsonl` lines (SPEC §7),
// one JSON object per line, through a buffer: call Flush at the end.
//
// It appends each line into a reused buffer by hand instead of going through
// encoding/json, because reflection and the re-compaction of MarshalJSON's
// output dominated the cost of printing millions of decisions. The bytes are
// the same as json.NewEncoder(w).Encode(d) gives (Decision.MarshalJSON, with
// encoding/json's string escaping including its HTML escaping of <, > and &);
// TestDecisionWriterMatchesEncoding holds it to that.
type DecisionWriter struct {
	w    *bufio.Writer
	line []byte
	vals bytes.Buffer // Values compacted, before HTML escaping
	html bytes.Buffer // Values compacted and HTML-escaped
}

// NewDecisionWriter returns a DecisionWriter writing to w.
func NewDecisionWriter(w io.Writer) *DecisionWriter {
	return &DecisionWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write writes one decision line.
func (dw *DecisionWriter) Write(d *Decision) error {
	b, err := dw.appendDecision(dw.line[:0], d)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dw.line = b
	_, err = dw.w.Write(b)
	return err
}

// Flush writes out what is buffered.
func (dw *DecisionWriter) Flush() error { return dw.w.Flush() }

// appendDecision appends d's JSON object (Decision.MarshalJSON's fields, in
// its order and with its omissions) to b.
func (dw *DecisionWriter) appendDecision(b []byte, d *Decision) ([]byte, error) {
	b = append(b, `{"rule":`...)
	b = appendJSONString(b, d.Rule)
	b = append(b, `,"member_id":`...)
	b = appendJSONString(b, d.MemberID)
	b = append(b, `,"firing_id":`...)
	b = appendJSONString(b, d.FiringID)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, d.Action)
	b = append(b, `,"kind":`...)
	b = appendJSONStringOrNull(b, d.Kind)
	b = append(b, `,"content":`...)
	b = appendJSONStringOrNull(b, d.Content)
	b = append(b, `,"channel":`...)
	b = appendJSONStringOrNull(b, d.Channel)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, d.Status)
	if d.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, d.Reason)
	}
	b = append(b, `,"fired_at":`...)
	b = appendJSONTime(b, d.FiredAt)
	b = append(b, `,"scheduled_at":`...)
	if d.ScheduledAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, *d.ScheduledAt)
	}
	if d.DueAt != nil {
		b = append(b, `,"due_at":`...)
		b = appendJSONTime(b, *d.DueAt)
	}
	if d.TriggerSeq != nil {
		b = append(b, `,"trigger_seq":`...)
		b = strconv.AppendInt(b, *d.TriggerSeq, 10)
	}
	b = append(b, `,"idempotency_key":`...)
	b = appendJSONString(b, d.IdempotencyKey)
	if len(d.Values) > 0 {
		// As encoding/json does for a json.RawMessage: compact, then
		// HTML-escape; invalid JSON is an error.
		dw.vals.Reset()
		if err := json.Compact(&dw.vals, d.Values); err != nil {
			return nil, fmt.Errorf("decision %s of rule %s: values are not valid JSON: %v", d.IdempotencyKey, d.Rule, err)
		}
		dw.html.Reset()
		json.HTMLEscape(&dw.html, dw.vals.Bytes())
		b = append(b, `,"values":`...)
		b = append(b, dw.html.Bytes()...)
	}
	if len(d.Params) > 0 {
		dw.vals.Reset()
		if err := json.Compact(&dw.vals, d.Params); err != nil {
			return nil, fmt.Errorf("decision %s of rule %s: params are not valid JSON: %v", d.IdempotencyKey, d.Rule, err)
		}
		dw.html.Reset()
		json.HTMLEscape(&dw.html, dw.vals.Bytes())
		b = append(b, `,"params":`...)
		b = append(b, dw.html.Bytes()...)
	}
	if d.Journey != "" {
		b = append(b, `,"journey":`...)
		b = appendJSONString(b, d.Journey)
		b = append(b, `,"step":`...)
		if d.Step == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, *d.Step, 10)
		}
		if d.Variant != "" {
			b = append(b, `,"variant":`...)
			b = appendJSONString(b, d.Variant)
		}
	}
	return append(b, '}'), nil
}

// appendJSONTime appends t as a quoted naive timestamp (timeLayout); its
// characters never need escaping.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, timeLayout)
	return append(b, '"')
}

// appendJSONStringOrNull appends s as a JSON string, or null when empty.
func appendJSONStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string escaped the way encoding/json
// escapes it by default: ", \ and control characters, <, > and & as \u00XX,
// U+2028 and U+2029 as \u2028 and \u2029, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decisionsSlice returns an empty slice with room for the decisions
// scanDecisions will read from table, so reading them does not regrow it.
func decisionsSlice(ctx context.Context, q queryer, table string, runID int64) ([]Decision, error) {
	where, args := "", []any(nil)
	if table == "outbox" {
		where, args = "WHERE run_id = $run::BIGINT", []any{sql.Named("run", runID)}
	}
	var n int
	if err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s %s", table, where), args...).Scan(&n); err != nil {
		return nil, err
	}
	return make([]Decision, 0, n), nil
}

// sortDecisions puts decisions read in rule name order into the program's
// rule order, keeping the order within a rule; it leaves them alone when
// they are in that order already.
func sortDecisions(ds []Decision, order map[string]int) {
	less := func(a, b Decision) int { return order[a.Rule] - order[b.Rule] }
	if slices.IsSortedFunc(ds, less) {
		return
	}
	slices.SortStableFunc(ds, less)
}
