package runtime

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrationRedactsSecrets: a database written before redaction holds a
// webhook's password and token in last_error and in the sink identities of
// outbox_deliveries; migration 11 removes them, the stored identity becomes
// SinkID's (so the sink keeps its deliveries), and two identities that
// differed only in their credentials keep one delivery row.
func TestMigrationRedactsSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	var before []migration
	for _, m := range migrations {
		if m.version < 11 {
			before = append(before, m)
		}
	}
	db, err := openWith(ctx, path, before, "")
	if err != nil {
		t.Fatal(err)
	}
	const hook1 = "http://u:pw-one@h:8080/x?token=tok-one&page=1"
	const hook2 = "http://u:pw-two@h:8080/x?token=tok-two&page=1"
	for _, q := range []string{
		`INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, channel, status, effective, fired_at, attempts, last_error, idempotency_key, run_id) VALUES
		 ('f1', 0, 'r', 'acme', 'm1', 'k1', 'send', 'sms', 'pending', true, TIMESTAMP '2024-11-01 10:00', 1, 'webhook ` + hook1 + `: Post "http://u:***@h:8080/x?token=tok-one&page=1": EOF', 'f1-0', 1),
		 ('f2', 0, 'r', 'acme', 'm2', 'k2', 'send', 'sms', 'pending', true, TIMESTAMP '2024-11-01 10:00', 1, 'webhook http://h/: status 500', 'f2-0', 1)`,
		`INSERT INTO outbox_deliveries VALUES
		 ('acme', 'f1-0', 'webhook:` + hook1 + `', TIMESTAMP '2024-11-01 10:00', 'm1', 'sms'),
		 ('acme', 'f1-0', 'webhook:` + hook2 + `', TIMESTAMP '2024-11-01 10:00', 'm1', 'sms'),
		 ('acme', 'f2-0', 'alerts=webhook:` + hook2 + `', TIMESTAMP '2024-11-01 10:00', 'm2', 'sms'),
		 ('acme', 'f2-0', 'jsonl:/var/out/sends.jsonl', TIMESTAMP '2024-11-01 10:00', 'm2', 'sms')`,
	} {
		if _, err := db.sql.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := SinkID(NewWebhookSink("", hook1))
	if id != "webhook:http://xxxxx@h:8080/x?token=xxxxx&page=1" {
		t.Errorf("SinkID = %q", id)
	}
	for q, want := range map[string]string{
		`SELECT idempotency_key || ' ' || last_error FROM outbox ORDER BY ALL`: `f1-0 webhook http://xxxxx@h:8080/x?token=xxxxx&page=1: Post "http://xxxxx@h:8080/x?token=xxxxx&page=1": EOF` + "\n" +
			`f2-0 webhook http://h/: status 500`,
		`SELECT idempotency_key || ' ' || sink FROM outbox_deliveries ORDER BY ALL`: "f1-0 " + id + "\n" +
			"f2-0 alerts=" + id + "\n" +
			"f2-0 jsonl:/var/out/sends.jsonl",
	} {
		if got := strings.Join(queryStrings(t, db, q), "\n"); got != want {
			t.Errorf("%s:\n got %s\nwant %s", q, got, want)
		}
	}
	// The sink keeps its delivery: dispatch sees f1-0 as delivered to it.
	has, err := db.deliveredTo(ctx, "acme", []string{"f1-0"})
	if err != nil || !has["f1-0"][id] {
		t.Errorf("deliveredTo = %v, %v; want f1-0 delivered to %s", has, err, id)
	}
}
