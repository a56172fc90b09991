package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

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
// open refuses, so they open it for writing (runtime.OpenDryRun), which
// changes nothing in the file either: no migration, the stdlib macros are
// temp macros; a file the user may not write, or one with a write-ahead
// log left by a process that died, is copied into memory instead. Inputs that do not
// touch the database (declarations of rules, :help, :now, :sql, :schema,
// :load) do not open it. An input that finds the file held by another
// process waits for it up to Options.Wait (runtime.OpenWaiting), which
// Waiting says meanwhile. What the session holds in memory (the rule files, the
// typed declarations, :now, :lookback, the last SQL) does not depend on
// the file and survives from one input to the next.
//
// The `\sql` sandbox keeps copies of the file's rows between inputs (a
// copy of a million members takes seconds). Another process may write the
// file between two inputs, so the copies are dropped when the file has
// changed since the engine last closed it (fileStamp: the sizes and
// modification times of the file and its write-ahead log). An open takes
// the stamp once it holds the file's lock, when no other writer can change
// it. A writer could only slip by in the gap between the close and the
// stamp, which is shorter than any process's open, commit and close of the
// file.

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
	waited time.Duration // how long the input waited for the file
}

func (e *busyError) Error() string {
	if n := e.served; n != nil {
		return fmt.Sprintf("the database %s is busy: nudge serve (process %d at %s) holds it while it runs; ask it instead: curl -X POST %s/v1/query -d '{\"condition\": \"...\"}' (with -H 'Authorization: Bearer $NUDGE_TOKEN'), or stop it; the session is kept",
			e.in.Path, n.PID, n.URL, n.URL)
	}
	waited := ""
	if e.waited > 0 {
		waited = fmt.Sprintf(" (waited %v)", e.waited)
	}
	return fmt.Sprintf("the database %s is busy: %s has it open (a nudge run or import writing it, or another session's input)%s; the session is kept, try again in a moment", e.in.Path, e.in.Holder(), waited)
}

func (e *busyError) Unwrap() []error { return []error{ErrBusy, e.in} }

// Check opens the database file as an input that reads it does, waiting
// for it as long as an input would (Options.Wait), and closes it: the
// error says what is wrong with the file (not a nudge database, an older
// schema, held by another process for longer than the wait). The REPL
// checks its file once at start.
func (e *Engine) Check(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.held != nil {
		return nil
	}
	db, err := e.openWaiting(ctx, runtime.OpenReadOnly)
	if err != nil {
		return err
	}
	e.learnZone(ctx, db)
	if err := db.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", e.path, err)
	}
	return nil
}

// openWaiting opens the file with open, waiting up to Options.Wait while
// another process holds it (runtime.OpenWaiting), and says that it waits
// (wait).
func (e *Engine) openWaiting(ctx context.Context, open func(context.Context, string) (*runtime.DB, error)) (*runtime.DB, error) {
	defer e.setWaiting("")
	return runtime.OpenWaiting(ctx, e.path, e.opts.Wait, open, e.wait)
}

// wait notes that the input waits for the file another process holds, for
// Waiting and Options.OnWait.
func (e *Engine) wait(in *runtime.InUseError) {
	notice := fmt.Sprintf("waiting for %s, held by %s; up to %v", e.path, in.Holder(), e.opts.Wait)
	e.setWaiting(notice)
	if e.opts.OnWait != nil {
		e.opts.OnWait(notice)
	}
}

func (e *Engine) setWaiting(notice string) {
	e.vmu.Lock()
	e.waiting = notice
	e.vmu.Unlock()
}

// Waiting is what the input being evaluated waits for: "waiting for F,
// held by another process (pid N, PROGRAM); up to 30s" while another
// process holds the database file, "" otherwise. It may be called
// concurrently with Eval (the TUI's status line shows it).
func (e *Engine) Waiting() string {
	e.vmu.Lock()
	defer e.vmu.Unlock()
	return e.waiting
}

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
		open = runtime.OpenDryRun
	}
	db, err := e.openWaiting(ctx, open)
	if err != nil {
		var in *runtime.InUseError
		if errors.As(err, &in) {
			busy := &busyError{in: in, waited: e.opts.Wait}
			if n, ok := serve.ReadNote(e.path); ok {
				busy.served = &n
			}
			return nil, busy
		}
		return nil, err
	}
	e.cur, e.curWrite = db, write
	stamp := stampOf(e.path) // under the lock: exact
	if stamp != e.stamp {
		e.learnZone(ctx, db) // an import may have recorded one since
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
