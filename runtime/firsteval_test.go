package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"nudge/runtime/demodata"
)

// TestConsentOfManyFirings: a first evaluation that fires for more than
// ten thousand members, and for a quarter of the base or more, takes the
// policies step's way for many firings (the opt-ins and opt-outs read once,
// the members hashed rather than the firings: 06_decide.go, 08_consent.go).
// Its sends are refused for consent as the members' latest opt-in or
// opt-out on sms says, else their consent_sms, as a query written apart
// finds them.
func TestConsentOfManyFirings(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	ctx := context.Background()
	dir := t.TempDir()
	db := demoDB(t, filepath.Join(dir, "many.duckdb"), 25_000)
	now := demodata.DefaultNow
	path := filepath.Join(dir, "optouts.csv")
	writeOptOuts(t, path, rand.New(rand.NewPCG(3, 5)), now, 4000)
	if _, err := db.Import(ctx, "events", []string{path}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Run(ctx, compileSource(t, firstEvalRule), RunOptions{Now: now, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Decisions); n <= 10_000 {
		t.Fatalf("%d decisions: too few for the policies step's way for many firings", n)
	}
	var got []string
	for _, d := range res.Decisions {
		got = append(got, fmt.Sprintf("%s %s %s %s", d.MemberID, d.Channel, d.Status, d.Reason))
	}
	// The members the rule fires for (firstEvalHandQuery), and their
	// latest opt-in or opt-out on sms at now (by ts, then seq).
	rows, err := db.sql.QueryContext(ctx, `
WITH fired AS (SELECT json_extract_string(j, '$.member_id') AS member_id FROM (`+firstEvalHandQuery+`) q(j)),
latest AS (
    SELECT member_id, type = 'subscribed' AS sub FROM events
    WHERE brand = 'acme' AND type IN ('subscribed', 'unsubscribed') AND channel = 'sms' AND ts <= $now::TIMESTAMP
    QUALIFY row_number() OVER (PARTITION BY member_id ORDER BY ts DESC, seq DESC) = 1)
SELECT f.member_id || ' sms ' ||
       CASE WHEN coalesce(l.sub, m.consent_sms) IS TRUE THEN 'pending '
            WHEN l.sub = false THEN 'no_consent unsubscribed from sms'
            ELSE 'no_consent no consent_sms' END,
       coalesce(l.sub AND m.consent_sms IS NOT TRUE, false), coalesce(NOT l.sub AND m.consent_sms IS TRUE, false)
FROM fired f JOIN members m ON m.member_id = f.member_id AND m.brand = 'acme'
LEFT JOIN latest l ON l.member_id = f.member_id`, namedNow(now))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []string
	optedIn, optedOut := 0, 0 // the members whose opt-in or opt-out overrides consent_sms
	for rows.Next() {
		var s string
		var in, out bool
		if err := rows.Scan(&s, &in, &out); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
		if in {
			optedIn++
		}
		if out {
			optedOut++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("%d decisions, want %d; first difference: %q, want %q", len(got), len(want), got[i], want[i])
			}
		}
		t.Fatalf("%d decisions, want %d", len(got), len(want))
	}
	if optedIn == 0 || optedOut == 0 {
		t.Fatalf("%d opt-ins and %d opt-outs override consent_sms: the test data must have both", optedIn, optedOut)
	}
}

// TestSameNowRecordedOnce: a state rule's firing is recorded once per
// instant. A send refused for want of consent does not use up the rule's
// limit; when the member consents and a tick runs again at the same now,
// the rule fires for the member again, but the firing of that now is in
// the outbox already (05_limits.go reads the outbox only when it has state
// firings of the tick's instant).
func TestSameNowRecordedOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, filepath.Join(dir, "once.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func(name, content string) []string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{p}
	}
	if _, err := db.Import(ctx, "members", write("m1.csv", "member_id,brand,consent_sms\nm01,acme,false\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, "events", write("e.csv", "member_id,brand,type,ts\nm01,acme,purchased,2024-01-01 09:00\n")); err != nil {
		t.Fatal(err)
	}
	prog := compileSource(t, firstEvalRule)
	now := demodata.DefaultNow
	first, err := db.Run(ctx, prog, RunOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Decisions) != 1 || first.Decisions[0].Status != "no_consent" {
		t.Fatalf("first tick decided %+v, want one no_consent send", first.Decisions)
	}
	if _, err := db.Import(ctx, "members", write("m2.csv", "member_id,brand,consent_sms\nm01,acme,true\n")); err != nil {
		t.Fatal(err)
	}
	again, err := db.Run(ctx, prog, RunOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Decisions) != 0 {
		t.Errorf("a tick at the same now decided %+v again", again.Decisions)
	}
}
