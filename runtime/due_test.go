package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// dueTimeSource's trigger rules read windows, `days since`, hours_since and
// aggregates that SPEC §5 evaluates at the firing's due time.
const dueTimeSource = `brand "acme"
import "crm"
rule booked_then_queued
  if queued and booked in last 1 hour
  then send hello "H" via app_push
rule third_queue
  if queued and count(queued in last 1 day) >= 2
  then send hello "Q" via app_push
rule fresh_booking
  if queued and days since last booked < 1
  then send hello "F" via app_push
rule fresh_hours
  if queued and hours_since(max(booked.ts ever)) < 1
  then send hello "S" via app_push
rule unpaid
  if order_placed not followed by paid within 1 hour and booked in last 1 hour
  then send hello "U" via app_push
rule birthday_queue
  if queued and birthday_in(0 days)
  then send hello "B" via app_push
rule ranked
  if queued and spend_percentile(365 days) >= 0
  then send hello "R" via app_push
`

// dueTimeSetup: r1 booked at 08:30, then queued at 09:00; r2 queued at
// 09:00, then booked at 09:30; r3 booked and queued at the same instant
// (09:00, an event at the due time counts), on r1's birthday; r4 placed an order at 08:00,
// never paid, and booked at 08:45 (due at 09:00: the booking counts) and r5
// placed one at 08:00 and booked at 09:30 (after the deadline: it does not).
const dueTimeSetup = `
INSERT INTO members (member_id, brand, consent_app_push, birthday) VALUES
  ('r1', 'acme', true, DATE '1990-03-01'), ('r2', 'acme', true, NULL), ('r3', 'acme', true, NULL), ('r4', 'acme', true, NULL), ('r5', 'acme', true, NULL);
INSERT INTO events (seq, member_id, brand, type, ts) VALUES
  (1, 'r1', 'acme', 'booked', TIMESTAMP '2024-03-01 08:30:00'),
  (2, 'r1', 'acme', 'queued', TIMESTAMP '2024-03-01 09:00:00'),
  (3, 'r2', 'acme', 'queued', TIMESTAMP '2024-03-01 09:00:00'),
  (4, 'r2', 'acme', 'booked', TIMESTAMP '2024-03-01 09:30:00'),
  (5, 'r3', 'acme', 'booked', TIMESTAMP '2024-03-01 09:00:00'),
  (6, 'r3', 'acme', 'queued', TIMESTAMP '2024-03-01 09:00:00'),
  (7, 'r2', 'acme', 'queued', TIMESTAMP '2024-03-01 09:40:00'),
  (8, 'r4', 'acme', 'order_placed', TIMESTAMP '2024-03-01 08:00:00'),
  (9, 'r4', 'acme', 'booked', TIMESTAMP '2024-03-01 08:45:00'),
  (10, 'r5', 'acme', 'order_placed', TIMESTAMP '2024-03-01 08:00:00'),
  (11, 'r5', 'acme', 'booked', TIMESTAMP '2024-03-01 09:30:00')`

// TestTriggerRuleEvaluatedAtDueTime: whether a trigger rule fires never
// depends on when or how often ticks run (SPEC §5): ticks at 09:05 and
// 10:00, or one tick at 10:00, or ticks every 10 minutes, or one the next
// day, fire the same rules for the same members and events, incrementally
// and with EvaluateAll. A function's now is the due time too (birthday_in),
// but for ranks among the brand's members, read at the tick (ranked only
// shows that they run in a trigger rule).
func TestTriggerRuleEvaluatedAtDueTime(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	path := filepath.Join(t.TempDir(), "due.nudge")
	if err := os.WriteFile(path, []byte(dueTimeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := compileFile(t, path)
	const want = `birthday_queue r1 2
booked_then_queued r1 2
booked_then_queued r2 7
booked_then_queued r3 6
fresh_booking r1 2
fresh_booking r2 7
fresh_booking r3 6
fresh_hours r1 2
fresh_hours r2 7
fresh_hours r3 6
ranked r1 2
ranked r2 3
ranked r2 7
ranked r3 6
third_queue r2 7
unpaid r4 8
`
	day := func(hm string) time.Time { return ts("2024-03-01 " + hm) }
	schedules := map[string][]time.Time{
		"09:05 and 10:00": {day("09:05"), day("10:00")},
		"10:00":           {day("10:00")},
		"every 10 min":    {day("08:50"), day("09:00"), day("09:10"), day("09:20"), day("09:30"), day("09:40"), day("09:50"), day("10:00")},
		"11:00":           {day("11:00")},
		"next day 00:30":  {ts("2024-03-02 00:30")},
	}
	ctx := context.Background()
	for name, ticks := range schedules {
		for _, all := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/all=%v", name, all), func(t *testing.T) {
				db, err := Open(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.sql.ExecContext(ctx, dueTimeSetup); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, now := range ticks {
					res, err := db.Run(ctx, prog, RunOptions{Now: now, EvaluateAll: all})
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range res.Decisions {
						got = append(got, fmt.Sprintf("%s %s %d\n", d.Rule, d.MemberID, *d.TriggerSeq))
					}
				}
				slices.Sort(got)
				if s := strings.Join(got, ""); s != want {
					t.Errorf("firings:\n%swant:\n%s", s, want)
				}
			})
		}
	}
}
