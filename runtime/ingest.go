package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// IngestResult reports what one IngestEvents call did.
type IngestResult struct {
	Rows   int64 // rows in the batch
	Stored int64 // rows stored (Rows less the duplicates)
	// FirstSeq, LastSeq: the seq range assigned to the stored rows, in
	// batch order (0, 0 when none).
	FirstSeq, LastSeq int64
	// Duplicates are the rows not stored because their event_id (of the
	// same brand) was stored before or appears earlier in the batch.
	Duplicates []Duplicate
	// Waiting counts stored events of members not in members yet (see
	// ImportResult.Waiting).
	Waiting int64
}

// Duplicate is a row of a batch whose event id was already stored.
type Duplicate struct {
	Row     int64  // 1-based row of the batch
	EventID string // the row's event_id
}

// IngestEvents stores a batch of events read from a newline-delimited JSON
// file, as Import does (the same column matching, conversions and row
// errors; all or nothing), with one addition: a row may carry an event_id,
// the sender's id of the event. An event whose (brand, event_id) is in
// event_ids, or that repeats an earlier row of the batch, is not stored and
// is reported in Duplicates; the others are stored with their ids in one
// transaction, so a batch sent again after a lost answer is stored once.
// source names the batch in errors in place of the file's path ("request
// body"); a row error is a *RowError whose Row is the batch's row.
//
// The duplicate check reads event_ids before the transaction: callers
// serialise their writers (nudge serve has one writer at a time); were two
// batches of the same id committed at once, event_ids' key would fail the
// second.
func (db *DB) IngestEvents(ctx context.Context, path, source string) (IngestResult, error) {
	var res IngestResult
	if source == "" {
		source = path
	}
	named := func(err error) error {
		var re *RowError
		if errors.As(err, &re) {
			re.Path = source
			return re
		}
		if err == nil || source == path {
			return err
		}
		return errors.New(strings.ReplaceAll(err.Error(), path, source))
	}
	spec := importSpecs["events"]
	spec.skip = []string{"seq", "event_id"}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	target, err := TableColumns(ctx, conn, "events")
	if err != nil {
		return res, err
	}
	zone, _, err := importZone(ctx, conn, "")
	if err != nil {
		return res, err
	}
	s := &stagedFile{path: path, zone: zone, table: "_nudge_ingest"}
	const fresh = "_nudge_ingest_new"
	from := s.table // the rows to store
	defer func() {
		drop := "DROP TABLE IF EXISTS " + s.table
		if from == fresh {
			drop += "; DROP TABLE IF EXISTS " + fresh
		}
		conn.ExecContext(context.WithoutCancel(ctx), drop)
	}()
	if err := stage(ctx, conn, s, spec, target); err != nil {
		return res, named(err)
	}
	res.Rows = s.rows
	if s.rows == 0 {
		return res, nil
	}

	// The rows to store: those without an id, and the first of each id
	// not stored before. The ids stored before are looked up with the
	// batch's ids as a constant list (existing), which DuckDB joins in one
	// scan of event_ids. When no row repeats an id (the common case) every
	// row is stored straight from the staged table; otherwise the rows to
	// store are copied to fresh, _nudge_row naming their batch row.
	hasIDs := false
	if _, ok := s.srcType["event_id"]; ok {
		hasIDs = true
		brand, id := fmt.Sprintf("CAST(s.%s AS VARCHAR)", quoteIdent(s.mapped["brand"])), "CAST(s.event_id AS VARCHAR)"
		ids, repeated, err := batchIDs(ctx, conn, brand, id, s.table)
		if err != nil {
			return res, fmt.Errorf("%s: reading event ids: %w", source, cleanDuckError(err))
		}
		known, err := existing(ctx, conn, "event_ids", "event_id", ids)
		if err != nil {
			return res, fmt.Errorf("%s: checking event ids: %w", source, cleanDuckError(err))
		}
		if len(known) > 0 || repeated {
			from = fresh
			if res.Duplicates, err = dropDuplicates(ctx, conn, s.table, fresh, brand, id, known); err != nil {
				return res, fmt.Errorf("%s: checking event ids: %w", source, cleanDuckError(err))
			}
		}
	}
	n := s.rows - int64(len(res.Duplicates))
	if n == 0 {
		return res, nil
	}

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer rollback(tx)
	var base int64
	if err := tx.QueryRowContext(ctx, `SELECT `+lastEventSeqSQL).Scan(&base); err != nil {
		return res, fmt.Errorf("ingest: reading the event counter: %w", err)
	}
	f := *s
	f.table = from
	cols, exprs := insertExprs(&f, spec, target)
	q := fmt.Sprintf(`INSERT INTO events (seq, %s) SELECT %d + rowid + 1, %s FROM %s ORDER BY rowid`,
		strings.Join(cols, ", "), base, strings.Join(exprs, ", "), from)
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return res, named(insertError(ctx, conn, tx, s, spec, target, err))
	}
	if hasIDs {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO event_ids
SELECT CAST(%s AS VARCHAR), CAST(event_id AS VARCHAR), %d + rowid + 1 FROM %s WHERE event_id IS NOT NULL`,
			quoteIdent(s.mapped["brand"]), base, from)); err != nil {
			return res, fmt.Errorf("%s: recording event ids: %w", source, cleanDuckError(err))
		}
	}
	next := base + n
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = $v::BIGINT WHERE name = 'event_seq'`, sql.Named("v", next)); err != nil {
		return res, err
	}
	if res.Waiting, err = noteWaitingByKey(ctx, tx, &db.members, base, next); err != nil {
		return res, fmt.Errorf("ingest: noting the events of members not yet imported: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("ingest: commit: %w", err)
	}
	res.Stored, res.FirstSeq, res.LastSeq = n, base+1, next
	return res, nil
}

// batchIDs returns the distinct (brand, event id) pairs of a staged batch
// (brand and id are its expressions over the staged table, aliased s), and
// whether some id appears on more than one row.
func batchIDs(ctx context.Context, q queryer, brand, id, table string) ([][2]string, bool, error) {
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT %s, %s, count(*) FROM %s s WHERE s.event_id IS NOT NULL GROUP BY ALL`, brand, id, table))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out [][2]string
	repeated := false
	for rows.Next() {
		var p [2]string
		var n int64
		if err := rows.Scan(&p[0], &p[1], &n); err != nil {
			return nil, false, err
		}
		out = append(out, p)
		repeated = repeated || n > 1
	}
	return out, repeated, rows.Err()
}

// dropDuplicates copies the rows of the staged table to store into fresh:
// those without an id, and the first of each id that is not in known (the
// ids stored before). It returns the rows left out, by batch row.
func dropDuplicates(ctx context.Context, conn *sql.Conn, staged, fresh, brand, id string, known [][2]string) ([]Duplicate, error) {
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_known (brand VARCHAR, event_id VARCHAR)`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS _nudge_known`)
	if len(known) > 0 {
		var vals []string
		for _, k := range known {
			vals = append(vals, fmt.Sprintf("(%s, %s)", quoteString(k[0]), quoteString(k[1])))
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO _nudge_known VALUES `+strings.Join(vals, ", ")); err != nil {
			return nil, err
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE %[3]s AS
SELECT s.*, s.rowid AS _nudge_row FROM %[4]s s
QUALIFY s.event_id IS NULL OR (
  NOT EXISTS (SELECT 1 FROM _nudge_known e WHERE e.brand = %[1]s AND e.event_id = %[2]s)
  AND s.rowid = min(s.rowid) OVER (PARTITION BY %[1]s, %[2]s))
ORDER BY s.rowid`, brand, id, fresh, staged)); err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, fmt.Sprintf(`SELECT rowid + 1, CAST(event_id AS VARCHAR) FROM %s
WHERE rowid NOT IN (SELECT _nudge_row FROM %s) ORDER BY rowid`, staged, fresh))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Duplicate
	for rows.Next() {
		var d Duplicate
		if err := rows.Scan(&d.Row, &d.EventID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// pairs reads a query of two VARCHAR columns.
func pairs(ctx context.Context, q queryer, query string) ([][2]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// existing returns which (brand, key) pairs table holds. DuckDB answers
// a lookup of its (brand, col) primary key by scanning the table (an index
// serves single-column keys only), so each brand's keys are looked up in
// one statement, one scan joined with the keys, however many they are.
func existing(ctx context.Context, q queryer, table, col string, keys [][2]string) ([][2]string, error) {
	byBrand := map[string][]string{}
	var brands []string
	for _, k := range keys {
		if _, ok := byBrand[k[0]]; !ok {
			brands = append(brands, k[0])
		}
		byBrand[k[0]] = append(byBrand[k[0]], k[1])
	}
	var out [][2]string
	for _, b := range brands {
		rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT brand, %[1]s FROM %[2]s WHERE brand = $brand::VARCHAR AND %[1]s IN (SELECT unnest(%[3]s))`,
			quoteIdent(col), quoteIdent(table), jsonStrings("keys")), sql.Named("brand", b), jsonArg("keys", byBrand[b]))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p [2]string
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// noteWaitingByKey is noteWaiting for a small range of seqs: the members of
// the range that members does not know are looked up by key rather than by
// joining the members table, which reads every member.
func noteWaitingByKey(ctx context.Context, tx *sql.Tx, members *knownMembers, from, to int64) (int64, error) {
	ms, err := pairs(ctx, tx, fmt.Sprintf(`SELECT DISTINCT brand, member_id FROM events WHERE seq > %d AND seq <= %d`, from, to))
	if err != nil {
		return 0, err
	}
	if err := members.load(ctx, tx, ms); err != nil {
		return 0, err
	}
	ms = members.filter(ms)
	if len(ms) == 0 {
		return 0, nil
	}
	known, err := existing(ctx, tx, "members", "member_id", ms)
	if err != nil {
		return 0, err
	}
	members.add(known)
	if len(known) == len(ms) {
		return 0, nil
	}
	have := map[[2]string]bool{}
	for _, k := range known {
		have[k] = true
	}
	var missing []string
	for _, m := range ms {
		if !have[m] {
			missing = append(missing, fmt.Sprintf("(%s, %s)", quoteString(m[0]), quoteString(m[1])))
		}
	}
	r, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO waiting_events
SELECT e.brand, e.member_id, e.seq, e.ts FROM events e
WHERE e.seq > %d AND e.seq <= %d AND (e.brand, e.member_id) IN (SELECT * FROM (VALUES %s))
ORDER BY e.seq`, from, to, strings.Join(missing, ", ")))
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
