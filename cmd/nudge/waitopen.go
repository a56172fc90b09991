package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	nrt "nudge/runtime"
)

// lockWaitVar defines the --wait flag of a command that opens the database
// (nrt.DefaultLockWait).
func lockWaitVar(f *pflag.FlagSet, p *time.Duration) {
	durationVar(f, p, "wait", nrt.DefaultLockWait, "when another process has the database open, wait this long for it (0: fail at once)")
}

// openWaiting opens the database file at path for writing (nrt.Open),
// waiting up to wait for another process that holds it (nrt.OpenWaiting)
// and saying once on errOut that it waits.
func openWaiting(ctx context.Context, path string, wait time.Duration, errOut io.Writer) (*nrt.DB, error) {
	return nrt.OpenWaiting(ctx, path, wait, nrt.Open, func(in *nrt.InUseError) {
		fmt.Fprintf(errOut, "nudge: database %s is in use by %s; waiting up to %v for it\n", path, in.Holder(), wait)
	})
}
