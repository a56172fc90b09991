package runtime

import (
	"context"
	"errors"
	"time"

	"nudge/compiler"
)

// Watch runs a tick of prog at the wall clock every interval until ctx is
// cancelled (the CLI cancels it on SIGINT/SIGTERM), calling report after
// each tick with its result or error. A failed tick is reported and the next
// one runs as scheduled: the failed tick's transaction was rolled back, so
// nothing is lost. A tick in progress when ctx is cancelled is rolled back.
// Watch returns nil after cancellation.
func (db *DB) Watch(ctx context.Context, prog *compiler.Program, opts RunOptions, interval time.Duration, report func(*RunResult, error)) error {
	if !opts.Now.IsZero() {
		return errors.New("watch runs at the wall clock: a fixed now cannot be given")
	}
	if interval <= 0 {
		return errors.New("watch: the interval must be positive")
	}
	if opts.DryRun {
		return errors.New("watch: a dry run cannot be repeated")
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		start := time.Now()
		res, err := db.Run(ctx, prog, opts)
		if ctx.Err() != nil {
			return nil
		}
		if report != nil {
			report(res, err)
		}
		timer.Reset(max(0, interval-time.Since(start)))
	}
}
