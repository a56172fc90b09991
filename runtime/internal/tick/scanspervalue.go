package tick

import "strings"

// scansPerValue is a UNION ALL of one scan per value of column: scan(cond)
// is a SELECT whose WHERE holds cond, the equality `column = value` (values
// are SQL literals, distinct). DuckDB pushes an equality into the table
// scan as a filter, so the scan reads the other columns (member ids,
// channels) only for that value's rows; a list of values (IN or OR) it
// pushes only as a min/max check on row groups and applies after the scan
// has read every column it returns for every row
// (docs/performance.md, "Cap use and the freed sends at 5M"). The values
// are distinct, so the union holds each row once.
func scansPerValue(column string, values []string, scan func(cond string) string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = scan(column + " = " + v)
	}
	return strings.Join(parts, "\n  UNION ALL\n")
}
