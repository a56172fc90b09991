package runtime

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// promoJourney is the big-promo workflow in small: two copies to a quarter
// of the audience each, two days later the winner to the rest.
const promoJourney = `import "crm"

journey promo
  enter when member.tier = "gold"
  convert on purchased within 3 days
  split
    25% a
      send coupon "A" via sms with tier = member.tier
    25% b
      send coupon "B" via sms with tier = member.tier, note = "copy b"
    50% rest
      wait 2 days
      send winner
  end
end
`

// promoMembers are 24 gold members with sms consent.
func promoMembers() string {
	var b strings.Builder
	b.WriteString("member_id,brand,tier,consent_sms\n")
	for i := 1; i <= 24; i++ {
		fmt.Fprintf(&b, "m%02d,acme,gold,true\n", i)
	}
	return b.String()
}

// variants returns the members of each branch of the promo's split.
func variants(t *testing.T, db *DB) map[string][]string {
	t.Helper()
	rows, err := db.sql.QueryContext(context.Background(), `SELECT variant, member_id FROM journey_instances WHERE journey = 'promo' ORDER BY member_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var v, m string
		if err := rows.Scan(&v, &m); err != nil {
			t.Fatal(err)
		}
		out[v] = append(out[v], m)
	}
	return out
}

// TestJourneySendWinner runs `send winner` (SPEC §8, Winner): the rest of
// the audience gets the copy of the branch with the best conversion rate
// at the winner's due time; no conversions at all (a tie at 0) goes to the
// first branch in source order; conversions after the winner's due time do
// not count, whenever the tick runs. Each winner send keeps its own
// variant, records the winner and the rates in its values, and carries
// the chosen copy's `with` parameters.
func TestJourneySendWinner(t *testing.T) {
	t.Parallel()
	prog := compileJourneys(t, promoJourney)
	for _, tc := range []struct {
		name    string
		buyers  string // the branch whose members purchase
		at      string // when they purchase
		tick    string // the tick after the winner is due (11-12 10:00)
		content string
		vals    string
		params  string
	}{
		{"no conversion: the tie goes to the first branch", "", "", "2024-11-12 10:00", "A",
			`{"winner":"a","rate a":0.0,"rate b":0.0}`, `{"tier":"gold"}`},
		{"b converts", "b", "2024-11-11 09:00", "2024-11-12 10:00", "B",
			`{"winner":"b","rate a":0.0,"rate b":1.0}`, `{"tier":"gold","note":"copy b"}`},
		{"a late tick does not count conversions after the due time", "b", "2024-11-12 11:00", "2024-11-12 12:00", "A",
			`{"winner":"a","rate a":0.0,"rate b":0.0}`, `{"tier":"gold"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fixture(t, promoMembers(), "")
			run(t, db, prog, "2024-11-10 10:00")
			v := variants(t, db)
			if len(v["a"]) == 0 || len(v["b"]) == 0 {
				t.Fatalf("the split left a branch empty: %v", v)
			}
			if tc.buyers != "" {
				csv := "member_id,brand,type,ts,amount\n"
				for _, m := range v[tc.buyers] {
					csv += m + ",acme,purchased," + tc.at + ",30\n"
				}
				importEvents(t, db, csv)
			}
			res := run(t, db, prog, tc.tick)
			var sends int
			for _, d := range res.Decisions {
				if d.Action != "send" {
					continue
				}
				sends++
				if d.Variant != "rest" || d.Content != tc.content || d.Step == nil || *d.Step != 13 {
					t.Errorf("winner send %s: variant %q content %q step %v, want rest, %s, 13", d.MemberID, d.Variant, d.Content, d.Step, tc.content)
				}
				if got := strings.ReplaceAll(string(d.Values), " ", ""); got != strings.ReplaceAll(tc.vals, " ", "") {
					t.Errorf("winner send %s: values %s, want %s", d.MemberID, got, tc.vals)
				}
				if got := strings.ReplaceAll(string(d.Params), " ", ""); got != strings.ReplaceAll(tc.params, " ", "") {
					t.Errorf("winner send %s: params %s, want %s", d.MemberID, got, tc.params)
				}
			}
			if sends != len(v["rest"]) || sends == 0 {
				t.Errorf("%d winner sends, want one per member of rest (%d)", sends, len(v["rest"]))
			}
			if again := run(t, db, prog, tc.tick); len(again.Decisions) != 0 {
				t.Errorf("a rerun at the same now decided:\n%s", brief(again.Decisions))
			}
		})
	}
}

// TestJourneySendParams covers `with` parameters on a journey's sends: a
// field of the entering event, a member field and a literal, on the
// outbox row of the send.
func TestJourneySendParams(t *testing.T) {
	t.Parallel()
	db := fixture(t, unpaidMembers, unpaidEvents)
	prog := compileJourneys(t, `import "crm"

journey unpaid
  enter on order_placed where amount >= 50
  exit when paid matching order_id
  wait 30 minutes
  send reminder "PAY-1" via app_push with order = order_id, total = amount, tier = member.tier, wave = 1
end
`)
	res := run(t, db, prog, "2024-11-11 00:00", func(o *RunOptions) { o.Lookback = 48 * time.Hour })
	got := map[string]string{}
	for _, d := range res.Decisions {
		if d.Action == "send" {
			got[d.MemberID] = strings.ReplaceAll(string(d.Params), " ", "")
		}
	}
	want := map[string]string{
		"m1": `{"order":"o1","total":80.00,"tier":"gold","wave":1}`,
		"m2": `{"order":"o2","total":80.00,"tier":"gold","wave":1}`,
		"m4": `{"order":"o4","total":99.00,"tier":"silver","wave":1}`,
	}
	for m, w := range want {
		if got[m] != w {
			t.Errorf("%s: params %s, want %s", m, got[m], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("sends to %v, want %v", got, want)
	}
}

// lateJourney is the big-promo workflow entered on an order: two copies to
// a quarter each, two days later the winner to the rest.
const lateJourney = `import "crm"

journey late
  enter on order_placed
  convert on purchased within 3 days
  split
    25% a
      send coupon "A" via sms
    25% b
      send coupon "B" via sms
    50% rest
      wait 2 days
      send winner
  end
end
`

// sendDecisions lists a run's sends (member, content, values), sorted.
func sendDecisions(res *RunResult) []string {
	var out []string
	for _, d := range res.Decisions {
		if d.Action == "send" {
			out = append(out, d.MemberID+" "+d.Content+" "+string(d.Values))
		}
	}
	slices.Sort(out)
	return out
}

// winnerSends lists the winner sends of the outbox (member, due time,
// content, status, values), one a line, in a stable order.
func winnerSends(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.sql.QueryContext(context.Background(), `
SELECT member_id, strftime(due_at, '%m-%d %H:%M'), content, status, CAST(vals AS VARCHAR)
FROM outbox WHERE journey IS NOT NULL AND action = 'send' AND vals IS NOT NULL
ORDER BY journey, member_id, due_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var f [5]string
		if err := rows.Scan(&f[0], &f[1], &f[2], &f[3], &f[4]); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(f[:], " ") + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestJourneyWinnerLateTick: one late tick after the winner's due time
// decides the split's first sends and the winner together, and picks what
// hourly ticks pick, with the same rates in values (SPEC §8, Instants and
// Winner): the rate counts every send of a branch due at or before the
// winner's due time, whichever tick decided it, but not a send a policy
// refused (a b member without consent, who does not buy).
func TestJourneyWinnerLateTick(t *testing.T) {
	t.Parallel()
	prog := compileJourneys(t, lateJourney)
	// The branches, as the split draws them (SPEC §8, Split).
	probe := openTest(t)
	branch := map[string]string{}
	var a, b []string
	for i := 1; i <= 24; i++ {
		m := fmt.Sprintf("m%02d", i)
		var bucket int
		if err := probe.sql.QueryRow(`SELECT CAST(md5_number('late' || chr(31) || '0' || chr(31) || $1) % 10000 AS INTEGER)`, m).Scan(&bucket); err != nil {
			t.Fatal(err)
		}
		switch {
		case bucket < 2500:
			branch[m], a = "a", append(a, m)
		case bucket < 5000:
			branch[m], b = "b", append(b, m)
		default:
			branch[m] = "rest"
		}
	}
	if len(a) < 2 || len(b) < 2 {
		t.Fatalf("the split left a branch too small: a %v, b %v", a, b)
	}
	members := "member_id,brand,tier,consent_sms\n"
	events := "member_id,brand,type,ts,amount\n"
	for i := 1; i <= 24; i++ {
		m := fmt.Sprintf("m%02d", i)
		members += fmt.Sprintf("%s,acme,gold,%t\n", m, m != b[0])
		events += m + ",acme,order_placed,2024-11-10 10:00,80\n"
	}
	// One buyer in a; every b member but the one refused buys the next
	// morning.
	events += a[0] + ",acme,purchased,2024-11-11 09:00,30\n"
	for _, m := range b[1:] {
		events += m + ",acme,purchased,2024-11-11 09:00,30\n"
	}
	want := fmt.Sprintf(`{"winner":"b","rate a":%s,"rate b":1.0}`, strconv.FormatFloat(math.Round(1e4/float64(len(a)))/1e4, 'f', -1, 64))
	var got []string
	for _, schedule := range []string{"hourly", "late"} {
		db := fixture(t, members, events)
		ticks := []time.Time{ts("2024-11-12 12:00")}
		if schedule == "hourly" {
			ticks = nil
			for now := ts("2024-11-10 10:00"); !now.After(ts("2024-11-12 12:00")); now = now.Add(time.Hour) {
				ticks = append(ticks, now)
			}
		}
		var dry []string
		if schedule == "late" {
			// A dry run returns the sends decided before the winner ranked
			// too.
			res, err := db.Run(context.Background(), prog, RunOptions{Now: ticks[0], Lookback: 7 * 24 * time.Hour, DryRun: true})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			dry = sendDecisions(res)
		}
		for _, now := range ticks {
			res, err := db.Run(context.Background(), prog, RunOptions{Now: now, Lookback: 7 * 24 * time.Hour})
			if err != nil {
				t.Fatalf("%s: run at %s: %v", schedule, now, err)
			}
			if schedule != "late" {
				continue
			}
			if got := sendDecisions(res); !slices.Equal(got, dry) || len(got) != 24 {
				t.Errorf("the late tick's sends (%d) differ from its dry run's (%d):\n%s", len(got), len(dry), pathDiff(strings.Join(dry, "\n"), strings.Join(got, "\n")))
			}
			// The run log counts every decision of the tick.
			var logged int64
			if err := db.sql.QueryRow(`SELECT decisions FROM runs WHERE id = $1`, res.RunID).Scan(&logged); err != nil || logged != 24 {
				t.Errorf("the run log counts %d decisions (%v), want 24", logged, err)
			}
		}
		sends := winnerSends(t, db)
		for _, l := range strings.Split(strings.TrimSpace(sends), "\n") {
			f := strings.Fields(l)
			if len(f) < 5 || branch[f[0]] != "rest" || f[1] != "11-12" || f[2] != "10:00" || f[3] != "B" || f[4] != "pending" ||
				strings.ReplaceAll(strings.Join(f[5:], " "), " ", "") != strings.ReplaceAll(want, " ", "") {
				t.Errorf("%s: winner send %q, want a member of rest at 11-12 10:00 sent B pending with %s", schedule, l, want)
			}
		}
		got = append(got, journeyPath(t, db)+sends)
	}
	if got[0] != got[1] {
		t.Errorf("one late tick gives another path than hourly ticks:\n%s", pathDiff(got[0], got[1]))
	}
}

// pickJourney is the `send winner` journey TestJourneyPathIndependentOfSchedule
// runs next to pathJourney: each order splits, and a day later the rest
// get the copy that converted best so far, over every member's sends; b's
// sends to members without WeChat consent are refused and not counted.
const pickJourney = `
journey pick
  enter on order_placed
  convert on paid within 2 days
  split
    40% a
      send offer "O1" via sms
    30% b
      wait 2 hours
      send offer "O2" via wechat
    30% rest
      wait 1 day
      send winner
  end
end
`

// TestJourneyWinnersInSequence: a journey with a winner in each of two
// splits, entered through a day; an instance leaving the first winner may
// go on to a send the second winner counts, so one late tick runs the
// first winner's earlier instances before ranking the second and picks
// what hourly ticks pick, with the same rates.
func TestJourneyWinnersInSequence(t *testing.T) {
	t.Parallel()
	prog := compileJourneys(t, `import "crm"

journey twice
  enter on order_placed
  convert on purchased within 3 days
  split
    30% a
      send coupon "A" via sms
    70% rest
      wait 1 day
      send winner
  end
  split
    30% c
      send coupon "C" via sms
    30% d
      send coupon "D" via sms
    40% later
      wait 1 day
      send winner
  end
end
`)
	members := "member_id,brand,tier,consent_sms\n"
	events := "member_id,brand,type,ts,amount\n"
	start := ts("2024-11-10 00:00")
	for i := 0; i < 30; i++ {
		m := fmt.Sprintf("m%02d", i)
		members += m + ",acme,gold,true\n"
		at := start.Add(time.Duration(i*47) * time.Minute)
		events += fmt.Sprintf("%s,acme,order_placed,%s,80\n", m, at.Format("2006-01-02 15:04"))
		if i%3 == 0 {
			events += fmt.Sprintf("%s,acme,purchased,%s,30\n", m, at.Add(time.Duration(20+i)*time.Hour).Format("2006-01-02 15:04"))
		}
	}
	end := ts("2024-11-13 00:00")
	var got []string
	for _, hourly := range []bool{true, false} {
		db := fixture(t, members, events)
		ticks := []time.Time{end}
		if hourly {
			ticks = nil
			for now := start; !now.After(end); now = now.Add(time.Hour) {
				ticks = append(ticks, now)
			}
		}
		for _, now := range ticks {
			if _, err := db.Run(context.Background(), prog, RunOptions{Now: now, Lookback: 7 * 24 * time.Hour}); err != nil {
				t.Fatalf("run at %s: %v", now, err)
			}
		}
		got = append(got, journeyPath(t, db)+winnerSends(t, db))
	}
	if !strings.Contains(got[0], `"winner":"c","rate c":0.2857`) {
		t.Errorf("the history does not rank the second split's copies as expected:\n%s", got[0])
	}
	if got[0] != got[1] {
		t.Errorf("one late tick gives another path than hourly ticks:\n%s", pathDiff(got[0], got[1]))
	}
}
