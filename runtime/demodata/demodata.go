package demodata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"nudge/runtime/internal/eventorder"
)

// DefaultNow is the demo clock: the moment at which every business case of
// SPEC §1 has qualifying members (Double 11, 10:00). Run the examples with
// `nudge run --now "2024-11-11 10:00"` against data generated for it.
var DefaultNow = time.Date(2024, 11, 11, 10, 0, 0, 0, time.UTC)

// DefaultMembers is the member count used when Options.Members is zero.
const DefaultMembers = 100_000

// chunkMembers is how many members one set-based SQL step generates; Progress
// is reported after each chunk. At most 2^17 (see the sort key of eventsSQL).
const chunkMembers = 100_000

// MaxMembers is the largest Options.Members: member ids have eight digits.
const MaxMembers = 99_999_999

// Options control Generate.
type Options struct {
	// Members is the number of members to generate (all brands together);
	// zero means DefaultMembers.
	Members int
	// Seed makes the data: the same Seed, Members and Now give identical tables.
	Seed int64
	// Now is the clock the data is generated for; every event is at or before
	// it and the business cases qualify at it. Zero means DefaultNow. Only the
	// wall-clock fields are used (timestamps are naive).
	Now time.Time
	// Progress, if set, is called after each chunk with the number of members
	// generated so far and the total.
	Progress func(done, total int)

	chunk int // members per chunk; zero means chunkMembers (tests set it)
	// clusterMin is the fewest events written in the clustered order; zero
	// means eventorder.MinEvents (tests set it).
	clusterMin int64
}

// BrandStats counts one brand's generated rows.
type BrandStats struct {
	Members int64
	Events  int64
}

// Stats describes what Generate wrote.
type Stats struct {
	Members int64
	Events  int64
	// Brands maps a brand name to its counts.
	Brands  map[string]BrandStats
	Elapsed time.Duration
}

// BrandNames returns the brands of s in sorted order.
func (s Stats) BrandNames() []string {
	names := make([]string, 0, len(s.Brands))
	for b := range s.Brands {
		names = append(names, b)
	}
	sort.Strings(names)
	return names
}

// Generate fills the members and events tables of db (which must exist, see
// stdlib.SchemaSQL, and members must be empty) with opts.Members members and
// their event histories. Events get seq numbers after any existing ones, in
// time order, as if they had been imported as they happened: a tick's
// queries then read few row groups for recent or time-bounded events
// (DuckDB skips row groups by the min and max of ts and seq).
//
// Each chunk of members is its own transaction (one transaction of millions
// of rows costs DuckDB a quarter more time); on error or cancellation the
// rows written so far are deleted again, so nothing is left behind. The
// caller must not write members or events while Generate runs.
func Generate(ctx context.Context, db *sql.DB, opts Options) (Stats, error) {
	start := time.Now()
	if opts.Members < 0 {
		return Stats{}, fmt.Errorf("demodata: members must not be negative, got %d", opts.Members)
	}
	if opts.Members > MaxMembers {
		return Stats{}, fmt.Errorf("demodata: at most %d members, got %d", MaxMembers, opts.Members)
	}
	if opts.Members == 0 {
		opts.Members = DefaultMembers
	}
	if opts.Now.IsZero() {
		opts.Now = DefaultNow
	}

	conn, err := db.Conn(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("demodata: %w", err)
	}
	defer conn.Close()

	var existing int64
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM members`).Scan(&existing); err != nil {
		return Stats{}, fmt.Errorf("demodata: reading members (create the tables of stdlib.SchemaSQL first): %w", err)
	}
	if existing > 0 {
		return Stats{}, fmt.Errorf("demodata: members table already holds %d rows; generate into an empty database", existing)
	}
	var base int64
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&base); err != nil {
		return Stats{}, fmt.Errorf("demodata: reading events: %w", err)
	}

	g := gen{seed: opts.Seed, now: opts.Now}
	total := int64(opts.Members)
	step := int64(chunkMembers)
	if opts.chunk > 0 {
		step = int64(opts.chunk)
	}
	seq := base
	for lo := int64(0); lo < total; lo += step {
		hi := min(lo+step, total)
		n, err := g.chunk(ctx, conn, lo, hi, seq)
		if err != nil {
			return Stats{}, errors.Join(fmt.Errorf("demodata: members %d..%d: %w", lo, hi-1, err), undo(conn, base))
		}
		seq += n
		if opts.Progress != nil {
			opts.Progress(int(hi), int(total))
		}
	}
	clusterMin := opts.clusterMin
	if clusterMin == 0 {
		clusterMin = eventorder.MinEvents
	}
	if err := reorder(ctx, conn, base, clusterMin); err != nil {
		return Stats{}, errors.Join(fmt.Errorf("demodata: ordering events by time: %w", err), undo(conn, base))
	}
	stats, err := countStats(ctx, conn, base)
	if err != nil {
		return Stats{}, errors.Join(err, undo(conn, base))
	}
	stats.Elapsed = time.Since(start)
	return stats, nil
}

// reorder renumbers the events after seq base in time order (members are
// generated chunk by chunk, each in member order) and rewrites them: in the
// clustered order (package eventorder) when they are at least clusterMin
// and the events before them are so too, as an import of as many would,
// else in time order.
func reorder(ctx context.Context, conn *sql.Conn, base, clusterMin int64) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE seq > $base::BIGINT`, sql.Named("base", base)).Scan(&n); err != nil {
		return err
	}
	sorted := false
	if n >= clusterMin { // (the runtime's counters table exists)
		var clustered int64
		if err := tx.QueryRowContext(ctx, `SELECT `+eventorder.ClusteredSeqSQL).Scan(&clustered); err != nil {
			return err
		}
		sorted = clustered == base
	}
	renumbered := `SELECT * REPLACE ($base::BIGINT + row_number() OVER (ORDER BY ts, seq) AS seq) FROM _demo_ev`
	insert := `INSERT INTO events ` + renumbered + ` ORDER BY ts, seq`
	if sorted {
		insert = `INSERT INTO events ` + eventorder.Sorted(renumbered)
	}
	for _, q := range []string{
		`CREATE OR REPLACE TEMP TABLE _demo_ev AS SELECT * FROM events WHERE seq > $base::BIGINT`,
		`DELETE FROM events WHERE seq > $base::BIGINT`,
		insert,
		`DROP TABLE _demo_ev`,
	} {
		if _, err := tx.ExecContext(ctx, q, sql.Named("base", base)); err != nil {
			return err
		}
	}
	if sorted {
		if _, err := tx.ExecContext(ctx, eventorder.MarkClusteredSQL, sql.Named("upto", base+n)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// undo deletes what a failed Generate wrote: every member (the table was
// empty) and the events after seq base. It runs even when the context that
// failed Generate is cancelled.
func undo(conn *sql.Conn, base int64) error {
	ctx := context.Background()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("demodata: undo: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, q := range []string{
		`DELETE FROM events WHERE seq > $base::BIGINT`,
		`DELETE FROM members`,
		`DROP TABLE IF EXISTS _demo_m`,
		`DROP TABLE IF EXISTS _demo_p`,
	} {
		if _, err := tx.ExecContext(ctx, q, sql.Named("base", base)); err != nil {
			return fmt.Errorf("demodata: undo: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("demodata: undo: %w", err)
	}
	return nil
}

// chunk generates members [lo, hi) and their events in one transaction,
// numbering events from seq+1, and returns the number of events written.
func (g gen) chunk(ctx context.Context, conn *sql.Conn, lo, hi, seq int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	steps := []struct{ what, sql string }{
		{"member plan", g.memberPlanSQL(lo, hi)},
		{"members", g.membersSQL()},
		{"purchases", g.purchasesSQL()},
	}
	for _, s := range steps {
		if _, err := tx.ExecContext(ctx, s.sql); err != nil {
			return 0, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	res, err := tx.ExecContext(ctx, g.eventsSQL(lo, seq))
	if err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	for _, t := range []string{"_demo_m", "_demo_p"} {
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+t); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}

func countStats(ctx context.Context, conn *sql.Conn, base int64) (Stats, error) {
	st := Stats{Brands: map[string]BrandStats{}}
	rows, err := conn.QueryContext(ctx, `
		SELECT m.brand, m.n, coalesce(e.n, 0)
		FROM (SELECT brand, count(*) AS n FROM members GROUP BY brand) m
		LEFT JOIN (SELECT brand, count(*) AS n FROM events WHERE seq > $base::BIGINT GROUP BY brand) e
		  USING (brand)`, sql.Named("base", base))
	if err != nil {
		return Stats{}, fmt.Errorf("demodata: counting: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b string
		var bs BrandStats
		if err := rows.Scan(&b, &bs.Members, &bs.Events); err != nil {
			return Stats{}, fmt.Errorf("demodata: counting: %w", err)
		}
		st.Brands[b] = bs
		st.Members += bs.Members
		st.Events += bs.Events
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("demodata: counting: %w", err)
	}
	return st, nil
}
