package report

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/runtime/runtimetest"
)

// journeyFixture runs runtimetest's unpaid journey, with a 10% holdout,
// over 400 members who each place an order at 2024-11-10 10:00 (every
// tenth for 20, so it does not enter; every seventh without app_push
// consent); the 80 members 5k+1 pay at 11:00 and exit. Ticks at 10:00,
// 12:00 and 2024-11-11 00:00. Then members buy on 2024-11-11 08:00: of the
// sms_only instances those with an even number, of the wechat_first ones
// every member when same, else every fifth.
func journeyFixture(t *testing.T, same bool) (*sql.DB, *compiler.Program) {
	t.Helper()
	return journeyFixtureWith(t, same, "holdout 10%")
}

// journeyFixtureWith is journeyFixture with the given lines in the
// journey's header (after its exit clause) in place of the 10% holdout.
func journeyFixtureWith(t *testing.T, same bool, lines ...string) (*sql.DB, *compiler.Program) {
	t.Helper()
	members := "member_id,brand,consent_sms,consent_wechat,consent_app_push\n"
	events := "member_id,brand,type,ts,amount,order_id\n"
	for i := range 400 {
		m := fmt.Sprintf("m%03d", i)
		members += fmt.Sprintf("%s,acme,true,true,%t\n", m, i%7 != 0)
		amount := 80
		if i%10 == 0 {
			amount = 20
		}
		events += fmt.Sprintf("%s,acme,order_placed,2024-11-10 10:00,%d,o%s\n", m, amount, m)
		if i%5 == 1 {
			events += fmt.Sprintf("%s,acme,paid,2024-11-10 11:00,%d,o%s\n", m, amount, m)
		}
	}
	f := runtimetest.Fixture{
		Source:   runtimetest.UnpaidJourneyFor("acme", lines...),
		Members:  members,
		Events:   events,
		Ticks:    []string{"2024-11-10 10:00", "2024-11-10 12:00", "2024-11-11 00:00"},
		Lookback: 48 * time.Hour,
	}.Run(t)
	q := f.DB.SQL()
	rows, err := q.Query(`SELECT member_id, variant FROM journey_instances WHERE variant IS NOT NULL ORDER BY member_id`)
	if err != nil {
		t.Fatal(err)
	}
	type mv struct{ m, v string }
	var got []mv
	for rows.Next() {
		var x mv
		if err := rows.Scan(&x.m, &x.v); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	rows.Close()
	purchases := "member_id,brand,type,ts,amount\n"
	for _, x := range got {
		var i int
		fmt.Sscanf(x.m, "m%d", &i)
		buys := i%2 == 0
		if x.v == "wechat_first" && !same {
			buys = i%5 == 0
		}
		if buys {
			purchases += x.m + ",acme,purchased,2024-11-11 08:00,80\n"
		}
	}
	runtimetest.Import(t, f.DB, "events", purchases)
	return q, f.Program
}

// TestJourneyFunnel checks the journeys section of the report, in text,
// JSON and HTML (golden files): the funnel (entered, each step reached and
// sent, converted, exited, completed) and the variants side by side; with
// different conversion rates the report names the winner, with equal ones
// it names none.
func TestJourneyFunnel(t *testing.T) {
	for _, c := range []struct {
		name   string
		same   bool
		winner string
	}{{"winner", false, "sms_only"}, {"nowinner", true, ""}} {
		t.Run(c.name, func(t *testing.T) {
			db, prog := journeyFixture(t, c.same)
			rep, err := Build(context.Background(), db, Options{Program: prog})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Journeys) != 1 {
				t.Fatalf("%d journeys in the report", len(rep.Journeys))
			}
			j := rep.Journeys[0]
			if j.Entered != 360 || j.Exited != 80 || j.Completed+j.Exited+j.Active != j.Entered {
				t.Errorf("entered %d exited %d completed %d active %d: want 360 entered, 80 exited, the rest completed", j.Entered, j.Exited, j.Completed, j.Active)
			}
			if len(j.Steps) != 3 || j.Steps[0].Reached != 360 {
				t.Errorf("steps %+v: want PAY-1 reached by every instance, then the split's two sends", j.Steps)
			}
			if j.Winner != c.winner {
				t.Errorf("winner %q, want %q (%s)", j.Winner, c.winner, j.WinnerNote)
			}
			var txt, js, html bytes.Buffer
			if err := rep.WriteText(&txt); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteHTML(&html, time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "journey_"+c.name+".txt"), txt.Bytes())
			if c.name == "winner" {
				golden(t, filepath.Join("testdata", "journey_winner.json"), js.Bytes())
				golden(t, filepath.Join("testdata", "journey_winner.html"), html.Bytes())
			}
		})
	}
}

// TestJourneyFunnelInChromium opens the HTML report with a journey in
// headless Chromium: the DOM holds the funnel's bars, the widest the
// entered instances, and the screenshot shows the funnel's colours.
func TestJourneyFunnelInChromium(t *testing.T) {
	requireChromium(t)
	db, prog := journeyFixture(t, false)
	rep, err := Build(context.Background(), db, Options{Program: prog})
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := rep.WriteHTML(&html, time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// One browser run dumps the DOM and takes the screenshot.
	shot := filepath.Join(t.TempDir(), "shot.png")
	dom := string(chromium(t, file, "--dump-dom", "--screenshot="+shot, "--window-size=1000,2400", "--hide-scrollbars"))
	if n := strings.Count(dom, `class="bar funnel`); n != len(rep.Journeys[0].Funnel()) {
		t.Errorf("the DOM has %d funnel bars, want %d", n, len(rep.Journeys[0].Funnel()))
	}
	if !strings.Contains(dom, `<rect class="bar funnel" x="130" y="4" width="360"`) {
		t.Errorf("the entered bar is not the full width in the DOM:\n%s", dom)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	blue, green := countColour(img, 0x2b, 0x7b, 0xb9), countColour(img, 0x3a, 0x9d, 0x5d)
	if blue < 360*16 || green == 0 {
		t.Errorf("the screenshot shows too few funnel pixels: %d blue, %d green", blue, green)
	}
}

// TestJourneyConvertOn: the funnel's converted and the variants count the
// journey's own `convert on` (an event type, a filter and a window), not the
// default conversion. Over journeyFixture's purchases (80 CNY, none
// qualifies) the members 3k buy 150 CNY on 2024-11-11 09:00 (within the
// day after their last send's due time) and the members 3k+1 on
// 2024-11-14 (past it): only the members 3k of instances not held out
// that had a send convert.
func TestJourneyConvertOn(t *testing.T) {
	db, prog := journeyFixtureWith(t, false, "holdout 10%", "convert on purchased where amount >= 100 within 1 day")
	rows, err := db.Query(`SELECT member_id, held_out, variant FROM journey_instances ORDER BY member_id`)
	if err != nil {
		t.Fatal(err)
	}
	type inst struct {
		m       string
		held    bool
		variant sql.NullString
	}
	var insts []inst
	for rows.Next() {
		var x inst
		if err := rows.Scan(&x.m, &x.held, &x.variant); err != nil {
			t.Fatal(err)
		}
		insts = append(insts, x)
	}
	rows.Close()
	seq := 10_000
	wantConverted, wantByVariant := int64(0), map[string]int64{}
	for _, x := range insts {
		var i int
		fmt.Sscanf(x.m, "m%d", &i)
		var ts string
		switch i % 3 {
		case 0:
			ts = "2024-11-11 09:00:00"
			// A conversion is counted after a send (from its due time):
			// the members 5k+1 paid and exited before PAY-2, so those
			// without app_push consent (7k) had no send to convert after.
			if !x.held && (i%5 != 1 || i%7 != 0) {
				wantConverted++
				if x.variant.Valid {
					wantByVariant[x.variant.String]++
				}
			}
		case 1:
			ts = "2024-11-14 09:00:00"
		default:
			continue
		}
		seq++
		if _, err := db.Exec(`INSERT INTO events (seq, member_id, brand, type, ts, amount) VALUES (?, ?, 'acme', 'purchased', ?::TIMESTAMP, 150)`, seq, x.m, ts); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Build(context.Background(), db, Options{Program: prog})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Journeys) != 1 {
		t.Fatalf("%d journeys in the report", len(rep.Journeys))
	}
	j := rep.Journeys[0]
	if want := "purchased where amount >= 100 within 1 day"; j.Conversion != want {
		t.Errorf("conversion %q, want %q", j.Conversion, want)
	}
	if j.Converted != wantConverted {
		t.Errorf("converted %d, want %d (the members 3k of instances not held out, with a send)", j.Converted, wantConverted)
	}
	for _, v := range j.Variants {
		if v.Converted != wantByVariant[v.Name] {
			t.Errorf("variant %s: converted %d, want %d", v.Name, v.Converted, wantByVariant[v.Name])
		}
	}
	var txt bytes.Buffer
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "journey_convert.txt"), txt.Bytes())
}

// TestCompareVariants: a winner only when the comparison is valid and its
// interval excludes 0, either way round; small groups are named in the note.
func TestCompareVariants(t *testing.T) {
	cases := []struct {
		name   string
		vs     []Variant
		winner string
		note   string
	}{
		{"b better", []Variant{{Name: "a", Instances: 200, Converted: 20}, {Name: "b", Instances: 200, Converted: 60}}, "b", "significant: b converts better than a"},
		{"a better", []Variant{{Name: "a", Instances: 200, Converted: 60}, {Name: "b", Instances: 200, Converted: 20}}, "a", "significant: a converts better than b"},
		{"same", []Variant{{Name: "a", Instances: 200, Converted: 40}, {Name: "b", Instances: 200, Converted: 42}}, "", "not significant: the interval contains 0"},
		{"small", []Variant{{Name: "a", Instances: 15, Converted: 1}, {Name: "b", Instances: 20, Converted: 15}}, "", "too small to conclude: a has 15 instances (< 30); b has 20 instances (< 30)"},
		// The group with too few expected conversions is named, not only
		// its size: here the first, the reference.
		{"rare", []Variant{{Name: "a", Instances: 185, Converted: 3}, {Name: "rest", Instances: 18511, Converted: 199}}, "", "too small to conclude: only 2.0 conversions expected in a's 185 instances"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := &Journey{Variants: c.vs}
			compareVariants(j)
			if j.Winner != c.winner {
				t.Errorf("winner %q, want %q (%s)", j.Winner, c.winner, j.WinnerNote)
			}
			if got := j.Variants[1].VsFirst.Note; got != c.note {
				t.Errorf("note %q, want %q", got, c.note)
			}
		})
	}
}

// TestConversionFromDueTime: the rules' section and the journeys' section
// measure a send's conversion from one instant, its due time (10:00 +
// 1 hour), not the tick that recorded it (a late tick at 14:00) nor the
// entry (10:00). Member a buys at 10:30 (before the send was due), b at
// 12:00 (after it was due, before the tick that recorded it), c at 15:00;
// d buys at 12:00 too, but its send is held out (the control). Both
// sections, in every format, count b and c converted; before, the rules'
// section (from fired_at) counted c alone and the journeys' section (from
// the entry) a, b and c.
func TestConversionFromDueTime(t *testing.T) {
	f := runtimetest.Fixture{
		Source: `import "crm"

journey remind
  enter on order_placed
  wait 1 hour
  send reminder "R" via sms
end
`,
		Members: "member_id,brand,consent_sms\na,acme,true\nb,acme,true\nc,acme,true\nd,acme,true\n",
		Events: `member_id,brand,type,ts,amount
a,acme,order_placed,2024-11-10 10:00,10
b,acme,order_placed,2024-11-10 10:00,10
c,acme,order_placed,2024-11-10 10:00,10
d,acme,order_placed,2024-11-10 10:00,10
a,acme,purchased,2024-11-10 10:30,10
b,acme,purchased,2024-11-10 12:00,10
c,acme,purchased,2024-11-10 15:00,10
d,acme,purchased,2024-11-10 12:00,10
`,
		Ticks: []string{"2024-11-10 10:00", "2024-11-10 14:00"},
	}.Run(t)
	q := f.DB.SQL()
	// d's instance is the control (a journey's holdout, decided at entry).
	for _, s := range []string{`UPDATE journey_instances SET held_out = (member_id = 'd')`,
		`UPDATE outbox SET status = 'held_out' WHERE member_id = 'd' AND action = 'send'`} {
		if _, err := q.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	var due, fired time.Time
	if err := q.QueryRow(`SELECT due_at, fired_at FROM outbox WHERE member_id = 'b' AND action = 'send'`).Scan(&due, &fired); err != nil {
		t.Fatal(err)
	}
	if want := runtimetest.At(t, "2024-11-10 11:00"); !due.Equal(want) || !fired.Equal(runtimetest.At(t, "2024-11-10 14:00")) {
		t.Fatalf("b's send due %s, fired %s: want due 11:00, fired at the 14:00 tick", due, fired)
	}
	rep, err := Build(context.Background(), q, Options{Program: f.Program})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rules) != 1 || len(rep.Journeys) != 1 {
		t.Fatalf("%d rules and %d journeys in the report, want the journey in each section", len(rep.Rules), len(rep.Journeys))
	}
	r, j := rep.Rules[0], rep.Journeys[0]
	if r.Treated.Firings != 3 || r.Treated.Converted != 2 || r.Control.Firings != 1 || r.Control.Converted != 1 {
		t.Errorf("rules' section: treated %d converted %d, control %d converted %d; want 3 sends with 2 converted (b, c), control 1 of 1 (d)",
			r.Treated.Firings, r.Treated.Converted, r.Control.Firings, r.Control.Converted)
	}
	if j.Entered != 4 || j.HeldOut != 1 || j.Converted != 2 {
		t.Errorf("journeys' section: entered %d (held out %d), converted %d; want 4 (1), 2 converted (b, c)", j.Entered, j.HeldOut, j.Converted)
	}
	if r.Days[0].Count != 2 {
		t.Errorf("days to conversion %+v: want both on day 0 (1 and 4 hours after the due time)", r.Days)
	}
	var js, html bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rules []struct {
			Treated struct{ Converted int64 } `json:"treated"`
		} `json:"rules"`
		Journeys []struct{ Converted int64 } `json:"journeys"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Rules[0].Treated.Converted != 2 || got.Journeys[0].Converted != 2 {
		t.Errorf("JSON: rules' converted %d, journeys' %d; want 2 and 2:\n%s", got.Rules[0].Treated.Converted, got.Journeys[0].Converted, js.String())
	}
	if err := rep.WriteHTML(&html, time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<tr><th>treated</th><td class="n">3</td><td class="n">2</td>`, `<tr><th>converted</th><td class="n">2</td>`} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("the HTML report lacks %s", want)
		}
	}
}
