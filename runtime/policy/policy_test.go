package policy_test

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// TestStatusLists: the derived lists are made of statuses, in the order of
// the one list, and their SQL is the literal list.
func TestStatusLists(t *testing.T) {
	spec7 := []policy.Status{policy.Pending, policy.Scheduled, policy.Sent, policy.Failed, policy.HeldOut, policy.NoConsent, policy.Capped, policy.GaveUp, policy.Applied}
	if len(policy.Statuses) < len(spec7) || !slices.Equal(policy.Statuses[:len(spec7)], spec7) {
		t.Fatalf("statuses %v do not start with the 9 of SPEC §7", policy.Statuses)
	}
	for _, s := range []policy.Status{policy.OverBudget, policy.OutOfStock, policy.Expired} {
		if !slices.Contains(policy.Statuses, s) {
			t.Errorf("statuses lack %s (SPEC §9)", s)
		}
	}
	for name, list := range map[string][]policy.Status{"Refusals": policy.Refusals, "Counted": policy.Counted, "Ineffective": policy.Ineffective} {
		for _, s := range list {
			if !policy.Valid(string(s)) {
				t.Errorf("%s holds %q, not a status", name, s)
			}
		}
	}
	if policy.Valid("sending") || policy.Valid("") {
		t.Error("Valid accepts what is not a status")
	}
	if got, want := policy.CountedSQL, "'pending', 'scheduled', 'sent'"; got != want {
		t.Errorf("CountedSQL = %s, want %s", got, want)
	}
	if !slices.Equal(policy.Refusals, []policy.Status{policy.HeldOut, policy.NoConsent, policy.GaveUp, policy.OutOfStock, policy.OverBudget, policy.Capped}) {
		t.Errorf("Refusals = %v: the tick's order is holdout, consent, unanswered, stock, budget, caps", policy.Refusals)
	}
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestLimitAllowsIsTheSQL: the Go verdict `nudge why` gives for a limit is
// the negation of the condition the tick blocks with, at the edges of the
// period and for a limit once ever.
func TestLimitAllowsIsTheSQL(t *testing.T) {
	db := openDB(t)
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		every time.Duration
		ago   time.Duration
		never bool
	}{
		{every: 24 * time.Hour, ago: 24 * time.Hour},
		{every: 24 * time.Hour, ago: 24*time.Hour - time.Microsecond},
		{every: 24 * time.Hour, ago: 25 * time.Hour},
		{every: 24 * time.Hour, ago: 0},
		{every: 0, ago: 1000 * time.Hour},
		{every: 7 * 24 * time.Hour, never: true},
		{every: 0, never: true},
	} {
		name := fmt.Sprintf("every %s, fired %s ago (never %t)", tc.every, tc.ago, tc.never)
		last := sql.NullTime{Time: now.Add(-tc.ago), Valid: !tc.never}
		var blocked bool
		q := `SELECT coalesce((` + policy.LimitBlockedSQL(tc.every, "$now::TIMESTAMP") + `), false) FROM (SELECT $last::TIMESTAMP AS last_effective_at) rm`
		if err := db.QueryRow(q, sql.Named("now", now), sql.Named("last", last)).Scan(&blocked); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := policy.LimitAllows(last.Time, last.Valid, tc.every, now); got == blocked {
			t.Errorf("%s: LimitAllows = %t, but the SQL blocks = %t", name, got, blocked)
		}
	}
}

// TestQuietEnd: quiet periods, wrapping midnight and chaining.
func TestQuietEnd(t *testing.T) {
	night := compiler.Quiet{From: 22 * 60, To: 8 * 60}
	lunch := compiler.Quiet{From: 12 * 60, To: 13 * 60}
	morning := compiler.Quiet{From: 7 * 60, To: 9 * 60}
	at := func(h, m int) time.Time { return time.Date(2024, 11, 11, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		now    time.Time
		quiet  []compiler.Quiet
		in     bool
		end    time.Time
		reason string
	}{
		{now: at(23, 0), quiet: []compiler.Quiet{night}, in: true, end: at(8, 0).AddDate(0, 0, 1), reason: "quiet hours 22:00-08:00"},
		{now: at(7, 59), quiet: []compiler.Quiet{night}, in: true, end: at(8, 0), reason: "quiet hours 22:00-08:00"},
		{now: at(8, 0), quiet: []compiler.Quiet{night}},
		{now: at(12, 30), quiet: []compiler.Quiet{night, lunch}, in: true, end: at(13, 0), reason: "quiet hours 12:00-13:00"},
		{now: at(6, 0), quiet: []compiler.Quiet{night, morning}, in: true, end: at(9, 0), reason: "quiet hours 22:00-08:00"},
		{now: at(6, 0), quiet: []compiler.Quiet{{From: 60, To: 60}}},
	} {
		st, reason, end, scheduled := policy.Settle(tc.now, tc.quiet)
		want := policy.Pending
		if tc.in {
			want = policy.Scheduled
		}
		if st != want || scheduled != tc.in || reason != tc.reason || (tc.in && !end.Equal(tc.end)) {
			t.Errorf("Settle(%s, %v) = %s %q %s, want %s %q %s", tc.now.Format("15:04"), tc.quiet, st, reason, end, want, tc.reason, tc.end)
		}
	}
}

// TestHeldOutSQL: the control group is DuckDB's md5_number of the rule and
// the member, mod 10000, below P*100: about P% of the members.
func TestHeldOutSQL(t *testing.T) {
	db := openDB(t)
	var in, out int
	q := `SELECT count(*) FILTER (WHERE ` + policy.HeldOutSQL("'welcome'", "m", "$p::DOUBLE") + `),
	             count(*) FILTER (WHERE NOT (` + policy.HeldOutSQL("'welcome'", "m", "$p::DOUBLE") + `))
	      FROM (SELECT 'm' || i AS m FROM range(10000) t(i))`
	if err := db.QueryRow(q, sql.Named("p", 10.0)).Scan(&in, &out); err != nil {
		t.Fatal(err)
	}
	if in+out != 10000 || in < 900 || in > 1100 {
		t.Errorf("holdout 10%%: %d in, %d out of 10000", in, out)
	}
}

// TestBucketSQL: the holdout bucket is md5_number mod 10000 exactly, for
// member ids of the usual forms, long and non-ASCII strings and the
// empty string.
func TestBucketSQL(t *testing.T) {
	db := openDB(t)
	for _, src := range []string{
		`SELECT 'M' || lpad(i::VARCHAR, 8, '0') AS s FROM range(100000) t(i)`,
		`SELECT 'nudge-global-holdout' || chr(31) || 'acme' || chr(31) || 'm' || i AS s FROM range(50000) t(i)`,
		`SELECT repeat('é' || i, 1 + i % 40) AS s FROM range(20000) t(i)`,
		`SELECT '' AS s`,
	} {
		var n, differ int
		q := `SELECT count(*), count(*) FILTER (WHERE md5_number(s) % 10000 <> ` + policy.BucketSQL("s") + `) FROM (` + src + `)`
		if err := db.QueryRow(q).Scan(&n, &differ); err != nil {
			t.Fatal(err)
		}
		if n == 0 || differ != 0 {
			t.Errorf("%s: %d of %d buckets differ from md5_number %% 10000", src, differ, n)
		}
	}
}
