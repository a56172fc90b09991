package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	nrt "nudge/runtime"
)

// lockProbeEnv makes the test binary a process that tries to open a
// database file for writing (TestWhyLockProbe).
const lockProbeEnv = "NUDGE_TEST_LOCK_PROBE"

// TestWhyLockProbe is not a test: it is the body of the process
// TestWhyWholeKeepsFileLocked starts, which opens the file named by
// lockProbeEnv for writing and says "in use" or "opened".
func TestWhyLockProbe(t *testing.T) {
	path := os.Getenv(lockProbeEnv)
	if path == "" {
		return
	}
	db, err := nrt.Open(context.Background(), path)
	var in *nrt.InUseError
	switch {
	case errors.As(err, &in):
		fmt.Println("in use")
	case err != nil:
		fmt.Println("error:", err)
	default:
		db.Close()
		fmt.Println("opened")
	}
	os.Exit(0)
}

// TestWhyWholeKeepsFileLocked: while `nudge why` reads the file through
// its scratch (attached read-only, which keeps writers out), the whole
// brand's dry run on the file must not let a writer in when it ends.
// POSIX locks are the process's: closing the dry run's handle released
// the scratch's lock too, and another process could open the file for
// writing while why still read it.
func TestWhyWholeKeepsFileLocked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	db, err := nrt.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	probe := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWhyLockProbe$")
		cmd.Env = append(os.Environ(), lockProbeEnv+"="+path)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("probe: %v %s", err, out)
		}
		return string(out)
	}
	// On the file itself, then (a write-ahead log left over) on a scratch
	// of every member's rows.
	for _, wal := range []bool{false, true} {
		if wal {
			if err := os.WriteFile(path+".wal", nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		scratch, err := nrt.OpenScratch(ctx, path, []string{"m1"})
		if err != nil {
			t.Fatal(err)
		}
		whole, done := wholeOnFile(path)
		all, cleanup, err := whole(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if all == nil {
			t.Fatal("no database")
		}
		cleanup()
		if got := probe(); got != "in use\n" {
			t.Errorf("wal %v: after the whole dry run, while the scratch is open, a writer: %q, want in use", wal, got)
		}
		done()
		scratch.Close()
	}
}
