package tick

import (
	"strings"
	"time"

	"nudge/internal/sqlquote"
)

// afterScan wraps conditions on low-cardinality strings (brand, type) so
// that DuckDB evaluates them on the rows the scan's other filters (ts, seq,
// which also skip row groups by their min and max) let through, instead of
// on every row of the row groups scanned: as plain conjuncts they become
// table filters, applied first, which is slower for a window of a few rows
// (docs/performance.md, "The cost of a tick").
func afterScan(cond string) string {
	return "(" + cond + ") IS TRUE"
}

// ofBrandAndType is the condition that an event is of the tick's brand and
// of the types typeCond admits, for a scan that also has a range on seq or
// ts. On events in ingest order, where every row group holds every type, it
// is evaluated after the range (afterScan). On clustered events
// (the runtime's cluster.go) the type is a table filter, which skips the row groups of
// other types; the brand is not, since as a table filter too it slowed a
// one-hour window down. (Either way such a window costs more than in ingest
// order, where the range alone finds its row group: the cost of clustering,
// which the copy of the scope's events repays; docs/performance.md.)
func (t *tick) ofBrandAndType(typeCond string) string {
	if t.clustered() {
		return typeCond + " AND " + afterScan("brand = $brand::VARCHAR")
	}
	return afterScan("brand = $brand::VARCHAR AND " + typeCond)
}

// inStrings is the condition that col is one of the strings xs. DuckDB
// plans an IN list of more than maxInFilter constants as a join with the
// list (a MARK join that every row of the scan goes through);
// list_contains tests the rows in a filter instead, at a third less on a
// large table (docs/performance.md, "Long IN lists"). A short list stays
// IN: DuckDB also uses it to skip the row groups outside the values'
// range.
func inStrings(col string, xs []string) string {
	if len(xs) <= maxInFilter {
		return col + " IN (" + quoteStrings(xs) + ")"
	}
	return "list_contains([" + quoteStrings(xs) + "], " + col + ")"
}

// maxInFilter is the longest IN list of constants DuckDB keeps a filter.
const maxInFilter = 4

func quoteStrings(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = quoteString(x)
	}
	return strings.Join(q, ", ")
}

// timestampSQL renders t as a TIMESTAMP literal.
func timestampSQL(t time.Time) string {
	return "TIMESTAMP '" + t.Format(timestampLayout) + "'"
}

// timestampLayout is DuckDB's text of a TIMESTAMP, to the microsecond: of
// a literal (timestampSQL) and of a value in a jsonRows TIMESTAMP column.
const timestampLayout = "2006-01-02 15:04:05.999999"

// Naive returns t's wall clock as a UTC time truncated to microseconds,
// DuckDB's TIMESTAMP resolution: the runtime's naive times (see the
// runtime's package comment).
func Naive(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).Truncate(time.Microsecond)
}

// quoteString and quoteIdent quote the names and texts of the program,
// which the runtime checked (sqlquote.Checked).
func quoteString(s string) string { return sqlquote.Checked(s) }

func quoteIdent(s string) string { return sqlquote.CheckedIdent(s) }
