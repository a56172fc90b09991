package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The database's time zone (SPEC §6). Timestamps are stored as naive local
// times in it; it is UTC until an import sets it (`nudge import --tz`), and
// once recorded it never changes: the stored times would mean other
// instants. Import converts every timestamp that carries an offset, a `Z`
// or a zone name into it, whatever the file's format, and keeps naive ones
// as they are (they already are local times).

// DefaultTimeZone is the zone of a database whose zone was never set.
const DefaultTimeZone = "UTC"

// timeZoneSetting names the database's time zone in the settings table.
const timeZoneSetting = "time_zone"

// settingsSQL (migration 8) holds named settings of the database: the time
// zone, recorded by the first import that sets one.
const settingsSQL = `
CREATE TABLE IF NOT EXISTS settings (
    name  VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
`

// ErrUnknownTimeZone is the reason a zone name is refused.
var ErrUnknownTimeZone = errors.New("unknown time zone")

// TimeZoneMismatchError is the refusal of a zone other than the one the
// database recorded.
type TimeZoneMismatchError struct {
	Recorded, Requested string
}

func (e *TimeZoneMismatchError) Error() string {
	return fmt.Sprintf("the database's time zone is %s, not %s: its timestamps are local times in %s (the zone is set once, by the first import that gives one)",
		e.Recorded, e.Requested, e.Recorded)
}

// TimeZone returns the database's time zone: the recorded one, or
// DefaultTimeZone.
func (db *DB) TimeZone(ctx context.Context) (string, error) {
	zone, err := recordedZone(ctx, db.sql)
	if err != nil || zone == "" {
		return DefaultTimeZone, err
	}
	return zone, nil
}

// WallClock returns the current time as a naive local time in the
// database's time zone, in whole seconds: the now of a tick without --now
// (the machine's own zone does not matter).
func (db *DB) WallClock(ctx context.Context) (time.Time, error) {
	zone, err := db.TimeZone(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var t time.Time
	err = db.sql.QueryRowContext(ctx, `SELECT date_trunc('second', timezone($z::VARCHAR, get_current_timestamp()))`, sql.Named("z", zone)).Scan(&t)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the clock in %s: %w", zone, err)
	}
	return naive(t), nil
}

// recordedZone returns the zone recorded in the settings table, "" when none.
func recordedZone(ctx context.Context, q queryer) (string, error) {
	var zone string
	err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $n::VARCHAR`, sql.Named("n", timeZoneSetting)).Scan(&zone)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the database's time zone: %w", err)
	}
	return zone, nil
}

// canonicalZone returns the name DuckDB knows for zone (an IANA name such
// as Asia/Shanghai, or UTC; matched case-insensitively, the exact spelling
// first), or an error wrapping ErrUnknownTimeZone.
func canonicalZone(ctx context.Context, q queryer, zone string) (string, error) {
	var name string
	err := q.QueryRowContext(ctx, `SELECT name FROM pg_timezone_names() WHERE lower(name) = lower($z::VARCHAR)
		ORDER BY name = $z::VARCHAR DESC, name LIMIT 1`, sql.Named("z", zone)).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w %q; use an IANA name such as Asia/Shanghai, or UTC", ErrUnknownTimeZone, zone)
	}
	if err != nil {
		return "", fmt.Errorf("looking up time zone %q: %w", zone, err)
	}
	return name, nil
}

// importZone returns the zone an import converts timestamps into: requested
// (validated, and refused when the database recorded another one) or the
// recorded zone or DefaultTimeZone; record says the import must record it.
func importZone(ctx context.Context, q queryer, requested string) (zone string, record bool, err error) {
	recorded, err := recordedZone(ctx, q)
	if err != nil {
		return "", false, err
	}
	if requested == "" {
		if recorded == "" {
			return DefaultTimeZone, false, nil
		}
		return recorded, false, nil
	}
	zone, err = canonicalZone(ctx, q, requested)
	if err != nil {
		return "", false, err
	}
	switch recorded {
	case "":
		return zone, true, nil
	case zone:
		return zone, false, nil
	}
	return "", false, &TimeZoneMismatchError{Recorded: recorded, Requested: zone}
}

// recordZone records zone as the database's time zone (in the import's
// transaction: a failed import records nothing).
func recordZone(ctx context.Context, tx *sql.Tx, zone string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO settings VALUES ($n::VARCHAR, $z::VARCHAR)`, sql.Named("n", timeZoneSetting), sql.Named("z", zone))
	if err != nil {
		return fmt.Errorf("recording the time zone: %w", err)
	}
	return nil
}

// zonedTextRE matches a timestamp text that ends in a zone designator
// after its time of day: Z, an offset (+08, +0800, +08:00, -03:30:00) or
// a zone name (UTC, EST, Asia/Shanghai). DuckDB's cast to TIMESTAMP
// ignores some of these (2024-11-11T10:00:00+08:00 becomes 10:00), so a
// zoned text is read as a TIMESTAMPTZ instead.
const zonedTextRE = `\d:\d\d(:\d\d(\.\d*)?)?\s*([zZ]|[+-]\d\d?(:?\d\d){0,2}|[A-Za-z][A-Za-z0-9_/+-]*)\s*$`

// farOffsetRE matches a timestamp text whose offset from UTC is 15 hours
// or more (+15:00 to -99:59): no time zone is (they span -12:00 to
// +14:00), and DuckDB takes it as written (+99:00 moved the time four days
// back), so it is a bad value, not a time.
const farOffsetRE = `\d:\d\d(:\d\d(\.\d*)?)?\s*[+-](1[5-9]|[2-9]\d)(:?\d\d){0,2}\s*$`

// farOffset is farOffsetRE for Go (diagnose's reason).
var farOffset = regexp.MustCompile(farOffsetRE)

// timestampConversion converts the value of a file's column (SQL col, of DuckDB
// type srcType) into a naive timestamp in zone, the one conversion of every
// file format: an instant (TIMESTAMPTZ, as Parquet stores UTC-adjusted
// timestamps) and a text with a zone designator become the local time in
// zone; a naive timestamp or text is kept as it is. A time outside the
// years 0000 to 9999 (as --now takes; DuckDB's own range reaches the year
// 294247 and infinity, which reads of it into Go then cannot take) is an
// error. With try, a value that does not convert or is out of range is
// NULL (to find the bad row) instead of an error.
func timestampConversion(col, srcType, zone string, try bool) string {
	cast := "CAST"
	if try {
		cast = "TRY_CAST"
	}
	z := quoteString(zone)
	var conv string
	switch strings.ToUpper(srcType) {
	case "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
		conv = fmt.Sprintf("timezone(%s, %s)", z, col)
	case "TIMESTAMP":
		conv = col
	default:
		far := "error('a timestamp offset 15 hours or more from UTC')"
		if try {
			far = "NULL"
		}
		conv = fmt.Sprintf("CASE WHEN regexp_matches(CAST(%[1]s AS VARCHAR), %[5]s) THEN %[6]s WHEN regexp_matches(CAST(%[1]s AS VARCHAR), %[2]s) THEN timezone(%[3]s, %[4]s(%[1]s AS TIMESTAMPTZ)) ELSE %[4]s(%[1]s AS TIMESTAMP) END",
			col, quoteString(zonedTextRE), z, cast, quoteString(farOffsetRE), far)
	}
	outside := "ELSE error('a timestamp outside the years 0000 to 9999')"
	if try {
		outside = ""
	}
	// (DuckDB computes the repeated conversion once.)
	return fmt.Sprintf("CASE WHEN (%[1]s) >= %[2]s AND (%[1]s) < %[3]s THEN (%[1]s) WHEN (%[1]s) IS NULL THEN NULL %[4]s END", conv, timestampFrom, timestampTo, outside)
}

// timestampFrom and timestampTo bound the times nudge stores: [from, to).
const (
	timestampFrom = "TIMESTAMP '0000-01-01 00:00:00'"
	timestampTo   = "TIMESTAMP '10000-01-01 00:00:00'"
)
