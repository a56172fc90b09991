package report

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	nrt "nudge/runtime"
	"nudge/stdlib"
)

var update = flag.Bool("update", false, "rewrite golden files")

const rulesSrc = `import "crm"
cost sms 0.05

rule welcome
  if queued
  then send coupon "W" via sms
  holdout 50%

rule store_a
  if booked
  then send coupon "A" via email
  convert on purchased at store "A" within 2 days
  holdout 30%
`

var t0 = time.Date(2024, 11, 1, 10, 0, 0, 0, time.UTC)

// fixture builds the small dataset the expected figures below were computed
// from by hand.
//
// Rule welcome (brand b, default conversion: purchased within 7 days, cost
// sms 0.05):
//   - 40 firings sent to t01..t40 at t0, 40 held_out for c01..c40, 5 capped.
//   - Treated conversions: t01-t04 on day 0, t05-t06 day 1, t07 day 2, t08
//     day 3, t09 day 5, t10 day 6 (at 6d23h): 10 conversions of 50.00 each
//     (t01 buys again for 100.00 on day 1: only the first counts). t11 buys
//     8 days later and t12 one hour before the firing: neither counts.
//   - Control: c01-c04 buy on day 1 (4 conversions, 30.00 each).
//     rate 10/40 = 0.25 vs 4/40 = 0.10, lift 0.15,
//     se = sqrt(.25*.75/40 + .10*.90/40) = sqrt(0.0069375) = 0.08329165,
//     CI 0.15 -+ 1.959964*0.08329165 = [-0.013249, 0.313249];
//     pooled 14/80 = .175, 7 expected conversions per group: conclusive,
//     not significant. Cost 40 * 0.05 = 2.00, ROI (500 - 2) / 2 = 249.
//     Histogram 4, 2, 1, 1, 2, 0 of 10.
//
// Rule store_a (convert on purchased at store "A" within 2 days; email has
// no cost): 10 firings pending (nothing dispatched) for p01..p10 at t0 and
// 5 held_out for h01..h05. p01-p03 buy at store A on day 1, p04 at store B;
// h01 buys at A on day 1. Rates 0.3 vs 0.2, too small to conclude.
func fixture(t *testing.T) (*sql.DB, *compiler.Program) {
	t.Helper()
	ctx := context.Background()
	db, err := nrt.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q := db.SQL()
	seq := 0
	ev := func(member, typ, store string, at time.Time, amount float64) {
		seq++
		if _, err := q.Exec(`INSERT INTO events (seq, member_id, brand, type, ts, store, amount) VALUES (?, ?, 'b', ?, ?, ?, ?)`,
			seq, member, typ, at, store, amount); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	out := func(rule, member, channel, status string) {
		n++
		if _, err := q.Exec(`INSERT INTO members (member_id, brand) VALUES (?, 'b') ON CONFLICT DO NOTHING`, member); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Exec(`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, kind, content, channel,
			status, effective, fired_at, idempotency_key, run_id) VALUES (?, 0, ?, 'b', ?, ?, 'send', 'coupon', 'X', ?, ?, true, ?, ?, 1)`,
			fmt.Sprintf("f%d", n), rule, member, fmt.Sprint(n), channel, status, t0, fmt.Sprintf("f%d-0", n)); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	for i := 1; i <= 40; i++ {
		out("welcome", fmt.Sprintf("t%02d", i), "sms", "sent")
		out("welcome", fmt.Sprintf("c%02d", i), "sms", "held_out")
	}
	for i := 1; i <= 5; i++ {
		out("welcome", fmt.Sprintf("x%02d", i), "sms", "capped")
	}
	for i, d := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, day, day + time.Hour, 2 * day, 3 * day, 5 * day, 6*day + 23*time.Hour} {
		ev(fmt.Sprintf("t%02d", i+1), "purchased", "Z", t0.Add(d), 50)
	}
	ev("t01", "purchased", "Z", t0.Add(day), 100)
	ev("t11", "purchased", "Z", t0.Add(8*day), 50)
	ev("t12", "purchased", "Z", t0.Add(-time.Hour), 50)
	for i := 1; i <= 4; i++ {
		ev(fmt.Sprintf("c%02d", i), "purchased", "Z", t0.Add(day), 30)
	}
	for i := 1; i <= 10; i++ {
		out("store_a", fmt.Sprintf("p%02d", i), "email", "pending")
	}
	for i := 1; i <= 5; i++ {
		out("store_a", fmt.Sprintf("h%02d", i), "email", "held_out")
	}
	for i := 1; i <= 3; i++ {
		ev(fmt.Sprintf("p%02d", i), "purchased", "A", t0.Add(day), 20)
	}
	ev("p04", "purchased", "B", t0.Add(day), 20)
	ev("h01", "purchased", "A", t0.Add(day), 20)

	prog, diags := lang.LoadSources([]lang.Source{{Name: "r.nudge", Src: []byte(rulesSrc)}}, stdlib.Env())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cp, diags := compiler.Compile(prog.Info)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	compiler.AttachLoop(prog.Info, cp)
	return q, cp
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-5 }

func TestBuildHandComputed(t *testing.T) {
	db, prog := fixture(t)
	rep, err := Build(context.Background(), db, Options{Program: prog, End: t0.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 2 || rep.Rules[0].Rule != "welcome" || rep.Rules[1].Rule != "store_a" {
		t.Fatalf("rules: %+v", rep.Rules)
	}
	w := rep.Rules[0]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"welcome treated firings", float64(w.Treated.Firings), 40},
		{"welcome treated converted", float64(w.Treated.Converted), 10},
		{"welcome treated rate", w.Treated.Rate, 0.25},
		{"welcome control firings", float64(w.Control.Firings), 40},
		{"welcome control converted", float64(w.Control.Converted), 4},
		{"welcome control rate", w.Control.Rate, 0.10},
		{"welcome control revenue", w.Control.Revenue, 120},
		{"welcome revenue", w.Revenue, 500},
		{"welcome lift", w.Lift.Diff, 0.15},
		{"welcome ci low", w.Lift.Low, -0.013249},
		{"welcome ci high", w.Lift.High, 0.313249},
		{"welcome cost", w.Cost, 2},
		{"welcome roi", deref(w.ROI), 249},
		{"welcome sent decisions", float64(w.Decisions["sent"]), 40},
		{"welcome capped decisions", float64(w.Decisions["capped"]), 5},
		{"welcome sms sends", float64(w.Sends["sms"]), 40},
	}
	wantDays := []float64{4, 2, 1, 1, 2, 0}
	for i, d := range w.Days {
		checks = append(checks, struct {
			name      string
			got, want float64
		}{"welcome day " + d.Label, float64(d.Count), wantDays[i]}, struct {
			name      string
			got, want float64
		}{"welcome share " + d.Label, d.Share, wantDays[i] / 10})
	}
	s := rep.Rules[1]
	checks = append(checks, []struct {
		name      string
		got, want float64
	}{
		{"store_a treated firings", float64(s.Treated.Firings), 10},
		{"store_a treated converted", float64(s.Treated.Converted), 3},
		{"store_a control converted", float64(s.Control.Converted), 1},
		{"store_a lift", s.Lift.Diff, 0.1},
		{"store_a revenue", s.Revenue, 60},
		{"store_a cost", s.Cost, 0},
	}...)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !near(c.got, c.want) {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
	if !w.Lift.Conclusive || !strings.HasPrefix(w.Lift.Note, "not significant") {
		t.Errorf("welcome lift note: %+v", w.Lift)
	}
	if w.TreatedRule != "sent" || s.TreatedRule != "pending" {
		t.Errorf("treated rules: %q %q", w.TreatedRule, s.TreatedRule)
	}
	if s.Lift.Conclusive || !strings.HasPrefix(s.Lift.Note, "holdout too small to conclude") {
		t.Errorf("store_a lift note: %+v", s.Lift)
	}
	if s.ROI != nil {
		t.Errorf("store_a ROI without cost: %v", *s.ROI)
	}
}

func TestLift(t *testing.T) {
	tests := []struct {
		name           string
		n1, x1, n0, x0 int64
		diff, lo, hi   float64
		conclusive     bool
		note           string
	}{
		// se = sqrt(.2*.8/100 + .1*.9/100) = .05; 1.959964 * .05 = .0979982
		{"significant", 100, 20, 100, 10, 0.1, 0.0020018, 0.1979982, true, "significant: the rule raises conversion"},
		{"small control", 100, 20, 29, 3, 20.0/100 - 3.0/29, 0, 0, false, "holdout too small to conclude: control has 29 firings (< 30)"},
		// pooled 4/200 = .02: 2 expected conversions per group
		{"rare conversions", 100, 3, 100, 1, 0.02, 0, 0, false, "holdout too small to conclude: only 2.0 conversions expected in the treated group of 100 firings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := lift(tc.n1, tc.x1, tc.n0, tc.x0)
			if !near(l.Diff, tc.diff) || l.Conclusive != tc.conclusive || l.Note != tc.note {
				t.Fatalf("got %+v", l)
			}
			if tc.conclusive && (!near(l.Low, tc.lo) || !near(l.High, tc.hi)) {
				t.Fatalf("CI got [%v, %v], want [%v, %v]", l.Low, l.High, tc.lo, tc.hi)
			}
		})
	}
}

func TestGoldenOutputs(t *testing.T) {
	db, prog := fixture(t)
	from := t0.Add(-24 * time.Hour)
	rep, err := Build(context.Background(), db, Options{Program: prog, From: from, End: t0.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var txt, js, html bytes.Buffer
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(js.Bytes()) {
		t.Fatal("invalid JSON")
	}
	if err := rep.WriteHTML(&html, time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"report.txt": txt.Bytes(), "report.json": js.Bytes(), "report.html": html.Bytes()} {
		golden(t, filepath.Join("testdata", name), got)
	}
	if strings.Contains(html.String(), "http://") && strings.Count(html.String(), "http://") != strings.Count(html.String(), `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("the HTML report refers to an external resource")
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; got:\n%s", path, got)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// TestBuildRuleFilter: --rule names a rule of the outbox; a name with no
// decisions at all is an error that lists the rules with decisions, while a
// known rule with none in the period is an empty report.
func TestBuildRuleFilter(t *testing.T) {
	db, prog := fixture(t)
	ctx := context.Background()
	rep, err := Build(ctx, db, Options{Program: prog, Rule: "store_a", End: t0.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 1 || rep.Rules[0].Rule != "store_a" {
		t.Fatalf("rules: %+v", rep.Rules)
	}
	rep, err = Build(ctx, db, Options{Program: prog, Rule: "store_a", From: t0.Add(24 * time.Hour)})
	if err != nil || len(rep.Rules) != 0 {
		t.Fatalf("a period without firings: %v, %+v", err, rep)
	}
	_, err = Build(ctx, db, Options{Program: prog, Rule: "welcom"})
	want := `report: rule "welcom" has no decisions in the outbox; rules with decisions: store_a, welcome`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got: %v\nwant: %s", err, want)
	}
}

// TestBuildOpenPeriod: without --from and --to the period has no ends, so
// firings on the last day DuckDB and nudge can write (9999-12-31, which the
// former default end, 9999-12-31 00:00 exclusive, dropped) and the earliest
// are reported, with the conversion that follows.
func TestBuildOpenPeriod(t *testing.T) {
	ctx := context.Background()
	db, err := nrt.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	last := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	first := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range []time.Time{last, last.Add(23*time.Hour + 59*time.Minute), first} {
		if _, err := db.SQL().Exec(`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, kind, content, channel,
			status, effective, fired_at, idempotency_key, run_id) VALUES (?, 0, 'r', 'b', ?, ?, 'send', 'coupon', 'X', 'sms', 'sent', true, ?, ?, 1)`,
			fmt.Sprintf("f%d", i), fmt.Sprintf("m%d", i), fmt.Sprint(i), at, fmt.Sprintf("f%d-0", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SQL().Exec(`INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES (1, 'm0', 'b', 'purchased', ?, 10)`,
		last.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, err := Build(ctx, db.SQL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 1 {
		t.Fatalf("%d rules reported, want 1 (r): %s", len(rep.Rules), rep.Period())
	}
	r := rep.Rules[0]
	if r.Decisions["sent"] != 3 || r.Treated.Firings != 3 || r.Treated.Converted != 1 {
		t.Errorf("sent %d, treated %d firings, %d converted; want 3, 3, 1", r.Decisions["sent"], r.Treated.Firings, r.Treated.Converted)
	}
	if rep.From != nil || rep.To != nil {
		t.Errorf("an open period reports from %v to %v", rep.From, rep.To)
	}
	// --to still ends the period (exclusive).
	rep, err = Build(ctx, db.SQL(), Options{To: last.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Rules[0].Decisions["sent"]; got != 2 {
		t.Errorf("--to 9999-12-31 01:00: %d sent, want 2", got)
	}
	if want := "firings from the beginning to 9999-12-31 01:00:00; conversions observed until 9999-12-31 01:00:00"; rep.Period() != want {
		t.Errorf("period %q, want %q", rep.Period(), want)
	}
	// With no event at all, observation has no end to show.
	if _, err := db.SQL().Exec(`DELETE FROM events`); err != nil {
		t.Fatal(err)
	}
	rep, err = Build(ctx, db.SQL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "firings from the beginning to the latest firing; no events yet, so no conversions"; rep.Period() != want {
		t.Errorf("period %q, want %q (it said observed until 9999-12-31)", rep.Period(), want)
	}
}
