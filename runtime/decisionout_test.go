package runtime

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
	"time"

	"nudge/compiler"
)

// TestDecisionLinesMatchWriter holds the jsonl lines DuckDB builds
// (writeDecisionLines) to the bytes of reading the same rows and writing
// each with a DecisionWriter, for a dry run's table and for the outbox, over
// values that need escaping, absent and empty fields, rules out of name
// order, a send's params and (in the outbox) journey decisions.
func TestDecisionLinesMatchWriter(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	rows := []struct {
		rule, member, kind, content, channel, status, reason string
		sched, due                                           string // '' for NULL
		seq                                                  sql.NullInt64
		ai                                                   int
		vals                                                 string // '' for NULL
		params, journey, variant                             string // '' for NULL
		step                                                 sql.NullInt64
	}{
		{"zeta", "M1", "reminder", "come back", "sms", "pending", "", "", "", sql.NullInt64{}, 0, `{"days since last purchased":91}`, `{"store":"A<B","n":1.50,"x":null}`, "", "", sql.NullInt64{}},
		{"zeta", "M1", "", "", "", "applied", "", "", "", sql.NullInt64{}, 1, "", "", "", "", sql.NullInt64{}},
		{"alpha", "M2", "coupon", `<b>50% off</b> & "more" \ here`, "sms", "capped", "cap sms 1 per 1d", "2024-11-11 21:00:00", "2024-11-11 09:30:15.5", sql.NullInt64{Int64: 42, Valid: true}, 0, `{"a<b":"x&y","n":1.5}`, "", "", "", sql.NullInt64{}},
		{"alpha", "会员-1", "k", "a\x01b\x07\b\f\n\r\t\x0b\x1f\x7f z 双十一 🎉 \u2028\u2029", "email", "no_consent", "no email consent", "", "", sql.NullInt64{Int64: -7, Valid: true}, 0, `{}`, "", "", "", sql.NullInt64{}},
		{"alpha", "M3", "k", `a literal \u000B and \\u00AB`, "sms", "pending", "", "", "", sql.NullInt64{}, 0, "", "", "", "", sql.NullInt64{}},
		{"alpha", "M0", "", "", "", "pending", "", "", "", sql.NullInt64{Int64: 0, Valid: true}, 0, "", "", "", "", sql.NullInt64{}},
		{"winback", "M4", "coupon", "10OFF", "sms", "pending", "", "", "", sql.NullInt64{}, 0, "", "", "winback", "a&b", sql.NullInt64{Int64: 12, Valid: true}},
		{"winback", "M5", "", "", "", "applied", "", "", "", sql.NullInt64{}, 1, "", "", "winback", "", sql.NullInt64{}},
	}
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE dec (rule VARCHAR, member_id VARCHAR, firing_id VARCHAR, action VARCHAR,
		kind VARCHAR, content VARCHAR, channel VARCHAR, status VARCHAR, reason VARCHAR, scheduled_at TIMESTAMP, due_at TIMESTAMP,
		trigger_seq BIGINT, action_index INTEGER, vals JSON, params JSON, journey VARCHAR, step INTEGER, variant VARCHAR)`); err != nil {
		t.Fatal(err)
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for i, r := range rows {
		action := "send"
		if r.status == "applied" {
			action = "tag"
			if r.journey != "" {
				action = "enter"
			}
		}
		if _, err := db.sql.ExecContext(ctx, `INSERT INTO dec VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::TIMESTAMP, ?::TIMESTAMP, ?, ?, ?::JSON, ?::JSON, ?, ?, ?)`,
			r.rule, r.member, "f"+r.member, action, null(r.kind), null(r.content), null(r.channel), r.status, null(r.reason),
			null(r.sched), null(r.due), r.seq, r.ai, null(r.vals), null(r.params), null(r.journey), r.step, null(r.variant)); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	if _, err := db.sql.ExecContext(ctx, `INSERT INTO outbox BY NAME SELECT d.* EXCLUDE (scheduled_at),
		d.scheduled_at, 'acme' AS brand, 'k' || d.firing_id AS dedupe_key, true AS effective,
		TIMESTAMP '2024-11-11 10:00:00' AS fired_at, d.firing_id || '-' || d.action_index AS idempotency_key, 7 AS run_id FROM dec d`); err != nil {
		t.Fatal(err)
	}
	// zeta comes first in the program: rule order is not name order.
	prog := &compiler.Program{Rules: []*compiler.Rule{{Name: "zeta"}, {Name: "alpha"}}, Journeys: []*compiler.Journey{{Name: "winback"}}}
	now := time.Date(2024, 11, 11, 10, 0, 0, 0, time.UTC)
	for _, table := range []string{"dec", "outbox"} {
		t.Run(table, func(t *testing.T) {
			ds, err := readDecisions(ctx, db.sql, table, 7, now, map[string]int{"zeta": 0, "alpha": 1, "winback": 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != len(rows) {
				t.Fatalf("read %d decisions, want %d", len(ds), len(rows))
			}
			var want, got bytes.Buffer
			dw := NewDecisionWriter(&want)
			for i := range ds {
				if err := dw.Write(&ds[i]); err != nil {
					t.Fatal(err)
				}
			}
			dw.Flush()
			if err := writeDecisionLines(ctx, db.sql, prog, table, 7, now, &got); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("DuckDB's lines:\n%s\nDecisionWriter's:\n%s", got.String(), want.String())
			}
		})
	}
}
