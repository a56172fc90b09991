package engine

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/runtime"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureSQL is a tiny brand with four members and a handful of events, all
// relative to the pinned now 2024-11-11 12:00.
const fixtureSQL = `
INSERT INTO members (member_id, brand, name, city, tier, consent_sms) VALUES
  ('m1', 'acme', '王小明', '长沙', 'gold', true),
  ('m2', 'acme', 'Alice', 'Shanghai', 'silver', true),
  ('m3', 'acme', 'Bob', '长沙', NULL, false),
  ('m4', 'acme', 'Carol', 'Beijing', 'gold', NULL);
INSERT INTO events (seq, member_id, brand, type, ts, store, amount) VALUES
  (1, 'm1', 'acme', 'purchased', '2024-11-01 10:00', 'A', 120.00),
  (2, 'm1', 'acme', 'purchased', '2024-10-20 10:00', 'A', 80.50),
  (3, 'm2', 'acme', 'purchased', '2024-06-01 09:00', 'B', 30.00),
  (4, 'm3', 'acme', 'visited',   '2024-11-10 18:00', 'A', NULL),
  (5, 'm4', 'acme', 'purchased', '2024-11-11 11:00', 'B', 500.00),
  (6, 'm3', 'acme', 'queued',    '2024-11-11 11:30', 'A', NULL);
`

var testNow = time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	ctx := context.Background()
	db, err := runtime.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SQL().ExecContext(ctx, fixtureSQL); err != nil {
		t.Fatal(err)
	}
	now := testNow
	return New(db, Options{Now: &now})
}

func TestScratchEngine(t *testing.T) {
	e := newTestEngine(t)
	for _, in := range []string{"purchased in last 30 days", "purchsed ever", "segment big = sum(purchased.amount in last 365 days) >= 200", "big", ":sql", ":schema", `\sql select member_id, name from members order by 1`, `\sql drop table members`, "rule r1 if big then send coupon \"X\" via sms", ":run"} {
		res, err := e.Eval(context.Background(), in)
		var b bytes.Buffer
		if err != nil {
			b.WriteString("ERR " + err.Error())
		} else {
			res.Write(&b)
		}
		t.Logf("> %s\n%s", in, b.String())
	}
	_ = os.Stdout
	_ = filepath.Join
	_ = strings.Join
}
