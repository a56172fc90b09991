package engine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"nudge/runtime"
)

// BenchmarkAudience evaluates conditions the way `nudge repl` does, opening
// the database file for each input (NewFile), against an engine holding it
// open (New), on a copy of NUDGE_BENCH_DB (e.g. made by `nudge demo
// --members 1000000`; brand acme, now 2024-11-11 12:00):
//
//	NUDGE_BENCH_DB=demo.duckdb go test -run '^$' -bench Audience -benchtime 8x ./repl/engine/
func BenchmarkAudience(b *testing.B) {
	src := os.Getenv("NUDGE_BENCH_DB")
	if src == "" {
		b.Skip("set NUDGE_BENCH_DB to a demo database")
	}
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.duckdb")
	copyBenchFile(b, src, path)
	db, err := runtime.Open(ctx, path) // created once, as repl.Run does a missing file
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	now := testNow
	opts := Options{Now: &now, Brand: "acme"}
	conds := []struct{ name, input string }{
		{"events", "purchased in last 30 days"},
		{"members", `member.city = "长沙"`},
	}
	// cpu-ms/op is the process's CPU time (DuckDB's threads included) per
	// input: on a shared machine it varies less than the wall time.
	run := func(b *testing.B, e *Engine, input string) {
		start := cpuTime()
		for b.Loop() {
			if _, err := e.Eval(ctx, input); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
	for _, c := range conds {
		b.Run("file/"+c.name, func(b *testing.B) { run(b, NewFile(path, opts), c.input) })
		b.Run("held/"+c.name, func(b *testing.B) {
			db, err := runtime.OpenReadOnly(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run(b, New(db, opts), c.input)
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func copyBenchFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
