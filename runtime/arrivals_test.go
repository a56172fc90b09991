package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// arrivalsSrc has a trigger rule on an event and one on an event not
// followed by another.
const arrivalsSrc = `brand "acme"
import "crm"
rule queue_ticket
  if queued
  then send ticket "q" via sms
rule pay_reminder
  if order_placed not followed by paid matching order_id within 2 hours
  then send reminder "please-pay" via sms
`

// TestMemberArrives: an event whose member is not in members yet is not
// consumed by the trigger rules that pass it: it is considered once the
// member arrives, if that is within the lookback after the event, and
// exactly once. Import counts such events. The incremental evaluation and
// the full one decide alike, and a dry run as the tick.
func TestMemberArrives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "arrivals.nudge")
	if err := os.WriteFile(path, []byte(arrivalsSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := compileFile(t, path)
	file := func(name, content string) []string { return []string{writeFile(t, dir, name, content)} }
	want := `2024-11-11 10:00: queue_ticket m1
2024-11-11 12:00: queue_ticket m2
2024-11-11 12:00: pay_reminder m2
`
	for _, all := range []bool{false, true} {
		t.Run(fmt.Sprintf("EvaluateAll=%v", all), func(t *testing.T) {
			db := openTest(t)
			var log strings.Builder
			tick := func(now string) *RunResult {
				t.Helper()
				res := run(t, db, prog, now, func(o *RunOptions) { o.EvaluateAll = all })
				for _, d := range res.Decisions {
					fmt.Fprintf(&log, "%s: %s %s\n", now, d.Rule, d.MemberID)
				}
				return res
			}
			importMembers := func(csv string) {
				t.Helper()
				if _, err := db.Import(ctx, "members", file("members.csv", csv)); err != nil {
					t.Fatal(err)
				}
			}
			importMembers("member_id,brand,consent_sms\nm1,acme,true\n")
			res, err := db.Import(ctx, "events", file("events.csv", `member_id,brand,type,ts,order_id
m1,acme,queued,2024-11-11 09:00,
m2,acme,order_placed,2024-11-11 08:00,o1
m2,acme,queued,2024-11-11 09:30,
m3,acme,queued,2024-11-11 09:45,
`))
			if err != nil {
				t.Fatal(err)
			}
			if res.Waiting != 3 {
				t.Errorf("import: %d events wait for their member, want 3 (m2's two, m3's)", res.Waiting)
			}
			tick("2024-11-11 10:00") // m2's order became due at 10:00 too
			tick("2024-11-11 11:00")

			// m2 arrives within the lookback after both events.
			importMembers("member_id,brand,consent_sms\nm2,acme,true\n")
			dry := run(t, db, prog, "2024-11-11 12:00", func(o *RunOptions) { o.EvaluateAll = all; o.DryRun = true })
			res12 := tick("2024-11-11 12:00")
			if got, want := brief(dry.Decisions), brief(res12.Decisions); got != want {
				t.Errorf("dry run:\n%swant (the tick's):\n%s", got, want)
			}
			for _, d := range res12.Decisions {
				if d.TriggerSeq == nil || *d.TriggerSeq <= 4 {
					t.Errorf("%s %s: trigger seq %v, want a seq after the imported ones (1-4)", d.Rule, d.MemberID, d.TriggerSeq)
				}
			}
			// m2's events were admitted: only m3's waits.
			if n := queryStrings(t, db, `SELECT member_id FROM waiting_events`); strings.Join(n, ",") != "m3" {
				t.Errorf("after m2 arrived, waiting: %v, want [m3]", n)
			}
			tick("2024-11-11 12:00") // the same now: nothing new
			tick("2024-11-11 13:00")

			// m3 arrives more than the lookback (24 hours) after its event.
			importMembers("member_id,brand,consent_sms\nm3,acme,true\n")
			tick("2024-11-12 10:00")
			tick("2024-11-12 11:00")

			if log.String() != want {
				t.Errorf("decisions:\n%swant:\n%s", log.String(), want)
			}
			if n := queryStrings(t, db, `SELECT count(*) FROM waiting_events`); n[0] != "0" {
				t.Errorf("%s events still wait, want none", n[0])
			}
		})
	}
}

// TestReplayDeclinesArrivals: a replay in rounds does not admit events
// waiting for a member who arrived; it declines, and the tick run instead
// admits them, after which replays go on.
func TestReplayDeclinesArrivals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "arrivals.nudge")
	if err := os.WriteFile(path, []byte(arrivalsSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := compileFile(t, path)
	db := fixture(t, "member_id,brand,consent_sms\nm1,acme,true\n", "member_id,brand,type,ts\nm2,acme,queued,2024-11-11 09:30\n")
	run(t, db, prog, "2024-11-11 10:00")
	if _, err := db.Import(ctx, "members", []string{writeFile(t, dir, "m2.csv", "member_id,brand,consent_sms\nm2,acme,true\n")}); err != nil {
		t.Fatal(err)
	}
	_, err := db.Replay(ctx, prog, RunOptions{}, ts("2024-11-11 10:00"), []time.Time{ts("2024-11-11 11:00"), ts("2024-11-11 12:00")})
	if !IsNotReplayable(err) {
		t.Fatalf("replay with an event whose member arrived: %v, want it declined", err)
	}
	expect(t, "the tick", run(t, db, prog, "2024-11-11 11:00").Decisions, "queue_ticket m2 send pending\n")
	if _, err := db.Replay(ctx, prog, RunOptions{}, ts("2024-11-11 11:00"), []time.Time{ts("2024-11-11 12:00"), ts("2024-11-11 13:00")}); err != nil {
		t.Fatalf("replay after the tick admitted the event: %v", err)
	}
}
