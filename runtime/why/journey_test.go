package why_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	nrt "nudge/runtime"
	"nudge/runtime/runtimetest"
	"nudge/runtime/why"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// vipJourney is an `enter when` journey with a wait until and an if/else,
// run beside runtimetest's unpaid-order journey (`enter on`, an exit and a
// split).
const vipJourney = `
journey vip "Gold welcome"
  enter when member.tier = "gold"
  send coupon "G1" via sms
  wait until purchased for at most 3 days
  if purchased
    send coupon "THANKS" via sms
  else
    send coupon "G2" via sms
  end
end
`

const journeysEvents = `member_id,brand,type,ts,amount,order_id
m4,acme,order_placed,2024-11-09 08:00,99,o4
m1,acme,order_placed,2024-11-10 10:00,80,o1
m2,acme,order_placed,2024-11-10 10:00,80,o2
m3,acme,order_placed,2024-11-10 10:00,20,o3
m2,acme,paid,2024-11-10 11:00,80,o2
m2,acme,purchased,2024-11-10 11:00,80,o2
`

// journeyDB runs the unpaid and vip journeys over runtimetest's unpaid
// members: ticks at 2024-11-09 09:00, 2024-11-10 10:00 and 12:00. It
// returns the database, the program and the journeys' explanations.
func journeyDB(t *testing.T) (*nrt.DB, *compiler.Program, []*compiler.JourneyWhy) {
	t.Helper()
	f := runtimetest.Fixture{
		Source:   runtimetest.UnpaidJourneyFor("acme") + vipJourney,
		Members:  runtimetest.UnpaidMembers,
		Events:   journeysEvents,
		Ticks:    []string{"2024-11-09 09:00", "2024-11-10 10:00", "2024-11-10 12:00"},
		Lookback: 48 * time.Hour,
	}.Run(t)
	jws, diags := compiler.WhyJourneys(f.Info)
	if diags.HasErrors() || len(jws) != 2 {
		t.Fatalf("%d journey explanations: %v", len(jws), diags)
	}
	return f.DB, f.Program, jws
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", name, got)
	}
}

// TestWhyJourneys explains both journeys for each member at 2024-11-10
// 12:00: m1 active (waiting for the split, and in vip waiting until a
// purchase), m2 exited by its payment (and through vip's first branch),
// m3 not entered (amount 20; silver), m4 completed (without app_push
// consent); the sends show their statuses.
func TestWhyJourneys(t *testing.T) {
	db, prog, jws := journeyDB(t)
	now, _ := time.Parse("2006-01-02 15:04", "2024-11-10 12:00")
	var b strings.Builder
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		reps, err := why.ExplainJourneys(context.Background(), db, prog, jws, m, why.Options{Now: now, Lookback: 48 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 2 {
			t.Fatalf("%d journey reports", len(reps))
		}
		b.WriteString("member " + m + "\n")
		why.WriteJourneysText(&b, reps)
		b.WriteString("\n")
	}
	golden(t, "journeys.golden", b.String())
	for _, frag := range []string{
		"→ active since 2024-11-10 10:00: next step 10 (split 50% sms_only, 50% wechat_first), due at 2024-11-10 16:30",
		"→ exited at 2024-11-10 11:00 before step 10: `exit when paid` held",
		"→ not entered: the entry condition is false (member.tier = \"silver\" = \"gold\")",
		"took the first branch",
	} {
		if !strings.Contains(b.String(), frag) {
			t.Errorf("explanation lacks %q", frag)
		}
	}
}

// TestWhyJourneyNextInOrder: what the next tick would decide for an
// instance that has several steps to catch up is listed in the order the
// journey takes them (by due time), as its recorded decisions are.
func TestWhyJourneyNextInOrder(t *testing.T) {
	f := runtimetest.Fixture{
		Source: `import "crm"
journey h
  enter on order_placed
  wait 1 hour
  send r "R1" via sms
  wait until purchased for at most 1 day
  split
    50% x
      send r "X" via sms
    50% y
      send r "Y" via sms
  end
  wait 1 day
  send r "LAST" via sms
end
`,
		Members: "member_id,brand,consent_sms\nm4,acme,true\n",
		Events:  "member_id,brand,type,ts,order_id\nm4,acme,order_placed,2024-06-01 10:00,o4\nm4,acme,purchased,2024-06-01 20:00,\n",
		Ticks:   []string{"2024-06-01 15:00"},
	}.Run(t)
	jws, diags := compiler.WhyJourneys(f.Info)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	now, _ := time.Parse("2006-01-02 15:04", "2024-06-02 21:00")
	reps, err := why.ExplainJourneys(context.Background(), f.DB, f.Program, jws, "m4", why.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	why.WriteJourneysText(&b, reps)
	want := `  the next tick would decide:
    2024-06-01 20:00 step 11: send r "Y" via sms → pending [variant y]
    2024-06-02 20:00 step 14: send r "LAST" via sms → pending [variant y]
    2024-06-02 20:00 completed → applied [variant y]
`
	if !strings.Contains(b.String(), want) {
		t.Errorf("the next tick's decisions are not in the journey's order:\n%s\nwant them as\n%s", b.String(), want)
	}
}
