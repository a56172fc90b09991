package runtime

import (
	"context"
	"fmt"
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
