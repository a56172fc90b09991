package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultLockWait is how long the commands that open the database wait for
// a file another process holds (--wait): long enough for a REPL input or an
// import to end (the REPL holds the file only while an input runs), short
// enough that a cron run stuck behind a long job fails while the next one
// is not due yet.
const DefaultLockWait = 30 * time.Second

// lockPoll is how often a waiting open tries the file again.
const lockPoll = 200 * time.Millisecond

// OpenWaiting opens the database file at path with open (Open,
// OpenReadOnly, ...), and while another process holds it (*InUseError)
// tries again every lockPoll until wait has passed, calling waiting once,
// with the holder, when it starts to wait. The error of a wait that ran
// out wraps the last *InUseError and says how long it waited; a wait that
// ctx cancels returns an error wrapping ctx.Err(). It is a fixed-interval
// poll of one local lock, bounded by wait: no retry library's backoff or
// jitter would change what it does.
func OpenWaiting(ctx context.Context, path string, wait time.Duration, open func(context.Context, string) (*DB, error), waiting func(*InUseError)) (*DB, error) {
	deadline := time.Now().Add(wait)
	said := false
	for {
		db, err := open(ctx, path)
		var inUse *InUseError
		if err == nil || !errors.As(err, &inUse) || !time.Now().Before(deadline) {
			if err != nil && inUse != nil && wait > 0 {
				err = fmt.Errorf("%w (waited %v)", err, wait)
			}
			return db, err
		}
		if !said && waiting != nil {
			waiting(inUse)
		}
		said = true
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("database %s: stopped waiting for the process that holds it: %w", path, ctx.Err())
		case <-time.After(min(lockPoll, time.Until(deadline))):
		}
	}
}

// Holder names the process that holds the file: "another process (pid N,
// PROGRAM)", or "another process" when DuckDB does not say.
func (e *InUseError) Holder() string {
	if e.PID == "" {
		return "another process"
	}
	return fmt.Sprintf("another process (pid %s, %s)", e.PID, e.Program)
}
