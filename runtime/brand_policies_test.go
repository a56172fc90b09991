package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	nrt "nudge/runtime"
	"nudge/runtime/why"
)

// Two brands with a member m1 each and a rule called ping each (SPEC §5,
// §6: members, and the sends counted by caps and `stop after N
// unanswered`, are keyed by brand and member id). The bistro's ping sends
// to its m1 on each visit; acme's sends to its gold members and stops
// after two unanswered sends. Both brands cap sms at two a month.
const (
	brandPoliciesMembers = `member_id,brand,tier,phone,consent_sms
m1,acme,gold,111,true
m1,bistro,gold,111,true
`
	brandPoliciesEvents = `member_id,brand,type,ts
m1,bistro,visited,2024-03-01 09:00
m1,bistro,visited,2024-03-02 09:00
m1,bistro,visited,2024-03-03 09:00
`
	brandPoliciesAcme = `brand "acme"
import "crm"
cap sms to 2 per 30 days
rule ping
  if member.tier = "gold"
  then send promo "A" via sms
  stop after 2 unanswered
`
	brandPoliciesBistro = `brand "bistro"
import "crm"
cap sms to 2 per 30 days
rule ping
  if visited
  then send promo "B" via sms
`
)

// TestBrandPoliciesDoNotCross: the bistro's sends to its m1 fill its sms
// cap and go unanswered past two, which neither caps acme's first send to
// its own m1 nor makes acme's ping give up on it; `nudge why` agrees.
func TestBrandPoliciesDoNotCross(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := nrt.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Import(ctx, "members", []string{writeBrandFile(t, dir, "members.csv", brandPoliciesMembers)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, "events", []string{writeBrandFile(t, dir, "events.csv", brandPoliciesEvents)}); err != nil {
		t.Fatal(err)
	}
	acme, bistro := compileBrand(t, dir, "acme.nudge", brandPoliciesAcme), compileBrand(t, dir, "bistro.nudge", brandPoliciesBistro)
	tick := func(prog *compiler.Program, now time.Time) {
		t.Helper()
		if _, err := db.Run(ctx, prog, nrt.RunOptions{Now: now}); err != nil {
			t.Fatalf("%s at %s: %v", prog.Brand, now, err)
		}
	}
	// The bistro ticks after each visit: two sends, then its cap is full.
	day1 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for d := range 3 {
		tick(bistro, day1.AddDate(0, 0, d))
	}
	// Day 11: the windows of both bistro sends closed unanswered, and its
	// cap is still full. Acme's first tick.
	day11 := day1.AddDate(0, 0, 10)

	// why explains acme's ping for its m1 with the tick's unanswered count
	// and a dry run of the tick.
	reps, err := why.Explain(ctx, db, acme, explanations(t, dir, "acme.nudge", brandPoliciesAcme), []string{"m1"}, why.Options{Now: day11, Rule: "ping"})
	if err != nil {
		t.Fatal(err)
	}
	explained := 0
	for _, rep := range reps {
		for _, rr := range rep.Rules {
			explained++
			for _, p := range rr.Policies {
				if !p.OK {
					t.Errorf("why acme ping m1: %s: %s", p.Name, p.Text)
				}
			}
			if !rr.Fires {
				t.Errorf("why acme ping m1: %s", rr.Verdict)
			}
			for _, d := range rr.Decisions {
				if d.Status != "pending" {
					t.Errorf("why acme ping m1: dry run decides %s %s (%s)", d.Action, d.Status, d.Reason)
				}
			}
		}
	}
	if explained != 1 {
		t.Errorf("why explained acme's ping for m1 %d times, want once", explained)
	}

	tick(acme, day11)
	var got strings.Builder
	rows, err := db.SQL().QueryContext(ctx, `SELECT brand, rule, member_id, status, coalesce(reason, ''), strftime(fired_at, '%m-%d') FROM outbox ORDER BY brand, fired_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var brand, rule, member, status, reason, fired string
		if err := rows.Scan(&brand, &rule, &member, &status, &reason, &fired); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&got, "%s %s %s %s %q %s\n", brand, rule, member, status, reason, fired)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The bistro's own cap refused its third send; acme's send to its m1
	// goes out.
	want := `acme ping m1 pending "" 03-11
bistro ping m1 pending "" 03-01
bistro ping m1 pending "" 03-02
bistro ping m1 capped "cap sms 2 per 30d" 03-03
`
	if got.String() != want {
		t.Errorf("outbox:\n%swant\n%s", got.String(), want)
	}
}

// writeBrandFile writes content to name in dir and returns the path.
func writeBrandFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
