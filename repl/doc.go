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
// repl sits at the top of the import graph (lang <- stdlib <- compiler <-
// runtime <- repl <- cmd); nothing but cmd/nudge may import it.
package repl
