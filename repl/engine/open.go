package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"nudge/runtime"
	"nudge/runtime/serve"
)

// The engine of `nudge repl` holds the database file only while an input
// runs (NewFile): DuckDB lets one process open a file for writing, or
// several for reading, never both, and a session open for hours must not
// keep `nudge run` (from cron), `nudge serve` or `nudge import` out of it.
// An input that reads (a condition, a segment's audience, the copy behind
// `\sql`) opens the file read-only; the dry runs of :run, :why and
// :journeys write inside a transaction they roll back, which a read-only
// file refuses, so they open it for writing. Inputs that do not touch the
// database (declarations of rules, :help, :now, :sql, :schema, :load)
// do not open it. What the session holds in memory (the rule files, the
// typed declarations, :now, :lookback, the last SQL) does not depend on
// the file and survives from one input to the next.
//
// The `\sql` sandbox keeps copies of the file's rows between inputs (a
// copy of a million members takes seconds). Another process may write the
// file between two inputs, so the copies are dropped when the file has
// changed since the engine last closed it (fileStamp: the sizes and
// modification times of the file and its write-ahead log). A read-only
// open takes the stamp once it holds the read lock, when no writer can
// change the file; an open for writing changes the file itself (it
// migrates and installs the stdlib macros), so it takes the stamp just
// before. A writer could only slip by in the gaps between a stamp and a
// lock (before a write open, after a close), which are shorter than any
// process's open, commit and close of the file.

// ErrBusy is wrapped by the error of an input that could not open the
// database because another process holds it.
var ErrBusy = errors.New("the database is busy")

// busyError says which process holds the file and what to do: try again,
// when the holder is a `nudge run`, an import or another session's input,
// all of which end; ask the service, when it is a `nudge serve`, which
// holds the file for as long as it runs (its note says so).
type busyError struct {
	in     *runtime.InUseError
	served *serve.Note
}

func (e *busyError) Error() string {
	if n := e.served; n != nil {
		return fmt.Sprintf("the database %s is busy: nudge serve (process %d at %s) holds it while it runs; ask it instead: curl -X POST %s/v1/query -d '{\"condition\": \"...\"}' (with -H 'Authorization: Bearer $NUDGE_TOKEN'), or stop it; the session is kept",
			e.in.Path, n.PID, n.URL, n.URL)
	}
	who := "another process"
	if e.in.PID != "" {
		who = fmt.Sprintf("another process (pid %s, %s)", e.in.PID, e.in.Program)
	}
	return fmt.Sprintf("the database %s is busy: %s has it open (a nudge run or import writing it, or another session's input); the session is kept, try again in a moment", e.in.Path, who)
}

func (e *busyError) Unwrap() []error { return []error{ErrBusy, e.in} }

// database returns the database for the input being evaluated: the one the
// engine was made with (New), or the file opened for this input, read-only
// unless write (NewFile). Eval closes it when the input is done.
func (e *Engine) database(ctx context.Context, write bool) (*runtime.DB, error) {
	if e.held != nil {
		return e.held, nil
	}
	if e.cur != nil && (e.curWrite || !write) {
		return e.cur, nil
	}
	if err := e.release(); err != nil {
		return nil, err
	}
	open := runtime.OpenReadOnly
	if write {
		open = runtime.Open
	}
	stamp := stampOf(e.path)
	db, err := open(ctx, e.path)
	if err != nil {
		var in *runtime.InUseError
		if errors.As(err, &in) {
			busy := &busyError{in: in}
			if n, ok := serve.ReadNote(e.path); ok {
				busy.served = &n
			}
			return nil, busy
		}
		return nil, err
	}
	e.cur, e.curWrite = db, write
	if !write {
		stamp = stampOf(e.path) // under the read lock: exact
	}
	if e.sbx != nil && stamp != e.stamp {
		// Written by another process since the last input: the sandbox's
		// copies are out of date (and its tables' columns may be).
		if err := e.sbx.close(); err != nil {
			return nil, fmt.Errorf("close the \\sql sandbox: %w", err)
		}
		e.sbx = nil
	}
	return db, nil
}

// release closes the file opened for the current input, if any, and notes
// its stamp.
func (e *Engine) release() error {
	if e.cur == nil {
		return nil
	}
	err := e.cur.Close()
	e.cur = nil
	e.stamp = stampOf(e.path)
	if err != nil {
		return fmt.Errorf("close database %s: %w", e.path, err)
	}
	return nil
}

// fileStamp tells whether a database file changed: DuckDB appends every
// commit to the write-ahead log (path.wal) and moves it into the file at a
// checkpoint, each of which changes a size or a modification time.
type fileStamp struct {
	size, mod, walSize, walMod int64
}

func stampOf(path string) fileStamp {
	var s fileStamp
	if fi, err := os.Stat(path); err == nil {
		s.size, s.mod = fi.Size(), fi.ModTime().UnixNano()
	}
	if fi, err := os.Stat(path + ".wal"); err == nil {
		s.walSize, s.walMod = fi.Size(), fi.ModTime().UnixNano()
	}
	return s
}
