package compiler

import (
	"context"
	"database/sql"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nudge/internal/tickform"
	"nudge/lang"
	"nudge/runtime/demodata"
)

// TestDelta checks which state rules get a Delta and what it watches: every
// construct whose value can change with time alone must be watched, and
// anything a Delta cannot bound (tags, ranks among all members, hours,
// days since compared with anything but a number) must give none.
func TestDelta(t *testing.T) {
	tests := []struct {
		cond string
		want string // Delta.String(), "" for no Delta
	}{
		{`member.city = "长沙"`, "re-evaluates members with new events"},
		{`purchased in last 30 days`, "re-evaluates members with new events or events purchased due, purchased 30 day ago"},
		{`visited in last 3 months and purchased ever`, "re-evaluates members with new events or events purchased due, visited due, visited 3 month ago"},
		{`count(purchased in last 7 days) >= 2`, "re-evaluates members with new events or events purchased due, purchased 7 day ago"},
		{`sum(purchased.amount ever) > 100`, "re-evaluates members with new events or events purchased due"},
		{`days since last purchased > 90`, "re-evaluates members with new events or events purchased due, purchased 90 day ago, purchased 91 day ago"},
		{`days since first purchased between 30 and 44`, "re-evaluates members with new events or events purchased due, purchased 30 day ago, purchased 31 day ago, purchased 44 day ago, purchased 45 day ago"},
		{`90 < days since last purchased`, "re-evaluates members with new events or events purchased due, purchased 90 day ago, purchased 91 day ago"},
		{`days since last purchased > 90.5`, "re-evaluates members with new events or events purchased due, purchased 90 day ago, purchased 91 day ago, purchased 92 day ago"},
		{`not purchased in last 2 days`, "re-evaluates members with new events or events purchased due, purchased 2 day ago"},
		{`birthday_in(3 days)`, "re-evaluates members with new events; on a new day, members whose date conditions changed"},
		{`age() >= 18`, "re-evaluates members with new events; on a new day, members whose date conditions changed"},
		{`days_since(2024-11-11) = 0`, "re-evaluates members with new events; on a new day, members whose date conditions changed"},
		{`days_since(member.birthday) > 9000`, "re-evaluates members with new events; on a new day, members whose date conditions changed"},
		// A date function in an atom that also reads events: everyone.
		{`days_since(2024-11-11) < count(purchased ever)`, "re-evaluates members with new events or events purchased due; everyone on a new day"},
		// No Delta: the verdict can change in ways a Delta cannot bound.
		{`days_since(member.signup_at) > 30`, ""},
		{`hours_since(member.signup_at) > 30`, ""},
		{`tagged "vip"`, ""},
		{`rfm_r() >= 4`, ""},
		{`spend_percentile(365 days) >= 80`, ""},
		{`days since last purchased * 2 > 90`, ""},
		{`days since last purchased > count(purchased ever)`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			src := "import \"crm\"\nrule r if " + tt.cond + " then send coupon \"C\" via sms\n"
			p := compileSource(t, src)
			r := p.Rules[0]
			got := ""
			if r.Tick.Delta != nil {
				got = r.Tick.Delta.String()
			}
			if got != tt.want {
				t.Errorf("Delta = %q\nwant    %q", got, tt.want)
			}
			if (r.Tick.Delta != nil) != (r.Tick.ScopedSQL != "") {
				t.Errorf("Delta %v but ScopedSQL %q", r.Tick.Delta != nil, r.Tick.ScopedSQL)
			}
		})
	}
}

// TestDailyAtoms checks the atoms of a condition that call a function of
// the date, which the runtime compares between two runs on a new day: one
// per distinct atom, each over the member's row only (PerMember unless it
// has one value for everyone); none (everyone is
// re-evaluated) when a call sits in an atom that reads events or in a
// segment.
func TestDailyAtoms(t *testing.T) {
	// at is the atom sql, compared at tickform.ThenRow's instant in Then.
	at := func(sql string, perMember bool) tickform.DailyAtom {
		return tickform.DailyAtom{SQL: sql, Then: strings.ReplaceAll(sql, "$now::TIMESTAMP", tickform.ThenRow+".ts"), PerMember: perMember}
	}
	tests := []struct {
		src  string
		want []tickform.DailyAtom
	}{
		{"rule r if birthday_in(0 days) then send coupon \"C\" via sms",
			[]tickform.DailyAtom{at("COALESCE((nudge_birthday_in(m.birthday, $now::TIMESTAMP, INTERVAL 0 DAY)), false)", true)}},
		{"rule r if days_since(2024-11-11) = 0 and purchased in last 365 days then send coupon \"C\" via sms",
			[]tickform.DailyAtom{at("COALESCE((nudge_days_since(DATE '2024-11-11', $now::TIMESTAMP)) = 0, false)", false)}},
		{"rule r if days_since(member.birthday) > 9000 then send coupon \"C\" via sms",
			[]tickform.DailyAtom{at("COALESCE((nudge_days_since(m.birthday, $now::TIMESTAMP)) > 9000, false)", true)}},
		{"rule r if (age() >= 18 or member.tier = \"gold\") and not birthday_in(3 days) and age() >= 18 then send coupon \"C\" via sms",
			[]tickform.DailyAtom{at("COALESCE((nudge_age(m.birthday, $now::TIMESTAMP)) >= 18, false)", true), at("COALESCE((nudge_birthday_in(m.birthday, $now::TIMESTAMP, INTERVAL 3 DAY)), false)", true)}},
		{"rule r if days_since(2024-11-11) < count(purchased ever) then send coupon \"C\" via sms", nil},
		{"segment bday = birthday_in(0 days)\nrule r if bday and purchased ever then send coupon \"C\" via sms", nil},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p := compileSource(t, "import \"crm\"\n"+tt.src+"\n")
			d := p.Rules[0].Tick.Delta
			if d == nil || !d.Daily {
				t.Fatalf("Delta %+v, want a daily one", d)
			}
			if !slices.Equal(d.DailyAtoms, tt.want) {
				t.Errorf("DailyAtoms:\n%+v\nwant\n%+v", d.DailyAtoms, tt.want)
			}
		})
	}
}

// TestScopedSQLAgrees runs every example rule's ScopedSQL over scope tables
// holding the demo members (and all their events of the types the rule's
// ScopeEventReads name, each with only the columns it names and, for the
// types of ScopeEventsSince, only after the bound, as the runtime copies
// clustered events) and checks
// that it returns exactly what SQL returns: the scoped form may only change
// which rows are read, never the verdict.
func TestScopedSQLAgrees(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, err := demodata.Generate(ctx, db, demodata.Options{Members: 600, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TEMP TABLE "+tickform.ScopeMembers+" AS SELECT * FROM members"); err != nil {
		t.Fatal(err)
	}
	var rules []*Rule
	files, _ := filepath.Glob("../examples/*.nudge")
	for _, f := range files {
		if !strings.HasSuffix(f, lang.TestSuffix) {
			rules = append(rules, loadProgram(t, f).Rules...)
		}
	}
	now := demodata.DefaultNow
	wm := watermark{Seq: 0, Now: now.AddDate(0, 0, -1)}
	checked := 0
	for _, r := range rules {
		if r.Tick.ScopedSQL == "" {
			continue
		}
		checked++
		// One scan per type with its columns, as the runtime copies
		// clustered events (the union fills the others with NULL).
		scopeCopy := "SELECT seq, member_id, brand, type, ts FROM events WHERE false"
		var parts []string
		for _, e := range slices.Sorted(maps.Keys(r.Tick.ScopeEventReads)) {
			cols := append([]string{"seq", "member_id", "brand", "type", "ts"}, r.Tick.ScopeEventReads[e]...)
			since := ""
			if bound, ok := r.Tick.ScopeEventsSince[e]; ok {
				// (With wm.Seq 0 every event of the rule's types is
				// ingested since: the earliest candidate is the earliest
				// of them, as the runtime finds it.)
				since = " AND ts > " + strings.ReplaceAll(bound, tickform.CandidatesFrom, "(SELECT min(ts) FROM events WHERE type IN ('"+strings.Join(r.Events, "', '")+"'))")
			}
			parts = append(parts, "SELECT "+strings.Join(cols, ", ")+" FROM events WHERE type = '"+e+"'"+since)
		}
		if len(parts) > 0 {
			scopeCopy = strings.Join(parts, "\nUNION ALL BY NAME\n")
		}
		var args []any
		if strings.Contains(scopeCopy, "$now") {
			args = append(args, sql.Named(ParamNow, now))
		}
		if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+tickform.ScopeEvents+" AS "+scopeCopy, args...); err != nil {
			t.Fatal(err)
		}
		full, err := runRule(ctx, db, r, now, wm)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		scoped := *r
		scoped.SQL = r.Tick.ScopedSQL
		got, err := runRule(ctx, db, &scoped, now, wm)
		if err != nil {
			t.Fatalf("%s scoped: %v\n%s", r.Name, err, r.Tick.ScopedSQL)
		}
		if strings.Join(got, " ") != strings.Join(full, " ") {
			t.Errorf("%s: scoped query returns %d rows, full query %d", r.Name, len(got), len(full))
		}
	}
	if checked < 10 {
		t.Errorf("only %d example rules have a scoped form", checked)
	}
}

// TestScopeEventReads: a rule's scoped form lists the event types and, per
// type, the columns it reads from the scope's copy, and not those only its
// candidates are of or read (candidates come from the events table); and
// the bound at now after which it reads the events of a type, when every
// read of it has one (ScopeEventsSince).
func TestScopeEventReads(t *testing.T) {
	want := map[string]string{
		"store_a_coupon":    "",                                                     // `with store = store` reads the candidate's field
		"spending_spike":    "purchased:amount",                                     // the average of earlier purchases
		"pay_reminder":      "paid:order_id since " + tickform.CandidatesFrom,       // the paid event after the order (the parameters read the candidate)
		"new_dish_voucher":  "visited: since $now::TIMESTAMP + INTERVAL (-3) MONTH", // in last 3 months
		"dormancy_reminder": "purchased:",                                           // days since last: no bound
		"toothbrush_refill": "purchased:sku",                                        // days since last: no bound
		"double11_greeting": "purchased: since $now::TIMESTAMP - INTERVAL 365 DAY",
		"birthday":          "",
	}
	got := map[string]string{}
	files, _ := filepath.Glob("../examples/*.nudge")
	for _, f := range files {
		if strings.HasSuffix(f, lang.TestSuffix) {
			continue
		}
		for _, r := range loadProgram(t, f).Rules {
			var reads []string
			for _, e := range slices.Sorted(maps.Keys(r.Tick.ScopeEventReads)) {
				reads = append(reads, e+":"+strings.Join(r.Tick.ScopeEventReads[e], ","))
				if bound, ok := r.Tick.ScopeEventsSince[e]; ok {
					reads = append(reads, "since "+bound)
				}
			}
			got[r.Name] = strings.Join(reads, " ")
		}
	}
	for rule, types := range want {
		if c, ok := got[rule]; !ok || c != types {
			t.Errorf("%s: ScopeEventReads = %q (found %v), want %q", rule, c, ok, types)
		}
	}
}

// TestLaneSQLAgrees evaluates every example rule's lane form over lanes of
// demo members at several instants (with steps of an hour to days before
// them) and checks that each lane gets exactly the firings the rule's SQL
// gives its member at the lane's instant, as a tick-by-tick replay would see
// it: the lane form may only batch instants, never change a verdict.
func TestLaneSQLAgrees(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, err := demodata.Generate(ctx, db, demodata.Options{Members: 400, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	var members []string
	rows, err := db.QueryContext(ctx, "SELECT member_id FROM members ORDER BY member_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	rows.Close()
	end := demodata.DefaultNow
	instants := []time.Time{end, end.Add(-time.Hour), end.Add(-7 * time.Hour), end.Add(-27 * time.Hour), end.AddDate(0, 0, -5), end.AddDate(0, 0, -29).Add(3 * time.Hour)}
	steps := []time.Duration{time.Hour, time.Hour, 6 * time.Hour, 3 * 24 * time.Hour}
	rng := rand.New(rand.NewPCG(5, 5))
	var lanes []lane
	for _, m := range members {
		// Two to three instants per member, some shared by several lanes
		// of the member (the copies must stay apart).
		for range 2 + rng.IntN(2) {
			now := instants[rng.IntN(len(instants))]
			lanes = append(lanes, lane{member: m, now: now, prev: now.Add(-steps[rng.IntN(len(steps))])})
		}
	}
	var rules []*Rule
	files, _ := filepath.Glob("../examples/*.nudge")
	for _, f := range files {
		if !strings.HasSuffix(f, lang.TestSuffix) {
			rules = append(rules, loadProgram(t, f).Rules...)
		}
	}
	checked, fired := 0, 0
	for _, r := range rules {
		if (r.Tick.LaneSQL == "") != (r.Tick.ScopedSQL == "") {
			t.Errorf("%s: a lane form without a scoped form, or the reverse", r.Name)
		}
		if r.Tick.LaneSQL == "" {
			continue
		}
		if strings.Contains(r.Tick.LaneSQL, "$"+ParamNow) || strings.Contains(r.Tick.LaneSQL, "$wm_") {
			t.Errorf("%s: the lane form reads a parameter other than brand:\n%s", r.Name, r.Tick.LaneSQL)
		}
		checked++
		got, want, err := laneFirings(ctx, db, r, lanes)
		if err != nil {
			t.Fatalf("%s: %v\n%s", r.Name, err, r.Tick.LaneSQL)
		}
		if len(want) > 0 {
			fired++
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: lane form %d firings, SQL %d\nonly lanes: %v\nonly SQL: %v", r.Name, len(got), len(want), minus(got, want), minus(want, got))
		}
	}
	if checked < 11 || fired < 8 {
		t.Errorf("only %d example rules have a lane form, %d of them fired", checked, fired)
	}
}

// minus returns the elements of a (sorted) not in b, at most ten.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
		if len(out) == 10 {
			break
		}
	}
	return out
}
