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
	"nudge/internal/cputime"
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

// tickCPU is the process CPU of a benchmark's tick statements, split
// between the journeys step and the rules' side (every other statement).
type tickCPU struct {
	journeys, rules time.Duration
	last            time.Duration // the process CPU when the previous statement ended
}

// start marks the start of a tick, so that the CPU spent between ticks
// (importing the next events) is charged to no statement.
func (c *tickCPU) start() { c.last = cputime.Process() }

// journeyCPU chains a statement hook to traceSQL that adds to the returned
// counters the process CPU of every journey statement and of every other
// statement of the tick (the rules' side): the CPU used since the previous
// statement ended (or the tick started), so a statement the hook does not
// see (a count read back) is charged to the next one. With
// NUDGE_BENCH_TRACE set it logs at the end of the benchmark the journey
// statements and the rules' statements that took most CPU (total, runs,
// the statement's start).
func journeyCPU(b *testing.B) *tickCPU {
	c := &tickCPU{last: cputime.Process()}
	type stat struct {
		n   int
		cpu time.Duration
	}
	jstats, rstats := map[string]*stat{}, map[string]*stat{}
	prev := traceSQL
	traceSQL = func(q string, took time.Duration) {
		if prev != nil {
			prev(q, took)
		}
		now := cputime.Process()
		d := now - c.last
		c.last = now
		stats, total := rstats, &c.rules
		if journeyStatement.MatchString(q) {
			stats, total = jstats, &c.journeys
		}
		*total += d
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
		for _, side := range []struct {
			name  string
			stats map[string]*stat
		}{{"journey", jstats}, {"rules", rstats}} {
			keys := slices.SortedFunc(maps.Keys(side.stats), func(x, y string) int { return cmp.Compare(side.stats[y].cpu, side.stats[x].cpu) })
			for _, k := range keys[:min(len(keys), 15)] {
				b.Logf("%s CPU %10v %5d  %s", side.name, side.stats[k].cpu, side.stats[k].n, k)
			}
		}
	})
	return c
}
