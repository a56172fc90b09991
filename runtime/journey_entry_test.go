package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
)

// entryJourneys are `enter when` journeys whose incremental entry needs
// each part of its scope (internal/tick/04c_enter_when.go): seen's
// members enter when a visit becomes due (a window edge, no new event) or
// again when their 5-hour instance ends (its limit's period is shorter);
// quick's instances end at once, and its members enter again when the
// 4-hour period of its limit runs out.
const entryJourneys = `brand "acme"
import "crm"

journey seen
  enter when visited in last 30 days
  limit once per member every 3 hours
  send coupon "S" via app_push
  wait 5 hours
end

journey quick
  enter when browsed in last 30 days
  limit once per member every 4 hours
  send coupon "Q" via app_push
end
`

// entryHistory: e1 visits at 10:30, an event ingested before it is due;
// e2 visited and e3 browsed the day before; e4 visits at 12:20, ingested
// at 12:30 (a new event).
const entryHistory = `
INSERT INTO members (member_id, brand, consent_app_push) VALUES ('e1', 'acme', true), ('e2', 'acme', true), ('e3', 'acme', true), ('e4', 'acme', true);
INSERT INTO events (seq, member_id, brand, type, ts) VALUES
    (1, 'e1', 'acme', 'visited', TIMESTAMP '2024-03-01 10:30:00'),
    (2, 'e2', 'acme', 'visited', TIMESTAMP '2024-02-29 10:00:00'),
    (3, 'e3', 'acme', 'browsed', TIMESTAMP '2024-02-29 10:00:00')`

// entryDifferential ticks entryJourneys (changed by fault when it is set)
// every 30 minutes from 2024-03-01 10:00 to 20:00 on two databases, one
// incrementally, the other with EvaluateAll, and returns the first tick's
// difference in their outbox ("" when they decide alike) and the
// incremental side's journey decisions.
func entryDifferential(t *testing.T, fault func(*compiler.Program)) (diff, decisions string) {
	t.Helper()
	ctx := context.Background()
	prog := compileJourneys(t, entryJourneys)
	if fault != nil {
		fault(prog)
	}
	dbs := twinDatabases(t, entryHistory)
	const q = `SELECT strftime(fired_at, '%H:%M'), rule, member_id, action, status FROM outbox ORDER BY ALL`
	start := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for now := start; !now.After(start.Add(10 * time.Hour)); now = now.Add(30 * time.Minute) {
		if now.Equal(start.Add(150 * time.Minute)) {
			for _, db := range dbs {
				if _, err := db.sql.ExecContext(ctx, `INSERT INTO events (seq, member_id, brand, type, ts) VALUES (4, 'e4', 'acme', 'visited', TIMESTAMP '2024-03-01 12:20:00')`); err != nil {
					t.Fatal(err)
				}
			}
		}
		for k, db := range dbs {
			if _, err := db.Run(ctx, prog, RunOptions{Now: now, EvaluateAll: k == 1}); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := dump(t, dbs[0], q), dump(t, dbs[1], q); got != want {
			return fmt.Sprintf("at %s (-: only the full side, +: only the incremental one):\n%s", now.Format("15:04"),
				diffLines(strings.Split(want, "\n"), strings.Split(got, "\n"))), got
		}
	}
	return "", dump(t, dbs[0], q)
}

// TestIncrementalEnterWhen: the incremental entry of `enter when`
// journeys decides as the entry over every member, in a history where
// each part of its scope is what lets a member enter (entryJourneys).
func TestIncrementalEnterWhen(t *testing.T) {
	t.Parallel()
	diff, got := entryDifferential(t, nil)
	if diff != "" {
		t.Fatal(diff)
	}
	for _, want := range []string{
		"10:30 seen e1 enter",                        // the visit became due
		"10:00 seen e2 enter", "15:00 seen e2 enter", // the instance ended
		"10:00 quick e3 enter", "14:00 quick e3 enter", // the limit's period ran out
		"12:30 seen e4 enter", // a new event
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q: the history tests nothing of it:\n%s", want, got)
		}
	}
}

// TestIncrementalEnterWhenCatchesWindowEdges injects a fault, an entry
// scope that misses the window edges (the entry rule's Delta without its
// watches), and requires the differential to see it.
func TestIncrementalEnterWhenCatchesWindowEdges(t *testing.T) {
	t.Parallel()
	diff, _ := entryDifferential(t, func(p *compiler.Program) {
		for _, j := range p.Journeys {
			if d := j.Enter.Tick.Delta; d != nil {
				d.Watches = nil
			}
		}
	})
	if diff == "" {
		t.Fatal("an entry scope without its window edges went unnoticed")
	}
	t.Logf("caught %s", diff)
}

// twinDatabases opens two in-memory databases holding the same history
// (SQL), for a differential test that ticks one incrementally and the other
// over everything.
func twinDatabases(t *testing.T, history string) [2]*DB {
	t.Helper()
	ctx := context.Background()
	var dbs [2]*DB
	for k := range dbs {
		db, err := Open(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.sql.ExecContext(ctx, history); err != nil {
			t.Fatal(err)
		}
		dbs[k] = db
	}
	return dbs
}

// TestJourneyEntryRounds: in one tick a member enters once per entering
// event that no instance of theirs covers. a's first instance completes at
// once, so a's second order enters again (a second round); b's instance
// waits, so b's second order is covered; c has one order. A pass whose
// candidates are one per member enters in one round (enterRounds skips the
// round after it, which would find none): c and the others decide alike.
func TestJourneyEntryRounds(t *testing.T) {
	t.Parallel()
	db := fixture(t, "member_id,brand,consent_sms\na,acme,true\nb,acme,true\nc,acme,true\n",
		`member_id,brand,type,ts,amount,order_id
a,acme,order_placed,2024-11-10 10:00,80,o1
a,acme,order_placed,2024-11-10 10:20,80,o2
b,acme,order_placed,2024-11-10 10:05,80,o3
b,acme,order_placed,2024-11-10 10:25,80,o4
c,acme,order_placed,2024-11-10 10:10,80,o5
`)
	prog := compileJourneys(t, `brand "acme"
import "crm"

journey at_once
  enter on order_placed
  send reminder "R" via sms
end

journey waits
  enter on order_placed
  wait 2 hours
  send reminder "W" via sms
end
`)
	run(t, db, prog, "2024-11-10 11:00", func(o *RunOptions) { o.Lookback = 48 * time.Hour })
	got := dump(t, db, `SELECT rule, member_id, action, strftime(due_at, '%H:%M') FROM outbox WHERE action IN ('enter', 'complete') ORDER BY ALL`)
	want := `at_once a complete 10:00
at_once a complete 10:20
at_once a enter 10:00
at_once a enter 10:20
at_once b complete 10:05
at_once b complete 10:25
at_once b enter 10:05
at_once b enter 10:25
at_once c complete 10:10
at_once c enter 10:10
waits a enter 10:00
waits b enter 10:05
waits c enter 10:10
`
	if got != want {
		t.Errorf("entries:\n%s\nwant:\n%s", got, want)
	}
}
