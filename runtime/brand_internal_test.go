package runtime

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"nudge/runtime/demodata"
)

// TestBrandsDoNotCross proves brand isolation in ticks (SPEC §5): two
// copies of a demo database go through the random history of
// TestIncrementalMatchesFull, ticking acme's example rules; the second
// copy also holds a second brand, bistro, with the same member ids (its
// sms consents the opposite of acme's), a copy of acme's events and the
// outbox, rule_members, tags and watermarks of its own ticks of the same
// rules over the same months. Acme's every decision, outbox row, limit and
// tag must be the same on both.
func TestBrandsDoNotCross(t *testing.T) {
	if testing.Short() {
		t.Skip("long: many ticks over a demo database")
	}
	steps := []time.Duration{0, 10 * time.Minute, time.Hour, 3 * time.Hour, 14 * time.Hour, 24 * time.Hour, 72 * time.Hour, 9 * 24 * time.Hour}
	differential(t, compileExamples(t), steps, 30, func(first, second *DB) {
		addBistro(t, first, second)
	}, RunOptions{})
}

// TestBrandsDoNotCrossInReplays: acme's ticks replayed in rounds decide the
// same with and without the bistro of TestBrandsDoNotCross in the database.
func TestBrandsDoNotCrossInReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a replayed day over a demo database")
	}
	ctx := context.Background()
	dir := t.TempDir()
	first, second := demoDB(t, dir+"/first.duckdb", 800), demoDB(t, dir+"/second.duckdb", 800)
	addBistro(t, first, second)
	prog := compileExamples(t)
	// A day's ticks every 30 minutes (a replay covers one date).
	prev := demodata.DefaultNow.Add(-9*time.Hour - 30*time.Minute)
	var ticks []time.Time
	for k := 1; k <= 46; k++ {
		ticks = append(ticks, prev.Add(time.Duration(k)*30*time.Minute))
	}
	var got [2]string
	for i, db := range []*DB{first, second} {
		var b strings.Builder
		res, err := db.Run(ctx, prog, RunOptions{Now: prev})
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(brief(res.Decisions))
		rs, err := db.Replay(ctx, prog, RunOptions{}, prev, ticks)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			b.WriteString("# " + r.Now.Format("01-02 15:04") + "\n" + brief(r.Decisions))
		}
		got[i] = b.String()
	}
	if got[0] != got[1] {
		t.Errorf("acme's replay decides differently beside the bistro (-: without, +: with):\n%s",
			diffLines(strings.Split(got[0], "\n"), strings.Split(got[1], "\n")))
	}
	if n := strings.Count(got[0], "\n"); n < 100 {
		t.Errorf("only %d decisions: the test proves little", n)
	}
}

// addBistro adds to second the brand bistro: acme's members under the same
// ids with the opposite sms consent, a copy of acme's events (seqs after
// acme's; first reserves the same seqs so that later imports number alike
// on both), and bistro's ticks of the example rules every 3 days around
// the demo clock.
func addBistro(t *testing.T, first, second *DB) {
	t.Helper()
	ctx := context.Background()
	off := count(t, second, `SELECT max(seq) FROM events`)
	for _, q := range []string{
		`INSERT INTO members SELECT * REPLACE ('bistro' AS brand, NOT coalesce(consent_sms, false) AS consent_sms) FROM members WHERE brand = 'acme'`,
		`INSERT INTO events SELECT * REPLACE ('bistro' AS brand, seq + $off::BIGINT AS seq) FROM events WHERE brand = 'acme' ORDER BY seq`,
	} {
		if _, err := second.sql.ExecContext(ctx, q, sql.Named("off", off)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, db := range []*DB{first, second} {
		if _, err := db.sql.ExecContext(ctx, `UPDATE counters SET value = $off::BIGINT * 2 WHERE name = 'event_seq'`, sql.Named("off", off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := second.MembersChanged(ctx); err != nil {
		t.Fatal(err)
	}
	bistro := compileExamples(t)
	bistro.Brand = "bistro"
	fired := 0
	for now := demodata.DefaultNow.Add(-72 * time.Hour); now.Before(demodata.DefaultNow.AddDate(0, 0, 60)); now = now.Add(3 * 24 * time.Hour) {
		res, err := second.Run(ctx, bistro, RunOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		fired += len(res.Decisions)
	}
	if fired < 1000 {
		t.Fatalf("the bistro's ticks decided only %d times", fired)
	}
}
