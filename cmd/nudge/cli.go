package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"nudge/runtime/redact"
)

// Exit codes of the nudge command (SPEC §7; listed for users in the
// README's "Exit codes" and in 'nudge --help').
const (
	exitOK       = 0 // success
	exitProblems = 1 // diagnostics, failed checks, failed run
	exitUsage    = 2 // bad flags or arguments
	exitInternal = 3 // a bug in nudge (recovered panic)
	// exitDispatch: run committed its tick, but at least one delivery
	// attempt of this run failed (the send stays pending for a retry by a
	// later run, or failed for good after its last attempt).
	exitDispatch = 4
)

// exitError carries an exit code through cobra. When msg is empty the command
// already printed what the user needs to see.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError reports a usage problem (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// problemError reports a failure the user must fix (exit 1).
func problemError(format string, args ...any) error {
	return &exitError{code: exitProblems, msg: fmt.Sprintf(format, args...)}
}

// silentExit exits with code without printing more.
func silentExit(code int) error { return &exitError{code: code} }

// Main runs the nudge command line with the process's arguments and standard
// streams and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// run is Main with explicit arguments and streams, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "nudge: internal error: %s\nwhile running: nudge %q\nthis is a bug in nudge; please report it with the input above\n%s",
				redact.Text(fmt.Sprint(r)), redact.Strings(args), debug.Stack())
			code = exitInternal
		}
	}()
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// Errors may echo a --sink spec or a sink's URL: they are printed
	// without credentials (redact.Text).
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "nudge: %s\n", redact.Text(ee.msg))
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "nudge: interrupted")
		return exitProblems
	}
	fmt.Fprintf(stderr, "nudge: %s\n", redact.Error(err))
	return exitProblems
}

// streams are the standard streams a command writes to.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	s := &streams{in: stdin, out: stdout, err: stderr}
	root := &cobra.Command{
		Use:   "nudge",
		Short: "nudge checks, compiles and runs event-driven CRM rules",
		Long: `nudge lets CRM marketers write rules such as

  rule store_a_coupon
    if queued at store "A" or booked at store "A"
    then send coupon "A-10OFF" via sms

checks them like a compiler, compiles each rule to DuckDB SQL and runs them
with frequency caps, quiet hours, consent, holdouts and brand isolation.

Exit codes: 0 success; 1 problems (diagnostics, failed tests, a failed
command); 2 usage (bad flags or arguments); 3 internal error (a bug in
nudge); 4 run committed its tick but dispatch failed for a message.

Environment: NUDGE_MEMORY_LIMIT bounds the memory DuckDB may use (e.g. 2GB;
default a tenth of the machine's), beyond which it spills to
NUDGE_TEMP_DIRECTORY (default FILE.tmp next to the database file);
NUDGE_THREADS sets its worker threads (default one per core).`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: checkDBFlag,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%s: %v (see 'nudge %s --help')", c.Name(), err, c.Name())
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newCheckCmd(s),
		newFmtCmd(s),
		newExplainCmd(s),
		newImportCmd(s),
		newMigrateCmd(s),
		newRunCmd(s),
		newReplCmd(s),
		newDemoCmd(s),
		newReportCmd(s),
		newSimulateCmd(s),
		newTestCmd(s),
		newWhyCmd(s),
		newServeCmd(s),
	)
	return root
}

// needArgs is a cobra.PositionalArgs that turns a missing argument into a
// usage error naming what is missing.
// noArgs refuses arguments to a command that takes none (exit 2; cobra's
// own NoArgs is an "unknown command" error, which exits 1).
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %q (usage: nudge %s)", c.Name(), strings.Join(args, " "), c.Use)
	}
	return nil
}

func needArgs(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usageError("%s: missing %s (usage: nudge %s)", c.Name(), strings.Join(names[len(args):], " and "), c.Use)
		}
		return nil
	}
}
