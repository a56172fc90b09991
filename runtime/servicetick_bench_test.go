package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"nudge/internal/cputime"
	"nudge/runtime/demodata"
	"nudge/runtime/serve/loadgen"
)

// BenchmarkServiceTick measures the tick `nudge serve` runs under load:
// the store coupon rule alone (examples/01_store_coupon.nudge), after
// serviceTickEvents new events ingested as the service ingests them (the
// load generator's mix: one in ten a queue or booking at store A), at the
// events' instant, half a second after the previous tick. Its cost should
// grow with the new events, not with the base: compare NUDGE_BENCH_DB
// databases of different sizes; NUDGE_BENCH_TRACE=cpu lists its costliest
// statements.
func BenchmarkServiceTick(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	prog := compileFile(b, "../examples/01_store_coupon.nudge")
	at := demodata.DefaultNow
	if last, ok, err := lastTick(ctx, db.sql, "acme"); err != nil {
		b.Fatal(err)
	} else if ok && last.After(at) {
		at = last
	}
	members, err := loadgen.Members(ctx, db.sql, "acme")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tick := func(at time.Time) (*RunResult, error) {
		return db.Run(ctx, prog, RunOptions{Now: at, SkipDecisions: true, NoArrivals: true})
	}
	// The first tick catches the rule up with the database (not timed).
	at = at.Add(time.Second)
	if _, err := tick(at); err != nil {
		b.Fatal(err)
	}
	traceStatements(b)
	var cpu time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		at = at.Add(500 * time.Millisecond)
		if _, err := db.IngestEvents(ctx, serviceTickBatch(rng, members, at, i), "bench"); err != nil {
			b.Fatal(err)
		}
		if traceSQL != nil {
			// (NUDGE_BENCH_TRACE=cpu: the ingest's CPU is not the tick's.)
			traceSQL("-- ingest, not timed", 0)
		}
		b.StartTimer()
		start, startCPU := time.Now(), cputime.Process()
		res, err := tick(at)
		if err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Process() - startCPU
		if i < 2 || os.Getenv("NUDGE_BENCH_VERBOSE") != "" {
			b.Logf("tick %d: %v, CPU %v", i, time.Since(start), cputime.Process()-startCPU)
			logRules(b, res)
		}
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// serviceTickEvents is how many events BenchmarkServiceTick ingests before
// each tick: half a second of 1,000 events/s.
const serviceTickEvents = 500

// serviceTickBatch is the i-th batch of BenchmarkServiceTick: events of
// members at the instant at, in the mix of the service's load generator
// (runtime/serve/loadgen).
func serviceTickBatch(rng *rand.Rand, members []string, at time.Time, i int) []map[string]any {
	ts := at.Format("2006-01-02 15:04:05.000000")
	batch := make([]map[string]any, serviceTickEvents)
	for j := range batch {
		ev := loadgen.Event(rng, members, fmt.Sprintf("st-%d-%d", i, j))
		ev["brand"], ev["ts"] = "acme", ts
		batch[j] = ev
	}
	return batch
}
