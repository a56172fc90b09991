package simulate

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"nudge/runtime/demodata"
)

// BenchmarkSimulate replays the example rules at 1-hour steps up to the
// demo data's now. The figure (30 days on 100,000 members):
//
//	nudge demo --db /tmp/d100.duckdb --members 100000
//	NUDGE_BENCH_DB=/tmp/d100.duckdb NUDGE_BENCH_DAYS=30 \
//	  go test ./runtime/simulate -run '^$' -bench Simulate -benchtime 1x
//
// Without NUDGE_BENCH_DB it runs on a generated 5,000-member database, by
// default over one day (NUDGE_BENCH_DAYS sets the days). It reports the
// time per simulated tick and the share of ticks replayed in rounds;
// NUDGE_BENCH_TICK_BY_TICK=1 runs every tick on its own instead (the
// simulation before rounds, for comparison).
func BenchmarkSimulate(b *testing.B) {
	ctx := context.Background()
	src := os.Getenv("NUDGE_BENCH_DB")
	if src == "" {
		src = demoSource(b, 5000, 1)
	}
	days := 1
	if s := os.Getenv("NUDGE_BENCH_DAYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("NUDGE_BENCH_DAYS=%q: want a whole number of days, at least 1", s)
		}
		days = n
	}
	cp := examplesProgram(b)
	to := demodata.DefaultNow
	from := to.Add(-time.Duration(days) * 24 * time.Hour)
	var ticks, replayed int
	for b.Loop() {
		res, err := Run(ctx, cp, Options{Source: src, From: from, To: to, Step: time.Hour, TickByTick: os.Getenv("NUDGE_BENCH_TICK_BY_TICK") == "1"})
		if err != nil {
			b.Fatal(err)
		}
		ticks += res.Steps
		replayed += res.Replayed
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(ticks), "ms/tick")
	b.ReportMetric(float64(replayed)/float64(ticks), "replayed/tick")
}
