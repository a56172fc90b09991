// Package repl is the entry point of `nudge repl`: the place where a marketer
// tries an idea before it becomes a rule. Type a condition, see who matches,
// refine; define segments and rules for the session; dry-run them.
//
// The work is split in three packages, in the manner of glow and soft-serve:
//
//   - repl/engine evaluates one input at a time (Engine.Eval) against the
//     database and the loaded rule files. It has no UI imports and also
//     drives line mode (engine.RunLines), used when stdin is not a terminal.
//   - repl/tui is the bubbletea model (input with syntax highlighting, a
//     scrollable results table, a status line). It talks to the engine only
//     through its small Evaluator interface, so it is tested without a
//     database.
//   - repl (this package) wires the two for the command line: Run chooses the
//     full-screen TUI when the input is a terminal and line mode otherwise,
//     and owns the location of the persisted history.
//
// What a marketer types (the same in both modes):
//
//	purchased in last 30 days               a condition: who matches at now
//	queued at store "A"                     a trigger: the events of the last 24 hours that fire it
//	segment big = sum(purchased.amount in last 365 days) >= 500
//	rule hi if big then send coupon "HI" via sms
//	journey NAME ... end                    a journey (pasted, or continued with Alt+Enter)
//	:run                                    dry-run the loaded and session rules: the decisions
//	:sql  :schema  :load F  :now TS  :lookback 7d  :reset  :help  :quit
//	\sql SELECT ...                         read-only SQL (one SELECT; writes are refused)
//
// `\sql` runs in a sandbox, not on the database: a DuckDB instance of its
// own, in memory, with external access disabled and its configuration
// locked, holding copies of the session brand's rows of members, events,
// member_tags, outbox, runs and rule_members (copied when a query first
// names a table). A query there reads that brand's rows and nothing else:
// no file, URL, extension, attached database, setting, other brand or
// runtime table, whatever it names; a query that is not one SELECT, or
// calls enable_logging() or SQL-in-a-string functions (query(), ...), is
// refused before it runs. Audiences and :run keep the engine's own
// connection. Why a copy and not the file attached read-only:
// repl/engine/sandbox.go and docs/design.md.
//
// The database file is held only while an input runs (repl/engine/open.go):
// read-only for what reads, for writing for the dry runs of :run, :why and
// :journeys (which write nothing to it), closed before the next prompt. So
// `nudge run` (from cron), import and serve can write the file while a
// session waits for input; an input typed while one of them has it waits
// for it up to --wait, then says the database is busy and leaves the
// session as it was. A session never changes an existing file (it only
// creates a missing one). An in-memory database is held for the whole
// session.
//
// Input conventions. Enter runs the input. A new line is inserted by Alt+Enter
// or Ctrl+J, or by ending the line with `\` before Enter (the same
// continuation line mode uses, so a pasted transcript behaves the same in
// both). Tab completes keywords, event types and fields, member columns,
// segment, rule and function names, commands and `:load` paths. Up and Down
// recall history when the cursor is on the first or last line; history is kept
// in os.UserConfigDir()/nudge/history ($NUDGE_HISTORY overrides it). PgUp/PgDn
// and Shift+arrows scroll the results (plain Left/Right too when the input is
// empty); Ctrl+L clears them. Above a table, notes that do not fit (the
// per-rule summary of `:run` on a large program) scroll first: PgDn pages
// through them to their end, then through the rows, PgUp back the same way. Ctrl+C cancels a running query (DuckDB is
// interrupted through the context) or clears the input; Ctrl+D on an empty
// input leaves.
//
// repl sits at the top of the import graph (lang <- stdlib <- compiler <-
// runtime <- repl <- cmd); nothing but cmd/nudge may import it.
package repl
