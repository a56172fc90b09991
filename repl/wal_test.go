package repl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/runtime"
)

// TestSessionLeavesLeftoverWAL: a file with a write-ahead log left by a
// process that died (its last commits, not yet in the file) is not
// changed by a session's dry runs either: an open for writing would
// replay the log into the file and remove it, so :run takes a copy, as
// `nudge why` does for such a file (cmd/nudge/whycmd.go).
func TestSessionLeavesLeftoverWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.duckdb")
	db, err := runtime.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`PRAGMA disable_checkpoint_on_shutdown`,
		`SET checkpoint_threshold = '1GB'`,
		`INSERT INTO members (member_id, brand, name, tier, consent_sms) VALUES ('m1', 'acme', 'Ann', 'gold', true)`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(path + ".wal")
	if err != nil {
		t.Fatalf("no write-ahead log to test with: %v", err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	in := `segment gold = member.tier = "gold"
rule hi if gold then send hi "Hi" via sms
:run
:quit
`
	if err := Run(ctx, Config{DBPath: path, In: strings.NewReader(in), Out: &out, Now: &now, Force: "lines"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 decision at 2024-11-11 12:00:00 (dry run)") {
		t.Errorf("the session did not decide for m1:\n%s", out.String())
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal2, werr := os.ReadFile(path + ".wal")
	if !bytes.Equal(before, after) || werr != nil || !bytes.Equal(wal, wal2) {
		t.Errorf("the session changed the file or its write-ahead log (file %d bytes, then %d; log %d bytes, then %d, %v)", len(before), len(after), len(wal), len(wal2), werr)
	}
}
