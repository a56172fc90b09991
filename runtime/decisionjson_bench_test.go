package runtime

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"
)

// benchDecisionRows is how many decisions BenchmarkDecisionsJSONL writes.
const benchDecisionRows = 200_000

// BenchmarkDecisionsJSONL reads a dry run's decisions from a DuckDB table
// shaped like _nudge_dec and writes them as jsonl to io.Discard: the path of
// `nudge run --dry-run --output jsonl` after evaluation.
func BenchmarkDecisionsJSONL(b *testing.B) {
	ctx := context.Background()
	db := openTest(b)
	_, err := db.sql.ExecContext(ctx, `CREATE TABLE bench_dec AS
		SELECT 'lapsed_reminder' AS rule, 'M' || lpad(i::VARCHAR, 7, '0') AS member_id,
		       'f' || i AS firing_id, 'send' AS action,
		       'reminder' AS kind, 'come back <soon> & save' AS content, 'sms' AS channel,
		       CASE WHEN i % 5 = 0 THEN 'no_consent' ELSE 'pending' END AS status,
		       CASE WHEN i % 5 = 0 THEN 'no sms consent' END AS reason,
		       CASE WHEN i % 3 = 0 THEN TIMESTAMP '2024-11-11 10:00:00' END AS scheduled_at,
		       NULL::TIMESTAMP AS due_at, CASE WHEN i % 2 = 0 THEN i END AS trigger_seq,
		       0 AS action_index, '{"days since last purchased":' || (91 + i % 300) || '}' AS vals,
		       CASE WHEN i % 4 = 0 THEN '{"coupon": "A-10OFF"}' END AS params,
		       NULL::VARCHAR AS journey, NULL::INTEGER AS step, NULL::VARCHAR AS variant
		FROM range(`+strconv.Itoa(benchDecisionRows)+`) t(i)`)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	order := map[string]int{"lapsed_reminder": 0}
	b.Run("read+write", func(b *testing.B) {
		for b.Loop() {
			ds, err := readDecisions(ctx, db.sql, "bench_dec", 0, now, order)
			if err != nil {
				b.Fatal(err)
			}
			writeDecisionsB(b, ds)
		}
		b.ReportMetric(float64(benchDecisionRows)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
	ds, err := readDecisions(ctx, db.sql, "bench_dec", 0, now, order)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			writeDecisionsB(b, ds)
		}
		b.ReportMetric(float64(benchDecisionRows)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
}

func writeDecisionsB(b *testing.B, ds []Decision) {
	w := NewDecisionWriter(io.Discard)
	for i := range ds {
		if err := w.Write(&ds[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}
