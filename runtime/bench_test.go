package runtime

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/examples"
	"nudge/internal/cputime"
	"nudge/lang"
	"nudge/runtime/demodata"
	"nudge/stdlib"
)

// Benchmarks. With NUDGE_BENCH_DB=path/to/demo.duckdb (e.g. made by
// `nudge demo --members 1000000`) they run on a copy of that database;
// otherwise on a generated database of benchMembers members.
const benchMembers = 50_000

// benchDB returns a database for benchmarks: a private copy of
// NUDGE_BENCH_DB, or a generated one.
func benchDB(b testing.TB) *DB {
	b.Helper()
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.duckdb")
	if src := os.Getenv("NUDGE_BENCH_DB"); src != "" {
		copyFileB(b, src, path)
		if _, err := os.Stat(src + ".wal"); err == nil {
			copyFileB(b, src+".wal", path+".wal")
		}
		db, err := Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}
	return demoDB(b, path, benchMembers)
}

func copyFileB(b testing.TB, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

// newEventsCSV writes n new events of brand acme members near now: queued
// at store A, purchases and browses (so trigger rules have work).
func newEventsCSV(b testing.TB, db *DB, path string, n int, now time.Time, salt int) {
	b.Helper()
	q := fmt.Sprintf(`COPY (
		SELECT member_id, brand,
		       (['queued', 'purchased', 'browsed', 'order_placed'])[1 + (hash(member_id || %d) %% 4)::INTEGER] AS type,
		       $now::TIMESTAMP - to_microseconds((hash(member_id || 'ts' || %d) %% 3600000000)::BIGINT) AS ts,
		       'A' AS store, 'TB-10PK' AS sku, 59.0 AS amount, 'o' || member_id || '-%d' AS order_id
		FROM (SELECT member_id, brand FROM members WHERE brand = 'acme' ORDER BY hash(member_id || %d) LIMIT %d)
	) TO %s (HEADER)`, salt, salt, salt, salt, n, quoteString(path))
	if _, err := db.sql.ExecContext(context.Background(), q, withNow(now)...); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	src := benchDB(b)
	path := filepath.Join(b.TempDir(), "events.csv")
	const rows = 200_000
	if _, err := src.sql.ExecContext(ctx, fmt.Sprintf(`COPY (SELECT * EXCLUDE (seq) FROM events LIMIT %d) TO %s (HEADER)`, rows, quoteString(path))); err != nil {
		b.Fatal(err)
	}
	parquet := filepath.Join(b.TempDir(), "events.parquet")
	if _, err := src.sql.ExecContext(ctx, fmt.Sprintf(`COPY (SELECT * EXCLUDE (seq) FROM events LIMIT %d) TO %s (FORMAT parquet)`, rows, quoteString(parquet))); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{path, parquet} {
		b.Run(filepath.Ext(f)[1:], func(b *testing.B) {
			var total int64
			for b.Loop() {
				b.StopTimer()
				db, err := Open(ctx, "")
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := db.Import(ctx, "events", []string{f})
				if err != nil {
					b.Fatal(err)
				}
				total += res.Rows
				b.StopTimer()
				db.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func BenchmarkTick(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	prog := compileFile(b, "testdata/spec.nudge")
	now := demodata.DefaultNow
	var members int64
	db.sql.QueryRowContext(ctx, `SELECT count(*) FROM members`).Scan(&members)
	b.Logf("%d members, %d events", members, count(b, db, `SELECT count(*) FROM events`))

	// A full tick evaluates every rule over every member; as a dry run it
	// is repeatable.
	b.Run("full-dry", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true, SkipDecisions: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The first committed tick writes every decision.
	b.Run("first", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			res, err := db.Run(ctx, prog, RunOptions{Now: now.Add(time.Duration(i) * time.Second), SkipDecisions: true})
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				logTick(b, res)
			}
		}
	})
	// Incremental: import 10,000 new events (not timed), then tick.
	b.Run("incremental-10k", func(b *testing.B) {
		dir := b.TempDir()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			at := now.Add(time.Duration(i+1) * time.Hour)
			p := filepath.Join(dir, fmt.Sprintf("new%d.csv", i))
			newEventsCSV(b, db, p, 10_000, at, i)
			if _, err := db.Import(ctx, "events", []string{p}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			res, err := db.Run(ctx, prog, RunOptions{Now: at, SkipDecisions: true})
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				logTick(b, res)
			}
		}
	})
}

func logTick(b *testing.B, res *RunResult) {
	var firings int64
	for _, s := range res.Rules {
		firings += s.Firings
	}
	b.Logf("tick: %d firings; steps %v", firings, res.Timings)
}

func withNow(t time.Time) []any { return []any{namedNow(t)} }

// BenchmarkExamplesTick measures the ticks of all example rules and
// journeys: on a database whose rules have not run yet the first (full)
// tick, then incremental ticks, each after importing 10,000 new events an
// hour later (the import is not timed); it reports the journeys step's
// share and how many journey instances were active before them. Use NUDGE_BENCH_DB for the 1,000,000-member
// figures of the runtime issue.
// traceStatements, with NUDGE_BENCH_TRACE set, logs at the end of the
// benchmark the statements the ticks since the call spent most time in (the
// mean per statement and how many ran).
func traceStatements(b *testing.B) {
	if os.Getenv("NUDGE_BENCH_TRACE") == "" {
		return
	}
	type stat struct {
		n    int
		took time.Duration
	}
	var mu sync.Mutex
	stats := map[string]*stat{}
	// NUDGE_BENCH_TRACE=cpu counts the process's CPU time (user and
	// system) since the previous statement instead of wall time: the tick
	// runs one statement at a time, and on a loaded machine wall time
	// measures the load.
	cpu := os.Getenv("NUDGE_BENCH_TRACE") == "cpu"
	last := cputime.Process()
	traceSQL = func(q string, took time.Duration) {
		if cpu {
			now := cputime.Process()
			took, last = now-last, now
		}
		key := strings.Join(strings.Fields(q), " ")
		key = key[:min(len(key), 100)]
		mu.Lock()
		defer mu.Unlock()
		if stats[key] == nil {
			stats[key] = &stat{}
		}
		stats[key].n++
		stats[key].took += took
	}
	b.Cleanup(func() {
		traceSQL = nil
		keys := slices.SortedFunc(maps.Keys(stats), func(x, y string) int { return cmp.Compare(stats[y].took, stats[x].took) })
		for _, k := range keys[:min(len(keys), 20)] {
			b.Logf("%10v %5d %10v  %s", stats[k].took/time.Duration(stats[k].n), stats[k].n, stats[k].took, k)
		}
	})
}

func BenchmarkExamplesTick(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	prog := compileExamples(b)
	now := demodata.DefaultNow
	var ran int64
	db.sql.QueryRowContext(ctx, `SELECT count(*) FROM rule_evals`).Scan(&ran)
	if ran == 0 {
		// The first tick (or the first since the database was made by an
		// older nudge) evaluates every member.
		start := time.Now()
		res, err := db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("full tick: %v", time.Since(start))
		logRules(b, res)
	}
	// The examples' journeys: members inside one are what a tick's
	// journey step reads.
	active := logJourneys(b, db, prog)
	dir := b.TempDir()
	traceStatements(b) // of the incremental ticks
	tcpu := journeyCPU(b)
	b.Run("incremental-10k", func(b *testing.B) {
		var journeys, cpu time.Duration
		tcpu.journeys, tcpu.rules = 0, 0
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			at := now.Add(time.Duration(i+1) * time.Hour)
			p := filepath.Join(dir, fmt.Sprintf("new%d.csv", i))
			newEventsCSV(b, db, p, 10_000, at, i)
			if _, err := db.Import(ctx, "events", []string{p}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start, startCPU, startJ := time.Now(), cputime.Process(), tcpu.journeys
			tcpu.start()
			res, err := db.Run(ctx, prog, RunOptions{Now: at, SkipDecisions: true})
			if err != nil {
				b.Fatal(err)
			}
			cpu += cputime.Process() - startCPU
			b.Logf("incremental tick %d: %v, CPU %v (journeys step %v, CPU of its statements %v)", i, time.Since(start), cputime.Process()-startCPU,
				stepTook(res, "journeys"), tcpu.journeys-startJ)
			journeys += stepTook(res, "journeys")
			if i < 2 || os.Getenv("NUDGE_BENCH_VERBOSE") != "" {
				logRules(b, res)
			}
		}
		b.ReportMetric(float64(journeys.Milliseconds())/float64(b.N), "journeys-ms/op")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric(float64(tcpu.journeys.Milliseconds())/float64(b.N), "journeys-cpu-ms/op")
		b.ReportMetric(float64(tcpu.rules.Milliseconds())/float64(b.N), "rules-cpu-ms/op")
		b.ReportMetric(float64(active), "active-instances")
	})
}

func logRules(b *testing.B, res *RunResult) {
	logTick(b, res)
	for _, s := range res.Rules {
		b.Logf("  %-22s trigger=%-5v incremental=%-5v %8d cand %8d firings %8d repeats", s.Rule, s.Trigger, s.Incremental, s.Candidates, s.Firings, s.Repeats)
	}
}

// compileExamples compiles every example rule file as one program, as
// `nudge demo` runs them.
func compileExamples(b testing.TB) *compiler.Program {
	b.Helper()
	names, err := fs.Glob(examples.Files, "*.nudge")
	if err != nil {
		b.Fatal(err)
	}
	var srcs []lang.Source
	for _, n := range names {
		if strings.HasSuffix(n, lang.TestSuffix) {
			continue
		}
		src, err := fs.ReadFile(examples.Files, n)
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, lang.Source{Name: n, Src: src})
	}
	p, diags := lang.LoadSources(srcs, stdlib.Env())
	if p == nil || diags.HasErrors() {
		b.Fatal(diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if prog == nil || diags.HasErrors() {
		b.Fatal(diags)
	}
	return prog
}

// BenchmarkQuietTick measures the ticks of all example rules and journeys
// when nothing arrived: after the first (full) tick and one incremental
// tick of 10,000 new events, ticks five minutes apart with no new event.
// Their cost should not grow with the base (compare NUDGE_BENCH_DB
// databases of different sizes); NUDGE_BENCH_TRACE=1 lists their costliest
// statements.
func BenchmarkQuietTick(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	prog := compileExamples(b)
	now := demodata.DefaultNow
	var ran int64
	db.sql.QueryRowContext(ctx, `SELECT count(*) FROM rule_evals`).Scan(&ran)
	if ran == 0 {
		if _, err := db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true}); err != nil {
			b.Fatal(err)
		}
	}
	at := now.Add(time.Hour)
	p := filepath.Join(b.TempDir(), "new.csv")
	newEventsCSV(b, db, p, 10_000, at, 0)
	if _, err := db.Import(ctx, "events", []string{p}); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Run(ctx, prog, RunOptions{Now: at, SkipDecisions: true}); err != nil {
		b.Fatal(err)
	}
	traceStatements(b)
	var cpu time.Duration
	for i := 1; b.Loop(); i++ {
		startCPU := cputime.Process()
		res, err := db.Run(ctx, prog, RunOptions{Now: at.Add(time.Duration(i) * 5 * time.Minute), SkipDecisions: true})
		if err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Process() - startCPU
		if i == 1 {
			logRules(b, res)
		}
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}
