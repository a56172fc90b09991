package repl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	// opens it once at start (which creates and migrates it), then only
	// while an input needs it (engine.NewFile), so that `nudge run`,
	// import and serve can write it between inputs. An in-memory database
	// is held for the whole session.
	DBPath string
	// Paths are rule files and directories to load at start.
	Paths []string
	// In and Out are the terminal or the pipe. nil: os.Stdin, os.Stdout.
	In  io.Reader
	Out io.Writer
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
	eng, closeDB, err := newEngine(ctx, cfg)
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
	}

	mode := cfg.Force
	if mode == "" {
		mode = "lines"
		if isTerminal(cfg.In) && isTerminal(cfg.Out) {
			mode = "tui"
		}
	}
	if mode != "tui" {
		return engine.RunLines(ctx, cfg.In, cfg.Out, eng, loaded)
	}
	return runTUI(ctx, cfg, eng, loaded)
}

// newEngine returns the session's engine: over cfg.DB, or the in-memory
// database, held for the session (closeDB closes what newEngine opened);
// over the file cfg.DBPath otherwise, opened here once, to create or
// migrate it, then only while an input needs it.
func newEngine(ctx context.Context, cfg Config) (eng *engine.Engine, closeDB func() error, err error) {
	opts := engine.Options{Now: cfg.Now, Brand: cfg.Brand}
	nothing := func() error { return nil }
	if cfg.DB != nil {
		return engine.New(cfg.DB, opts), nothing, nil
	}
	db, err := runtime.Open(ctx, cfg.DBPath)
	if err != nil {
		return nil, nil, err
	}
	if cfg.DBPath == "" || cfg.DBPath == ":memory:" {
		return engine.New(db, opts), db.Close, nil
	}
	if err := db.Close(); err != nil {
		return nil, nil, fmt.Errorf("close database: %w", err)
	}
	return engine.NewFile(cfg.DBPath, opts), nothing, nil
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
