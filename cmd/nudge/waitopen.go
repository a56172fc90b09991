package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	nrt "nudge/runtime"
)

// defaultLockWait is how long the writing commands wait for a database file
// another process holds: long enough for a REPL input or an import to end
// (the REPL holds the file only while an input runs), short enough that a
// cron run stuck behind a long job fails while the next one is not due yet.
const defaultLockWait = 30 * time.Second

// lockPoll is how often a waiting open tries the file again.
const lockPoll = 200 * time.Millisecond

// lockWaitVar defines the --wait flag of a command that opens the database
// for writing.
func lockWaitVar(f *pflag.FlagSet, p *time.Duration) {
	durationVar(f, p, "wait", defaultLockWait, "when another process has the database open, wait this long for it (0: fail at once)")
}

// openWaiting opens the database file at path for writing (nrt.Open), and
// while another process holds it (nrt.InUseError) tries again every
// lockPoll until wait has passed, saying once on errOut that it waits. It
// is a fixed-interval poll of one local lock, bounded by wait: no retry
// library's backoff or jitter would change what it does.
func openWaiting(ctx context.Context, path string, wait time.Duration, errOut io.Writer) (*nrt.DB, error) {
	deadline := time.Now().Add(wait)
	said := false
	for {
		db, err := nrt.Open(ctx, path)
		var inUse *nrt.InUseError
		if err == nil || !errors.As(err, &inUse) || !time.Now().Before(deadline) {
			if err != nil && inUse != nil && wait > 0 {
				err = fmt.Errorf("%w (waited %v)", err, wait)
			}
			return db, err
		}
		if !said {
			holder := "another process"
			if inUse.PID != "" {
				holder += fmt.Sprintf(" (pid %s, %s)", inUse.PID, inUse.Program)
			}
			fmt.Fprintf(errOut, "nudge: database %s is in use by %s; waiting up to %v for it\n", path, holder, wait)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(lockPoll, time.Until(deadline))):
		}
	}
}
