package engine

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-runewidth"
)

// Kind says what a Result holds and so how a front end shows it.
type Kind int

// Result kinds.
const (
	// Text is a message: help, schema, SQL, "segment x defined".
	Text Kind = iota
	// Audience is the answer to a condition: Count members match at Now;
	// Rows is the first page of them with the values the condition used.
	Audience
	// Table is the answer to `\sql`: Columns and Rows.
	Table
	// Diagnostics are lang diagnostics rendered with carets in Text.
	Diagnostics
	// Decisions is the answer to `:run`: one row per decision of a dry run.
	Decisions
)

func (k Kind) String() string {
	switch k {
	case Audience:
		return "audience"
	case Table:
		return "table"
	case Diagnostics:
		return "diagnostics"
	case Decisions:
		return "decisions"
	}
	return "text"
}

// Result is the answer to one input. Front ends render it; it holds plain
// strings only, so rendering never touches the database.
type Result struct {
	Kind  Kind
	Input string // the input as evaluated (continuations joined)
	// Columns and Rows hold a table for Audience, Table and Decisions. Cells
	// are already formatted; NULL is "NULL".
	Columns []string
	Rows    [][]string
	// Count is the audience size (Audience), the number of rows the query
	// returned (Table), or the number of decisions (Decisions). It may exceed
	// len(Rows) when only the first page is kept.
	Count int64
	// Now is the evaluation instant of an Audience or Decisions result.
	Now time.Time
	// Trigger is set on an Audience of a trigger condition (a windowless
	// event): Rows are then the events of the Lookback before Now that would
	// fire it, and Count counts events, not members.
	Trigger  bool
	Lookback time.Duration
	// Elapsed is the time the database work took.
	Elapsed time.Duration
	// Text is the message (Text), the rendered diagnostics (Diagnostics), or
	// for tables a note shown above them ("segment big defined", the per-rule
	// counts of a dry run).
	Text string
	// Code names the language Text is written in when it is code ("sql" for
	// :sql), so a front end can highlight it; "" for prose.
	Code string
	// Warnings are rendered diagnostics that did not stop the evaluation.
	Warnings string
	// Quit is set by `:quit`: the front end should leave.
	Quit bool
}

// Truncated reports whether Rows holds fewer rows than Count.
func (r *Result) Truncated() bool { return int64(len(r.Rows)) < r.Count }

// Summary is the one-line description of a table result, e.g.
// "1,234 members match at 2024-11-11 12:00 (first 50 shown)".
func (r *Result) Summary() string {
	switch r.Kind {
	case Audience:
		if r.Trigger {
			s := fmt.Sprintf("%s triggering %s in the %s to %s, newest first", Thousands(r.Count),
				plural(r.Count, "event", "events"), formatLookback(r.Lookback), r.Now.Format("2006-01-02 15:04:05"))
			if r.Truncated() {
				s += fmt.Sprintf(" (first %d shown)", len(r.Rows))
			}
			return s
		}
		s := fmt.Sprintf("%s %s match at %s", Thousands(r.Count), plural(r.Count, "member", "members"), r.Now.Format("2006-01-02 15:04:05"))
		if r.Truncated() {
			s += fmt.Sprintf(" (first %d shown)", len(r.Rows))
		}
		return s
	case Decisions:
		s := fmt.Sprintf("%s %s at %s (dry run)", Thousands(r.Count), plural(r.Count, "decision", "decisions"), r.Now.Format("2006-01-02 15:04:05"))
		if r.Truncated() {
			s += fmt.Sprintf(" (first %d shown)", len(r.Rows))
		}
		return s
	case Table:
		s := fmt.Sprintf("%s %s", Thousands(r.Count), plural(r.Count, "row", "rows"))
		if r.Truncated() {
			s += fmt.Sprintf(" (first %d shown)", len(r.Rows))
		}
		return s
	}
	return ""
}

// formatLookback prints a lookback window: "24 hours", "7 days", "90 minutes".
func formatLookback(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d %s", d/time.Hour, plural(int64(d/time.Hour), "hour", "hours"))
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Thousands formats n with comma separators: 1234567 -> "1,234,567".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// FormatDuration prints a query time the way database shells do: "0.8ms",
// "12ms", "1.52s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// Write prints r as plain text: messages as they are, tables as aligned
// columns (by display width, so Chinese names line up) under a summary line.
// It is what line mode prints.
func (r *Result) Write(w io.Writer) error {
	var b strings.Builder
	if r.Warnings != "" {
		b.WriteString(ensureNewline(r.Warnings))
	}
	switch r.Kind {
	case Audience, Table, Decisions:
		if r.Text != "" {
			b.WriteString(ensureNewline(r.Text))
		}
		b.WriteString(r.Summary())
		b.WriteByte('\n')
		if len(r.Columns) > 0 {
			writeTable(&b, r.Columns, r.Rows)
		}
	default:
		if r.Text != "" {
			b.WriteString(ensureNewline(r.Text))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// maxCellWidth caps a column in plain-text tables; longer cells are cut with "…".
const maxCellWidth = 40

// writeTable prints columns and rows aligned by display width, separated by
// two spaces, with a dashed rule under the header.
func writeTable(b *strings.Builder, cols []string, rows [][]string) {
	widths := ColumnWidths(cols, rows, maxCellWidth)
	line := func(cells []string) {
		var l strings.Builder
		for i := range cols {
			cell := ""
			if i < len(cells) {
				cell = cells[i]
			}
			cell = runewidth.Truncate(oneLine(cell), widths[i], "…")
			if i > 0 {
				l.WriteString("  ")
			}
			l.WriteString(cell)
			if i < len(cols)-1 {
				l.WriteString(strings.Repeat(" ", widths[i]-runewidth.StringWidth(cell)))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(cols)
	dashes := make([]string, len(cols))
	for i, wd := range widths {
		dashes[i] = strings.Repeat("-", wd)
	}
	line(dashes)
	for _, r := range rows {
		line(r)
	}
}

// ColumnWidths returns the display width of each column: the widest of its
// title and cells, at most limit (limit <= 0: no limit), at least 1.
func ColumnWidths(cols []string, rows [][]string, limit int) []int {
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = max(runewidth.StringWidth(c), 1)
	}
	for _, r := range rows {
		for i := range cols {
			if i < len(r) {
				widths[i] = max(widths[i], runewidth.StringWidth(oneLine(r[i])))
			}
		}
	}
	if limit > 0 {
		for i := range widths {
			widths[i] = min(widths[i], limit)
		}
	}
	return widths
}

// oneLine replaces line breaks and tabs in a cell so a table row stays one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.NewReplacer("\r\n", "↵", "\n", "↵", "\r", "↵", "\t", " ").Replace(s)
}

// OneLine is oneLine for front ends: a cell safe to print on one row.
func OneLine(s string) string { return oneLine(s) }

// printable replaces the control characters of s that a terminal would act
// on (ESC starting a sequence that recolours, clears the screen or sets the
// clipboard, BEL, backspace, ...) by visible stand-ins: C0 controls by
// their control pictures (ESC prints as ␛), DEL by ␡, C1 controls by �.
// keep lists the controls left as they are. The database's text (member
// names, store names, event props ingested by the service) reaches the
// terminal through results and error messages, and must not drive it.
func printable(s, keep string) string {
	clean := true
	for _, r := range s {
		if isControl(r) && !strings.ContainsRune(keep, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !isControl(r) || strings.ContainsRune(keep, r):
			b.WriteRune(r)
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune('\u2421')
		default:
			b.WriteRune('\uFFFD')
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }

// sanitize makes every string of r printable (see printable): messages
// keep their line breaks and tabs, cells their line breaks, which the
// front ends show as ↵ (oneLine).
func (r *Result) sanitize() {
	if r == nil {
		return
	}
	text := func(s string) string { return printable(strings.ReplaceAll(s, "\r\n", "\n"), "\n\t") }
	r.Text, r.Warnings = text(r.Text), text(r.Warnings)
	for i, c := range r.Columns {
		r.Columns[i] = printable(c, "\n\r\t")
	}
	for _, row := range r.Rows {
		for i, c := range row {
			row[i] = printable(c, "\n\r\t")
		}
	}
}

// printableError is an error whose message was made printable; it unwraps
// to the original, so errors.Is (context.Canceled, ErrRefused) still holds.
type printableError struct {
	msg string
	err error
}

func (e *printableError) Error() string { return e.msg }
func (e *printableError) Unwrap() error { return e.err }

// sanitizeError returns err with a printable message.
func sanitizeError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := printable(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\t"); clean != msg {
		return &printableError{msg: clean, err: err}
	}
	return err
}
