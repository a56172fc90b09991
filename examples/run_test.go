package examples

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"nudge/compiler"
	"nudge/lang/diag"
	nrt "nudge/runtime"
	"nudge/runtime/demodata"
)

var update = flag.Bool("update", false, "rewrite golden files")

// compileExamples loads, checks and compiles the example files.
func compileExamples(t *testing.T) *compiler.Program {
	t.Helper()
	prog, diags := load(t)
	if diags.HasErrors() {
		var buf bytes.Buffer
		diag.RenderText(&buf, diags, prog.Sources)
		t.Fatalf("examples do not check:\n%s", buf.String())
	}
	compiled, diags := compiler.Compile(prog.Info)
	if diags.HasErrors() {
		var buf bytes.Buffer
		diag.RenderText(&buf, diags, prog.Sources)
		t.Fatalf("examples do not compile:\n%s", buf.String())
	}
	return compiled
}

// TestTour replays the README's five-minute tour: import the three members
// and ten events of examples/data into a fresh database and dry-run the
// examples at the demo clock. The decisions are compared with
// testdata/tour.golden (regenerate with -update).
func TestTour(t *testing.T) {
	ctx := context.Background()
	db, err := nrt.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"members", "events"} {
		if _, err := db.Import(ctx, table, []string{filepath.Join("data", table+".csv")}); err != nil {
			t.Fatalf("import %s: %v", table, err)
		}
	}
	res, err := db.Run(ctx, compileExamples(t), nrt.RunOptions{Now: demodata.DefaultNow, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	for _, d := range res.Decisions {
		sched := "-"
		if d.ScheduledAt != nil {
			sched = d.ScheduledAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(&got, "%-20s %-3s %-7s %-15s %-17s %-9s %-11s %s\n",
			d.Rule, d.MemberID, d.Action, d.Kind, d.Content, d.Channel, d.Status, sched)
	}
	golden := filepath.Join("testdata", "tour.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("tour decisions differ from %s (run with -update if intended)\ngot:\n%s\nwant:\n%s", golden, got.String(), want)
	}
}

// TestExamplesFireOnDemoData: on generated demo data, at the demo clock,
// every example rule fires for at least one acme member and members enter
// the journeys: each business case of the examples has an audience.
func TestExamplesFireOnDemoData(t *testing.T) {
	ctx := context.Background()
	db, err := nrt.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: 2000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Run(ctx, compileExamples(t), nrt.RunOptions{Now: demodata.DefaultNow, Brand: "acme", SkipDecisions: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rules) != 11 {
		t.Errorf("ran %d rules, want 11", len(res.Rules))
	}
	for _, r := range res.Rules {
		t.Logf("%-20s firings %4d %v", r.Rule, r.Firings, r.Statuses)
		if r.Firings == 0 {
			t.Errorf("rule %s fired for nobody on demo data", r.Rule)
		}
	}
	// Every journey has an audience too, but the Double-11 waves, which
	// take members before the warm-up of Oct 21 only.
	counts, err := db.JourneyCounts(ctx, compileExamples(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 4 {
		t.Errorf("%d journeys, want 4", len(counts))
	}
	for _, c := range counts {
		t.Logf("%-20s %+v", c.Journey, c)
		if c.Entered == 0 && c.Journey != "d11_waves" {
			t.Errorf("nobody entered journey %s on demo data", c.Journey)
		}
	}
}
