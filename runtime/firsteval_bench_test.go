package runtime

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"nudge/runtime/demodata"
)

// firstEvalRule is the state rule of the first-evaluation benchmark: a new
// rule over the whole base (an "active push").
const firstEvalRule = `brand "acme"
import "crm"

rule lapsed "reminder"
  if days since last purchased > 90
  then send reminder "r" via sms
`

// firstEvalHandQuery gives the decisions of firstEvalRule (member and
// status) as JSON lines, the way one would write it by hand: the yardstick
// of the first evaluation.
const firstEvalHandQuery = `SELECT to_json({member_id: m.member_id,
       status: CASE WHEN m.consent_sms IS TRUE THEN 'pending' ELSE 'no_consent' END})::VARCHAR
FROM members m
JOIN (SELECT member_id, max(ts) AS last FROM events
      WHERE brand = 'acme' AND type = 'purchased' AND ts <= $now::TIMESTAMP GROUP BY member_id) p
  ON p.member_id = m.member_id
WHERE m.brand = 'acme' AND date_diff('microsecond', p.last, $now::TIMESTAMP) // 86400000000 > 90`

// BenchmarkFirstEvaluation measures a state rule's first evaluation over
// every member against the hand-written query giving the same decisions:
// the hand query (its rows read through the driver), a dry run (summary
// only, as `run --dry-run --output text`), a dry run writing its decisions
// as jsonl (`--output jsonl`), and the committed tick, each iteration of
// which commits the first evaluation of a rule of a new name.
func BenchmarkFirstEvaluation(b *testing.B) {
	ctx := context.Background()
	prog := compileSource(b, firstEvalRule)
	now := demodata.DefaultNow
	db := benchDB(b)
	traceStatements(b)
	var decisions int64
	b.Run("hand-query", func(b *testing.B) {
		for b.Loop() {
			rows, err := db.sql.QueryContext(ctx, firstEvalHandQuery, namedNow(now))
			if err != nil {
				b.Fatal(err)
			}
			var n int64
			var s string
			for rows.Next() {
				if err := rows.Scan(&s); err != nil {
					b.Fatal(err)
				}
				n++
			}
			rows.Close()
			decisions = n
		}
		b.ReportMetric(float64(decisions), "decisions")
	})
	b.Run("dry-run-text", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true, SkipDecisions: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dry-run-jsonl", func(b *testing.B) {
		for b.Loop() {
			// As `run --dry-run --output jsonl`: streamed to the writer.
			w := NewDecisionWriter(io.Discard)
			if _, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true, OnDecision: w.Write}); err != nil {
				b.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(decisions)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
	b.Run("run", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			// A rule of a new name: its first evaluation again.
			b.StopTimer()
			next := compileSource(b, strings.Replace(firstEvalRule, "rule lapsed ", fmt.Sprintf("rule lapsed_%d ", i), 1))
			b.StartTimer()
			start := time.Now()
			res, err := db.Run(ctx, next, RunOptions{Now: now, SkipDecisions: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("run: %v; steps %v", time.Since(start), res.Timings)
		}
	})
}
