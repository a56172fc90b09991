package runtime

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestMemoryLimit: a database opens with DuckDB's memory bounded to
// defaultMemoryLimit (DuckDB's default is 80 % of the machine), NUDGE_MEMORY_LIMIT
// overrides it and NUDGE_TEMP_DIRECTORY the spill directory, and a bad
// value is an error naming the variable.
func TestMemoryLimit(t *testing.T) {
	ctx := context.Background()
	setting := func(db *DB, name string) string {
		var v string
		if err := db.sql.QueryRowContext(ctx, `SELECT current_setting('`+name+`')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	size := func(s string) int64 {
		n, err := parseSize(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return n
	}
	dir := t.TempDir()

	t.Setenv(MemoryLimitEnv, "")
	db, err := Open(ctx, filepath.Join(dir, "a.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	got := size(setting(db, "memory_limit"))
	db.Close()
	// DuckDB's own default, on a fresh connector with nothing set.
	raw := openTest(t)
	if _, err := raw.sql.ExecContext(ctx, `RESET memory_limit`); err != nil {
		t.Fatal(err)
	}
	def := size(setting(raw, "memory_limit"))
	want := defaultMemoryLimit(def)
	if got < want*95/100 || got > want*105/100 { // (DuckDB prints one decimal)
		t.Errorf("default memory_limit = %d bytes, want about %d (DuckDB's default %d)", got, want, def)
	}

	t.Setenv(MemoryLimitEnv, "300MiB")
	t.Setenv(TempDirectoryEnv, filepath.Join(dir, "spill"))
	for name, open := range map[string]func() (*DB, error){
		"Open":         func() (*DB, error) { return Open(ctx, filepath.Join(dir, "a.duckdb")) },
		"OpenReadOnly": func() (*DB, error) { return OpenReadOnly(ctx, filepath.Join(dir, "a.duckdb")) },
	} {
		db, err := open()
		if err != nil {
			t.Fatal(name, err)
		}
		if got := size(setting(db, "memory_limit")); got < 299<<20 || got > 301<<20 {
			t.Errorf("%s: memory_limit = %d with %s=300MiB", name, got, MemoryLimitEnv)
		}
		if got := setting(db, "temp_directory"); got != filepath.Join(dir, "spill") {
			t.Errorf("%s: temp_directory = %q", name, got)
		}
		db.Close()
	}

	for _, bad := range []string{"lots", "12 parsecs", "10"} {
		t.Setenv(MemoryLimitEnv, bad)
		_, err := Open(ctx, filepath.Join(dir, "a.duckdb"))
		if err == nil || !strings.Contains(err.Error(), MemoryLimitEnv) {
			t.Errorf("%s=%q: %v, want an error naming the variable", MemoryLimitEnv, bad, err)
		}
	}
}

// TestDefaultMemoryLimit: without NUDGE_MEMORY_LIMIT DuckDB's buffers get a
// tenth of the machine's memory (the machine's memory being DuckDB's own
// default limit over 80 %), so that a command's whole process, the limit
// plus what DuckDB holds outside its buffers, stays under 4 GB on the 24 GB
// machine of the 5M-member target: 2.4 GB there, not an eighth's
// 3 GB; small machines get at least 256 MiB.
func TestDefaultMemoryLimit(t *testing.T) {
	const gib = int64(1) << 30
	for _, c := range []struct {
		machine, want int64
	}{
		{24 * gib, 24 * gib / 10},
		{96 * gib, 96 * gib / 10},
		{6 * gib, 6 * gib / 10},
		{2 * gib, 256 << 20}, // a tenth would be 205 MiB
	} {
		duckDBDefault := int64(float64(c.machine) * duckDBDefaultShare)
		got := defaultMemoryLimit(duckDBDefault)
		if d := got - c.want; d < -(1<<20) || d > 1<<20 {
			t.Errorf("machine of %d MiB: default memory_limit %d MiB, want %d MiB", c.machine>>20, got>>20, c.want>>20)
		}
	}
}

// TestThreads: NUDGE_THREADS sets DuckDB's worker threads of every
// database a command opens, and a bad value is an error naming it.
func TestThreads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv(ThreadsEnv, "3")
	// In this order: OpenReadOnly needs the file Open creates.
	for _, c := range []struct {
		name string
		open func() (*DB, error)
	}{
		{"Open", func() (*DB, error) { return Open(ctx, filepath.Join(dir, "a.duckdb")) }},
		{"OpenReadOnly", func() (*DB, error) { return OpenReadOnly(ctx, filepath.Join(dir, "a.duckdb")) }},
	} {
		name := c.name
		db, err := c.open()
		if err != nil {
			t.Fatal(name, err)
		}
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT current_setting('threads')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("%s: threads = %d with %s=3", name, n, ThreadsEnv)
		}
		db.Close()
	}
	for _, bad := range []string{"many", "0", "-2", "1.5"} {
		t.Setenv(ThreadsEnv, bad)
		_, err := Open(ctx, filepath.Join(dir, "a.duckdb"))
		if err == nil || !strings.Contains(err.Error(), ThreadsEnv) {
			t.Errorf("%s=%q: %v, want an error naming the variable", ThreadsEnv, bad, err)
		}
	}
}
