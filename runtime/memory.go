package runtime

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Environment variables bounding DuckDB's memory (docs/performance.md,
// "Memory"). Every command that opens a database reads them.
const (
	// MemoryLimitEnv overrides the memory DuckDB may use for its buffers
	// (e.g. "2GB", "512MiB"); beyond it DuckDB spills to its temp
	// directory. Unset: DefaultMemoryShare of the machine's memory.
	MemoryLimitEnv = "NUDGE_MEMORY_LIMIT"
	// TempDirectoryEnv overrides where DuckDB spills (by default next to
	// the database file, as FILE.tmp).
	TempDirectoryEnv = "NUDGE_TEMP_DIRECTORY"
	// ThreadsEnv sets how many worker threads DuckDB runs statements on
	// (a positive integer). Unset: DuckDB's default, one per core. Fewer
	// leave cores to other processes; the test suite runs with 1, since a
	// tick's many small statements cost more CPU spread over threads.
	ThreadsEnv = "NUDGE_THREADS"
)

// DefaultMemoryShare is the share of the machine's memory (as DuckDB sees
// it, cgroup limits included) DuckDB's buffer manager may use when
// MemoryLimitEnv is unset: a tenth. The limit bounds only the buffer
// manager; a process peaks at the limit plus what DuckDB holds outside it
// (its allocator's cache of freed memory, the bookkeeping of statements
// over millions of rows) plus Go's heap, and that outside part grows with
// the base. An eighth let the first tick of a 5M-member base pass the
// issue's 4 GB a command on a 24 GB machine; a twelfth kept the process
// lower but ran the same tick out of memory (a statement of the policies
// step pins more than that at once); a tenth is between, and leaves room
// for a few nudge processes side by side (the service, an import, a
// report). Measurements: docs/performance.md, "Memory at 5M members,
// fourth pass". DuckDB's own default, 80 %, let a full tick of a
// 5M-member base take most of the machine.
const DefaultMemoryShare = 10

// minMemoryLimit is the least default limit, for small machines.
const minMemoryLimit = 256 << 20

// duckDBDefaultShare is the share of the memory DuckDB's own default
// memory_limit is (80 %).
const duckDBDefaultShare = 0.8

// defaultMemoryLimit is the memory_limit, in bytes, a database gets when
// MemoryLimitEnv is unset, given DuckDB's own default limit in bytes:
// DefaultMemoryShare of the machine's memory, at least minMemoryLimit.
func defaultMemoryLimit(duckDBDefault int64) int64 {
	machine := float64(duckDBDefault) / duckDBDefaultShare
	return max(int64(machine)/DefaultMemoryShare, minMemoryLimit)
}

// configure applies the settings every database nudge opens gets: the
// time zone UTC, memory_limit (MemoryLimitEnv, or DefaultMemoryShare of the
// machine's memory), threads (when ThreadsEnv is set) and temp_directory
// (when TempDirectoryEnv is set). A bad value is an error naming the
// variable.
//
// The time zone: nudge's times are wall-clock times without a zone (the
// database's zone, timezone.go), carried in Go as time.Time values in UTC,
// and the driver binds a time.Time as a TIMESTAMPTZ, which `$now::TIMESTAMP`
// turns into the session zone's wall clock. DuckDB's session zone is the
// host's (TZ), so on a machine set to Asia/Shanghai every tick ran at its
// --now plus eight hours ("days since" one more, windows shifted) until
// the zone was pinned here for every connection (SET GLOBAL).
func configure(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "SET GLOBAL TimeZone = 'UTC'"); err != nil {
		return fmt.Errorf("setting the session time zone: %w", err)
	}
	limit := strings.TrimSpace(os.Getenv(MemoryLimitEnv))
	if limit == "" {
		var def string
		if err := db.QueryRowContext(ctx, `SELECT current_setting('memory_limit')`).Scan(&def); err != nil {
			return err
		}
		n, err := parseSize(def)
		if err != nil {
			return nil // DuckDB's own default stands
		}
		limit = strconv.FormatInt(defaultMemoryLimit(n)>>20, 10) + "MiB"
	} else if _, err := parseSize(limit); err != nil {
		return fmt.Errorf("%s=%q: %v (e.g. 2GB, 512MiB)", MemoryLimitEnv, limit, err)
	}
	if _, err := db.ExecContext(ctx, "SET memory_limit = "+quoteString(limit)); err != nil {
		return fmt.Errorf("%s=%q: %v", MemoryLimitEnv, limit, err)
	}
	if n := strings.TrimSpace(os.Getenv(ThreadsEnv)); n != "" {
		if v, err := strconv.Atoi(n); err != nil || v < 1 {
			return fmt.Errorf("%s=%q: not a positive number of threads", ThreadsEnv, n)
		}
		if _, err := db.ExecContext(ctx, "SET threads = "+n); err != nil {
			return fmt.Errorf("%s=%q: %v", ThreadsEnv, n, err)
		}
	}
	if dir := os.Getenv(TempDirectoryEnv); dir != "" {
		if _, err := db.ExecContext(ctx, "SET temp_directory = "+quoteString(dir)); err != nil {
			return fmt.Errorf("%s=%q: %v", TempDirectoryEnv, dir, err)
		}
	}
	return nil
}

var sizePattern = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`)

// parseSize reads a size as DuckDB writes and takes one: a number and a
// unit (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers
// of 1024; bytes without a unit).
func parseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("not a size")
	}
	x, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("not a size")
	}
	units := map[string]float64{"": 1, "b": 1, "byte": 1, "bytes": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
	u, ok := units[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", m[2])
	}
	if x*u < 1<<20 {
		return 0, fmt.Errorf("below 1MiB")
	}
	return int64(x * u), nil
}
