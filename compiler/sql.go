package compiler

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"nudge/internal/sqlquote"
	"nudge/lang/ast"
)

// This file is the one place where values from rule text become SQL text:
// sqlquote quotes strings and names, numberSQL/dateSQL/intervalSQL format
// numbers, dates and durations from parsed (never raw) values. Everything
// else builds SQL out of their results and fixed keywords.

// Parameter expressions, always cast (duckdb-go cannot infer untyped parameters).
const (
	nowSQL   = "$" + ParamNow + "::TIMESTAMP"
	brandSQL = "$" + ParamBrand + "::VARCHAR"
)

// paramSQL is the expression of the named parameter name cast to typ.
// Parameter names are chosen by the compiler (never taken from rule text).
func paramSQL(name, typ string) string {
	return "$" + name + "::" + typ
}

// commentSQL returns text (rule text: labels, titles) as the body of a SQL
// line comment: a line break would end the comment and let the rest of the
// text be read as SQL, so every control character becomes a space; and `*/`
// and `/*` are split so that the text stays inert even if the comment is
// ever embedded in a block comment.
func commentSQL(text string) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u0085' || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, text)
	return strings.NewReplacer("*/", "* /", "/*", "/ *").Replace(s)
}

// jsonPath returns the SQL literal of the JSON path selecting key at the top
// level of a JSON object: '$."key"'.
func jsonPath(key string) (string, error) {
	if strings.ContainsAny(key, `"\`) {
		return "", fmt.Errorf("field name %q cannot be used as a JSON key", key)
	}
	return sqlquote.String(`$."` + key + `"`)
}

// numberSQL formats a parsed number. Integers of INTEGER's range print as
// integers, larger ones as DOUBLE, other values in the shortest decimal
// form (a DuckDB DECIMAL literal, exact). Negative values are
// parenthesised. What each form holds, and so when arithmetic with it
// stays exact, is numType's (number.go).
func numberSQL(v float64) (string, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "", fmt.Errorf("number %v is not finite", v)
	}
	var s string
	switch {
	case v == math.Trunc(v) && math.Abs(v) <= math.MaxInt32:
		s = strconv.FormatInt(int64(v), 10)
	case v == math.Trunc(v):
		s = "CAST(" + strconv.FormatFloat(v, 'f', -1, 64) + " AS DOUBLE)"
	default:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if v < 0 {
		s = "(" + s + ")"
	}
	return s, nil
}

// dateSQL formats a date or timestamp literal from its parsed parts.
func dateSQL(d *ast.DateLit) string {
	if d.HasTime {
		return fmt.Sprintf("TIMESTAMP '%04d-%02d-%02d %02d:%02d:%02d'", d.Year, d.Month, d.Day, d.Hour, d.Minute, d.Second)
	}
	return fmt.Sprintf("DATE '%04d-%02d-%02d'", d.Year, d.Month, d.Day)
}

// durationCount returns the number of units of d (1 for an implicit `per day`).
func durationCount(d *ast.DurationLit) float64 {
	if d.Implicit || d.N == nil {
		return 1
	}
	return d.N.Value
}

// intervalSQL formats a duration as a DuckDB INTERVAL. Minutes, hours, days
// and weeks are fixed lengths (a week is 7 days of 24 hours); months and years
// are calendar intervals (now - 1 month on March 31 is February 29 or 28, as
// DuckDB clamps to the end of the month). Fractional fixed durations are
// expressed in the largest exact smaller unit; fractional months are rejected,
// fractional years must be whole months.
func intervalSQL(d *ast.DurationLit) (string, error) {
	n := durationCount(d)
	if n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return "", fmt.Errorf("duration %v is not a non-negative number", n)
	}
	if err := intervalRange(n, d.Unit); err != nil {
		return "", err
	}
	whole := func(x float64) bool { return x == math.Trunc(x) && x < 1e12 }
	switch d.Unit {
	case ast.Month, ast.Year:
		months := n
		if d.Unit == ast.Year {
			months = n * 12
		}
		if !whole(months) {
			return "", fmt.Errorf("a duration in %ss must be a whole number of months", d.Unit)
		}
		if d.Unit == ast.Year && whole(n) {
			return fmt.Sprintf("INTERVAL %d YEAR", int64(n)), nil
		}
		return fmt.Sprintf("INTERVAL %d MONTH", int64(months)), nil
	}
	unitMinutes := map[ast.Unit]float64{ast.Minute: 1, ast.Hour: 60, ast.Day: 1440, ast.Week: 7 * 1440}[d.Unit]
	names := map[ast.Unit]string{ast.Minute: "MINUTE", ast.Hour: "HOUR", ast.Day: "DAY", ast.Week: "DAY"}
	if whole(n) {
		if d.Unit == ast.Week {
			return fmt.Sprintf("INTERVAL %d DAY", int64(n)*7), nil
		}
		return fmt.Sprintf("INTERVAL %d %s", int64(n), names[d.Unit]), nil
	}
	minutes := n * unitMinutes
	switch {
	case whole(minutes / 1440):
		return fmt.Sprintf("INTERVAL %d DAY", int64(minutes/1440)), nil
	case whole(minutes / 60):
		return fmt.Sprintf("INTERVAL %d HOUR", int64(minutes/60)), nil
	case whole(minutes):
		return fmt.Sprintf("INTERVAL %d MINUTE", int64(minutes)), nil
	case whole(minutes * 60):
		return fmt.Sprintf("INTERVAL %d SECOND", int64(minutes*60)), nil
	}
	return fmt.Sprintf("INTERVAL %d MICROSECOND", int64(math.Round(minutes*60e6))), nil
}

// indent prefixes every line of s after the first with pad, so a multi-line
// fragment can be embedded at the current indentation.
func indent(s, pad string) string {
	return strings.ReplaceAll(s, "\n", "\n"+pad)
}

// Boolean constants as produced by boolAnd/boolOr.
const (
	sqlTrue  = "true"
	sqlFalse = "false"
)

// boolJoin joins conditions with op (AND or OR), folding constants, and lays
// the result out on one line when it is short or one operand per line
// otherwise.
func boolJoin(op string, parts []string) string {
	neutral, absorbing := sqlTrue, sqlFalse
	if op == "OR" {
		neutral, absorbing = sqlFalse, sqlTrue
	}
	var kept []string
	for _, p := range parts {
		switch p {
		case neutral:
			continue
		case absorbing:
			return absorbing
		}
		kept = append(kept, p)
	}
	switch len(kept) {
	case 0:
		return neutral
	case 1:
		return kept[0]
	}
	oneLine := "(" + strings.Join(kept, " "+op+" ") + ")"
	if len(oneLine) <= 72 && !strings.Contains(oneLine, "\n") {
		return oneLine
	}
	var b strings.Builder
	b.WriteString("(\n")
	for i, p := range kept {
		b.WriteString("  ")
		if i > 0 {
			b.WriteString(op + " ")
		}
		b.WriteString(indent(p, "  "))
		b.WriteString("\n")
	}
	b.WriteString(")")
	return b.String()
}

func boolAnd(parts ...string) string { return boolJoin("AND", parts) }
func boolOr(parts ...string) string  { return boolJoin("OR", parts) }

// boolNot negates a non-NULL condition.
func boolNot(x string) string {
	switch x {
	case sqlTrue:
		return sqlFalse
	case sqlFalse:
		return sqlTrue
	}
	if strings.HasPrefix(x, "(") || !strings.ContainsAny(x, " \n") {
		return "NOT " + x
	}
	return "NOT (" + indent(x, "  ") + ")"
}

// whereList lays out a conjunction as the body of a WHERE clause: the first
// condition after WHERE, the others on their own lines starting with AND.
func whereList(pad string, conds []string) string {
	var kept []string
	for _, c := range conds {
		if c == sqlTrue {
			continue
		}
		kept = append(kept, unwrapFalse(c))
	}
	if len(kept) == 0 {
		return "true"
	}
	var b strings.Builder
	for i, c := range kept {
		if i > 0 {
			b.WriteString("\n" + pad + "  AND ")
		}
		b.WriteString(indent(c, pad+"  "))
	}
	return b.String()
}

// selectStmt is the one query builder: a SELECT with optional CTEs, laid out
// one clause per line.
type selectStmt struct {
	with    []cte
	cols    []string
	from    string
	joins   []string
	where   []string
	groupBy []string
	orderBy []string
}

// cte is one WITH entry.
type cte struct {
	name    string
	comment string // optional, printed above the entry
	body    string
}

// String renders the statement.
func (q *selectStmt) String() string {
	var b strings.Builder
	if len(q.with) > 0 {
		b.WriteString("WITH\n")
		for i, c := range q.with {
			if c.comment != "" {
				b.WriteString("-- " + commentSQL(c.comment) + "\n")
			}
			b.WriteString(c.name + " AS (\n  " + indent(c.body, "  ") + "\n)")
			if i < len(q.with)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("SELECT ")
	for i, c := range q.cols {
		if i > 0 {
			b.WriteString(",\n       ")
		}
		b.WriteString(indent(c, "       "))
	}
	b.WriteString("\nFROM " + q.from)
	for _, j := range q.joins {
		b.WriteString("\n" + indent(j, "  "))
	}
	if len(q.where) > 0 {
		b.WriteString("\nWHERE " + whereList("", q.where))
	}
	if len(q.groupBy) > 0 {
		b.WriteString("\nGROUP BY " + strings.Join(q.groupBy, ", "))
	}
	if len(q.orderBy) > 0 {
		b.WriteString("\nORDER BY " + strings.Join(q.orderBy, ", "))
	}
	return b.String()
}

// unwrapFalse removes the COALESCE(p, false) wrapper of a condition that is
// an operand of a WHERE or FILTER conjunction, where NULL already counts as
// false: the bare predicate can be pushed into DuckDB's scans.
func unwrapFalse(c string) string {
	const pre, suf = "COALESCE(", ", false)"
	if !strings.HasPrefix(c, pre) || !strings.HasSuffix(c, suf) {
		return c
	}
	// The COALESCE's parenthesis must close at the very end.
	depth, inStr := 0, false
	for i := len(pre) - 1; i < len(c); i++ {
		switch ch := c[i]; {
		case ch == '\'':
			inStr = !inStr
		case inStr:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
			if depth == 0 && i != len(c)-1 {
				return c
			}
		}
	}
	inner := c[len(pre) : len(c)-len(suf)]
	// The inner predicate must be one argument (no top-level comma before ", false").
	depth, inStr = 0, false
	for i := 0; i < len(inner); i++ {
		switch ch := inner[i]; {
		case ch == '\'':
			inStr = !inStr
		case inStr:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case ch == ',' && depth == 0:
			return c
		}
	}
	return inner
}
