package runtime

import (
	"cmp"
	"context"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
)

// logJourneys logs where the program's journeys stand for brand acme and
// returns how many instances are active (members inside a journey).
func logJourneys(b *testing.B, db *DB, prog *compiler.Program) int64 {
	b.Helper()
	counts, err := db.JourneyCounts(context.Background(), prog, "acme")
	if err != nil {
		b.Fatal(err)
	}
	var active int64
	for _, c := range counts {
		b.Logf("  journey %-16s entered %8d active %8d exited %8d completed %8d", c.Journey, c.Entered, c.Active, c.Exited, c.Completed)
		active += c.Active
	}
	return active
}

// stepTook is how long the tick's step named step took (0 when it did not
// run).
func stepTook(res *RunResult, step string) time.Duration {
	for _, s := range res.Timings {
		if s.Step == step {
			return s.Took
		}
	}
	return 0
}

// journeyStatement matches a statement of the tick's journeys step (its
// tables).
var journeyStatement = regexp.MustCompile(`_nudge_j|journey_instances`)

// journeyCPU chains a statement hook to traceSQL that adds to the returned
// counter the process CPU of every journey statement: the CPU used since
// the previous statement ended, so a statement the hook does not see (a
// count read back) is charged to the next one. With NUDGE_BENCH_TRACE set
// it logs at the end of the benchmark the journey statements that took
// most CPU (total, runs, the statement's start).
func journeyCPU(b *testing.B) *time.Duration {
	var total time.Duration
	type stat struct {
		n   int
		cpu time.Duration
	}
	stats := map[string]*stat{}
	prev, last := traceSQL, processCPU()
	traceSQL = func(q string, took time.Duration) {
		if prev != nil {
			prev(q, took)
		}
		now := processCPU()
		d := now - last
		last = now
		if !journeyStatement.MatchString(q) {
			return
		}
		total += d
		key := strings.Join(strings.Fields(q), " ")
		key = key[:min(len(key), 110)]
		if stats[key] == nil {
			stats[key] = &stat{}
		}
		stats[key].n++
		stats[key].cpu += d
	}
	b.Cleanup(func() {
		traceSQL = prev
		if os.Getenv("NUDGE_BENCH_TRACE") == "" {
			return
		}
		keys := slices.SortedFunc(maps.Keys(stats), func(x, y string) int { return cmp.Compare(stats[y].cpu, stats[x].cpu) })
		for _, k := range keys[:min(len(keys), 15)] {
			b.Logf("journey CPU %10v %5d  %s", stats[k].cpu, stats[k].n, k)
		}
	})
	return &total
}
