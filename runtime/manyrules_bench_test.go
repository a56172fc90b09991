package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			fmt.Fprintf(&b, "rule store_%d if visited at store %q in last 30 days then send coupon \"%s-10OFF\" via sms\n", i, store, store)
		} else {
			fmt.Fprintf(&b, "rule store_%d if queued at store %q then send coupon \"%s-10OFF\" via sms\n", i, store, store)
		}
	}
	return b.String()
}

// BenchmarkManyRules measures a dry run of many one-line rules on a small
// database (the cost of a tick per rule: parsing, checking and compiling
// are in BenchmarkManyRulesCompile).
func BenchmarkManyRules(b *testing.B) {
	ctx := context.Background()
	db := demoDB(b, filepath.Join(b.TempDir(), "many.duckdb"), manyRulesMembers)
	now := demodata.DefaultNow
	cases := []struct {
		name string
		src  string
	}{
		{"trigger-500", manyRulesSource(500, false)},
		{"trigger-2000", manyRulesSource(2000, false)},
		{"trigger-5000", manyRulesSource(5000, false)},
		{"state-500", manyRulesSource(500, true)},
		{"state-2000", manyRulesSource(2000, true)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if os.Getenv("NUDGE_BENCH_MANY") != "" && !strings.Contains(os.Getenv("NUDGE_BENCH_MANY"), c.name) {
				b.Skip("not in NUDGE_BENCH_MANY")
			}
			prog := compileSource(b, c.src)
			traceStatements(b)
			for b.Loop() {
				if _, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true, SkipDecisions: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
