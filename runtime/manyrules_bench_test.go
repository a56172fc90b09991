package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nudge/compiler"

	"nudge/runtime/demodata"
)

// manyRulesMembers is the size of the database BenchmarkManyRules runs on:
// small, so that what grows is the cost per rule.
const manyRulesMembers = 2000

// manyRulesSource is a program of n one-line rules per store, as a chain
// with hundreds of stores writes them: trigger rules on queueing at store
// i, or (state) state rules on a visit to store i in the last 30 days.
// Every tenth rule names a store of the demo data ("A".."H"), so that some
// fire.
func manyRulesSource(n int, state bool) string {
	var b strings.Builder
	b.WriteString("brand \"acme\"\nimport \"crm\"\n")
	for i := range n {
		store := fmt.Sprint(i)
		if i%10 == 0 {
			store = string(rune('A' + i/10%8))
		}
		if state {
			fmt.Fprintf(&b, "rule visit_%d if visited at store %q in last 30 days then send coupon \"%s-BACK\" via sms\n", i, store, store)
		} else {
			fmt.Fprintf(&b, "rule store_%d if queued at store %q then send coupon \"%s-10OFF\" via sms\n", i, store, store)
		}
	}
	return b.String()
}

// BenchmarkManyRules measures a dry run of many one-line rules on a small
// database: trigger rules (a tick evaluates them over the members of their
// candidate events), and state rules at their first evaluation (over every
// member) and at the next tick (over the members whose verdict may have
// changed). NUDGE_BENCH_MANY=name,... runs only the named cases.
func BenchmarkManyRules(b *testing.B) {
	ctx := context.Background()
	db := demoDB(b, filepath.Join(b.TempDir(), "many.duckdb"), manyRulesMembers)
	now := demodata.DefaultNow
	only := func(b *testing.B, name string) {
		if o := os.Getenv("NUDGE_BENCH_MANY"); o != "" && !slices.Contains(strings.Split(o, ","), name) {
			b.Skip("not in NUDGE_BENCH_MANY")
		}
		traceStatements(b)
	}
	dryRuns := func(b *testing.B, prog *compiler.Program, at time.Time) {
		for b.Loop() {
			if _, err := db.Run(ctx, prog, RunOptions{Now: at, DryRun: true, SkipDecisions: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, n := range []int{500, 2000, 5000} {
		name := fmt.Sprintf("trigger-%d", n)
		b.Run(name, func(b *testing.B) {
			only(b, name)
			dryRuns(b, compileSource(b, manyRulesSource(n, false)), now)
		})
	}
	for _, n := range []int{500, 2000} {
		prog := compileSource(b, manyRulesSource(n, true))
		name := fmt.Sprintf("state-%d-first", n)
		b.Run(name, func(b *testing.B) {
			only(b, name)
			dryRuns(b, prog, now)
		})
		name = fmt.Sprintf("state-%d-next", n)
		b.Run(name, func(b *testing.B) {
			only(b, name)
			b.StopTimer()
			if _, err := db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			dryRuns(b, prog, now.Add(time.Hour))
		})
	}
}
