package runtime

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentTicksWriteOnce: the outbox has no key (migration 17), so a
// firing is written once because a tick anti-joins its firings with the
// outbox and two ticks cannot both commit. Ticks of the same program at
// the same instant started side by side on one database leave each firing
// in the outbox once, at least one of them commits, and a later tick at
// that instant writes nothing.
func TestConcurrentTicksWriteOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, filepath.Join(dir, "n.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, f := range []struct{ table, name, body string }{
		{"members", "members.csv", strataMembers},
		{"events", "events.csv", strataEvents + "m3,acme,queued,2024-11-11 09:30,\n"},
	} {
		if _, err := db.Import(ctx, f.table, []string{writeFile(t, dir, f.name, f.body)}); err != nil {
			t.Fatal(err)
		}
	}
	prog := compileSource(t, `brand "acme"
import "crm"

rule lapsed
  if days since last purchased > 30
  then send reminder "r" via sms

rule queued_now
  if queued
  then send coupon "c" via sms
`)
	now := time.Date(2024, 11, 11, 10, 0, 0, 0, time.UTC)
	const ticks = 4
	var wg sync.WaitGroup
	errs := make([]error, ticks)
	for i := range ticks {
		wg.Go(func() { _, errs[i] = db.Run(ctx, prog, RunOptions{Now: now}) })
	}
	wg.Wait()
	committed := 0
	for _, err := range errs {
		if err == nil {
			committed++
		}
	}
	t.Logf("%d of %d ticks committed: %v", committed, ticks, errs)
	if committed == 0 {
		t.Fatalf("no tick committed: %v", errs)
	}
	const firings = `SELECT count(*) FROM outbox`
	const distinct = `SELECT count(*) FROM (SELECT DISTINCT brand, rule, member_id, dedupe_key, action_index FROM outbox)`
	n := count(t, db, firings)
	if d := count(t, db, distinct); n != d || n != 2 {
		t.Fatalf("after %d committed ticks: %d outbox rows, %d distinct firing keys; want 2 and 2 (m2 lapsed, m3 queued)", committed, n, d)
	}
	if _, err := db.Run(ctx, prog, RunOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, firings); n != 2 {
		t.Errorf("a repeated tick: %d outbox rows, want 2", n)
	}
}

// TestOutboxEffectiveOfFiring: every outbox row of a firing of several
// actions carries the firing's effective, not its own action's: a firing
// whose one send had no consent does not use up the rule's limit, and
// neither does its tag (13_outbox.go copies the firing's onto its
// decisions before the insert). A one-action rule beside it has its
// decision's own.
func TestOutboxEffectiveOfFiring(t *testing.T) {
	t.Parallel()
	db := fixture(t, "member_id,brand,consent_sms\nm1,acme,false\nm2,acme,true\n",
		"member_id,brand,type,ts\nm1,acme,purchased,2024-01-01 09:00\nm2,acme,purchased,2024-01-01 09:00\n")
	prog := compileSource(t, `brand "acme"
import "crm"

rule lapsed "reminder"
  if days since last purchased > 90
  then send reminder "r" via sms and tag "lapsed"

rule lapsed_mail "mail"
  if days since last purchased > 90
  then send reminder "m" via sms
`)
	if _, err := db.Run(context.Background(), prog, RunOptions{Now: time.Date(2024, 11, 11, 10, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	got := queryStrings(t, db, `SELECT rule || ' ' || member_id || ' ' || action || ' ' || status || ' ' || effective FROM outbox ORDER BY rule, member_id, action_index`)
	want := []string{
		"lapsed m1 send no_consent false",
		"lapsed m1 tag applied false",
		"lapsed m2 send pending true",
		"lapsed m2 tag applied true",
		"lapsed_mail m1 send no_consent false",
		"lapsed_mail m2 send pending true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outbox rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
