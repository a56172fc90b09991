package why_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	nrt "nudge/runtime"
	"nudge/runtime/demodata"
	"nudge/runtime/why"
)

// TestScratchAgreesWithFile: `nudge why` opens the database read-only and
// dry-runs on a scratch copy of the asked member's rows (nrt.OpenScratch).
// On demo data with a history (a committed tick that dispatched, so that
// limits, caps, refusals and deliveries exist), every sampled member's
// report, at the tick's time and a day later, is the one Explain gives on
// the file itself opened for writing.
func TestScratchAgreesWithFile(t *testing.T) {
	ctx := context.Background()
	prog, exps := loadExamples(t)
	path := filepath.Join(t.TempDir(), "n.duckdb")
	db, err := nrt.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: 1500, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	now := demodata.DefaultNow
	sink := &nrt.JSONLSink{Path: filepath.Join(t.TempDir(), "sent.jsonl")}
	if _, err := db.Run(ctx, prog, nrt.RunOptions{Now: now, Brand: "acme", Sinks: []nrt.Sink{sink}}); err != nil {
		t.Fatal(err)
	}
	// The sample: members with the most varied outbox rows, then others.
	var sample []string
	rows, err := db.SQL().QueryContext(ctx, `(SELECT member_id FROM outbox WHERE brand = 'acme' GROUP BY member_id
	   ORDER BY count(DISTINCT status) DESC, member_id LIMIT 6)
	UNION (SELECT member_id FROM members WHERE brand = 'acme' ORDER BY member_id LIMIT 3)`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		sample = append(sample, id)
	}
	rows.Close()
	sample = append(sample, "nobody")

	nows := []time.Time{now, now.Add(24 * time.Hour)}
	explain := func(db *nrt.DB, member string, at time.Time) string {
		reps, err := why.Explain(ctx, db, prog, exps, []string{member}, why.Options{Now: at, Brand: "acme"})
		if err != nil {
			t.Fatalf("%s at %s: %v", member, at, err)
		}
		var b bytes.Buffer
		for _, r := range reps {
			r.WriteText(&b)
		}
		return b.String()
	}
	want := map[string]string{}
	fires := 0
	for _, at := range nows {
		for _, m := range sample {
			want[m+at.String()] = explain(db, m, at)
			fires += bytes.Count([]byte(want[m+at.String()]), []byte("→ would fire"))
		}
	}
	if fires < 3 {
		t.Fatalf("only %d firings explained: the sample tests little", fires)
	}
	db.Close()

	for _, at := range nows {
		for _, m := range sample {
			sdb, err := nrt.OpenScratch(ctx, path, []string{m})
			if err != nil {
				t.Fatal(err)
			}
			if got := explain(sdb, m, at); got != want[m+at.String()] {
				t.Errorf("%s at %s: the scratch database explains\n%s\nthe file\n%s", m, at, got, want[m+at.String()])
			}
			sdb.Close()
		}
	}
}
