package repl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-isatty"

	"nudge/repl/engine"
	"nudge/repl/tui"
	"nudge/runtime"
)

// The engine is what the TUI evaluates with, and it names event types and
// segments for highlighting.
var (
	_ tui.Evaluator = (*engine.Engine)(nil)
	_ tui.Namer     = (*engine.Engine)(nil)
	_ tui.Waiter    = (*engine.Engine)(nil)
)

// HistoryEnv names the environment variable that overrides where the TUI
// keeps its history (tests point it at a temporary file; "" keeps the
// default, os.UserConfigDir()/nudge/history).
const HistoryEnv = "NUDGE_HISTORY"

// Config is what `nudge repl` hands to Run.
type Config struct {
	// DB is the open database, held for the whole session. nil: Run uses
	// DBPath.
	DB *runtime.DB
	// DBPath is the database file when DB is nil ("" = in memory). Run
	// creates it when it does not exist, else checks it once at start,
	// read-only; then it opens it only while an input needs it
	// (engine.NewFile), so that `nudge run`, import and serve can write it
	// between inputs. The session never changes the file (it may be one
	// the user can only read). An in-memory database is held for the
	// whole session.
	DBPath string
	// Paths are rule files and directories to load at start.
	Paths []string
	// In and Out are the terminal or the pipe. nil: os.Stdin, os.Stdout.
	In  io.Reader
	Out io.Writer
	// Err receives the notices of line mode and of the start (waiting for
	// the database file). nil: os.Stderr.
	Err io.Writer
	// Wait is how long the start and each input wait for the database file
	// while another process holds it (--wait); 0 fails at once.
	Wait time.Duration
	// Now fixes the evaluation instant (--now); nil follows the wall clock.
	Now *time.Time
	// Brand is --brand, used when the rule files declare none.
	Brand string
	// HistoryPath overrides where history is kept; "" means $NUDGE_HISTORY,
	// else os.UserConfigDir()/nudge/history.
	HistoryPath string
	// Force selects the mode instead of detecting it: "tui" or "lines".
	Force string
}

// Run runs the REPL until the user leaves or ctx is done. It shows the
// full-screen TUI when both In and Out are terminals, and line mode
// (engine.RunLines: one input per line, plain output) otherwise, so
// `echo 'purchased in last 7 days' | nudge repl` works in scripts.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.In == nil {
		cfg.In = os.Stdin
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Err == nil {
		cfg.Err = os.Stderr
	}
	mode := cfg.Force
	if mode == "" {
		mode = "lines"
		if isTerminal(cfg.In) && isTerminal(cfg.Out) {
			mode = "tui"
		}
	}
	eng, closeDB, err := newEngine(ctx, cfg, mode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeDB(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	defer func() {
		if cerr := eng.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the \\sql sandbox: %w", cerr)
		}
	}()

	var loaded *engine.Result
	if len(cfg.Paths) > 0 {
		loaded, err = eng.Load(ctx, cfg.Paths...)
		if err != nil {
			return err
		}
		if mode != "tui" && loaded.Kind == engine.Diagnostics {
			// A script's inputs would run without the rules it names:
			// stop, as nudge run does. The TUI shows it and goes on.
			return errors.New(strings.TrimRight(loaded.Text, "\n"))
		}
	}

	if mode != "tui" {
		return engine.RunLines(ctx, cfg.In, cfg.Out, eng, loaded)
	}
	return runTUI(ctx, cfg, eng, loaded)
}

// newEngine returns the session's engine: over cfg.DB, or the in-memory
// database, held for the session (closeDB closes what newEngine opened);
// over the file cfg.DBPath otherwise, opened only while an input needs it
// and never changed by the session: a missing file is created (an empty
// nudge database), an existing one is checked once here, read-only, and
// never migrated (see docs/decisions.md).
func newEngine(ctx context.Context, cfg Config, mode string) (eng *engine.Engine, closeDB func() error, err error) {
	opts := engine.Options{Now: cfg.Now, Brand: cfg.Brand, Wait: cfg.Wait}
	nothing := func() error { return nil }
	if cfg.DB != nil {
		return engine.New(cfg.DB, opts), nothing, nil
	}
	if cfg.DBPath == "" || cfg.DBPath == ":memory:" {
		db, err := runtime.Open(ctx, cfg.DBPath)
		if err != nil {
			return nil, nil, err
		}
		return engine.New(db, opts), db.Close, nil
	}
	if _, err := os.Stat(cfg.DBPath); errors.Is(err, fs.ErrNotExist) {
		db, err := runtime.Open(ctx, cfg.DBPath)
		if err != nil {
			return nil, nil, err
		}
		if err := db.Close(); err != nil {
			return nil, nil, fmt.Errorf("close database: %w", err)
		}
	}
	// Waiting is said on Err, but for the TUI's inputs: its status line
	// says it (engine.Waiting), and its screen hides Err.
	quiet := false
	opts.OnWait = func(n string) {
		if !quiet {
			fmt.Fprintf(cfg.Err, "nudge: %s\n", n)
		}
	}
	eng = engine.NewFile(cfg.DBPath, opts)
	if err := eng.Check(ctx); err != nil {
		return nil, nil, err
	}
	quiet = mode == "tui"
	return eng, nothing, nil
}

func runTUI(ctx context.Context, cfg Config, eng *engine.Engine, loaded *engine.Result) error {
	histPath := cfg.HistoryPath
	if histPath == "" {
		histPath = DefaultHistoryPath()
	}
	hist, herr := tui.LoadHistory(histPath)
	opts := tui.Options{
		Renderer: lipgloss.NewRenderer(cfg.Out),
		History:  hist,
		Context:  ctx,
	}
	// The welcome says what loading the files said and why the history
	// could not be read, both when both happened.
	welcome := tui.DefaultWelcome
	if loaded != nil {
		var b bytes.Buffer
		_ = loaded.Write(&b) // a bytes.Buffer never fails
		welcome += "\n\n" + strings.TrimRight(b.String(), "\n")
	}
	if herr != nil {
		welcome += "\n\n" + herr.Error()
	}
	opts.Welcome = welcome
	m := tui.New(eng, opts)
	p := tea.NewProgram(m,
		tea.WithContext(ctx),
		tea.WithInput(cfg.In),
		tea.WithOutput(cfg.Out),
		tea.WithAltScreen(),
	)
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return fmt.Errorf("repl: %w", err)
	}
	return nil
}

// DefaultHistoryPath is $NUDGE_HISTORY, else os.UserConfigDir()/nudge/history,
// else "" (history kept in memory only) when there is no config directory.
func DefaultHistoryPath() string {
	if p := os.Getenv(HistoryEnv); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "nudge", "history")
}

// isTerminal reports whether f is an interactive terminal.
func isTerminal(f any) bool {
	type fd interface{ Fd() uintptr }
	file, ok := f.(fd)
	if !ok {
		return false
	}
	return isatty.IsTerminal(file.Fd()) || isatty.IsCygwinTerminal(file.Fd())
}
