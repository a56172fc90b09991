package why_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
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
// the file itself opened for writing: with the whole sample's rows in the
// scratch database, and with one member's alone.
func TestScratchAgreesWithFile(t *testing.T) {
	ctx := context.Background()
	prog, exps := loadExamples(t)
	path, db := demoFile(t, 1500, 1)
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

	// Explain takes a list of members: one call per instant explains the
	// whole sample, on the file and on a scratch copy of the sample's rows;
	// one member is explained alone too (the CLI's `nudge why MEMBER`,
	// whose report also lists the member's latest trigger events), on the
	// file and on a scratch copy of its own rows.
	nows := []time.Time{now, now.Add(24 * time.Hour)}
	lists := [][]string{sample, sample[:1]}
	explain := func(db *nrt.DB, members []string, at time.Time, whole func(context.Context) (*nrt.DB, func(), error)) map[string]string {
		reps, err := why.Explain(ctx, db, prog, exps, members, why.Options{Now: at, Brand: "acme", Whole: whole})
		if err != nil {
			t.Fatalf("%v at %s: %v", members, at, err)
		}
		if len(reps) != len(members) {
			t.Fatalf("%d reports for %d members", len(reps), len(members))
		}
		out := map[string]string{}
		for _, r := range reps {
			var b bytes.Buffer
			r.WriteText(&b)
			out[r.Member] = b.String()
		}
		return out
	}
	want := map[string]string{} // len(list), member, instant -> report
	key := func(list []string, m string, at time.Time) string { return fmt.Sprint(len(list), m, at) }
	fires := 0
	for _, list := range lists {
		for _, at := range nows {
			for m, rep := range explain(db, list, at, nil) {
				want[key(list, m, at)] = rep
				fires += strings.Count(rep, "→ would fire")
			}
		}
	}
	if fires < 3 {
		t.Fatalf("only %d firings explained: the sample tests little", fires)
	}
	db.Close()

	for _, list := range lists {
		sdb, err := nrt.OpenScratch(ctx, path, list)
		if err != nil {
			t.Fatal(err)
		}
		// A member whose send competes for a stock or a budget is decided
		// by the whole brand's dry run, on a scratch of every member's
		// rows, as the CLI does.
		whole := func(ctx context.Context) (*nrt.DB, func(), error) {
			all, err := nrt.OpenScratch(ctx, path, nil)
			if err != nil {
				return nil, nil, err
			}
			return all, func() { all.Close() }, nil
		}
		for _, at := range nows {
			for m, got := range explain(sdb, list, at, whole) {
				if w := want[key(list, m, at)]; got != w {
					t.Errorf("%s at %s (scratch of %d members): the scratch database explains\n%s\nthe file\n%s", m, at, len(list), got, w)
				}
			}
		}
		sdb.Close()
	}
}

// TestScratchOfCompetingMember: the scratch of one member's rows holds no
// other member's sends, so a member whose send competes for a stock or a
// budget is decided by the whole brand's dry run (Options.Whole, on a
// scratch of every member's rows, as the CLI does), and what the stocks
// and budgets have used is read from the file. A day after a committed
// tick, the report of a member with a competing send is the same on the
// scratch as on the file, and took one whole-brand run.
func TestScratchOfCompetingMember(t *testing.T) {
	ctx := context.Background()
	prog, exps := loadExamples(t)
	path, db := demoFile(t, 1500, 1)
	now := demodata.DefaultNow
	// A tick a day earlier gives the stocks and budgets a history.
	if _, err := db.Run(ctx, prog, nrt.RunOptions{Now: now.Add(-24 * time.Hour), Brand: "acme"}); err != nil {
		t.Fatal(err)
	}
	full, err := db.Run(ctx, prog, nrt.RunOptions{Now: now, Brand: "acme", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// A member with a competing send: its verdict needs the other
	// members' firings, and its report what the stocks and budgets have
	// used. And a member refused over_budget or out_of_stock: the
	// members before it in the competition order took what was left, so
	// a whole brand's run that leaves them out (a cut of the copy that
	// drops them) lets its send through.
	var sample []string
	refused := false
	for _, d := range full.Decisions {
		if d.Action != "send" || !prog.SendCompetes(d.Rule, d.Journey != "", d.Content) || slices.Contains(sample, d.MemberID) {
			continue
		}
		if len(sample) == 0 {
			sample = append(sample, d.MemberID)
		}
		if !refused && (d.Status == "over_budget" || d.Status == "out_of_stock") {
			refused = true
			sample = append(sample, d.MemberID)
		}
	}
	if len(sample) == 0 || !refused {
		t.Fatalf("competing members %v, one refused over_budget or out_of_stock %v: the test tests too little", sample, refused)
	}
	report := func(db *nrt.DB, m string, whole func(context.Context) (*nrt.DB, func(), error)) string {
		reps, err := why.Explain(ctx, db, prog, exps, []string{m}, why.Options{Now: now, Brand: "acme", Whole: whole})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		var b bytes.Buffer
		reps[0].WriteText(&b)
		return b.String()
	}
	want := map[string]string{}
	for _, m := range sample {
		want[m] = report(db, m, nil)
	}
	db.Close()
	for _, m := range sample {
		sdb, err := nrt.OpenScratch(ctx, path, []string{m})
		if err != nil {
			t.Fatal(err)
		}
		wholes := 0
		got := report(sdb, m, func(ctx context.Context) (*nrt.DB, func(), error) {
			wholes++
			all, err := nrt.OpenScratch(ctx, path, nil)
			if err != nil {
				return nil, nil, err
			}
			return all, func() { all.Close() }, nil
		})
		sdb.Close()
		if got != want[m] {
			t.Errorf("%s: the scratch explains\n%s\nthe file\n%s", m, got, want[m])
		}
		if wholes != 1 {
			t.Errorf("%s: %d whole-brand dry runs, want 1", m, wholes)
		}
	}
}

// demoFile makes a database file with n demo members (seed) and returns
// its path and the database, open for writing.
func demoFile(t *testing.T, n int, seed int64) (string, *nrt.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	db, err := nrt.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: n, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return path, db
}
