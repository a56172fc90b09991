package runtime

import (
	"context"
	"strings"
	"testing"
	"time"
)

// exitJourney waits a day after the order, so that its instances are not
// due while the history below runs: an exit reaches them only through
// the exit's part of the tick's scope (internal/tick/04a_journeys.go,
// narrowJourney).
const exitJourney = `brand "acme"
import "crm"

journey unpaid
  enter on order_placed
  exit when paid
  wait 1 day
  send reminder "R" via sms
end
`

// exitHistory: x1, x2 and x3 order at 09:50; x1's payment at 12:10 is
// ingested before the first tick, before it is due (a window edge of the
// exit: no new event when it comes due); x2 pays at 13:20, ingested at
// 13:30 (a new event); x4 pays at 13:50, ingested late, at 14:30 (a new
// event that came due before the previous tick); x5 pays at 10:05, a
// quarter of an hour after its order (the earliest entry bounds the
// events an exit reads: the bound must not pass over them); x3 never
// pays.
const exitHistory = `
INSERT INTO members (member_id, brand, consent_sms) VALUES ('x1', 'acme', true), ('x2', 'acme', true), ('x3', 'acme', true), ('x4', 'acme', true), ('x5', 'acme', true);
INSERT INTO events (seq, member_id, brand, type, ts, order_id) VALUES
    (1, 'x1', 'acme', 'order_placed', TIMESTAMP '2024-03-01 09:50:00', 'o1'),
    (2, 'x2', 'acme', 'order_placed', TIMESTAMP '2024-03-01 09:50:00', 'o2'),
    (3, 'x3', 'acme', 'order_placed', TIMESTAMP '2024-03-01 09:50:00', 'o3'),
    (4, 'x1', 'acme', 'paid', TIMESTAMP '2024-03-01 12:10:00', 'o1'),
    (5, 'x4', 'acme', 'order_placed', TIMESTAMP '2024-03-01 09:50:00', 'o4'),
    (6, 'x5', 'acme', 'order_placed', TIMESTAMP '2024-03-01 09:50:00', 'o5'),
    (7, 'x5', 'acme', 'paid', TIMESTAMP '2024-03-01 10:05:00', 'o5')`

// TestIncrementalExitScope: the exits of a journey ticked incrementally
// (only the instances the tick can change) are those of ticks over every
// active instance, tick by tick, in a history where each part of the
// exit's scope is what ends an instance (exitHistory).
func TestIncrementalExitScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prog := compileJourneys(t, exitJourney)
	dbs := twinDatabases(t, exitHistory)
	const q = `SELECT strftime(fired_at, '%H:%M'), rule, member_id, action, status, strftime(due_at, '%H:%M') FROM outbox ORDER BY ALL`
	start := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	// The events ingested during the history, by the tick they precede.
	late := map[time.Duration]string{
		210 * time.Minute: `(8, 'x2', 'acme', 'paid', TIMESTAMP '2024-03-01 13:20:00', 'o2')`,
		270 * time.Minute: `(9, 'x4', 'acme', 'paid', TIMESTAMP '2024-03-01 13:50:00', 'o4')`,
	}
	for now := start; !now.After(start.Add(5 * time.Hour)); now = now.Add(30 * time.Minute) {
		if row, ok := late[now.Sub(start)]; ok {
			for _, db := range dbs {
				if _, err := db.sql.ExecContext(ctx, `INSERT INTO events (seq, member_id, brand, type, ts, order_id) VALUES `+row); err != nil {
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
			t.Fatalf("at %s (-: only the full side, +: only the incremental one):\n%s", now.Format("15:04"),
				diffLines(strings.Split(want, "\n"), strings.Split(got, "\n")))
		}
	}
	got := dump(t, dbs[0], q)
	for _, want := range []string{
		"12:30 unpaid x1 exit applied 12:10", // the payment came due
		"13:30 unpaid x2 exit applied 13:20", // a new event
		"14:30 unpaid x4 exit applied 13:50", // a late one
		"10:30 unpaid x5 exit applied 10:05", // soon after the entry
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q: the history tests nothing of it:\n%s", want, got)
		}
	}
	if strings.Contains(got, "x3 exit") {
		t.Errorf("x3 never paid but exited:\n%s", got)
	}
}
