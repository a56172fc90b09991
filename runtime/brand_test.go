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
	"nudge/lang"
	nrt "nudge/runtime"
	"nudge/runtime/report"
	"nudge/runtime/why"
	"nudge/stdlib"
)

// Two brands that use the same member ids (SPEC §5, brand isolation). The
// bistro's member file lacks phone and consent_sms, which acme's has; both
// programs have rules called welcome and thanks.
const (
	brandAcmeMembers = `member_id,brand,tier,phone,consent_sms,consent_email
m01,acme,gold,111,true,true
m02,acme,gold,222,true,true
`
	brandBistroMembers = `member_id,brand,tier,consent_email
m01,bistro,gold,true
m02,bistro,silver,true
`
	brandEvents = `member_id,brand,type,ts
m01,acme,visited,2024-03-01 09:00
m01,bistro,visited,2024-03-09 09:00
`
	brandAcme = `brand "acme"
import "crm"
cap email to 1 per 1 day
rule welcome "Acme welcome"
  if member.tier = "gold"
  then send promo "A" via email and tag "vip"
rule thanks "Acme thanks"
  if visited
  then send thanks "A" via sms
  stop after 1 unanswered
`
	brandBistro = `brand "bistro"
import "crm"
cap email to 1 per 1 day
rule greet
  if member.tier = "gold"
  then send promo "G" via email and untag "vip"
rule welcome
  if member.tier = "silver"
  then send promo "S" via sms
rule callback
  if member.phone = "222"
  then send callback "B" via email
rule vip
  if tagged "vip"
  then send promo "V" via email
rule thanks
  if visited
  then send thanks "B" via email
  stop after 1 unanswered
`
)

// TestBrandIsolation imports the same member ids under two brands and runs
// both brands' programs: no row, field, consent, tag or decision crosses.
func TestBrandIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := nrt.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rows := func(q string) string {
		t.Helper()
		rs, err := db.SQL().QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		var out []string
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = fmt.Sprint(v)
				if v == nil {
					parts[i] = "<nil>"
				}
			}
			out = append(out, strings.Join(parts, "|"))
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "\n")
	}
	const membersQ = `SELECT brand, member_id, tier, phone, consent_sms, consent_email FROM members ORDER BY brand, member_id`

	// Each import keeps the other brand's members as they are.
	if _, err := db.Import(ctx, "members", []string{write("acme.csv", brandAcmeMembers)}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Import(ctx, "members", []string{write("bistro.csv", brandBistroMembers)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 || res.Updated != 0 {
		t.Errorf("bistro import: %d inserted, %d updated; want 2, 0", res.Inserted, res.Updated)
	}
	want := `acme|m01|gold|111|true|true
acme|m02|gold|222|true|true
bistro|m01|gold|<nil>|<nil>|true
bistro|m02|silver|<nil>|<nil>|true`
	if got := rows(membersQ); got != want {
		t.Fatalf("members after both imports:\n%s\nwant\n%s", got, want)
	}
	// Importing acme's file again updates acme's rows only.
	if res, err := db.Import(ctx, "members", []string{write("acme.csv", brandAcmeMembers)}); err != nil || res.Updated != 2 || res.Inserted != 0 {
		t.Errorf("acme import again: %+v, %v; want 2 updated", res, err)
	}
	if got := rows(membersQ); got != want {
		t.Fatalf("members after acme's import again:\n%s\nwant\n%s", got, want)
	}
	if _, err := db.Import(ctx, "events", []string{write("events.csv", brandEvents)}); err != nil {
		t.Fatal(err)
	}

	acme, bistro := compileBrand(t, dir, "acme.nudge", brandAcme), compileBrand(t, dir, "bistro.nudge", brandBistro)
	tick := func(prog *compiler.Program, now time.Time) string {
		t.Helper()
		res, err := db.Run(ctx, prog, nrt.RunOptions{Now: now})
		if err != nil {
			t.Fatalf("%s at %s: %v", prog.Brand, now, err)
		}
		var b strings.Builder
		for _, d := range res.Decisions {
			fmt.Fprintf(&b, "%s %s %s %s %s\n", d.Rule, d.MemberID, d.Action, d.Channel, d.Status)
		}
		return b.String()
	}
	day1 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	day9 := day1.AddDate(0, 0, 8)

	// Acme first, then the bistro at the same instant: acme's email to its
	// m01 does not cap the bistro's to its m01, acme's welcome of m02 does
	// not use up (or dedupe) the bistro's welcome of its m02, the bistro
	// reads neither acme's phone nor its sms consent nor its tag.
	if got, want := tick(acme, day1), `welcome m01 send email pending
welcome m01 tag  applied
welcome m02 send email pending
welcome m02 tag  applied
thanks m01 send sms pending
`; got != want {
		t.Errorf("acme at day 1:\n%swant\n%s", got, want)
	}
	if got, want := tick(bistro, day1), `greet m01 send email pending
greet m01 untag  applied
welcome m02 send sms no_consent
`; got != want {
		t.Errorf("bistro at day 1:\n%swant\n%s", got, want)
	}
	// The bistro's untag left acme's tags alone.
	if got, want := rows(`SELECT brand, member_id, tag FROM member_tags ORDER BY ALL`), "acme|m01|vip\nacme|m02|vip"; got != want {
		t.Errorf("member_tags:\n%s\nwant\n%s", got, want)
	}
	// Firings of the two brands never share an id (a receiver dedupes by
	// the idempotency key).
	if got := rows(`SELECT count(*) - count(DISTINCT idempotency_key) FROM outbox`); got != "0" {
		t.Errorf("%s idempotency keys shared between the brands", got)
	}
	if got, want := rows(`SELECT brand, rule, member_id, last_effective FROM rule_members ORDER BY ALL`), `acme|thanks|m01|true
acme|welcome|m01|true
acme|welcome|m02|true
bistro|greet|m01|true
bistro|welcome|m02|false`; got != want {
		t.Errorf("rule_members:\n%s\nwant\n%s", got, want)
	}

	// Day 9: acme's thanks to m01 went unanswered, which does not make the
	// bistro give up on its m01; the why of the bistro's thanks says so.
	reps, err := why.Explain(ctx, db, bistro, explanations(t, dir, "bistro.nudge", brandBistro), []string{"m01"}, why.Options{Now: day9, Rule: "thanks"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range reps {
		for _, rr := range rep.Rules {
			for _, p := range rr.Policies {
				if p.Name == "stop after" && !p.OK {
					t.Errorf("why bistro thanks m01: %s: %s", p.Name, p.Text)
				}
			}
			if !rr.Fires {
				t.Errorf("why bistro thanks m01: %s", rr.Verdict)
			}
		}
	}
	if got, want := tick(acme, day9), ""; got != want {
		t.Errorf("acme at day 9:\n%swant\n%s", got, want)
	}
	if got, want := tick(bistro, day9), "thanks m01 send email pending\n"; got != want {
		t.Errorf("bistro at day 9:\n%swant\n%s", got, want)
	}

	// A report with acme's program covers acme's rules only, under their
	// titles.
	rep, err := report.Build(ctx, db.SQL(), report.Options{Program: acme})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Rules {
		got = append(got, fmt.Sprintf("%s %s %q %v", r.Brand, r.Rule, r.Title, r.Decisions))
	}
	if want := []string{
		`acme welcome "Acme welcome" map[applied:2 pending:2]`,
		`acme thanks "Acme thanks" map[pending:1]`,
	}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("report with acme's program:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := report.Build(ctx, db.SQL(), report.Options{Program: acme, Brand: "bistro"}); err == nil ||
		!strings.Contains(err.Error(), `report: the rules say brand "acme" but --brand says "bistro"`) {
		t.Errorf("report with acme's program for the bistro: %v", err)
	}
}

// compileBrand compiles one program file.
func compileBrand(t *testing.T, dir, name, src string) *compiler.Program {
	t.Helper()
	p, diags := lang.LoadSources([]lang.Source{{Name: filepath.Join(dir, name), Src: []byte(src)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if prog == nil || diags.HasErrors() {
		t.Fatalf("%s: compile: %v", name, diags)
	}
	return prog
}

// explanations returns the explanation queries of one program file.
func explanations(t *testing.T, dir, name, src string) []*compiler.Explanation {
	t.Helper()
	p, diags := lang.LoadSources([]lang.Source{{Name: filepath.Join(dir, name), Src: []byte(src)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	exps, diags := compiler.Why(p.Info)
	if diags.HasErrors() {
		t.Fatalf("%s: why: %v", name, diags)
	}
	return exps
}
