// Package eventorder is the physical order of the events table that lets a
// scan by brand, type and time skip row groups: the clustered order, and the
// counter recording how far the events are in it.
//
// Events are appended in ingest order, where every row group holds every
// type. A stretch of events in the clustered order is sorted by brand, type
// and ts, so that DuckDB skips the row groups of other brands and types by
// their minimum and maximum, and a time window of one type reads one row
// group. Every other (brand, type) block is sorted by descending ts: a row
// group where one block ends and the next begins then spans the latest (or
// the earliest) events of both, not all of time. The stretch keeps its seqs:
// a later scan by seq, above every seq of the stretch, skips it by the row
// groups' maximum.
//
// Three writers put events in this order: the runtime's clustering of the
// events a tick consumed (cluster.go), an import large enough to be worth it
// (import.go), and the demo's generator (demodata). The physical order never
// changes a result, only which row groups a scan reads.
package eventorder

// MinEvents is the fewest events worth writing in the clustered order. A
// sorted stretch helps only when most types span several row groups
// (DuckDB's are 122,880 rows); below that, a one-hour window of one type
// reads a row group per block edge and the types a scan copies share row
// groups with those it does not, so sorting, which costs a pass over every
// column once, does not pay (docs/performance.md, "Clustered events").
const MinEvents = 2_000_000

// ClusteredSeqSQL is the highest seq up to which the events are in the
// clustered order (0: none are).
const ClusteredSeqSQL = `(SELECT coalesce(max(value), 0) FROM counters WHERE name = 'events_clustered')`

// MarkClusteredSQL records that the events up to the seq $upto are in the
// clustered order.
const MarkClusteredSQL = `INSERT INTO counters VALUES ('events_clustered', $upto::BIGINT)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`

// Sorted returns the rows of query, rows of events with at least the
// columns brand, type, ts and seq, in the clustered order (an INSERT keeps
// the order of its query). Which blocks run backwards comes from ranking
// the distinct (brand, type) pairs, not from a window over every row: that
// window sorted every row a second time (a third of the statement).
func Sorted(query string) string {
	return `WITH _nudge_rows AS (` + query + `),
_nudge_blocks AS (
    SELECT brand, type, dense_rank() OVER (ORDER BY brand, type) % 2 = 0 AS _nudge_backwards
    FROM (SELECT DISTINCT brand, type FROM _nudge_rows))
SELECT r.* FROM _nudge_rows r JOIN _nudge_blocks b USING (brand, type)
ORDER BY brand, type, CASE WHEN b._nudge_backwards THEN -epoch_us(r.ts) ELSE epoch_us(r.ts) END, r.seq`
}
