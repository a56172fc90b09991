package runtime

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// helperEnv selects the helper-process mode when the test binary re-executes
// itself (see TestHelperProcess).
const helperEnv = "NUDGE_RUNTIME_HELPER"

// TestHelperProcess is not a test: it is the body of child processes the
// tests start by re-executing the test binary with helperEnv set.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	path := os.Getenv("NUDGE_RUNTIME_DB")
	var err error
	switch mode {
	case "hold":
		err = helperHold(path)
	case "open":
		var db *DB
		if db, err = Open(context.Background(), path); err == nil {
			err = db.Close()
		}
	case "ticks":
		err = helperTicks(path)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperHold opens the database, says "ready" and waits to be killed.
func helperHold(path string) error {
	db, err := Open(context.Background(), path)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return nil
}

// startHelper starts the test binary in helper mode and waits for its
// "ready" line.
func startHelper(t *testing.T, mode, path string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "NUDGE_RUNTIME_DB="+path)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper did not start: %q %v", line, err)
	}
	return cmd
}

func TestOpenTwiceAndMacros(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	for i := range 2 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i+1, err)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil || v != len(migrations) {
			t.Errorf("open %d: schema version %d, %v; want %d", i+1, v, err, len(migrations))
		}
		if n := count(t, db, `SELECT count(*) FROM schema_migrations`); n != int64(len(migrations)) {
			t.Errorf("open %d: %d migration rows", i+1, n)
		}
		// A stdlib macro is callable.
		if n := count(t, db, `SELECT nudge_days_since(TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-03 12:00')`); n != 2 {
			t.Errorf("nudge_days_since = %d", n)
		}
		db.Close()
	}
}

func TestMigrationUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.duckdb")
	v1 := migrations[:1]
	v2 := append(append([]migration(nil), v1...), migration{2, "test step", `CREATE TABLE upgraded (x INTEGER); INSERT INTO upgraded VALUES (42);`})

	db, err := openWith(ctx, path, v1, "")
	if err != nil {
		t.Fatal(err)
	}
	importEvents(t, db, "member_id,brand,type,ts\nm1,acme,x,2024-01-01\n")
	db.Close()

	db, err = openWith(ctx, path, v2, "")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := db.SchemaVersion(ctx); v != 2 {
		t.Errorf("after upgrade: version %d, want 2", v)
	}
	if n := count(t, db, `SELECT x FROM upgraded`); n != 42 {
		t.Errorf("upgrade step did not run")
	}
	if n := count(t, db, `SELECT count(*) FROM events`); n != 1 {
		t.Errorf("upgrade lost data: %d events", n)
	}
	db.Close()

	// Opening again applies nothing twice.
	db, err = openWith(ctx, path, v2, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM upgraded`); n != 1 {
		t.Errorf("step applied twice: %d rows", n)
	}
	db.Close()

	// An older nudge refuses a newer file.
	_, err = openWith(ctx, path, v1, "")
	if want := "has schema version 2, newer than this nudge knows (1)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.duckdb")
	cmd := startHelper(t, "hold", path)
	_, err := Open(context.Background(), path)
	want := fmt.Sprintf("database %s is in use by another process (pid %d, ", path, cmd.Process.Pid)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v\nwant prefix %q", err, want)
	}
}
