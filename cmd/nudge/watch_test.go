package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWatchRefusesTimeGoingBack: a --watch tick commits like a run, so a
// wall clock earlier than the brand's last committed tick (here one made on
// purpose with --allow-future) is refused and said so, tick after tick,
// while the loop goes on.
func TestWatchRefusesTimeGoingBack(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"rules.nudge": "brand \"acme\"\nimport \"crm\"\n\nrule buyers\n  if purchased\n  then send coupon \"THANKS\" via sms\n",
		"members.csv": "member_id,brand,consent_sms\nm1,acme,true\n",
		"events.csv":  "member_id,brand,type,ts\nm1,acme,purchased,2024-11-11 09:00\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(dir, "t.duckdb")
	nudge := func(ctx context.Context, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	ctx := context.Background()
	for _, args := range [][]string{
		{"import", "--db", db, "members", filepath.Join(dir, "members.csv")},
		{"import", "--db", db, "events", filepath.Join(dir, "events.csv")},
		{"run", "--db", db, "--now", "2999-01-01 10:00", "--allow-future", filepath.Join(dir, "rules.nudge")},
	} {
		if code, _, stderr := nudge(ctx, args...); code != exitOK {
			t.Fatalf("nudge %v: exit %d: %s", args, code, stderr)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	code, stdout, stderr := nudge(wctx, "run", "--db", db, "--watch", "1h", filepath.Join(dir, "rules.nudge"))
	if code != exitOK {
		t.Fatalf("watch: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "nudge: tick failed: time cannot run backwards: now ") ||
		!strings.Contains(stderr, "is before 2999-01-01 10:00:00, the last committed tick of brand acme") {
		t.Fatalf("watch stderr:\n%s", stderr)
	}
	if strings.Contains(stdout, "run at") {
		t.Fatalf("a watch tick ran back in time:\n%s", stdout)
	}
}
