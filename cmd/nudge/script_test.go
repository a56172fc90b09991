package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"nudge/runtime"
	"nudge/runtime/runtimetest"
	"nudge/runtime/serve"
)

// TestMain lets testscript run "nudge" in-process (CUE's pattern): the test
// binary re-executes itself as the nudge command. The tests run DuckDB on
// one thread (runtimetest.OneThread).
func TestMain(m *testing.M) {
	runtimetest.OneThread()
	testscript.Main(m, map[string]func(){
		"nudge":  func() { os.Exit(Main()) },
		"holddb": holdDB,
	})
}

// holdDB is a process that holds a database file for a while (holddb DB
// FLAG DURATION): it opens DB for writing, creates the file FLAG once it
// holds it, sleeps DURATION and exits, for scripts of what other commands
// do meanwhile.
func holdDB() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: holddb DB FLAG DURATION")
		os.Exit(2)
	}
	d, err := time.ParseDuration(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	db, err := runtime.Open(context.Background(), os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[2], []byte("held\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	time.Sleep(d)
	db.Close()
	os.Exit(0)
}

// TestScripts runs every cmd/nudge/testdata/script/*.txtar: the CLI's
// behaviour (inputs, command lines, expected output and exit codes).
func TestScripts(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Scripts may refer to the repository's examples as $REPO/examples.
			env.Setenv("REPO", root)
			env.Setenv("NUDGE_HISTORY", filepath.Join(env.WorkDir, ".nudge_history"))
			env.Setenv(runtime.ThreadsEnv, os.Getenv(runtime.ThreadsEnv))
			return nil
		},
		RequireExplicitExec: false,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"servenote": cmdServeNote,
			"waitmatch": cmdWaitMatch,
			"servesig":  cmdServeSig,
		},
	})
}

// scriptWait is how long the waiting commands wait.
const scriptWait = 60 * time.Second

// cmdServeNote waits for the note a `nudge serve` leaves beside its
// database (servenote DB VAR) and sets VAR to the service's URL.
func cmdServeNote(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: servenote DB VAR")
	}
	db := ts.MkAbs(args[0])
	deadline := time.Now().Add(scriptWait)
	for {
		if n, ok := serve.ReadNote(db); ok {
			ts.Setenv(args[1], n.URL)
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no service note beside %s after %v", args[0], scriptWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdWaitMatch waits until a file's contents match a regular expression
// (waitmatch FILE REGEXP).
func cmdWaitMatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitmatch FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(scriptWait)
	for {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(ts.MkAbs(args[0]))
			ts.Fatalf("%s does not match %q after %v; it holds:\n%s", args[0], args[1], scriptWait, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdServeSig sends a signal to the `nudge serve` process named in the note
// beside a database (servesig DB HUP|TERM|INT).
func cmdServeSig(ts *testscript.TestScript, neg bool, args []string) {
	sigs := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT}
	if neg || len(args) != 2 || sigs[args[1]] == 0 {
		ts.Fatalf("usage: servesig DB HUP|TERM|INT")
	}
	n, ok := serve.ReadNote(ts.MkAbs(args[0]))
	if !ok {
		ts.Fatalf("no running service noted beside %s", args[0])
	}
	ts.Check(syscall.Kill(n.PID, sigs[args[1]]))
}
