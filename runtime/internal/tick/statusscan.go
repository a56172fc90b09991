package tick

import (
	"strings"

	"nudge/runtime/policy"
)

// perStatusScans is a UNION ALL of one scan per status of statuses:
// scan(cond) is a SELECT whose WHERE holds cond, the equality
// `<prefix>status = 'S'`. DuckDB pushes an equality into the table scan as
// a filter, so the scan reads the other columns (member ids, channels) only
// for that status's rows; a list of statuses (IN or OR) it pushes only as
// a min/max check on row groups and applies after the scan has read every
// column it returns for every row (docs/performance.md, "Cap use and the
// freed sends at 5M"). The statuses are disjoint, so the union holds each
// row once.
func perStatusScans(prefix string, statuses []policy.Status, scan func(cond string) string) string {
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = scan(prefix + "status = " + s.SQL())
	}
	return strings.Join(parts, "\n  UNION ALL\n")
}
